/**
 * The events → state reducer: folds one Server-Sent Event from `/v1/jobs/{id}/events` into the job the
 * page shows. Pure and idempotent: replayed or out-of-order events never move a job or step backwards,
 * so a resumed stream may safely repeat what the snapshot already says.
 */
import { keysOf, type Every, type EventType, type Job, type JobStatus, type Step, type StepStatus } from "../api/types";
import { elapsedMs } from "./format";
import { countItems, parseItemId } from "./mapSteps";

/** Every event type the gateway sends, checked against the generated schema's: a type added or removed there
 * fails `npm run typecheck` here until this list follows. */
export const EVENT_TYPES = keysOf({
  "job.queued": true,
  "job.running": true,
  "step.running": true,
  "step.delta": true,
  "step.retrying": true,
  "step.succeeded": true,
  "step.failed": true,
  "step.skipped": true,
  "job.succeeded": true,
  "job.failed": true,
  "job.canceled": true,
} satisfies Every<EventType>);

export type JobEventType = EventType;

export interface JobEvent {
  seq: number;
  job_id: string;
  type: JobEventType | string;
  step_id?: string | null;
  status?: string | null;
  attempt?: number | null;
  detail?: string | null;
  at: string;
}

const JOB_RANK: Record<JobStatus, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, canceled: 2 };
const STEP_RANK: Record<StepStatus, number> = { pending: 0, running: 1, succeeded: 2, failed: 2, skipped: 2 };

/**
 * The job to keep when a fetched or answered copy replaces the cached one: a copy read before the job moved
 * on (a GET in flight while the terminal event arrived, a cancel answer read before the runner stopped the
 * job) must not move the page backwards; it is dropped and the next read catches up.
 */
export function newerJob(cached: Job | undefined, incoming: Job): Job {
  if (cached && cached.id === incoming.id && JOB_RANK[incoming.status] < JOB_RANK[cached.status]) return cached;
  if (cached && cached.id === incoming.id && JOB_RANK[cached.status] === 2 && incoming.status !== cached.status) {
    return cached; // terminal states never change again
  }
  return incoming;
}

export function isTerminalEvent(type: string): boolean {
  return type === "job.succeeded" || type === "job.failed" || type === "job.canceled";
}

function withJobStatus(job: Job, status: JobStatus, event: JobEvent): Job {
  if (JOB_RANK[status] < JOB_RANK[job.status]) return job;
  if (JOB_RANK[job.status] === 2) return job; // terminal states never change again
  const next: Job = { ...job, status, updated_at: event.at };
  if (status === "running") next.started_at = job.started_at ?? event.at;
  if (JOB_RANK[status] === 2) next.finished_at = job.finished_at ?? event.at;
  if (status === "failed" && !job.error) {
    next.error = { title: "The job failed", detail: event.detail ?? "", step_id: event.step_id ?? null };
  }
  return next;
}

function blankStep(id: string): Step {
  const item = parseItemId(id);
  return {
    id,
    parent: item?.parent ?? null,
    index: item?.index ?? null,
    items: null,
    worker: "",
    status: "pending",
    attempts: 0,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    backend: null,
    model: null,
    placeholder: false,
    fallback: false,
    outputs: {},
    error: null,
    usage: null,
  };
}

