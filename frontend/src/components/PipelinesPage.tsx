import { usePipelines } from "../api/queries";
import { ApiError } from "../api/client";
import type { Pipeline } from "../api/types";
import { workerLabel } from "../lib/format";
import { friendlyProblem } from "../lib/problem";
import { href } from "../lib/router";
import { ProblemBox } from "./ProblemBox";

const TYPE_ICONS: Record<string, string> = { text: "¶", image: "▣", audio: "♪" };

function Kinds({
  label,
  fields,
}: {
  label: string;
  fields: Record<string, { type: string; title: string; required?: boolean }>;
}) {
  return (
    <div className="io">
      <span className="io-label">{label}</span>
      <ul className="io-list">
        {Object.entries(fields).map(([name, field]) => (
          <li key={name} className={`chip chip-${field.type}`}>
            <span aria-hidden="true">{TYPE_ICONS[field.type] ?? "•"} </span>
            {field.title || name}
            {field.required === false ? <span className="muted"> (optional)</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

function PipelineCard({ pipeline }: { pipeline: Pipeline }) {
  const titleId = `pipeline-${pipeline.name}`;
  return (
    <li className="card pipeline-card" aria-labelledby={titleId}>
      <h2 id={titleId}>
        <a href={href({ page: "run", pipeline: pipeline.name })} className="card-link">
          {pipeline.title}
        </a>
      </h2>
      <p className="pipeline-description">{pipeline.description}</p>
      <Kinds label="In" fields={pipeline.inputs} />
      <Kinds label="Out" fields={pipeline.outputs} />
      <p className="muted steps-line">
        {pipeline.steps.map((step) => workerLabel(step.worker)).join(" → ")}
      </p>
    </li>
  );
}

/** Every pipeline the gateway offers, as cards. */
export function PipelinesPage() {
  const pipelines = usePipelines();
  return (
    <>
      <header className="page-header">
        <h1 tabIndex={-1}>What would you like to make?</h1>
        <p className="lead">Pick a pipeline: give it text, a picture or your voice, and get text, pictures or speech back.</p>
      </header>
      {pipelines.isPending ? <p role="status">Loading pipelines…</p> : null}
      {pipelines.error ? (
        <ProblemBox
          problem={
            pipelines.error instanceof ApiError
              ? friendlyProblem(pipelines.error.problem)
              : { title: "Could not load the pipelines", advice: "Reload the page." }
          }
        />
      ) : null}
      {pipelines.data ? (
        <ul className="card-grid" aria-label="Pipelines">
          {pipelines.data.items.map((pipeline) => (
            <PipelineCard key={pipeline.name} pipeline={pipeline} />
          ))}
        </ul>
      ) : null}
    </>
  );
}
