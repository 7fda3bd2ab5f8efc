import { QueryClientProvider } from "@tanstack/react-query";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { mockApi } from "../test/api";
import { everything, file, job, speechToImage } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { HistoryPage } from "./HistoryPage";

afterEach(() => window.history.replaceState(null, "", "#/"));

describe("HistoryPage", () => {
  it("lists jobs newest first with what they were about, and pages on with the cursor", async () => {
    const { calls } = mockApi({
      "GET /v1/pipelines": () => ({ items: [speechToImage, everything] }),
      "GET /v1/jobs": ({ query }) =>
        query.get("cursor") === "page-2"
          ? { items: [job({ id: "old", pipeline: "everything", status: "failed", inputs: { text: "oldest" } })], next_cursor: null }
          : {
              items: [
                job({ id: "new", status: "succeeded", inputs: { audio: file({ kind: "audio", content_type: "audio/wav" }) } }),
                job({ id: "mid", pipeline: "everything", status: "canceled", inputs: { text: "make it loud" } }),
              ],
              next_cursor: "page-2",
            },
    });
    const user = userEvent.setup();
    renderWithClient(<HistoryPage />);
    const list = await screen.findByRole("list", { name: "Jobs" });
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(2));
    const [first, second] = within(list).getAllByRole("listitem");
    expect(first).toHaveTextContent("Speech to image♪ a recording");
    expect(within(first).getByText("Done")).toBeInTheDocument();
    expect(within(first).getAllByRole("link")[0]).toHaveAttribute("href", "#/jobs/new");
    expect(second).toHaveTextContent("“make it loud”");
    expect(within(second).getByRole("link", { name: "Run again" })).toHaveAttribute("href", "#/run/everything?from=mid");

    await user.click(screen.getByRole("button", { name: "Show older jobs" }));
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(3));
    expect(screen.queryByRole("button", { name: "Show older jobs" })).not.toBeInTheDocument();
    expect(calls.filter((call) => call.path === "/v1/jobs").map((call) => call.query.get("cursor"))).toEqual([null, "page-2"]);
  });

  it("filters by pipeline and status through the URL and the API", async () => {
    const { calls } = mockApi({
      "GET /v1/pipelines": () => ({ items: [speechToImage, everything] }),
      "GET /v1/jobs": () => ({ items: [], next_cursor: null }),
    });
    const user = userEvent.setup();
    const { rerender, client } = renderWithClient(<HistoryPage />);
    await screen.findByRole("option", { name: "Everything" });
    await user.selectOptions(screen.getByRole("combobox", { name: "Pipeline" }), "Everything");
    expect(window.location.hash).toBe("#/jobs?pipeline=everything");
    // The App re-renders the page from the new URL; do the same with a status too.
    rerender(
      <QueryClientProvider client={client}>
        <HistoryPage pipeline="everything" status="failed" />
      </QueryClientProvider>,
    );
    expect(await screen.findByText(/No jobs match these filters/)).toBeInTheDocument();
    const last = calls.filter((call) => call.path === "/v1/jobs").at(-1)!;
    expect(last.query.get("pipeline")).toBe("everything");
    expect(last.query.get("status")).toBe("failed");
    expect(screen.getByRole("combobox", { name: "Status" })).toHaveValue("failed");
  });
});
