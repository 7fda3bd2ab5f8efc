/** The typed API client (openapi-fetch over the generated schema) and the one place errors are translated. */
import createClient from "openapi-fetch";
import { auth, bearer, sentKey } from "./auth";
import type { paths } from "./schema";
import type { FilePublic, Job, Problem } from "./types";

// `fetch` is looked up at call time so tests (and polyfills) can replace it.
export const api = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "", fetch: (request) => globalThis.fetch(request) });

/** The 401's `detail` (why the key was refused), read from a copy so the caller still gets the body. */
async function refusal(response: Response): Promise<string | null> {
  try {
    const body = (await response.clone().json()) as Partial<Problem> | null;
    return typeof body?.detail === "string" && body.detail ? body.detail : null;
  } catch {
    return null;
  }
}

// Every call carries the signed-in key (unless it brings its own, as the sign-in check does); any 401 to
// the key in use signs the browser out, with the gateway's reason for the sign-in screen.
api.use({
  onRequest({ request }) {
    const { key } = auth.get();
    if (key && !request.headers.has("Authorization")) request.headers.set("Authorization", bearer(key));
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status === 401) auth.rejected(sentKey(request), await refusal(response));
    return response;
  },
});

/** An API call that failed, carrying the server's problem document (or one made up for network trouble). */
export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = "ApiError";
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

function toProblem(error: unknown, response: Response | undefined): Problem {
  if (error && typeof error === "object" && "title" in error) {
    const problem = error as Problem;
    return { ...problem, status: problem.status ?? response?.status ?? 0 };
  }
  if (response) {
    return {
      title: response.statusText || "Request failed",
      status: response.status,
      detail: typeof error === "string" ? error : undefined,
    };
  }
  return {
    title: "Can't reach Modaline",
    status: 0,
    detail: error instanceof Error ? error.message : String(error),
  };
}

/** Unwrap an openapi-fetch result: the data, or an ApiError with the problem. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (networkError) {
    throw new ApiError(toProblem(networkError, undefined));
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(toProblem(result.error, result.response));
  }
  return result.data as T;
}

export function uploadFile(file: Blob, name: string): Promise<FilePublic> {
  return call(
    api.POST("/v1/files", {
      // openapi-fetch sends FormData as-is; the schema describes the field as a binary string.
      body: { file: "" },
      bodySerializer: () => {
        const form = new FormData();
        form.append("file", file, name);
        return form;
      },
    }),
  );
}

export function createJob(
  pipeline: string,
  inputs: Record<string, unknown>,
  idempotencyKey: string,
): Promise<Job> {
  return call(
    api.POST("/v1/jobs", {
      params: { header: { "idempotency-key": idempotencyKey } },
      body: { pipeline, inputs },
    }),
  );
}

export function cancelJob(id: string): Promise<Job> {
  return call(api.POST("/v1/jobs/{job_id}/cancel", { params: { path: { job_id: id } } }));
}

/**
 * Open a job's event stream (text/event-stream) through the client, so it carries the key in the
 * Authorization header like every other call; `after` resumes after that event's seq (Last-Event-ID).
 */
export async function openJobEvents(id: string, after: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const result = await api
    .GET("/v1/jobs/{job_id}/events", {
      params: { path: { job_id: id }, header: after > 0 ? { "last-event-id": String(after) } : {} },
      headers: { Accept: "text/event-stream" },
      parseAs: "stream",
      signal,
    })
    .catch((networkError: unknown) => {
      throw new ApiError(toProblem(networkError, undefined));
    });
  if (!result.response.ok || !result.data) throw new ApiError(toProblem(result.error, result.response));
  return result.data;
}

/** Delete a finished job and what is only its own (204); 409 while it runs, 404 once it is gone. */
export async function deleteJob(id: string): Promise<void> {
  await call(api.DELETE("/v1/jobs/{job_id}", { params: { path: { job_id: id } } }));
}
