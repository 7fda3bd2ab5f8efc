import type { FilePublic, InputSpec } from "../../api/types";

/** A file input's value: a file chosen here, or one already on the server (when running a job again). */
export type FileValue =
  | { kind: "local"; file: File; url: string }
  | { kind: "stored"; file: FilePublic };

export type FieldValue = string | boolean | FileValue | undefined;

export interface FieldProps<V extends FieldValue = FieldValue> {
  /** The DOM id of the control; the label and messages hang off it. */
  id: string;
  name: string;
  spec: InputSpec;
  value: V;
  error?: string | null;
  onChange: (value: V) => void;
  /** Tell the form about a problem found while choosing (a file of the wrong type, say). */
  onError: (message: string | null) => void;
}

export function isFileValue(value: FieldValue): value is FileValue {
  return typeof value === "object" && value !== null && "kind" in value;
}
