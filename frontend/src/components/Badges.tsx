import { statusLabel } from "../lib/format";

export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{statusLabel(status)}</span>;
}

/** Which engine served a step: the offline local engine or a remote provider. */
export function BackendBadge({ backend, model }: { backend?: string | null; model?: string | null }) {
  if (!backend) return null;
  if (backend === "gateway") {
    // A transform: run by the gateway itself, no model and no worker.
    return <span className="badge badge-local">Gateway · in-process</span>;
  }
  const local = backend === "local";
  return (
    <span className={`badge ${local ? "badge-local" : "badge-remote"}`} title={model ? `Model: ${model}` : undefined}>
      {local ? "Local · offline" : `Remote · ${backend}`}
      {model ? <span className="badge-model"> · {model}</span> : null}
    </span>
  );
}

export function PlaceholderBadge() {
  return (
    <span
      className="badge badge-placeholder"
      title="Made by a simple offline renderer, not by an AI model. Connect a remote provider for real results."
    >
      Placeholder · not AI
    </span>
  );
}
