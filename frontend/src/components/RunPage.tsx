import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { fetchJob, keys, usePipeline } from "../api/queries";
import { friendlyProblem } from "../lib/problem";
import { href, navigate } from "../lib/router";
import { ProblemBox } from "./ProblemBox";
import { RunForm } from "./RunForm";

/** A pipeline's form; with `from`, filled in from an earlier job. */
export function RunPage({ name, from }: { name: string; from?: string }) {
  const client = useQueryClient();
  const pipeline = usePipeline(name);
  const earlier = useQuery({ queryKey: keys.job(from ?? ""), queryFn: () => fetchJob(from ?? ""), enabled: !!from });
  const error = pipeline.error ?? earlier.error;
  if (error) {
    return (
      <ProblemBox
        problem={error instanceof ApiError ? friendlyProblem(error.problem) : { title: "Could not load", advice: "Reload the page." }}
      />
    );
  }
  if (!pipeline.data || (from && !earlier.data)) return <p role="status">Loading…</p>;
  const spec = pipeline.data;
  return (
    <>
      <header className="page-header">
        <p className="breadcrumbs">
          <a href={href({ page: "pipelines" })}>Pipelines</a> / {spec.title}
        </p>
        <h1 tabIndex={-1}>{spec.title}</h1>
        <p className="lead">{spec.description}</p>
        {from ? <p className="muted">Filled in from an earlier job. Change anything you like.</p> : null}
      </header>
      <section className="card">
        <RunForm
          key={`${name}:${from ?? ""}`}
          pipeline={spec}
          from={earlier.data}
          onSubmitted={(job) => {
            client.setQueryData(keys.job(job.id), job);
            void client.invalidateQueries({ queryKey: ["jobs", "list"] });
            navigate({ page: "job", id: job.id });
          }}
        />
      </section>
    </>
  );
}
