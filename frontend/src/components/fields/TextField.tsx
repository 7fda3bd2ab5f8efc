import { describedBy, FieldFrame } from "./FieldFrame";
import type { FieldProps } from "./types";

export function TextField({ id, spec, value, error, onChange }: FieldProps<string | undefined>) {
  const text = value ?? "";
  const limit = spec.max_length ?? null;
  const over = limit !== null && text.length > limit;
  const hint = limit !== null ? (
    <span className={over ? "counter over" : "counter"}>
      {text.length.toLocaleString()} / {limit.toLocaleString()} characters
    </span>
  ) : null;
  const long = limit === null || limit > 120;
  const common = {
    id,
    name: id,
    value: text,
    "aria-invalid": error ? true : undefined,
    "aria-required": spec.required || undefined,
    "aria-describedby": describedBy(id, spec, error, hint),
  };
  return (
    <FieldFrame id={id} spec={spec} error={error} hint={hint}>
      {long ? (
        <textarea {...common} rows={4} onChange={(event) => onChange(event.target.value)} />
      ) : (
        <input {...common} type="text" onChange={(event) => onChange(event.target.value)} />
      )}
    </FieldFrame>
  );
}
