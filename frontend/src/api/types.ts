/**
 * Named shapes of the public API, derived from the generated schema by operation id — so they survive a
 * regeneration from the gateway's own OpenAPI whatever its component names are.
 */
import type { operations } from "./schema";

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

export const JOB_STATUSES: readonly JobStatus[] = ["queued", "running", "succeeded", "failed", "canceled"];
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
