import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { ApiError, cancelJob } from "../api/client";
import { keys, usePipeline } from "../api/queries";
import { isFilePublic, isTerminal, type Job, type Pipeline } from "../api/types";
import { formatDuration, formatTime } from "../lib/format";
import { friendlyProblem, jobFailure } from "../lib/problem";
import { href, navigate } from "../lib/router";
import { useJobLive, type LiveMode } from "../lib/useJobLive";
import { StatusBadge } from "./Badges";
import { DeleteJobButton } from "./DeleteJob";
import { OutputValue } from "./OutputValue";
import { ProblemBox } from "./ProblemBox";
import { isStory, StoryPlayer } from "./StoryPlayer";
import { Timeline } from "./Timeline";

const LIVE_TEXT: Record<LiveMode, string> = {
  connecting: "Connecting…",
  live: "Live",
  polling: "Checking every second",
  finished: "",
};

/** Outputs the story player shows: the segments it plays and the files it offers for download. */
const STORY_OUTPUTS = ["segments", "narration", "storyboard"];

function Results({ job, pipeline }: { job: Job; pipeline?: Pipeline }) {
  const names = pipeline ? Object.keys(pipeline.outputs) : Object.keys(job.outputs);
  const story = isStory(job.outputs.segments) ? job.outputs.segments : null;
  const shown = names.filter((name) => job.outputs[name] !== undefined && !(story && STORY_OUTPUTS.includes(name)));
  if (!shown.length && !story) return null;
  const file = (name: string) => (isFilePublic(job.outputs[name]) ? job.outputs[name] : null);
  return (
    <section className="card results" aria-labelledby="results-title">
      <h2 id="results-title">Results</h2>
      {story ? (
        <StoryPlayer
          segments={story}
          narration={file("narration")}
          storyboard={file("storyboard")}
          placeholder={job.steps.some((step) => step.placeholder && step.worker === "image")}
        />
      ) : null}
      {shown.map((name) => {
        const title = pipeline?.outputs[name]?.title || name;
        return (
          <div key={name} className="result">
            <h3>{title}</h3>
            <OutputValue value={job.outputs[name]} title={title} />
          </div>
        );
      })}
    </section>
  );
}

function Inputs({ job, pipeline }: { job: Job; pipeline?: Pipeline }) {
  const entries = Object.entries(job.inputs ?? {});
  if (!entries.length) return null;
  return (
    <details className="card inputs">
      <summary>What you sent</summary>
      {entries.map(([name, value]) => {
        const title = pipeline?.inputs[name]?.title || name;
        return (
          <div key={name} className="result">
            <h3>{title}</h3>
            <OutputValue value={value} title={title} />
          </div>
        );
      })}
    </details>
  );
}

function CancelButton({ job }: { job: Job }) {
  const client = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => cancelJob(job.id),
    onSuccess: (next) => client.setQueryData(keys.job(job.id), next),
    onSettled: () => client.invalidateQueries({ queryKey: keys.job(job.id) }),
  });
  const problem = cancel.error instanceof ApiError ? friendlyProblem(cancel.error.problem) : null;
  return (
    <>
      <button type="button" className="button danger" disabled={cancel.isPending} onClick={() => cancel.mutate()}>
        {cancel.isPending ? "Canceling…" : "Cancel job"}
      </button>
      {problem && problem.title !== "That is no longer possible" ? <ProblemBox problem={problem} /> : null}
    </>
  );
}

function JobHeader({ job, pipeline, mode }: { job: Job; pipeline?: Pipeline; mode: LiveMode }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [job.id]);
  const total =
    job.started_at && job.finished_at
      ? new Date(job.finished_at).getTime() - new Date(job.started_at).getTime()
      : null;
  return (
    <header className="page-header">
      <p className="breadcrumbs">
        <a href={href({ page: "jobs" })}>History</a> / job {job.id.slice(0, 8)}
      </p>
      <h1 ref={heading} tabIndex={-1}>
        {pipeline?.title ?? job.pipeline}
      </h1>
      <div className="job-summary">
        <span role="status" aria-live="polite">
          <span className="visually-hidden">Job status: </span>
          <StatusBadge status={job.status} />
        </span>
        <span className="muted">Started {formatTime(job.created_at)}</span>
        {total !== null ? <span className="muted">took {formatDuration(total)}</span> : null}
        {job.expires_at ? <span className="muted expires">Deleted automatically {formatTime(job.expires_at)}</span> : null}
        {LIVE_TEXT[mode] ? (
          <span className={`live live-${mode}`} role="status">
            {LIVE_TEXT[mode]}
          </span>
        ) : null}
      </div>
      <div className="job-actions">
        {isTerminal(job.status) ? (
          <>
            <a className="button primary" href={href({ page: "run", pipeline: job.pipeline, from: job.id })}>
              Run again with the same inputs
            </a>
            <DeleteJobButton job={job} onDeleted={() => navigate({ page: "jobs" })} />
          </>
        ) : (
          <CancelButton job={job} />
        )}
      </div>
    </header>
  );
}

/** One job: live status, step timeline, results, errors, cancel, run again, delete, when it expires. */
export function JobPage({ id }: { id: string }) {
  const { query, mode, live } = useJobLive(id);
  const job = query.data;
  const pipeline = usePipeline(job?.pipeline ?? "").data;
  if (query.error) {
    const problem = query.error instanceof ApiError ? friendlyProblem(query.error.problem) : null;
    return problem ? <ProblemBox problem={problem} /> : <p>Could not load the job.</p>;
  }
  if (!job) return <p role="status">Loading the job…</p>;
  const failure = jobFailure(job);
  return (
    <article className="job-page">
      <JobHeader job={job} pipeline={pipeline} mode={mode} />
      {failure ? <ProblemBox problem={failure} role={job.status === "failed" ? "alert" : "status"} /> : null}
      <Results job={job} pipeline={pipeline} />
      <section className="card" aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        <Timeline steps={job.steps} pipeline={pipeline} live={live} />
        {job.usage?.seconds ? (
          <p className="muted usage">
            Compute time {formatDuration(job.usage.seconds * 1000)}
            {job.usage.cost_usd ? ` · cost $${job.usage.cost_usd.toFixed(4)}` : ""}
          </p>
        ) : null}
      </section>
      <Inputs job={job} pipeline={pipeline} />
    </article>
  );
}
