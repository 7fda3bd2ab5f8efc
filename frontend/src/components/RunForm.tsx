import { useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import type { Job, Pipeline } from "../api/types";
import { fieldOf, initialValues, validateAll, type FormErrors, type FormValues } from "../lib/formValues";
import { friendlyProblem, type Friendly } from "../lib/problem";
import { submitJob, UploadError } from "../lib/submitJob";
import { InputField } from "./fields/InputField";
import type { FieldValue } from "./fields/types";
import { ProblemBox } from "./ProblemBox";

interface Props {
  pipeline: Pipeline;
  /** An earlier job whose inputs fill the form ("run again"). */
  from?: Job;
  onSubmitted: (job: Job) => void;
}

/** The gateway's "is required" becomes "Prompt is required."; full sentences stay as they are. */
function sentence(title: string, message: string): string {
  if (!/^[a-z]/.test(message)) return message;
  return `${title} ${message}${/[.!?]$/.test(message) ? "" : "."}`;
}

function newKey(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** The form drawn from a pipeline's input schema: checks, uploads and submits. */
export function RunForm({ pipeline, from, onSubmitted }: Props) {
  const [values, setValues] = useState<FormValues>(() => initialValues(pipeline, from));
  const [errors, setErrors] = useState<FormErrors>({});
  const [problem, setProblem] = useState<Friendly | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  // One key per set of values: a retried submit of the same values returns the same job.
  const key = useRef(newKey());
  const idOf = (name: string) => `input-${name}`;

  function setValue(name: string, value: FieldValue) {
    key.current = newKey();
    setValues((current) => ({ ...current, [name]: value }));
    setErrors((current) => ({ ...current, [name]: null }));
  }

  function focusFirst(found: FormErrors) {
    const first = Object.keys(pipeline.inputs).find((name) => found[name]);
    if (first) document.getElementById(idOf(first))?.focus();
  }

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const found = validateAll(pipeline, values, errors);
    setErrors(found);
    setProblem(null);
    if (Object.values(found).some(Boolean)) {
      focusFirst(found);
      return;
    }
    setBusy("Sending…");
    try {
      onSubmitted(await submitJob(pipeline, values, key.current, setBusy));
    } catch (error) {
      if (error instanceof UploadError) {
        const friendly = friendlyProblem(error.cause.problem);
        const next = { ...found, [error.field]: `${friendly.detail ?? friendly.title} ${friendly.advice}` };
        setErrors(next);
        focusFirst(next);
      } else if (error instanceof ApiError) {
        const next = { ...found };
        for (const item of error.problem.errors ?? []) {
          const name = fieldOf(item.field, pipeline);
          if (name) next[name] = sentence(pipeline.inputs[name]?.title || name, item.message);
        }
        setErrors(next);
        setProblem(friendlyProblem(error.problem));
        focusFirst(next);
      } else {
        setProblem({ title: "Something went wrong", detail: String(error), advice: "Try again." });
      }
    } finally {
      setBusy(null);
    }
  }

  const invalid = Object.entries(errors).filter(([, message]) => message);
  return (
    <form className="run-form" onSubmit={onSubmit} noValidate aria-busy={busy ? true : undefined}>
      {invalid.length > 1 ? (
        <div className="error-summary" role="alert">
          <p>Please fix {invalid.length} things before sending:</p>
          <ul>
            {invalid.map(([name, message]) => (
              <li key={name}>
                <a href={`#${idOf(name)}`} onClick={(event) => {
                  event.preventDefault();
                  document.getElementById(idOf(name))?.focus();
                }}>
                  {pipeline.inputs[name]?.title || name}
                </a>
                : {message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {Object.entries(pipeline.inputs).map(([name, spec]) => (
        <InputField
          key={name}
          id={idOf(name)}
          name={name}
          spec={spec}
          value={values[name]}
          error={errors[name]}
          onChange={(value) => setValue(name, value)}
          onError={(message) => setErrors((current) => ({ ...current, [name]: message }))}
        />
      ))}
      {problem ? <ProblemBox problem={problem} /> : null}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={busy !== null}>
          {busy ? "Sending…" : `Run ${pipeline.title}`}
        </button>
        <span role="status" className="muted">
          {busy ?? ""}
        </span>
      </div>
    </form>
  );
}
