import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import type { Job } from "../api/types";
import { EventStream, json, mockApi, problem, type Sent } from "../test/api";
import { file, job, speechToImage, step } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { JobPage } from "./JobPage";

/** Every connection the page opens to the job's event stream, in order, with what it sent. */
let streams: { stream: EventStream; sent: Sent }[] = [];

function serve(current: () => Job, events?: (sent: Sent) => Response) {
  return mockApi({
    "GET /v1/jobs/job-1": () => current(),
    "GET /v1/pipelines/speech_to_image": () => speechToImage,
    "GET /v1/jobs/job-1/events":
      events ??
      ((sent) => {
        const stream = new EventStream();
        streams.push({ stream, sent });
        return stream.response();
      }),
  });
}

beforeEach(() => {
  streams = [];
});

describe("JobPage", () => {
  it("follows the job live over SSE and shows the results when it finishes", async () => {
    let current = job({ status: "running" });
    serve(() => current);
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByRole("heading", { name: "Speech to image", level: 1 })).toBeInTheDocument();
    await waitFor(() => expect(streams).toHaveLength(1));
    const source = streams[0].stream;
    expect(streams[0].sent.headers.get("Accept")).toBe("text/event-stream");
    expect(streams[0].sent.headers.has("Last-Event-ID")).toBe(false);
    expect(await screen.findByText("Live")).toBeInTheDocument();

    source.send("step.running", { seq: 1, step_id: "transcribe", attempt: 1 });
    expect(await screen.findByRole("listitem", { name: "transcribe: running" })).toBeInTheDocument();

    current = job({
      status: "running",
      steps: [
        step({ id: "transcribe", worker: "stt", status: "succeeded", attempts: 1, duration_ms: 900, backend: "local", outputs: { text: "a lighthouse at dusk" } }),
        step({ id: "prompt", worker: "llm" }),
        step({ id: "draw", worker: "image" }),
      ],
    });
    source.send("step.succeeded", { seq: 2, step_id: "transcribe" });
    expect(await screen.findByText("a lighthouse at dusk")).toBeInTheDocument();

    current = job({
      status: "succeeded",
      started_at: "2026-11-21T10:00:00Z",
      finished_at: "2026-11-21T10:00:04Z",
      outputs: { transcript: "a lighthouse at dusk", image: file({ id: "pic", url: "/v1/files/pic" }) },
      steps: current.steps.map((item) => ({ ...item, status: "succeeded" as const })),
    });
    source.send("job.succeeded", { seq: 3 });
    const results = await screen.findByRole("region", { name: "Results" });
    expect(within(results).getByRole("heading", { name: "Transcript" })).toBeInTheDocument();
    expect(within(results).getByRole("img", { name: "Picture" })).toHaveAttribute("src", "/v1/files/pic");
    expect(within(results).getByRole("link", { name: /Download/ })).toHaveAttribute("download", "picture.png");
    await waitFor(() => expect(source.canceled).toBe(true));
    expect(screen.getByText("took 4.0 s")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Run again with the same inputs" })).toHaveAttribute("href", "#/run/speech_to_image?from=job-1");
    expect(screen.queryByRole("button", { name: "Cancel job" })).not.toBeInTheDocument();
  });

  it("shows an llm step's text as it is written, then its final output", async () => {
    const steps = (prompt: Partial<Job["steps"][number]>) => [
      step({ id: "transcribe", worker: "stt", status: "succeeded", attempts: 1, outputs: { text: "a lighthouse" } }),
      step({ id: "prompt", worker: "llm", status: "running", attempts: 1, ...prompt }),
      step({ id: "draw", worker: "image" }),
    ];
    let current = job({ status: "running", steps: steps({}) });
    const { calls } = serve(() => current);
    renderWithClient(<JobPage id="job-1" />);
    await waitFor(() => expect(streams).toHaveLength(1));
    const source = streams[0].stream;
    expect(await screen.findByText("Live")).toBeInTheDocument();
    const reads = () => calls.filter((call) => call.path === "/v1/jobs/job-1").length;
    const before = reads();

    source.send("step.delta", { seq: 1, step_id: "prompt", status: "running", attempt: 1, detail: "A light" });
    const text = await screen.findByLabelText("prompt text so far");
    expect(text).toHaveTextContent(/^A light$/);
    expect(text).toHaveAttribute("aria-busy", "true");
    source.send("step.delta", { seq: 2, step_id: "prompt", status: "running", attempt: 1, detail: "house at" });
    await waitFor(() => expect(screen.getByLabelText("prompt text so far")).toHaveTextContent(/^A lighthouse at$/));
    expect(within(screen.getByRole("listitem", { name: "prompt: running" })).getByText("Writing…")).toBeInTheDocument();

    // A retry starts the text over: the new attempt's pieces replace the old ones.
    source.send("step.retrying", { seq: 3, step_id: "prompt", status: "running", attempt: 1, detail: "busy" });
    source.send("step.running", { seq: 4, step_id: "prompt", status: "running", attempt: 2 });
    await waitFor(() => expect(screen.queryByLabelText("prompt text so far")).not.toBeInTheDocument());
    source.send("step.delta", { seq: 5, step_id: "prompt", status: "running", attempt: 2, detail: "A tall " });
    source.send("step.delta", { seq: 6, step_id: "prompt", status: "running", attempt: 2, detail: "lighthouse" });
    await waitFor(() => expect(screen.getByLabelText("prompt text so far")).toHaveTextContent(/^A tall lighthouse$/));
    expect(reads()).toBe(before); // pieces never make the page fetch the job again

    // The step ends: its final output replaces the text in progress.
    const final = "A tall lighthouse at dusk, oil painting";
    current = job({ status: "running", steps: steps({ status: "succeeded", attempts: 2, outputs: { text: final } }) });
    source.send("step.succeeded", { seq: 7, step_id: "prompt", status: "succeeded", attempt: 2, detail: final });
    const done = await screen.findByRole("listitem", { name: "prompt: succeeded" });
    await waitFor(() => expect(within(done).getByText("What this step made")).toBeInTheDocument());
    expect(within(done).getByText(final)).toBeInTheDocument();
    expect(screen.queryByLabelText("prompt text so far")).not.toBeInTheDocument();
    expect(within(done).queryByText("Writing…")).not.toBeInTheDocument();
  });

  it("falls back to polling when the stream drops and cannot reconnect", async () => {
    let current = job({ status: "running" });
    let opened = 0;
    const { calls } = serve(
      () => current,
      (sent) => {
        opened += 1;
        if (opened > 1) throw new TypeError("Failed to fetch");
        const stream = new EventStream();
        streams.push({ stream, sent });
        return stream.response();
      },
    );
    renderWithClient(<JobPage id="job-1" />);
    await waitFor(() => expect(streams).toHaveLength(1));
    expect(await screen.findByText("Live")).toBeInTheDocument();
    streams[0].stream.fail();
    expect(await screen.findByText("Checking every second")).toBeInTheDocument();
    const before = calls.filter((call) => call.path === "/v1/jobs/job-1").length;
    current = job({ status: "failed", error: { title: "Speech recognition failed", detail: "The audio could not be decoded", step_id: "transcribe" }, steps: [step({ id: "transcribe", worker: "stt", status: "failed" })] });
    expect(await screen.findByText("Speech recognition failed", {}, { timeout: 3000 })).toBeInTheDocument();
    expect(calls.filter((call) => call.path === "/v1/jobs/job-1").length).toBeGreaterThan(before);
    expect(screen.getByText(/Try a clearer recording/)).toBeInTheDocument();
    expect(screen.getByText("The audio could not be decoded")).toBeInTheDocument();
  });

  it("reconnects after a cut, resuming after the last event it saw", async () => {
    serve(() => job({ status: "running" }));
    renderWithClient(<JobPage id="job-1" />);
    await waitFor(() => expect(streams).toHaveLength(1));
    // An event split across chunks still arrives whole.
    const first = JSON.stringify({ seq: 4, job_id: "job-1", type: "step.running", step_id: "transcribe", attempt: 1, at: new Date().toISOString() });
    streams[0].stream.write(`: ping\n\nevent: step.running\nid: 4\ndata: ${first.slice(0, 20)}`);
    streams[0].stream.write(`${first.slice(20)}\n\n`);
    expect(await screen.findByRole("listitem", { name: "transcribe: running" })).toBeInTheDocument();
    streams[0].stream.end(); // the server went away before the job finished
    expect(await screen.findByText("Checking every second")).toBeInTheDocument();
    await waitFor(() => expect(streams).toHaveLength(2), { timeout: 4000 });
    expect(streams[1].sent.headers.get("Last-Event-ID")).toBe("4");
    expect(await screen.findByText("Live")).toBeInTheDocument();
  });

  it("stops the stream and polls when the gateway refuses it", async () => {
    let current = job({ status: "running" });
    const { calls } = serve(
      () => current,
      () => problem(404, "Not Found", "No job job-1"),
    );
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByText("Checking every second")).toBeInTheDocument();
    current = job({ status: "succeeded" });
    expect(await screen.findByText("Done", { selector: ".job-summary .status" }, { timeout: 3000 })).toBeInTheDocument();
    expect(calls.filter((call) => call.path === "/v1/jobs/job-1/events")).toHaveLength(1);
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

  it("never shows a canceled job as running again when the cancel answer was read before the runner stopped it", async () => {
    let current = job({ status: "running" });
    let answerCancel: (() => void) | undefined;
    let slowReads = false;
    mockApi({
      // Once the cancel is answered, reads are slow: what the page shows meanwhile is what it made of the answer.
      "GET /v1/jobs/job-1": () =>
        slowReads ? new Promise<Response>((resolve) => setTimeout(() => resolve(json(current)), 2000)) : current,
      "GET /v1/pipelines/speech_to_image": () => speechToImage,
      "GET /v1/jobs/job-1/events": (sent) => {
        const stream = new EventStream();
        streams.push({ stream, sent });
        return stream.response();
      },
      // The gateway read the job (still running) before the runner wrote its end; the answer arrives late.
      "POST /v1/jobs/job-1/cancel": () =>
        new Promise<Response>((resolve) => {
          const stale = job({ status: "running" });
          answerCancel = () => resolve(json(stale, 202));
        }),
    });
    const user = userEvent.setup();
    renderWithClient(<JobPage id="job-1" />);
    await waitFor(() => expect(streams).toHaveLength(1));
    await user.click(await screen.findByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(answerCancel).toBeDefined());
    current = job({ status: "canceled", finished_at: "2026-11-21T10:00:05Z" });
    streams[0].stream.send("job.canceled", { seq: 5, status: "canceled" });
    expect(await screen.findByText("Canceled", { selector: ".job-summary .status" })).toBeInTheDocument();
    slowReads = true;
    answerCancel!();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(screen.getByText("Canceled", { selector: ".job-summary .status" })).toBeInTheDocument();
    expect(screen.queryByText("Running", { selector: ".job-summary .status" })).toBeNull();
  });

  it("says plainly when the job does not exist", async () => {
    mockApi({ "GET /v1/jobs/job-1": () => problem(404, "Not Found", "No job job-1") });
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByText("Not found")).toBeInTheDocument();
    expect(screen.getByText(/Start again from the pipelines/)).toBeInTheDocument();
  });
});
