import { describedBy, FieldFrame } from "./FieldFrame";
import type { FieldProps } from "./types";

export function BooleanField({ id, spec, value, error, onChange }: FieldProps<boolean | undefined>) {
  return (
    <FieldFrame id={id} spec={spec} error={error} labelAfter>
      <input
        id={id}
        name={id}
        type="checkbox"
        checked={value === true}
        aria-describedby={describedBy(id, spec, error)}
        onChange={(event) => onChange(event.target.checked)}
      />
    </FieldFrame>
  );
}
