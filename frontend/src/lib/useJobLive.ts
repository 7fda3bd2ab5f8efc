/**
 * Keeps a job's page live: follows its Server-Sent Events and folds them into the cached job; falls back to
 * polling while the stream is down, and reconnects on its own, resuming after the last event seen
 * (Last-Event-ID). The stream is read with fetch through the API client, not EventSource, so it sends the
 * key in the Authorization header like every other call (EventSource cannot, and a key must never go in a
 * URL).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError, openJobEvents } from "../api/client";
import { keys, useJob } from "../api/queries";
import { isTerminal, type Job } from "../api/types";
import { readEventStream, type EventSourceMessage } from "./eventStream";
import { applyEvent, applyLiveText, isTerminalEvent, parseEvent, type LiveTexts } from "./jobEvents";

/** Events that change nothing the job's GET would add: no refetch (a delta comes many times a second). */
const QUIET = new Set(["step.running", "step.retrying", "step.delta"]);

export type LiveMode = "connecting" | "live" | "polling" | "finished";

/** The pause before reconnecting after the n-th failure in a row: 1 s, 2 s, 4 s… at most 15 s. */
export function reconnectDelay(failures: number, base = 1000): number {
  return Math.min(base * 2 ** Math.max(0, failures - 1), 15_000);
}

/** Answers that asking again will not change (the job is gone, the key is refused…): poll instead. */
function final(error: unknown): boolean {
  return error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429;
}

export function useJobLive(id: string) {
  const client = useQueryClient();
  const [mode, setMode] = useState<LiveMode>("connecting");
  const [live, setLive] = useState<LiveTexts>({});
  useEffect(() => setLive({}), [id]); // another job's page starts with no text
  const query = useJob(id, mode === "polling" || mode === "connecting");
  const loaded = query.data !== undefined;
  const terminal = query.data ? isTerminal(query.data.status) : false;

  useEffect(() => {
    if (!loaded) return;
    if (terminal) {
      setMode("finished");
      return;
    }
    const controller = new AbortController();
    const { signal } = controller;
    let lastSeq = 0;
    let failures = 0;
    let retryBase = 1000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => void client.invalidateQueries({ queryKey: keys.job(id) });

    /** Fold one event into the cached job; true after the terminal one (stop reading). */
    const onEvent = (message: EventSourceMessage): boolean => {
      const event = parseEvent(message.data);
      if (!event || event.seq <= lastSeq) return false;
      lastSeq = event.seq;
      client.setQueryData<Job>(keys.job(id), (job) => (job ? applyEvent(job, event) : job));
      if (event.type === "step.delta" || event.type === "step.running" || event.type === "step.succeeded") {
        setLive((texts) => applyLiveText(texts, event));
      }
      // Step outputs (e.g. a transcript) and final outputs come with the job, not the event.
      if (!QUIET.has(event.type)) refresh();
      return isTerminalEvent(event.type);
    };

    const connect = async () => {
      try {
        const body = await openJobEvents(id, lastSeq, signal);
        if (signal.aborted) return;
        setMode("live");
        failures = 0;
        const ended = await readEventStream(body, { onEvent, signal, onRetry: (ms) => (retryBase = ms) });
        if (ended || signal.aborted) return;
      } catch (error) {
        if (signal.aborted) return;
        if (final(error)) {
          // A 401 has already sent the browser to the sign-in screen; otherwise polling shows what is wrong.
          setMode("polling");
          refresh();
          return;
        }
      }
      // The stream broke or ended before the job did: poll meanwhile, then try again.
      setMode("polling");
      refresh();
      failures += 1;
      timer = setTimeout(() => void connect(), reconnectDelay(failures, retryBase));
    };
    void connect();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [id, loaded, terminal, client]);

  return { query, mode: terminal ? ("finished" as const) : mode, live };
}
