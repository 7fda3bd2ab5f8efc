import { act, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { speechToImage } from "../../test/fixtures";
import { renderWithClient } from "../../test/render";
import { RunForm } from "../RunForm";

/** A fake microphone: MediaRecorder hands over WebM bytes, the analyser reports a loud signal. */
class FakeRecorder {
  static instances: FakeRecorder[] = [];
  state: "inactive" | "recording" = "inactive";
  mimeType = "audio/webm;codecs=opus";
  ondataavailable: ((event: { data: Blob }) => void) | null = null;
  onstop: (() => void) | null = null;
  constructor(public stream: unknown) {
    FakeRecorder.instances.push(this);
  }
  start() {
    this.state = "recording";
  }
  stop() {
    this.state = "inactive";
    this.ondataavailable?.({ data: new Blob([new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 1, 2, 3, 4])]) });
    this.onstop?.();
  }
}

class FakeAudioContext {
  createAnalyser() {
    return {
      fftSize: 0,
      getByteTimeDomainData(samples: Uint8Array) {
        samples.forEach((_, index) => (samples[index] = index % 2 ? 200 : 56));
      },
    };
  }
  createMediaStreamSource() {
    return { connect: () => undefined };
  }
  close() {
    return Promise.resolve();
  }
}

const track = { stop: vi.fn() };

beforeEach(() => {
  FakeRecorder.instances = [];
  vi.stubGlobal("MediaRecorder", FakeRecorder);
  vi.stubGlobal("AudioContext", FakeAudioContext);
  vi.stubGlobal("requestAnimationFrame", () => 0);
  vi.stubGlobal("cancelAnimationFrame", () => undefined);
  Object.defineProperty(navigator, "mediaDevices", {
    configurable: true,
    value: { getUserMedia: vi.fn(async () => ({ getTracks: () => [track] })) },
  });
});

afterEach(() => {
  Reflect.deleteProperty(navigator, "mediaDevices");
  vi.unstubAllGlobals();
});

describe("recording audio in the browser", () => {
  it("records with a level meter, then offers the recording to play back before sending", async () => {
    const user = userEvent.setup();
    renderWithClient(<RunForm pipeline={speechToImage} onSubmitted={() => undefined} />);
    await user.click(screen.getByRole("button", { name: /Record with microphone/ }));
    const meter = await screen.findByRole("meter", { name: "Microphone level" });
    expect(Number(meter.getAttribute("aria-valuenow"))).toBeGreaterThan(50);
    await user.click(screen.getByRole("button", { name: /Stop recording/ }));
    expect(await screen.findByLabelText("Listen to recording.webm")).toBeInTheDocument();
    expect(track.stop).toHaveBeenCalled();
    expect(screen.queryByRole("meter")).not.toBeInTheDocument();
  });

  it("explains a refused microphone in plain words", async () => {
    (navigator.mediaDevices.getUserMedia as ReturnType<typeof vi.fn>).mockRejectedValueOnce(
      new DOMException("denied", "NotAllowedError"),
    );
    const user = userEvent.setup();
    renderWithClient(<RunForm pipeline={speechToImage} onSubmitted={() => undefined} />);
    await user.click(screen.getByRole("button", { name: /Record with microphone/ }));
    expect(await screen.findByText(/Modaline may not use your microphone\. Allow it in your browser/)).toBeInTheDocument();
  });

  it("refuses a recording format the pipeline does not accept", async () => {
    const user = userEvent.setup();
    const wavOnly = {
      ...speechToImage,
      inputs: { audio: { ...speechToImage.inputs.audio, accept: ["audio/wav"] } },
    };
    renderWithClient(<RunForm pipeline={wavOnly} onSubmitted={() => undefined} />);
    await user.click(screen.getByRole("button", { name: /Record with microphone/ }));
    await act(async () => FakeRecorder.instances[0].stop());
    await waitFor(() =>
      expect(screen.getByText("“recording.webm” is a WebM file. Please choose a WAV audio file.")).toBeInTheDocument(),
    );
  });
});
