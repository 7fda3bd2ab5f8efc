/**
 * Reads a text/event-stream body (from fetch, so it can carry the Authorization header that EventSource
 * cannot send) and hands each event to `onEvent`. The parsing — line endings, multi-line data, comments
 * such as the gateway's pings, `retry:` — is eventsource-parser's; this is only the read loop around it.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export type { EventSourceMessage };

export interface ReadOptions {
  /** Return true to stop reading and close the stream (e.g. after the job's terminal event). */
  onEvent: (event: EventSourceMessage) => boolean | void;
  /** The server's `retry:` advice, in milliseconds. */
  onRetry?: (ms: number) => void;
  /** Aborting cancels the read. */
  signal?: AbortSignal;
}

/**
 * Read `body` until it ends (resolves false: the server closed it early, so reconnect), until `onEvent`
 * says stop (resolves true), or until it breaks (rejects). The body is closed in every case.
 */
export async function readEventStream(body: ReadableStream<Uint8Array>, options: ReadOptions): Promise<boolean> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let stopped = false;
  const parser = createParser({
    onEvent: (event) => {
      if (!stopped && options.onEvent(event)) stopped = true;
    },
    onRetry: options.onRetry,
  });
  const cancel = () => void reader.cancel().catch(() => undefined);
  options.signal?.addEventListener("abort", cancel);
  try {
    if (options.signal?.aborted) return false;
    while (!stopped) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    return stopped;
  } finally {
    options.signal?.removeEventListener("abort", cancel);
    cancel();
  }
}
