import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { mockApi, problem } from "../test/api";
import { file, job, speechToImage, step } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { HistoryPage } from "./HistoryPage";
import { JobPage } from "./JobPage";

afterEach(() => window.history.replaceState(null, "", "#/"));

const finished = job({
  status: "succeeded",
  inputs: { audio: file({ id: "upload-1", kind: "audio", content_type: "audio/wav" }) },
  outputs: { image: file({ id: "out-1" }) },
  steps: [
    step({ id: "transcribe", worker: "stt", status: "succeeded", outputs: { text: "a lighthouse" } }),
    step({ id: "prompt", worker: "llm", status: "succeeded", outputs: { text: "draw a lighthouse" } }),
    step({ id: "draw", worker: "image", status: "succeeded", outputs: { image: file({ id: "out-1" }) } }),
  ],
  started_at: "2026-11-21T10:00:00Z",
  finished_at: "2026-11-21T10:00:04Z",
  expires_at: "2026-11-28T10:00:04Z",
});

describe("Deleting a job", () => {
  it("from its page: says when it expires, confirms what goes, deletes, and goes back to the history", async () => {
    const { calls } = mockApi({
      "GET /v1/jobs/job-1": () => finished,
      "GET /v1/pipelines/speech_to_image": () => speechToImage,
      "DELETE /v1/jobs/job-1": () => new Response(null, { status: 204 }),
    });
    const user = userEvent.setup();
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByText(/^Deleted automatically/)).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Delete job job-1" }));
    const confirm = screen.getByRole("group", { name: "Delete this job?" });
    expect(confirm).toHaveTextContent("This deletes its 3 steps and their history, 1 result file for good.");
    expect(confirm).toHaveTextContent("The 1 file you sent goes too, unless another job uses it.");
    expect(calls.filter((sent) => sent.method === "DELETE")).toHaveLength(0); // nothing before the yes

    await user.click(within(confirm).getByRole("button", { name: "Yes, delete" }));
    await waitFor(() => expect(window.location.hash).toBe("#/jobs"));
    expect(calls.filter((sent) => sent.method === "DELETE").map((sent) => sent.path)).toEqual(["/v1/jobs/job-1"]);
  });

  it("offers no delete while the job runs, and says nothing about expiry without a retention policy", async () => {
    mockApi({
      "GET /v1/jobs/job-1": () => job({ status: "running" }),
      "GET /v1/pipelines/speech_to_image": () => speechToImage,
      "GET /v1/jobs/job-1/events": () => new Response("", { status: 200, headers: { "Content-Type": "text/event-stream" } }),
    });
    renderWithClient(<JobPage id="job-1" />);
    expect(await screen.findByRole("button", { name: "Cancel job" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Delete/ })).not.toBeInTheDocument();
    expect(screen.queryByText(/Deleted automatically/)).not.toBeInTheDocument();
  });

  it("from the history: keeps it on 'Keep it', removes it on yes, and shows a refusal", async () => {
    let items = [finished, job({ id: "job-2", status: "failed", inputs: { text: "second" } })];
    const { calls } = mockApi({
      "GET /v1/pipelines": () => ({ items: [speechToImage] }),
      "GET /v1/jobs": () => ({ items, next_cursor: null }),
      "DELETE /v1/jobs/job-1": () => {
        items = items.filter((item) => item.id !== "job-1");
        return new Response(null, { status: 204 });
      },
      "DELETE /v1/jobs/job-2": () => problem(409, "Job still running", "cancel it first"),
    });
    const user = userEvent.setup();
    renderWithClient(<HistoryPage />);
    const list = await screen.findByRole("list", { name: "Jobs" });
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(2));

    await user.click(within(list).getByRole("button", { name: "Delete job job-1" }));
    await user.click(screen.getByRole("button", { name: "Keep it" }));
    expect(calls.some((sent) => sent.method === "DELETE")).toBe(false);

    await user.click(within(list).getByRole("button", { name: "Delete job job-1" }));
    await user.click(screen.getByRole("button", { name: "Yes, delete" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(1));
    expect(list).not.toHaveTextContent("Speech to image♪");

    await user.click(within(list).getByRole("button", { name: "Delete job job-2" }));
    await user.click(screen.getByRole("button", { name: "Yes, delete" }));
    expect(await screen.findByText(/cancel it first/)).toBeInTheDocument();
    expect(within(list).getAllByRole("listitem")).toHaveLength(1);
  });
});
