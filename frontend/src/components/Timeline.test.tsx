import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { file, speechToImage, step } from "../test/fixtures";
import { textToStory } from "../test/story";
import { Timeline } from "./Timeline";

function item(id: string) {
  return screen.getByRole("listitem", { name: new RegExp(`^${id}:`) });
}

describe("Timeline", () => {
  const steps = [
    step({
      id: "transcribe",
      worker: "stt",
      status: "succeeded",
      attempts: 1,
      duration_ms: 1530,
      backend: "local",
      model: "whisper-tiny.en",
      outputs: { text: "a red bicycle by the sea" },
    }),
    step({
      id: "prompt",
      worker: "llm",
      status: "succeeded",
      attempts: 3,
      duration_ms: 420,
      backend: "openrouter",
      model: "meta-llama/llama-3.2-3b-instruct",
    }),
    step({
      id: "draw",
      worker: "image",
      status: "succeeded",
      attempts: 1,
      duration_ms: 61_000,
      backend: "local",
      placeholder: true,
      outputs: { image: file({ id: "img", url: "/v1/files/img" }) },
    }),
  ];

  it("shows each step's status, duration, backend and model in order", () => {
    render(<Timeline steps={steps} pipeline={speechToImage} />);
    const items = screen.getAllByRole("listitem");
    expect(items.map((node) => node.getAttribute("aria-label"))).toEqual([
      "transcribe: succeeded",
      "prompt: succeeded",
      "draw: succeeded",
    ]);
    expect(within(item("transcribe")).getByText("Speech recognition")).toBeInTheDocument();
    expect(within(item("transcribe")).getByText("1.5 s")).toBeInTheDocument();
    expect(within(item("prompt")).getByText("420 ms")).toBeInTheDocument();
    expect(within(item("draw")).getByText("1 min 1 s")).toBeInTheDocument();
    expect(within(item("transcribe")).getByText(/Local · offline/)).toHaveTextContent("whisper-tiny.en");
    expect(within(item("prompt")).getByText(/Remote · openrouter/)).toBeInTheDocument();
    expect(within(item("prompt")).getByText("optional")).toBeInTheDocument();
    expect(within(item("draw")).queryByText("optional")).not.toBeInTheDocument();
  });

  it("shows retries and the placeholder badge only where they apply", () => {
    render(<Timeline steps={steps} pipeline={speechToImage} />);
    expect(within(item("prompt")).getByText("3 attempts")).toBeInTheDocument();
    expect(within(item("transcribe")).queryByText(/attempts/)).not.toBeInTheDocument();
    expect(within(item("draw")).getByText("Placeholder · not AI")).toHaveAttribute("title", expect.stringMatching(/not by an AI model/));
    expect(within(item("transcribe")).queryByText(/Placeholder/)).not.toBeInTheDocument();
  });

  it("shows what each step made, such as the transcript inside speech to image", () => {
    render(<Timeline steps={steps} pipeline={speechToImage} />);
    expect(within(item("transcribe")).getByText("a red bicycle by the sea")).toBeInTheDocument();
    expect(within(item("transcribe")).getByRole("button", { name: /Copy transcribe text/ })).toBeInTheDocument();
    expect(within(item("draw")).getByRole("img", { name: "draw image" })).toHaveAttribute("src", "/v1/files/img");
  });

  it("shows waiting, running (with time so far), retrying, failed and skipped steps", () => {
    const started = new Date(Date.now() - 3200).toISOString();
    render(
      <Timeline
        steps={[
          step({ id: "a", status: "running", attempts: 2, started_at: started, error: { title: "Attempt 1 did not work, trying again", detail: "busy", retryable: true } }),
          step({ id: "b", status: "failed", attempts: 1, duration_ms: 10, error: { title: "Bad audio", detail: "Could not decode", retryable: false } }),
          step({ id: "c", status: "skipped" }),
          step({ id: "d", status: "pending" }),
        ]}
      />,
    );
    expect(within(item("a")).getByText("Running")).toBeInTheDocument();
    expect(within(item("a")).getByText(/^3\.\d s so far$/)).toBeInTheDocument();
    expect(within(item("a")).getByText("2 attempts")).toBeInTheDocument();
    expect(within(item("a")).getByText(/trying again/).closest("p")).toHaveClass("step-note");
    expect(within(item("b")).getByText("Failed")).toBeInTheDocument();
    expect(within(item("b")).getByText("Bad audio").parentElement).toHaveTextContent("Bad audio — Could not decode");
    expect(within(item("c")).getByText("Skipped")).toBeInTheDocument();
    expect(within(item("d")).getByText("Waiting")).toBeInTheDocument();
    expect(within(item("d")).queryByText(/ms|s so far/)).not.toBeInTheDocument();
  });

  it("says when an optional step failed and the pipeline went on with its stand-in", () => {
    render(
      <Timeline
        pipeline={speechToImage}
        steps={[
          step({
            id: "prompt",
            status: "failed",
            fallback: true,
            attempts: 3,
            error: { title: "Provider unavailable", detail: "503", retryable: true },
            outputs: { text: "a lighthouse" },
          }),
        ]}
      />,
    );
    expect(within(item("prompt")).getByText("Used a stand-in")).toBeInTheDocument();
    expect(within(item("prompt")).getByText(/carried on with a stand-in result/)).toBeInTheDocument();
    expect(within(item("prompt")).getByText("a lighthouse")).toBeInTheDocument();
  });
});

describe("Timeline with a map step", () => {
  it("shows a map step the pipeline declares before its items exist", () => {
    render(<Timeline steps={[step({ id: "draw", worker: "image" })]} pipeline={textToStory} />);
    const draw = screen.getByRole("listitem", { name: "draw: pending" });
    expect(within(draw).getByText("for each item")).toBeInTheDocument();
    expect(within(draw).getByText("Waiting for its list")).toBeInTheDocument();
  });
});
