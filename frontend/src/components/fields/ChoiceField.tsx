import { describedBy, FieldFrame } from "./FieldFrame";
import type { FieldProps } from "./types";

export function ChoiceField({ id, spec, value, error, onChange }: FieldProps<string | undefined>) {
  return (
    <FieldFrame id={id} spec={spec} error={error}>
      <select
        id={id}
        name={id}
        value={value ?? ""}
        aria-invalid={error ? true : undefined}
        aria-required={spec.required || undefined}
        aria-describedby={describedBy(id, spec, error)}
        onChange={(event) => onChange(event.target.value || undefined)}
      >
        {spec.required && value ? null : <option value="">{spec.required ? "Choose…" : "(none)"}</option>}
        {(spec.choices ?? []).map((choice) => (
          <option key={choice} value={choice}>
            {choice}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}
