import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, problem } from "../test/api";
import { everything, speechToImage } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { PipelinesPage } from "./PipelinesPage";

describe("PipelinesPage", () => {
  it("draws one card per pipeline the API lists, with what goes in and comes out", async () => {
    mockApi({ "GET /v1/pipelines": () => ({ items: [speechToImage, everything] }) });
    renderWithClient(<PipelinesPage />);
    const list = await screen.findByRole("list", { name: "Pipelines" });
    const cards = within(list).getAllByRole("listitem").filter((item) => item.parentElement === list);
    expect(cards).toHaveLength(2);
    const card = within(list).getByRole("listitem", { name: "Speech to image" });
    expect(within(card).getByRole("link", { name: "Speech to image" })).toHaveAttribute("href", "#/run/speech_to_image");
    expect(card).toHaveTextContent("Say what you would like to see.");
    expect(card).toHaveTextContent(/In♪ Spoken description/);
    expect(card).toHaveTextContent(/Out¶ Transcript▣ Picture/);
    expect(card).toHaveTextContent("Speech recognition → Language model → Image generator");
    expect(within(list).getByRole("listitem", { name: "Everything" })).toHaveTextContent("Photo (optional)");
  });

  it("explains when the pipelines cannot be loaded", async () => {
    mockApi({ "GET /v1/pipelines": () => problem(503, "Service Unavailable", "the database is not reachable") });
    renderWithClient(<PipelinesPage />);
    expect(await screen.findByText("Service Unavailable")).toBeInTheDocument();
    expect(screen.getByText(/Try again in a minute/)).toBeInTheDocument();
  });
});
