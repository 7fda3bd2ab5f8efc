/** A fake gateway for component tests: routes fetch calls to handlers and records what was sent. */
import { vi } from "vitest";

export interface Sent {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

type Handler = (sent: Sent) => Response | Promise<Response> | unknown;

export function json(body: unknown, status = 200, type = "application/json"): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": type } });
}

export function problem(status: number, title: string, detail = "", extra: Record<string, unknown> = {}): Response {
  return json({ type: "about:blank", title, status, detail, ...extra }, status, "application/problem+json");
}

async function readBody(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (type.includes("application/json")) return request.json();
  if (type.includes("multipart/form-data")) return request.formData();
  const text = await request.text();
  return text || undefined;
}

/** Install a fake fetch. Keys are "METHOD /path" (no query); unmatched calls fail the test loudly. */
export function mockApi(routes: Record<string, Handler>) {
  const calls: Sent[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://ui.test"), init);
    const url = new URL(request.url, "http://ui.test");
    const sent: Sent = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: await readBody(request),
    };
    calls.push(sent);
    const handler = routes[`${sent.method} ${sent.path}`];
    if (!handler) throw new Error(`unexpected request ${sent.method} ${sent.path}`);
    const result = await handler(sent);
    return result instanceof Response ? result : json(result);
  });
  vi.stubGlobal("fetch", fetch);
  return { calls, fetch };
}
