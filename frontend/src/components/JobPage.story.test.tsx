import { screen, waitFor, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Job } from "../api/types";
import { EventStream, mockApi, type Sent } from "../test/api";
import { renderWithClient } from "../test/render";
import { drawSteps, finishedStory, storyJob, textToStory } from "../test/story";
import { JobPage } from "./JobPage";

let streams: { stream: EventStream; sent: Sent }[] = [];

function serve(current: () => Job) {
  return mockApi({
    "GET /v1/jobs/job-1": () => current(),
    "GET /v1/pipelines/text_to_story": () => textToStory,
    "GET /v1/jobs/job-1/events": (sent) => {
      const stream = new EventStream();
      streams.push({ stream, sent });
      return stream.response();
    },
  });
}

beforeEach(() => {
  streams = [];
  vi.spyOn(HTMLMediaElement.prototype, "pause").mockImplementation(() => undefined);
});

describe("JobPage with a story", () => {
  it("shows a map step as a row of items whose progress follows the event stream", async () => {
    let current = storyJob();
    serve(() => current);
    renderWithClient(<JobPage id="job-1" />);
    const draw = await screen.findByRole("listitem", { name: "draw: running" });
    expect(within(draw).getByText("0 of 3 drawn")).toBeInTheDocument();
    expect(within(draw).getByRole("button", { name: "draw[0]: Running" })).toBeInTheDocument();
    expect(within(draw).getByRole("button", { name: "draw[2]: Waiting" })).toBeInTheDocument();
    // items are not listed as steps of their own
    expect(screen.queryByRole("listitem", { name: /^draw\[0\]/ })).not.toBeInTheDocument();

    await waitFor(() => expect(streams).toHaveLength(1));
    const source = streams[0].stream;
    // the server's copy moves with the events (each finished item makes the page read the job again)
    const at = (statuses: Job["steps"][number]["status"][]) => {
      const steps = storyJob().steps.filter((s) => s.id !== "draw" && !s.id.startsWith("draw["));
      current = storyJob({ steps: [...steps.slice(0, 2), ...drawSteps(statuses), ...steps.slice(2)] });
    };
    at(["succeeded", "pending", "pending"]);
    source.send("step.succeeded", { seq: 1, step_id: "draw[0]" });
    expect(await within(draw).findByText("1 of 3 drawn")).toBeInTheDocument();
    expect(within(draw).getByRole("button", { name: "draw[0]: Done" })).toBeInTheDocument();
    source.send("step.running", { seq: 2, step_id: "draw[1]", attempt: 1 });
    at(["succeeded", "succeeded", "pending"]);
    source.send("step.succeeded", { seq: 3, step_id: "draw[1]" });
    expect(await within(draw).findByText("2 of 3 drawn")).toBeInTheDocument();
    expect(within(draw).getByRole("progressbar", { name: "draw progress" })).toHaveAttribute("value", "2");

    current = finishedStory();
    source.send("step.succeeded", { seq: 4, step_id: "draw[2]" });
    source.send("job.succeeded", { seq: 5 });
    const player = await screen.findByRole("region", { name: "Story player" });
    expect(within(player).getByTestId("story-caption")).toHaveTextContent("A robot wakes up.");
    expect(within(player).getByRole("link", { name: /Download storyboard/ })).toHaveAttribute("href", "/v1/files/sb");
    expect(within(player).getByRole("link", { name: /Download narration/ })).toHaveAttribute("href", "/v1/files/wav9");
    expect(within(player).getByText("Placeholder · not AI")).toBeInTheDocument();
    // the player replaces the raw segments list; other outputs are shown as usual
    const results = screen.getByRole("region", { name: "Results" });
    expect(within(results).queryByRole("heading", { name: "Segments" })).not.toBeInTheDocument();
    expect(within(results).getByRole("heading", { name: "Story" })).toBeInTheDocument();
    expect(within(screen.getByRole("listitem", { name: "draw: succeeded" })).getByText("3 of 3 drawn")).toBeInTheDocument();
    // a transform says it ran in the gateway, not on a remote provider
    const narrate = screen.getByRole("listitem", { name: "narrate: succeeded" });
    expect(within(narrate).getByText("Gateway · join_audio")).toBeInTheDocument();
    expect(within(narrate).getByText("Gateway · in-process")).toBeInTheDocument();
    expect(within(narrate).queryByText(/Remote/)).not.toBeInTheDocument();
  });

  it("opens one item's details from its tile", async () => {
    serve(() => finishedStory());
    renderWithClient(<JobPage id="job-1" />);
    const draw = await screen.findByRole("listitem", { name: "draw: succeeded" });
    within(draw).getByRole("button", { name: "draw[1]: Done" }).click();
    const details = await within(draw).findByRole("list", { name: "draw[1] details" });
    expect(within(details).getByRole("img", { name: "draw[1] image" })).toHaveAttribute("src", "/v1/files/img1");
    expect(within(details).getByText("Placeholder · not AI")).toBeInTheDocument();
  });
});
