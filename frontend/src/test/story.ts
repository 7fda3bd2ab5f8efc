/** A text_to_story job as the API shows it, for the map-step and story player tests. */
import type { Job, Pipeline, Step } from "../api/types";
import { file, job, step } from "./fixtures";

export const textToStory: Pipeline = {
  name: "text_to_story",
  title: "Illustrated story",
  description: "Give a premise; get an illustrated, narrated story.",
  inputs: {
    text: { type: "text", title: "Premise or story", description: "", required: true, default: null, max_length: 2000 },
  },
  outputs: {
    segments: { type: "list", title: "Segments" },
    narration: { type: "audio", title: "Narration" },
    storyboard: { type: "file", title: "Storyboard" },
    story: { type: "text", title: "Story" },
  },
  steps: [
    { id: "write", worker: "llm", optional: true, map: false },
    { id: "split", worker: "transform:split", optional: false, map: false },
    { id: "draw", worker: "image", optional: false, map: true },
    { id: "narrate", worker: "transform:join_audio", optional: false, map: false },
  ],
};

export const TEXTS = ["A robot wakes up.", "It paints the sea.", "The sea smiles back."];

export function image(i: number) {
  return file({ id: `img${i}`, url: `/v1/files/img${i}`, content_type: "image/png", kind: "image" });
}

export function clip(i: number) {
  return file({ id: `wav${i}`, url: `/v1/files/wav${i}`, content_type: "audio/wav", kind: "audio", bytes: 44_000 });
}

export const SEGMENTS = TEXTS.map((text, i) => ({ text, image: image(i), audio: clip(i) }));

/** The draw map step with three items in the given statuses. */
export function drawSteps(statuses: Step["status"][]): Step[] {
  const counts = {
    total: statuses.length,
    succeeded: statuses.filter((s) => s === "succeeded").length,
    failed: statuses.filter((s) => s === "failed").length,
    running: statuses.filter((s) => s === "running").length,
  };
  const parentStatus = counts.succeeded === counts.total ? "succeeded" : "running";
  return [
    step({ id: "draw", worker: "image", status: parentStatus, items: counts }),
    ...statuses.map((status, i) =>
      step({
        id: `draw[${i}]`,
        parent: "draw",
        index: i,
        worker: "image",
        status,
        placeholder: status === "succeeded",
        backend: status === "succeeded" ? "local" : null,
        outputs: status === "succeeded" ? { image: image(i) } : {},
      }),
    ),
  ];
}

export function storyJob(overrides: Partial<Job> = {}): Job {
  return job({
    pipeline: "text_to_story",
    status: "running",
    steps: [
      step({ id: "write", worker: "llm", status: "succeeded", outputs: { text: TEXTS.join(" ") } }),
      step({ id: "split", worker: "transform:split", status: "succeeded", backend: "gateway" }),
      ...drawSteps(["running", "pending", "pending"]),
      step({ id: "narrate", worker: "transform:join_audio" }),
    ],
    ...overrides,
  });
}

export function finishedStory(): Job {
  return storyJob({
    status: "succeeded",
    started_at: "2026-11-21T10:00:00Z",
    finished_at: "2026-11-21T10:01:00Z",
    outputs: {
      segments: SEGMENTS,
      narration: clip(9),
      storyboard: file({ id: "sb", url: "/v1/files/sb", content_type: "text/html", kind: "other", bytes: 3_400_000 }),
      story: TEXTS.join(" "),
    },
    steps: [
      step({ id: "write", worker: "llm", status: "succeeded" }),
      ...drawSteps(["succeeded", "succeeded", "succeeded"]),
      step({ id: "narrate", worker: "transform:join_audio", status: "succeeded", backend: "gateway" }),
    ],
  });
}
