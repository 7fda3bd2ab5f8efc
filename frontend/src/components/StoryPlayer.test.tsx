import { act, fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { file } from "../test/fixtures";
import { clip, SEGMENTS, TEXTS } from "../test/story";
import { isStory, StoryPlayer } from "./StoryPlayer";

const storyboard = file({ id: "sb", url: "/v1/files/sb", content_type: "text/html", kind: "other", bytes: 3_400_000 });

let played: string[] = [];

beforeEach(() => {
  played = [];
  // jsdom does not play media: record which clip was asked to play.
  vi.spyOn(HTMLMediaElement.prototype, "play").mockImplementation(function (this: HTMLMediaElement) {
    played.push(this.getAttribute("src") ?? "");
    return Promise.resolve();
  });
  vi.spyOn(HTMLMediaElement.prototype, "pause").mockImplementation(() => undefined);
});

afterEach(() => vi.restoreAllMocks());

function caption() {
  return screen.getByTestId("story-caption").textContent;
}

function narration() {
  return screen.getByLabelText(/^Narration \d/) as HTMLAudioElement;
}

describe("StoryPlayer", () => {
  it("shows one segment at a time: its picture, caption and narration", () => {
    render(<StoryPlayer segments={SEGMENTS} narration={clip(9)} storyboard={storyboard} />);
    expect(caption()).toBe(TEXTS[0]);
    expect(screen.getByRole("img", { name: `Picture 1: ${TEXTS[0]}` })).toHaveAttribute("src", "/v1/files/img0");
    expect(narration()).toHaveAttribute("src", "/v1/files/wav0");
    expect(screen.getByText("1 / 3")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "← Previous" })).toBeDisabled();
  });

  it("turns pages with the buttons and with ← and → on the focused player", async () => {
    const user = userEvent.setup();
    render(<StoryPlayer segments={SEGMENTS} />);
    await user.click(screen.getByRole("button", { name: "Next →" }));
    expect(caption()).toBe(TEXTS[1]);
    const player = screen.getByRole("region", { name: "Story player" });
    player.focus();
    await user.keyboard("{ArrowRight}");
    expect(caption()).toBe(TEXTS[2]);
    expect(screen.getByRole("button", { name: "Next →" })).toBeDisabled();
    await user.keyboard("{ArrowRight}"); // stays on the last page
    expect(caption()).toBe(TEXTS[2]);
    await user.keyboard("{ArrowLeft}{ArrowLeft}");
    expect(caption()).toBe(TEXTS[0]);
  });

  it("plays the narration and turns the page by itself when a clip ends, to the end of the story", async () => {
    const user = userEvent.setup();
    render(<StoryPlayer segments={SEGMENTS} />);
    screen.getByRole("region", { name: "Story player" }).focus();
    await user.keyboard(" ");
    expect(played).toEqual(["/v1/files/wav0"]);
    expect(screen.getByRole("button", { name: "Pause" })).toBeInTheDocument();

    act(() => void fireEvent.ended(narration()));
    expect(caption()).toBe(TEXTS[1]);
    expect(played).toEqual(["/v1/files/wav0", "/v1/files/wav1"]);
    act(() => void fireEvent.ended(narration()));
    act(() => void fireEvent.ended(narration()));
    expect(caption()).toBe(TEXTS[2]);
    expect(played).toHaveLength(3);
    expect(screen.getByText("3 / 3 · The end")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Play again" })).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Play again" }));
    expect(caption()).toBe(TEXTS[0]);
    expect(played.at(-1)).toBe("/v1/files/wav0");
  });

  it("follows the narration's own controls: paused there, the player shows Play", async () => {
    const user = userEvent.setup();
    render(<StoryPlayer segments={SEGMENTS} />);
    await user.click(screen.getByRole("button", { name: "Play" }));
    act(() => void fireEvent.pause(narration()));
    expect(screen.getByRole("button", { name: "Play" })).toBeInTheDocument();
    act(() => void fireEvent.play(narration()));
    expect(screen.getByRole("button", { name: "Pause" })).toBeInTheDocument();
  });

  it("stays on the page when auto-advance is off", async () => {
    const user = userEvent.setup();
    render(<StoryPlayer segments={SEGMENTS} />);
    await user.click(screen.getByRole("checkbox", { name: /Turn pages when the narration ends/ }));
    await user.click(screen.getByRole("button", { name: "Play" }));
    act(() => void fireEvent.ended(narration()));
    expect(caption()).toBe(TEXTS[0]);
    expect(screen.getByRole("button", { name: "Play" })).toBeInTheDocument();
  });

  it("offers the storyboard and the joined narration for download, and says when pictures are placeholders", () => {
    render(<StoryPlayer segments={SEGMENTS} narration={clip(9)} storyboard={storyboard} placeholder />);
    const player = screen.getByRole("region", { name: "Story player" });
    expect(within(player).getByRole("link", { name: /Download storyboard \(3.4 MB\)/ })).toHaveAttribute("href", "/v1/files/sb");
    expect(within(player).getByRole("link", { name: /Download storyboard/ })).toHaveAttribute("download", "storyboard.html");
    expect(within(player).getByRole("link", { name: /Download narration/ })).toHaveAttribute("href", "/v1/files/wav9");
    expect(within(player).getByText("Placeholder · not AI")).toBeInTheDocument();
  });

  it("shows a page without a picture and knows a story when it sees one", () => {
    render(<StoryPlayer segments={[{ text: "Only words.", image: null, audio: clip(1) }]} />);
    expect(screen.getByText("No picture for this part")).toBeInTheDocument();
    expect(isStory(SEGMENTS)).toBe(true);
    expect(isStory([{ text: "no files" }])).toBe(false);
    expect(isStory([])).toBe(false);
    expect(isStory("text")).toBe(false);
  });
});
