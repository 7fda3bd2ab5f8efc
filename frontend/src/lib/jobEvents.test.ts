import { describe, expect, it } from "vitest";
import { job } from "../test/fixtures";
import { storyJob } from "../test/story";
import { applyEvent, applyLiveText, isTerminalEvent, newerJob, parseEvent, type JobEvent, type LiveTexts } from "./jobEvents";

let seq = 0;
function event(type: string, extra: Partial<JobEvent> = {}): JobEvent {
  seq += 1;
  return { seq, job_id: "job-1", type, at: `2026-11-21T10:00:${String(seq).padStart(2, "0")}Z`, ...extra };
}

function run(events: JobEvent[], start = job()) {
  return events.reduce(applyEvent, start);
}

describe("applyEvent", () => {
  it("follows a job from queued through its steps to success", () => {
    const start = job();
    const running = run([event("job.running")], start);
    expect(running.status).toBe("running");
    expect(running.started_at).toBe(running.updated_at);

    const first = applyEvent(running, { seq: 10, job_id: "job-1", type: "step.running", step_id: "transcribe", attempt: 1, at: "2026-11-21T10:01:00Z" });
    expect(first.steps[0]).toMatchObject({ status: "running", attempts: 1, started_at: "2026-11-21T10:01:00Z" });
    const done = applyEvent(first, { seq: 11, job_id: "job-1", type: "step.succeeded", step_id: "transcribe", at: "2026-11-21T10:01:02.500Z" });
    expect(done.steps[0]).toMatchObject({ status: "succeeded", duration_ms: 2500, finished_at: "2026-11-21T10:01:02.500Z" });
    expect(done.steps[1].status).toBe("pending");

    const finished = run([event("job.succeeded")], done);
    expect(finished.status).toBe("succeeded");
    expect(finished.finished_at).toBeTruthy();
  });

  it("counts retries and shows why the last attempt failed while the step goes on", () => {
    const state = run([
      event("step.running", { step_id: "prompt", attempt: 1 }),
      event("step.retrying", { step_id: "prompt", attempt: 1, detail: "OpenRouter answered 503" }),
      event("step.running", { step_id: "prompt", attempt: 2 }),
    ]);
    const prompt = state.steps[1];
    expect(prompt.status).toBe("running");
    expect(prompt.attempts).toBe(2);
    expect(prompt.error).toMatchObject({ title: "Attempt 1 did not work, trying again", detail: "OpenRouter answered 503", retryable: true });
  });

  it("records a failed step's reason and the job's failure", () => {
    const state = run([
      event("step.running", { step_id: "transcribe", attempt: 1 }),
      event("step.failed", { step_id: "transcribe", detail: "The audio could not be decoded" }),
      event("step.skipped", { step_id: "prompt" }),
      event("job.failed", { step_id: "transcribe", detail: "Step transcribe failed" }),
    ]);
    expect(state.status).toBe("failed");
    expect(state.steps[0]).toMatchObject({ status: "failed", error: { detail: "The audio could not be decoded", retryable: false } });
    expect(state.steps[1].status).toBe("skipped");
    expect(state.error).toMatchObject({ detail: "Step transcribe failed", step_id: "transcribe" });
  });

  it("never moves a job or step backwards when a resumed stream replays old events", () => {
    const finished = run([
      event("job.running"),
      event("step.running", { step_id: "transcribe" }),
      event("step.succeeded", { step_id: "transcribe" }),
      event("job.canceled"),
    ]);
    const replayed = run([event("job.running"), event("step.running", { step_id: "transcribe" }), event("job.succeeded")], finished);
    expect(replayed.status).toBe("canceled");
    expect(replayed.steps[0].status).toBe("succeeded");
  });

  it("keeps the server's durations and errors when it already sent them", () => {
    const start = job({ steps: [{ ...job().steps[0], status: "running", duration_ms: 1234, started_at: "2026-11-21T09:00:00Z" }] });
    const state = applyEvent(start, event("step.succeeded", { step_id: "transcribe" }));
    expect(state.steps[0].duration_ms).toBe(1234);
  });

  it("adds a step it has not seen yet and starts the job on the first step event", () => {
    const state = applyEvent(job({ steps: [] }), event("step.running", { step_id: "extra", attempt: 1 }));
    expect(state.status).toBe("running");
    expect(state.steps.map((step) => [step.id, step.status])).toEqual([["extra", "running"]]);
  });

  it("ignores events for another job and unknown types, returning the same object", () => {
    const start = job();
    expect(applyEvent(start, event("job.running", { job_id: "other" }))).toBe(start);
    expect(applyEvent(start, event("job.exploded"))).toBe(start);
    expect(applyEvent(start, event("step.succeeded"))).toBe(start);
  });
});

