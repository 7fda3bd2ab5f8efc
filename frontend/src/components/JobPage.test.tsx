import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Job } from "../api/types";
import { json, mockApi, problem } from "../test/api";
import { file, job, speechToImage, step } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { JobPage } from "./JobPage";

/** A controllable EventSource. */
class FakeEventSource {
  static last: FakeEventSource | null = null;
  static readonly CLOSED = 2;
  readyState = 0;
  closed = false;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  listeners = new Map<string, (event: MessageEvent) => void>();
  constructor(public url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, listener: (event: MessageEvent) => void) {
    this.listeners.set(type, listener);
  }
  close() {
    this.closed = true;
  }
  open() {
    act(() => this.onopen?.());
  }
  emit(type: string, data: Record<string, unknown>) {
    act(() => this.listeners.get(type)?.(new MessageEvent(type, { data: JSON.stringify({ job_id: "job-1", type, at: new Date().toISOString(), ...data }) })));
  }
  fail() {
    act(() => this.onerror?.());
  }
}

beforeEach(() => {
  FakeEventSource.last = null;
  Object.assign(globalThis, { EventSource: FakeEventSource });
});
afterEach(() => {
  Reflect.deleteProperty(globalThis, "EventSource");
});

function serve(current: () => Job) {
  return mockApi({
    "GET /v1/jobs/job-1": () => current(),
    "GET /v1/pipelines/speech_to_image": () => speechToImage,
  });
}

describe("JobPage", () => {
  it("follows the job live over SSE and shows the results when it finishes", async () => {
    let current = job({ status: "running" });
    serve(() => current);
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByRole("heading", { name: "Speech to image", level: 1 })).toBeInTheDocument();
    await waitFor(() => expect(FakeEventSource.last?.url).toBe("/v1/jobs/job-1/events"));
    const source = FakeEventSource.last!;
    source.open();
    expect(screen.getByText("Live")).toBeInTheDocument();

    source.emit("step.running", { seq: 1, step_id: "transcribe", attempt: 1 });
    expect(await screen.findByRole("listitem", { name: "transcribe: running" })).toBeInTheDocument();

    current = job({
      status: "running",
      steps: [
        step({ id: "transcribe", worker: "stt", status: "succeeded", attempts: 1, duration_ms: 900, backend: "local", outputs: { text: "a lighthouse at dusk" } }),
        step({ id: "prompt", worker: "llm" }),
        step({ id: "draw", worker: "image" }),
      ],
    });
    source.emit("step.succeeded", { seq: 2, step_id: "transcribe" });
    expect(await screen.findByText("a lighthouse at dusk")).toBeInTheDocument();

    current = job({
      status: "succeeded",
      started_at: "2026-11-21T10:00:00Z",
      finished_at: "2026-11-21T10:00:04Z",
      outputs: { transcript: "a lighthouse at dusk", image: file({ id: "pic", url: "/v1/files/pic" }) },
      steps: current.steps.map((item) => ({ ...item, status: "succeeded" as const })),
    });
    source.emit("job.succeeded", { seq: 3 });
    const results = await screen.findByRole("region", { name: "Results" });
    expect(within(results).getByRole("heading", { name: "Transcript" })).toBeInTheDocument();
    expect(within(results).getByRole("img", { name: "Picture" })).toHaveAttribute("src", "/v1/files/pic");
    expect(within(results).getByRole("link", { name: /Download/ })).toHaveAttribute("download", "picture.png");
    expect(source.closed).toBe(true);
    expect(screen.getByText("took 4.0 s")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Run again with the same inputs" })).toHaveAttribute("href", "#/run/speech_to_image?from=job-1");
    expect(screen.queryByRole("button", { name: "Cancel job" })).not.toBeInTheDocument();
  });

  it("falls back to polling when the stream drops", async () => {
    let current = job({ status: "running" });
    const { calls } = serve(() => current);
    renderWithClient(<JobPage id="job-1" />);
    await waitFor(() => expect(FakeEventSource.last).not.toBeNull());
    FakeEventSource.last!.open();
    FakeEventSource.last!.fail();
    expect(screen.getByText("Checking every second")).toBeInTheDocument();
    const before = calls.filter((call) => call.path === "/v1/jobs/job-1").length;
    current = job({ status: "failed", error: { title: "Speech recognition failed", detail: "The audio could not be decoded", step_id: "transcribe" }, steps: [step({ id: "transcribe", worker: "stt", status: "failed" })] });
    expect(await screen.findByText("Speech recognition failed", {}, { timeout: 3000 })).toBeInTheDocument();
    expect(calls.filter((call) => call.path === "/v1/jobs/job-1").length).toBeGreaterThan(before);
    expect(screen.getByText(/Try a clearer recording/)).toBeInTheDocument();
    expect(screen.getByText("The audio could not be decoded")).toBeInTheDocument();
  });

  it("cancels a running job", async () => {
    let current = job({ status: "running" });
    const { calls } = mockApi({
      "GET /v1/jobs/job-1": () => current,
      "GET /v1/pipelines/speech_to_image": () => speechToImage,
      "POST /v1/jobs/job-1/cancel": () => {
        current = { ...current, status: "canceled" };
        return json(current, 202);
      },
    });
    const user = userEvent.setup();
    renderWithClient(<JobPage id="job-1" />);
    await user.click(await screen.findByRole("button", { name: "Cancel job" }));
    expect(await screen.findByText("You canceled this job")).toBeInTheDocument();
    expect(calls.some((call) => call.method === "POST" && call.path === "/v1/jobs/job-1/cancel")).toBe(true);
  });

  it("says plainly when the job does not exist", async () => {
    mockApi({ "GET /v1/jobs/job-1": () => problem(404, "Not Found", "No job job-1") });
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByText("Not found")).toBeInTheDocument();
    expect(screen.getByText(/Start again from the pipelines/)).toBeInTheDocument();
  });
});
