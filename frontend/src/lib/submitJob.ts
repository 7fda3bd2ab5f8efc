/** Sending a filled-in form: upload its files first, then create the job with their ids. */
import { ApiError, createJob, uploadFile } from "../api/client";
import type { Job, Pipeline } from "../api/types";
import { fileValues, toJson, type FormValues } from "./formValues";

export interface SubmitProgress {
  (message: string): void;
}

/** Thrown when one file upload is refused, so the form can show it under that field. */
export class UploadError extends Error {
  readonly field: string;
  readonly cause: ApiError;
  constructor(field: string, cause: ApiError) {
    super(cause.message);
    this.field = field;
    this.cause = cause;
  }
}

export async function submitJob(
  pipeline: Pipeline,
  values: FormValues,
  idempotencyKey: string,
  progress: SubmitProgress,
): Promise<Job> {
  const inputs: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(pipeline.inputs)) {
    if (spec.type === "image" || spec.type === "audio") continue;
    const value = toJson(spec, values[name]);
    if (value !== undefined) inputs[name] = value;
  }
  for (const [name, value] of fileValues(pipeline, values)) {
    if (value.kind === "stored") {
      inputs[name] = value.file.id;
      continue;
    }
    progress(`Uploading ${value.file.name}…`);
    try {
      inputs[name] = (await uploadFile(value.file, value.file.name)).id;
    } catch (error) {
      if (error instanceof ApiError) throw new UploadError(name, error);
      throw error;
    }
  }
  progress("Starting the job…");
  return createJob(pipeline.name, inputs, idempotencyKey);
}
