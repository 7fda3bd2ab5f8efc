import { useEffect, useState } from "react";
import type { Pipeline, Step } from "../api/types";
import type { LiveText, LiveTexts } from "../lib/jobEvents";
import { formatDuration, statusLabel, workerLabel } from "../lib/format";
import { countItems, groupSteps, isMapStep, progressText } from "../lib/mapSteps";
import { BackendBadge, PlaceholderBadge, StatusBadge } from "./Badges";
import { OutputValue } from "./OutputValue";

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => setNow(Date.now()), 500);
    return () => window.clearInterval(timer);
  }, [active]);
  return now;
}

function duration(step: Step, now: number): string | null {
  if (step.duration_ms !== null && step.duration_ms !== undefined) return formatDuration(step.duration_ms);
  if (step.status === "running" && step.started_at) {
    return `${formatDuration(now - new Date(step.started_at).getTime())} so far`;
  }
  return null;
}

/** An llm step's text as it is written (from `step.delta` events), until the step's outputs replace it. */
function LiveTextView({ stepId, live, writing }: { stepId: string; live: LiveText; writing: boolean }) {
  return (
    <div className="step-outputs step-live">
      <span className="output-name">{writing ? "Writing…" : "text"}</span>
      <p className="live-text" aria-label={`${stepId} text so far`} aria-busy={writing}>
        {live.text}
        {writing ? <span className="live-caret" aria-hidden="true" /> : null}
      </p>
    </div>
  );
}

/** A map step's items as a row of small status tiles with a progress line; a tile opens its item's details. */
function MapItems({ step, items, now }: { step: Step; items: Step[]; now: number }) {
  const [open, setOpen] = useState<string | null>(null);
  const counts = countItems(step, items);
  const chosen = items.find((item) => item.id === open);
  const text = progressText(step, counts);
  return (
    <div className="map-items">
      <div className="map-progress">
        <progress max={counts.total || 1} value={counts.succeeded} aria-label={`${step.id} progress`} />
        <span role="status" aria-live="polite" className="map-progress-text">
          {text}
        </span>
      </div>
      <ul className="item-row" aria-label={`${step.id} items`}>
        {items.map((item) => (
          <li key={item.id}>
            <button
              type="button"
              className={`item-tile item-${item.status}${open === item.id ? " item-open" : ""}`}
              aria-label={`${item.id}: ${statusLabel(item.status)}`}
              aria-pressed={open === item.id}
              title={`${item.id}: ${statusLabel(item.status)}`}
              onClick={() => setOpen(open === item.id ? null : item.id)}
            >
              {(item.index ?? items.indexOf(item)) + 1}
            </button>
          </li>
        ))}
      </ul>
      {chosen ? (
        <ol className="timeline item-details" aria-label={`${chosen.id} details`}>
          <StepItem step={chosen} optional={false} now={now} />
        </ol>
      ) : null}
    </div>
  );
}

function StepItem({
  step,
  optional,
  now,
  live,
  items,
  map = false,
}: {
  step: Step;
  optional: boolean;
  now: number;
  live?: LiveText;
  items?: Step[];
  map?: boolean;
}) {
  const time = duration(step, now);
  const mapped = items !== undefined && (map || isMapStep(step, items));
  // A map step's own outputs are its items' outputs as lists: the items show them one by one.
  const outputs = mapped ? [] : Object.entries(step.outputs ?? {});
  const finished = outputs.length > 0 && (step.status === "succeeded" || step.fallback);
  const showLive = live !== undefined && !finished && live.text !== "" && (step.status === "running" || live.final);
  return (
    <li className={`step step-${step.status}`} aria-label={`${step.id}: ${step.status}`}>
      <span className="step-dot" aria-hidden="true" />
      <div className="step-body">
        <div className="step-head">
          <span className="step-name">{workerLabel(step.worker)}</span>
          <span className="muted step-id">{step.id}</span>
          {mapped ? <span className="badge">for each item</span> : null}
          {optional ? <span className="badge">optional</span> : null}
          <StatusBadge status={step.status} />
          {time ? <span className="step-time">{time}</span> : null}
        </div>
        <div className="step-meta">
          <BackendBadge backend={step.backend} model={step.model} />
          {step.placeholder ? <PlaceholderBadge /> : null}
          {step.attempts > 1 ? <span className="badge badge-retry">{step.attempts} attempts</span> : null}
          {step.fallback ? <span className="badge badge-retry">Used a stand-in</span> : null}
        </div>
        {step.fallback ? (
          <p className="step-note">This optional step did not work, so the pipeline carried on with a stand-in result.</p>
        ) : null}
        {step.error ? (
          <p className={step.error.retryable && step.status === "running" ? "step-note" : "step-error"}>
            <strong>{step.error.title}</strong>
            {step.error.detail ? ` — ${step.error.detail}` : ""}
          </p>
        ) : null}
        {showLive ? <LiveTextView stepId={step.id} live={live} writing={!live.final} /> : null}
        {mapped && items ? <MapItems step={step} items={items} now={now} /> : null}
        {finished ? (
          <details className="step-outputs" open>
            <summary>What this step made</summary>
            {outputs.map(([name, value]) => (
              <div key={name} className="step-output">
                <span className="output-name">{name}</span>
                <OutputValue value={value} title={`${step.id} ${name}`} />
              </div>
            ))}
          </details>
        ) : null}
      </div>
    </li>
  );
}

/** The job's steps in order, with status, timing, retries, backend and placeholder badges; an llm step's
 * text as it is written; a map step with its items as a row of tiles and a progress line. */
export function Timeline({ steps, pipeline, live = {} }: { steps: Step[]; pipeline?: Pipeline; live?: LiveTexts }) {
  const now = useNow(steps.some((step) => step.status === "running"));
  const optional = new Set((pipeline?.steps ?? []).filter((step) => step.optional).map((step) => step.id));
  const maps = new Set((pipeline?.steps ?? []).filter((step) => step.map).map((step) => step.id));
  return (
    <ol className="timeline" aria-label="Steps">
      {groupSteps(steps).map(({ step, items }) => (
        <StepItem
          key={step.id}
          step={step}
          optional={optional.has(step.id)}
          now={now}
          live={live[step.id]}
          items={items}
          map={maps.has(step.id)}
        />
      ))}
    </ol>
  );
}
