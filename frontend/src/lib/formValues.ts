/** Turning a pipeline's input schema into form values and back into the job's `inputs`. */
import type { InputSpec, Job, Pipeline } from "../api/types";
import { isFilePublic } from "../api/types";
import type { FieldValue, FileValue } from "../components/fields/types";
import { isFileValue } from "../components/fields/types";
import { checkValue } from "./validate";

export type FormValues = Record<string, FieldValue>;
export type FormErrors = Record<string, string | null>;

function fromJson(spec: InputSpec, value: unknown): FieldValue {
  if (value === undefined || value === null) return undefined;
  if (spec.type === "image" || spec.type === "audio") {
    return isFilePublic(value) ? { kind: "stored", file: value } : undefined;
  }
  if (spec.type === "boolean") return value === true;
  return String(value);
}

/** Starting values: the schema's defaults, or the inputs of an earlier job to run again. */
export function initialValues(pipeline: Pipeline, from?: Job): FormValues {
  const values: FormValues = {};
  for (const [name, spec] of Object.entries(pipeline.inputs)) {
    const earlier = from?.inputs?.[name];
    values[name] = fromJson(spec, earlier !== undefined ? earlier : spec.default);
    if (spec.type === "boolean" && values[name] === undefined) values[name] = false;
  }
  return values;
}

/** Every input's problem (missing, too long, out of range…); file problems found on choosing are kept. */
export function validateAll(pipeline: Pipeline, values: FormValues, errors: FormErrors): FormErrors {
  const next: FormErrors = {};
  for (const [name, spec] of Object.entries(pipeline.inputs)) {
    const value = values[name];
    if (spec.type === "image" || spec.type === "audio") {
      next[name] = value ? (errors[name] ?? null) : spec.required ? `Please add ${spec.title || name}.` : null;
    } else {
      next[name] = checkValue(spec, value);
    }
  }
  return next;
}

/** The JSON value of one non-file input, typed as the schema says. */
export function toJson(spec: InputSpec, value: FieldValue): unknown {
  if (value === undefined || value === "") return undefined;
  if (spec.type === "integer" || spec.type === "number") return Number(value);
  if (spec.type === "boolean") return value === true;
  return value;
}

export function fileValues(pipeline: Pipeline, values: FormValues): [string, FileValue][] {
  return Object.keys(pipeline.inputs)
    .map((name) => [name, values[name]] as [string, FieldValue])
    .filter((entry): entry is [string, FileValue] => isFileValue(entry[1]));
}

/** The field a 422 error names (`inputs.text`, `body.inputs.text` or `text`), if it is one of ours. */
export function fieldOf(field: string, pipeline: Pipeline): string | null {
  const parts = field.split(/[.[\]/]/).filter(Boolean);
  const name = parts.reverse().find((part) => part in pipeline.inputs);
  return name ?? null;
}
