/** Small formatting helpers for people, not machines. */

/** Decimal units, as people (and the pipelines' own descriptions) count: 20000000 bytes is "20 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Milliseconds between two ISO timestamps, or null when either is missing. */
export function elapsedMs(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  const ms = new Date(to).getTime() - new Date(from).getTime();
  return Number.isFinite(ms) ? ms : null;
}

export const WORKER_LABELS: Record<string, string> = {
  llm: "Language model",
  image: "Image generator",
  stt: "Speech recognition",
  tts: "Speech synthesis",
  cyclegan: "Style transfer",
};

/** "Image generator" for a worker; "Gateway · split" for a transform the gateway runs itself. */
export function workerLabel(worker: string): string {
  if (worker.startsWith("transform:")) return `Gateway · ${worker.slice("transform:".length)}`;
  return WORKER_LABELS[worker] ?? worker;
}

export const STATUS_LABELS: Record<string, string> = {
  queued: "Waiting",
  pending: "Waiting",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  skipped: "Skipped",
  canceled: "Canceled",
};

export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}