function updateStep(step: Step, event: JobEvent): Step {
  const kind = event.type.slice("step.".length);
  const attempt = event.attempt ?? undefined;
  switch (kind) {
    case "running":
      if (STEP_RANK[step.status] > 1) return step;
      return {
        ...step,
        status: "running",
        attempts: Math.max(step.attempts, attempt ?? 1),
        started_at: step.started_at ?? event.at,
        error: step.status === "running" ? step.error : null,
      };
    case "retrying":
      if (STEP_RANK[step.status] > 1) return step;
      return {
        ...step,
        status: "running",
        attempts: Math.max(step.attempts, attempt ?? step.attempts),
        started_at: step.started_at ?? event.at,
        error: {
          title: `Attempt ${attempt ?? step.attempts} did not work, trying again`,
          detail: event.detail ?? "",
          retryable: true,
        },
      };
    case "succeeded":
    case "failed":
    case "skipped": {
      if (STEP_RANK[step.status] === 2) return step;
      const status = kind as StepStatus;
      const started = step.started_at ?? null;
      const error =
        status === "failed"
          ? (step.error && !step.error.retryable ? step.error : null) ?? {
              title: "This step failed",
              detail: event.detail ?? "",
              retryable: false,
            }
          : null;
      return {
        ...step,
        status,
        attempts: Math.max(step.attempts, attempt ?? (status === "skipped" ? 0 : 1)),
        finished_at: step.finished_at ?? event.at,
        duration_ms: step.duration_ms ?? elapsedMs(started, event.at),
        error,
      };
    }
    default:
      return step;
  }
}

/** A map step's `items` counts again after one of its items moved (in place: `steps` is a fresh array). */
function recount(steps: Step[], parent: string): void {
  const at = steps.findIndex((step) => step.id === parent);
  if (at < 0) return;
  const items = steps.filter((step) => step.parent === parent || parseItemId(step.id)?.parent === parent);
  steps[at] = { ...steps[at], items: countItems(steps[at], items) };
}

/** The job after `event`; the same object when the event changes nothing or is for another job. */
export function applyEvent(job: Job, event: JobEvent): Job {
  if (event.job_id && event.job_id !== job.id) return job;
  if (event.type.startsWith("job.")) {
    const status = event.type.slice("job.".length) as JobStatus;
    return status in JOB_RANK ? withJobStatus(job, status, event) : job;
  }
  if (event.type.startsWith("step.") && event.step_id) {
    const steps = job.steps.some((step) => step.id === event.step_id)
      ? job.steps
      : [...job.steps, blankStep(event.step_id)];
    const next = steps.map((step) => (step.id === event.step_id ? updateStep(step, event) : step));
    const changed = next.some((step, index) => step !== steps[index]) || steps !== job.steps;
    if (!changed) return job;
    const parent = parseItemId(event.step_id)?.parent;
    if (parent) recount(next, parent);
    const withSteps = { ...job, steps: next, updated_at: event.at };
    return job.status === "queued" ? withJobStatus(withSteps, "running", event) : withSteps;
  }
  return job;
}

/** Parse one SSE `data:` payload; null when it is not a job event. */
export function parseEvent(data: string): JobEvent | null {
  try {
    const value = JSON.parse(data) as JobEvent;
    return value && typeof value.type === "string" && typeof value.seq === "number" ? value : null;
  } catch {
    return null;
  }
}

/** The text an llm step has written so far: its `step.delta` pieces joined, for one attempt; `final` once
 * `step.succeeded` brought the whole text (the gateway deletes the pieces then). */
export interface LiveText {
  attempt: number;
  text: string;
  final: boolean;
}

/** Step id → the text it is writing. */
export type LiveTexts = Record<string, LiveText>;

/**
 * Folds `step.delta` (append, or start over when a retry brought a new attempt), `step.running` of a new
 * attempt (start over) and `step.succeeded` with its whole text (replace) into the live texts; the same
 * object when the event changes nothing.
 */
export function applyLiveText(live: LiveTexts, event: JobEvent): LiveTexts {
  const id = event.step_id;
  if (!id) return live;
  const current = live[id];
  const attempt = event.attempt ?? current?.attempt ?? 1;
  if (event.type === "step.delta") {
    if (current && (current.final || attempt < current.attempt)) return live;
    const before = current && current.attempt === attempt ? current.text : "";
    return { ...live, [id]: { attempt, text: before + (event.detail ?? ""), final: false } };
  }
  if (event.type === "step.running" && current && !current.final && attempt > current.attempt) {
    return { ...live, [id]: { attempt, text: "", final: false } };
  }
  if (event.type === "step.succeeded" && typeof event.detail === "string") {
    return { ...live, [id]: { attempt, text: event.detail, final: true } };
  }
  return live;
}
