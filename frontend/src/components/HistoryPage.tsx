import { ApiError } from "../api/client";
import { usePipelines, useJobs } from "../api/queries";
import { isFilePublic, JOB_STATUSES, type Job, type JobStatus } from "../api/types";
import { formatTime, statusLabel } from "../lib/format";
import { friendlyProblem } from "../lib/problem";
import { href, navigate } from "../lib/router";
import { StatusBadge } from "./Badges";
import { DeleteJobButton } from "./DeleteJob";
import { ProblemBox } from "./ProblemBox";

/** A line that reminds a person what the job was about: its text, else the kind of file it took. */
function preview(job: Job): string | null {
  const values = Object.values(job.inputs ?? {});
  const text = values.find((value) => typeof value === "string" && value.trim() !== "") as string | undefined;
  if (text) return `“${text.length > 80 ? `${text.slice(0, 80)}…` : text}”`;
  const file = values.find(isFilePublic);
  if (file) return file.kind === "audio" ? "♪ a recording" : file.kind === "image" ? "▣ a picture" : "a file";
  return null;
}

function JobRow({ job, titles }: { job: Job; titles: Record<string, string> }) {
  const line = preview(job);
  return (
    <li className="history-row">
      <a className="history-main" href={href({ page: "job", id: job.id })}>
        <span className="history-title">{titles[job.pipeline] ?? job.pipeline}</span>
        {line ? <span className="history-preview">{line}</span> : null}
        <span className="muted history-time">{formatTime(job.created_at)}</span>
      </a>
      <StatusBadge status={job.status} />
      <a className="button subtle small" href={href({ page: "run", pipeline: job.pipeline, from: job.id })}>
        Run again
      </a>
      <DeleteJobButton job={job} small />
    </li>
  );
}

/** Past jobs, newest first, filtered by pipeline and status, a page at a time. */
export function HistoryPage({ pipeline, status }: { pipeline?: string; status?: string }) {
  const known = JOB_STATUSES.includes(status as JobStatus) ? (status as JobStatus) : undefined;
  const jobs = useJobs({ pipeline, status: known });
  const pipelines = usePipelines().data?.items ?? [];
  const titles = Object.fromEntries(pipelines.map((item) => [item.name, item.title]));
  const items = jobs.data?.pages.flatMap((page) => page.items) ?? [];
  const filter = (next: { pipeline?: string; status?: string }) =>
    navigate({ page: "jobs", pipeline, status: known, ...next }, true);
  return (
    <>
      <header className="page-header">
        <h1 tabIndex={-1}>History</h1>
        <p className="lead">Every job, newest first. Open one to see its results, or run it again.</p>
      </header>
      <form className="filters" aria-label="Filter jobs" onSubmit={(event) => event.preventDefault()}>
        <label>
          Pipeline
          <select value={pipeline ?? ""} onChange={(event) => filter({ pipeline: event.target.value || undefined })}>
            <option value="">All pipelines</option>
            {pipelines.map((item) => (
              <option key={item.name} value={item.name}>
                {item.title}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={known ?? ""} onChange={(event) => filter({ status: event.target.value || undefined })}>
            <option value="">Any status</option>
            {JOB_STATUSES.map((item) => (
              <option key={item} value={item}>
                {statusLabel(item)}
              </option>
            ))}
          </select>
        </label>
      </form>
      {jobs.error ? (
        <ProblemBox
          problem={
            jobs.error instanceof ApiError
              ? friendlyProblem(jobs.error.problem)
              : { title: "Could not load the history", advice: "Reload the page." }
          }
        />
      ) : null}
      {jobs.isPending ? <p role="status">Loading…</p> : null}
      {jobs.isSuccess && items.length === 0 ? (
        <p className="empty">
          No jobs{pipeline || known ? " match these filters" : " yet"}.{" "}
          <a href={href({ page: "pipelines" })}>Run a pipeline</a>
        </p>
      ) : null}
      <ul className="history" aria-label="Jobs">
        {items.map((job) => (
          <JobRow key={job.id} job={job} titles={titles} />
        ))}
      </ul>
      {jobs.hasNextPage ? (
        <button
          type="button"
          className="button"
          disabled={jobs.isFetchingNextPage}
          onClick={() => void jobs.fetchNextPage()}
        >
          {jobs.isFetchingNextPage ? "Loading…" : "Show older jobs"}
        </button>
      ) : null}
    </>
  );
}
