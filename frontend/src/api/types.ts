/**
 * Named shapes of the public API, derived from the generated schema by operation id — so they survive a
 * regeneration from the gateway's own OpenAPI whatever its component names are.
 */
import type { components, operations } from "./schema";

type Ok<Op extends keyof operations, Code extends number> = operations[Op]["responses"] extends {
  [K in Code]: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

export type PipelineList = Ok<"listPipelines", 200>;
export type Pipeline = Ok<"getPipeline", 200>;
export type InputSpec = Pipeline["inputs"][string];
export type InputType = InputSpec["type"];
export type OutputSpec = Pipeline["outputs"][string];
export type FilePublic = Ok<"uploadFile", 201>;
export type Job = Ok<"getJob", 200>;
export type JobList = Ok<"listJobs", 200>;
export type JobStatus = Job["status"];
export type Step = Job["steps"][number];
export type StepStatus = Step["status"];
export type Me = Ok<"getMe", 200>;
export type ApiKey = Ok<"listKeys", 200>["items"][number];
export type CreatedKey = Ok<"createKey", 201>;
export type KeyRequest = operations["createKey"]["requestBody"]["content"]["application/json"];
export type Scope = KeyRequest["scopes"][number];
/** One event of `GET /v1/jobs/{id}/events` (each Server-Sent Event's data), and the types it can have. */
export type EventPayload = components["schemas"]["EventPublic"];
export type EventType = EventPayload["type"];

/**
 * One key per member of a union, no more and no less: `{...} satisfies Every<U>` fails to compile when a
 * member is missing (missing property) or when the object names one the union lacks (excess property), so
 * a runtime list built with {@link keysOf} cannot drift from the generated schema.
 */
export type Every<U extends string> = Record<U, true>;

/** The keys of an {@link Every} object, in the order written. */
export function keysOf<U extends string>(members: Every<U>): readonly U[] {
  return Object.keys(members) as U[];
}

export const JOB_STATUSES = keysOf({
  queued: true,
  running: true,
  succeeded: true,
  failed: true,
  canceled: true,
} satisfies Every<JobStatus>);
/** Every scope a key can have, in the order the keys page offers them; checked against the schema. */
export const SCOPES = keysOf({
  "jobs:read": true,
  "jobs:write": true,
  "files:write": true,
  admin: true,
  "metrics:read": true,
} satisfies Every<Scope>);

/** May this caller manage keys (the keys page)? */
export function isAdmin(me: Me | undefined): boolean {
  return !!me && (me.operator || me.scopes.includes("admin"));
}

const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled"]);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL.has(status);
}

/** One field-level complaint from a 422 problem document. */
export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem document as the gateway sends it. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

/** A file as the API shows it inside job inputs and outputs. */
export function isFilePublic(value: unknown): value is FilePublic {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as FilePublic).url === "string" &&
    typeof (value as FilePublic).content_type === "string"
  );
}
