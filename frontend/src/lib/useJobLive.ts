/**
 * Keeps a job's page live: follows its Server-Sent Events and folds them into the cached job; falls back to
 * polling while the stream is down (EventSource retries on its own and resumes with Last-Event-ID).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { jobEventsUrl } from "../api/client";
import { keys, useJob } from "../api/queries";
import { isTerminal, type Job } from "../api/types";
import { applyEvent, EVENT_TYPES, isTerminalEvent, parseEvent } from "./jobEvents";

export type LiveMode = "connecting" | "live" | "polling" | "finished";

export function useJobLive(id: string) {
  const client = useQueryClient();
  const [mode, setMode] = useState<LiveMode>("connecting");
  const query = useJob(id, mode === "polling" || mode === "connecting");
  const loaded = query.data !== undefined;
  const terminal = query.data ? isTerminal(query.data.status) : false;
  const lastSeq = useRef(0);

  useEffect(() => {
    if (!loaded) return;
    if (terminal) {
      setMode("finished");
      return;
    }
    if (typeof EventSource === "undefined") {
      setMode("polling");
      return;
    }
    const source = new EventSource(jobEventsUrl(id));
    const refresh = () => void client.invalidateQueries({ queryKey: keys.job(id) });
    const onEvent = (message: MessageEvent<string>) => {
      const event = parseEvent(message.data);
      if (!event || event.seq <= lastSeq.current) return;
      lastSeq.current = event.seq;
      client.setQueryData<Job>(keys.job(id), (job) => (job ? applyEvent(job, event) : job));
      // Step outputs (e.g. a transcript) and final outputs come with the job, not the event.
      if (event.type !== "step.running" && event.type !== "step.retrying") refresh();
      if (isTerminalEvent(event.type)) source.close();
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent as EventListener);
    source.onmessage = onEvent;
    source.onopen = () => setMode("live");
    source.onerror = () => {
      // CLOSED: the browser gave up (e.g. an error status); CONNECTING: it retries by itself. Poll meanwhile.
      setMode("polling");
      refresh();
    };
    return () => source.close();
  }, [id, loaded, terminal, client]);

  return { query, mode: terminal ? ("finished" as const) : mode };
}
