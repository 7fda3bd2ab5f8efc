import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, deleteJob } from "../api/client";
import { keys } from "../api/queries";
import { isFilePublic, isTerminal, type Job } from "../api/types";
import { friendlyProblem, type Friendly } from "../lib/problem";
import { ProblemBox } from "./ProblemBox";

function problemOf(error: unknown): Friendly {
  return error instanceof ApiError ? friendlyProblem(error.problem) : { title: "The job could not be deleted", advice: "Try again." };
}

/** Every file a job shows (inputs, results, step outputs), counted once each. */
function filesOf(job: Job): { uploads: number; outputs: number } {
  const ids = (value: unknown, into: Set<string>): void => {
    if (isFilePublic(value)) into.add(value.id);
    else if (Array.isArray(value)) value.forEach((item) => ids(item, into));
    else if (value && typeof value === "object") Object.values(value).forEach((item) => ids(item, into));
  };
  const uploads = new Set<string>();
  const outputs = new Set<string>();
  ids(job.inputs, uploads);
  ids(job.outputs, outputs);
  job.steps.forEach((step) => ids(step.outputs, outputs));
  return { uploads: uploads.size, outputs: outputs.size };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** What a delete takes away, in words, for the confirmation. */
export function whatGoes(job: Job): string {
  const { uploads, outputs } = filesOf(job);
  const parts = [`its ${plural(job.steps.length, "step")} and their history`];
  if (outputs) parts.push(`${plural(outputs, "result file")}`);
  const kept = uploads ? ` The ${plural(uploads, "file")} you sent ${uploads === 1 ? "goes" : "go"} too, unless another job uses ${uploads === 1 ? "it" : "them"}.` : "";
  return `This deletes ${parts.join(", ")} for good.${kept}`;
}

/** Delete a finished job, after a confirmation that says what goes. Hidden while the job runs. */
export function DeleteJobButton({ job, small, onDeleted }: { job: Job; small?: boolean; onDeleted?: () => void }) {
  const client = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => deleteJob(job.id),
    onSuccess: () => {
      setConfirming(false);
      client.removeQueries({ queryKey: keys.job(job.id) });
      void client.invalidateQueries({ queryKey: ["jobs", "list"] });
      onDeleted?.();
    },
  });
  if (!isTerminal(job.status)) return null;
  const size = small ? " small" : "";
  return (
    <div className="delete-job">
      {confirming ? (
        <div className="confirm" role="group" aria-label="Delete this job?">
          <p>{whatGoes(job)}</p>
          <button type="button" className={`button danger${size}`} disabled={remove.isPending} onClick={() => remove.mutate()}>
            {remove.isPending ? "Deleting…" : "Yes, delete"}
          </button>
          <button type="button" className={`button subtle${size}`} onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      ) : (
        <button type="button" className={`button danger${size}`} aria-label={`Delete job ${job.id.slice(0, 8)}`} onClick={() => setConfirming(true)}>
          Delete
        </button>
      )}
      {remove.error ? <ProblemBox problem={problemOf(remove.error)} /> : null}
    </div>
  );
}
