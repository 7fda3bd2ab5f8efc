import { describedBy, FieldFrame } from "./FieldFrame";
import type { FieldProps } from "./types";

function rangeHint(minimum?: number | null, maximum?: number | null): string | null {
  const hasMin = minimum !== null && minimum !== undefined;
  const hasMax = maximum !== null && maximum !== undefined;
  if (hasMin && hasMax) return `From ${minimum} to ${maximum}.`;
  if (hasMin) return `At least ${minimum}.`;
  if (hasMax) return `At most ${maximum}.`;
  return null;
}

export function NumberField({ id, spec, value, error, onChange }: FieldProps<string | undefined>) {
  const hint = rangeHint(spec.minimum, spec.maximum);
  return (
    <FieldFrame id={id} spec={spec} error={error} hint={hint}>
      <input
        id={id}
        name={id}
        type="number"
        inputMode={spec.type === "integer" ? "numeric" : "decimal"}
        step={spec.type === "integer" ? 1 : "any"}
        min={spec.minimum ?? undefined}
        max={spec.maximum ?? undefined}
        value={value ?? ""}
        aria-invalid={error ? true : undefined}
        aria-required={spec.required || undefined}
        aria-describedby={describedBy(id, spec, error, hint)}
        onChange={(event) => onChange(event.target.value)}
      />
    </FieldFrame>
  );
}
