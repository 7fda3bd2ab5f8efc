/**
 * Map steps on the job page: a map step (`draw`) runs once per item of a list, each item its own step
 * (`draw[3]`, with `parent: "draw"` and `index: 3`). These helpers group items under their map step and
 * count them, for the timeline's row of items and its progress line ("6 of 10 drawn").
 */
import type { Step } from "../api/types";

export interface ItemCounts {
  total: number;
  succeeded: number;
  failed: number;
  running: number;
}

const ITEM_ID = /^([a-z][a-z0-9_]*)\[(\d+)\]$/;

/** `{parent, index}` of an item id such as `draw[3]`; null for any other step id. */
export function parseItemId(id: string): { parent: string; index: number } | null {
  const match = ITEM_ID.exec(id);
  return match ? { parent: match[1], index: Number(match[2]) } : null;
}

/** The map step an item belongs to (from the API's `parent`, else from its id). */
export function parentOf(step: Step): string | null {
  return step.parent ?? parseItemId(step.id)?.parent ?? null;
}

function indexOf(step: Step): number {
  return step.index ?? parseItemId(step.id)?.index ?? 0;
}

export interface StepGroup {
  step: Step;
  /** The map step's items in index order; empty for a step that is not a map step. */
  items: Step[];
}

/** The top-level steps in order, each with its items (items never appear as steps of their own). */
export function groupSteps(steps: Step[]): StepGroup[] {
  const items = new Map<string, Step[]>();
  for (const step of steps) {
    const parent = parentOf(step);
    if (parent) items.set(parent, [...(items.get(parent) ?? []), step]);
  }
  return steps
    .filter((step) => !parentOf(step))
    .map((step) => ({ step, items: (items.get(step.id) ?? []).sort((a, b) => indexOf(a) - indexOf(b)) }));
}

/** How a map step's items stand: counted from the items present, the total as the API said when larger. */
export function countItems(step: Step, items: Step[]): ItemCounts {
  const count = (status: string) => items.filter((item) => item.status === status).length;
  return {
    total: Math.max(step.items?.total ?? 0, items.length),
    succeeded: count("succeeded"),
    failed: count("failed"),
    running: count("running"),
  };
}

/** True for a map step (the API gives it `items`, or items of it are known). */
export function isMapStep(step: Step, items: Step[]): boolean {
  return Boolean(step.items) || items.length > 0;
}

const DONE_WORDS: Record<string, string> = {
  image: "drawn",
  tts: "spoken",
  llm: "written",
  stt: "transcribed",
  cyclegan: "restyled",
};

/** "6 of 10 drawn" (the word from the worker), "2 failed" appended when some did; before the list is
 * known, "Waiting for its list". */
export function progressText(step: Step, counts: ItemCounts): string {
  if (!counts.total) return step.status === "pending" ? "Waiting for its list" : "No items";
  const word = DONE_WORDS[step.worker] ?? "done";
  const failed = counts.failed ? `, ${counts.failed} failed` : "";
  return `${counts.succeeded} of ${counts.total} ${word}${failed}`;
}
