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

/**
 * A text/event-stream answer the test writes to as it goes: `send` one event, `fail` as a cut connection
 * would, `end` as the server closing it. `canceled` turns true when the client closes it.
 */
export class EventStream {
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly encoder = new TextEncoder();
  canceled = false;
  readonly body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      this.controller = controller;
    },
    cancel: () => {
      this.canceled = true;
    },
  });

  response(): Response {
    return new Response(this.body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  }

  /** Raw text, for splitting an event across chunks. */
  write(text: string): void {
    this.controller.enqueue(this.encoder.encode(text));
  }

  send(type: string, data: Record<string, unknown>): void {
    const payload = { job_id: "job-1", type, at: new Date().toISOString(), ...data };
    this.write(`event: ${type}\r\nid: ${String(data.seq)}\r\ndata: ${JSON.stringify(payload)}\r\n\r\n`);
  }

  fail(): void {
    this.controller.error(new TypeError("network error"));
  }

  end(): void {
    this.controller.close();
  }
}
