import type { ReactNode } from "react";
import type { InputSpec } from "../../api/types";

interface Props {
  id: string;
  spec: InputSpec;
  error?: string | null;
  hint?: ReactNode;
  /** Boolean inputs put their label beside the box instead. */
  labelAfter?: boolean;
  /** Labels for groups (file inputs) are legends, not <label for>. */
  asGroup?: boolean;
  children: ReactNode;
}

/** Label, description, hint and error around one input — the same for every type. */
export function FieldFrame({ id, spec, error, hint, labelAfter, asGroup, children }: Props) {
  const title = (
    <>
      {spec.title}
      {spec.type === "boolean" ? null : spec.required ? (
        <span className="required" aria-hidden="true">
          {" "}*
        </span>
      ) : (
        <span className="optional"> (optional)</span>
      )}
    </>
  );
  const notes = (
    <>
      {spec.description ? (
        <p className="field-description" id={`${id}-description`}>
          {spec.description}
        </p>
      ) : null}
      {hint ? (
        <p className="field-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      ) : null}
    </>
  );
  if (asGroup) {
    return (
      <fieldset className={`field${error ? " has-error" : ""}`} aria-describedby={describedBy(id, spec, error, hint)}>
        <legend className="field-label">{title}</legend>
        {children}
        {notes}
      </fieldset>
    );
  }
  return (
    <div className={`field${error ? " has-error" : ""}${labelAfter ? " field-inline" : ""}`}>
      {labelAfter ? null : (
        <label className="field-label" htmlFor={id}>
          {title}
        </label>
      )}
      {children}
      {labelAfter ? (
        <label className="field-label" htmlFor={id}>
          {title}
        </label>
      ) : null}
      {notes}
    </div>
  );
}

/** The aria-describedby list for a control: description, hint and error when present. */
export function describedBy(id: string, spec: InputSpec, error?: string | null, hint?: ReactNode): string | undefined {
  const ids = [
    spec.description ? `${id}-description` : null,
    hint ? `${id}-hint` : null,
    error ? `${id}-error` : null,
  ].filter(Boolean);
  return ids.length ? ids.join(" ") : undefined;
}