describe("parseEvent", () => {
  it("reads a job event and rejects anything else", () => {
    expect(parseEvent('{"seq":3,"job_id":"j","type":"job.running","at":"x"}')).toMatchObject({ seq: 3, type: "job.running" });
    expect(parseEvent("not json")).toBeNull();
    expect(parseEvent('{"hello":1}')).toBeNull();
    expect(isTerminalEvent("job.canceled")).toBe(true);
    expect(isTerminalEvent("step.failed")).toBe(false);
  });
});

describe("newerJob", () => {
  it("keeps the cached job when the incoming copy was read before the job moved on", () => {
    const canceled = { ...job(), status: "canceled" as const, finished_at: "2026-11-21T10:02:00Z" };
    const staleRunning = { ...job(), status: "running" as const };
    expect(newerJob(canceled, staleRunning)).toBe(canceled);
    expect(newerJob({ ...job(), status: "running" }, { ...job(), status: "queued" }).status).toBe("running");
  });

  it("takes the incoming copy when it is as far along or further, or another job", () => {
    const running = { ...job(), status: "running" as const };
    const done = { ...job(), status: "succeeded" as const };
    expect(newerJob(running, done)).toBe(done);
    expect(newerJob(undefined, running)).toBe(running);
    const moreSteps = { ...running, steps: running.steps.map((s) => ({ ...s, status: "succeeded" as const })) };
    expect(newerJob(running, moreSteps)).toBe(moreSteps);
    const other = { ...job(), id: "job-2", status: "queued" as const };
    expect(newerJob(done, other)).toBe(other);
  });
});

describe("applyLiveText", () => {
  const delta = (detail: string, attempt = 1, step_id = "prompt") => event("step.delta", { step_id, attempt, detail, status: "running" });

  it("joins a step's pieces, keeps steps apart, and leaves the job itself alone", () => {
    const live = [delta("A light"), delta("house"), delta("x", 1, "other")].reduce(applyLiveText, {} as LiveTexts);
    expect(live).toEqual({
      prompt: { attempt: 1, text: "A lighthouse", final: false },
      other: { attempt: 1, text: "x", final: false },
    });
    const start = job();
    expect(applyEvent(start, delta("more"))).toBe(start); // a delta changes no step status
  });

  it("starts over on a new attempt, ignores a stale one, and takes the whole text when the step succeeds", () => {
    let live = [delta("first try"), event("step.running", { step_id: "prompt", attempt: 2 })].reduce(applyLiveText, {} as LiveTexts);
    expect(live.prompt).toEqual({ attempt: 2, text: "", final: false });
    live = [delta("late piece of try one", 1), delta("second", 2), delta(" try", 2)].reduce(applyLiveText, live);
    expect(live.prompt.text).toBe("second try");
    live = applyLiveText(live, event("step.succeeded", { step_id: "prompt", attempt: 2, detail: "second try, done" }));
    expect(live.prompt).toEqual({ attempt: 2, text: "second try, done", final: true });
    expect(applyLiveText(live, delta("replayed", 2))).toBe(live); // nothing after the final text
    const plain = applyLiveText({}, event("step.succeeded", { step_id: "draw" }));
    expect(plain).toEqual({}); // steps that did not stream have no text here
  });
});

describe("applyEvent on map steps", () => {
  it("adds items as their events arrive and keeps the map step's counts live", () => {
    let state = storyJob();
    const draw = () => state.steps.find((s) => s.id === "draw")!;
    expect(draw().items).toMatchObject({ total: 3, succeeded: 0, running: 1 });

    state = run([event("step.succeeded", { step_id: "draw[0]" })], state);
    expect(draw().items).toEqual({ total: 3, succeeded: 1, failed: 0, running: 0 });

    state = run([event("step.running", { step_id: "draw[1]", attempt: 1 }), event("step.running", { step_id: "draw[2]", attempt: 1 })], state);
    expect(draw().items).toEqual({ total: 3, succeeded: 1, failed: 0, running: 2 });

    state = run([event("step.failed", { step_id: "draw[2]", detail: "bad prompt" })], state);
    expect(draw().items).toEqual({ total: 3, succeeded: 1, failed: 1, running: 1 });
  });

  it("creates an item the snapshot did not have yet, with its map step and index", () => {
    const state = run([event("step.running", { step_id: "caption[4]", attempt: 1 })]);
    const item = state.steps.find((s) => s.id === "caption[4]")!;
    expect(item).toMatchObject({ parent: "caption", index: 4, status: "running" });
  });
});
