import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { json, mockApi, problem } from "../test/api";
import { everything, file, job, MAGIC, makeFile, speechToImage } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { RunForm } from "./RunForm";

function setup(pipeline = everything, from?: Parameters<typeof RunForm>[0]["from"]) {
  const onSubmitted = vi.fn();
  const user = userEvent.setup({ applyAccept: false });
  renderWithClient(<RunForm pipeline={pipeline} from={from} onSubmitted={onSubmitted} />);
  return { user, onSubmitted };
}

describe("the form drawn from an input schema", () => {
  it("draws one labelled control per input type, with defaults and limits", () => {
    setup();
    expect(screen.getByRole("textbox", { name: /Prompt/ })).toHaveAccessibleDescription(/What to say/);
    expect(screen.getByText("0 / 20 characters")).toBeInTheDocument();
    const count = screen.getByRole("spinbutton", { name: /Count/ });
    expect(count).toHaveValue(2);
    expect(count).toHaveAttribute("min", "1");
    expect(count).toHaveAttribute("max", "5");
    expect(count).toHaveAttribute("step", "1");
    expect(screen.getByText("From 1 to 5.")).toBeInTheDocument();
    expect(screen.getByRole("spinbutton", { name: /Scale/ })).toHaveAttribute("step", "any");
    const style = screen.getByRole("combobox", { name: /Style/ });
    expect(style).toHaveValue("calm");
    expect(within(style).getAllByRole("option").map((option) => option.textContent)).toEqual(["calm", "loud"]);
    expect(screen.getByRole("checkbox", { name: /Shout/ })).not.toBeChecked();
    const photo = screen.getByLabelText("Choose a file", { selector: "#input-photo" });
    expect(photo).toHaveAttribute("accept", "image/png,image/jpeg");
    expect(screen.getByText(/PNG or JPEG, up to 2 KB\. Drop, paste or choose a file\./)).toBeInTheDocument();
    // jsdom cannot record: the audio input says so instead of offering a button that would fail.
    expect(screen.getByText(/Recording is not available in this browser/)).toBeInTheDocument();
    // Required inputs carry a marker; optional ones say so.
    expect(screen.getByRole("group", { name: /Photo\s*\(optional\)/ })).toBeInTheDocument();
  });

  it("refuses to send with missing or invalid values, says why and focuses the first", async () => {
    const { user, onSubmitted } = setup();
    mockApi({});
    await user.clear(screen.getByRole("spinbutton", { name: /Count/ }));
    await user.type(screen.getByRole("spinbutton", { name: /Count/ }), "9");
    await user.click(screen.getByRole("button", { name: "Run Everything" }));
    expect(screen.getByText("Please fill in Prompt.", { selector: ".field-error" })).toBeInTheDocument();
    expect(screen.getByText("Count must be at most 5.", { selector: ".field-error" })).toBeInTheDocument();
    expect(screen.getByText("Please fix 2 things before sending:")).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: /Prompt/ })).toHaveFocus();
    expect(screen.getByRole("textbox", { name: /Prompt/ })).toHaveAttribute("aria-invalid", "true");
    expect(onSubmitted).not.toHaveBeenCalled();
  });

  it("counts characters live and flags text over max_length", async () => {
    const { user } = setup();
    await user.type(screen.getByRole("textbox", { name: /Prompt/ }), "a".repeat(25));
    expect(screen.getByText("25 / 20 characters")).toHaveClass("over");
    await user.click(screen.getByRole("button", { name: "Run Everything" }));
    expect(screen.getByText(/Prompt is 25 characters long; the limit is 20/)).toBeInTheDocument();
  });

  it("checks a chosen image's type and size before any upload, with a preview when fine", async () => {
    const { user } = setup();
    const { fetch } = mockApi({});
    const picker = document.getElementById("input-photo") as HTMLInputElement;
    await user.upload(picker, makeFile("cat.gif", "image/gif", [0x47, 0x49, 0x46, 0x38]));
    expect(await screen.findByText("“cat.gif” is a GIF file. Please choose a PNG or JPEG image.")).toBeInTheDocument();
    await user.upload(picker, makeFile("huge.png", "image/png", MAGIC.png, 4096));
    expect(await screen.findByText(/“huge.png” is 4.1 KB, larger than the 2 KB limit/)).toBeInTheDocument();
    await user.upload(picker, makeFile("cat.png", "image/png", MAGIC.png, 100));
    expect(await screen.findByRole("img", { name: "Preview of cat.png" })).toBeInTheDocument();
    expect(screen.queryByText(/larger than/)).not.toBeInTheDocument();
    expect(fetch).not.toHaveBeenCalled();
  });

  it("takes a dropped image", async () => {
    setup();
    const zone = document.getElementById("input-photo-zone")!;
    const dropped = makeFile("drop.png", "image/png", MAGIC.png);
    const { fireEvent } = await import("@testing-library/react");
    fireEvent.drop(zone, { dataTransfer: { files: [dropped] } });
    expect(await screen.findByRole("img", { name: "Preview of drop.png" })).toBeInTheDocument();
  });

  it("takes a pasted image", async () => {
    setup();
    const zone = document.getElementById("input-photo-zone")!;
    const pasted = makeFile("image.png", "image/png", MAGIC.png);
    const { fireEvent } = await import("@testing-library/react");
    fireEvent.paste(zone, { clipboardData: { files: [pasted] } });
    expect(await screen.findByRole("img", { name: "Preview of image.png" })).toBeInTheDocument();
  });

  it("shows an audio player to listen to the chosen file before sending", async () => {
    const { user } = setup(speechToImage);
    await user.upload(document.getElementById("input-audio") as HTMLInputElement, makeFile("say.wav", "audio/wav", MAGIC.wav));
    expect(await screen.findByLabelText("Listen to say.wav")).toHaveProperty("tagName", "AUDIO");
  });

  it("uploads files, then creates the job with typed values and an idempotency key", async () => {
    const { user, onSubmitted } = setup();
    const created = job({ id: "job-9", pipeline: "everything" });
    const { calls } = mockApi({
      "POST /v1/files": () => json(file({ id: "file-7" }), 201),
      "POST /v1/jobs": () => json(created, 202),
    });
    await user.type(screen.getByRole("textbox", { name: /Prompt/ }), "hello");
    await user.selectOptions(screen.getByRole("combobox", { name: /Style/ }), "loud");
    await user.click(screen.getByRole("checkbox", { name: /Shout/ }));
    await user.upload(document.getElementById("input-photo") as HTMLInputElement, makeFile("cat.png", "image/png", MAGIC.png));
    await screen.findByRole("img", { name: "Preview of cat.png" });
    await user.click(screen.getByRole("button", { name: "Run Everything" }));
    await waitFor(() => expect(onSubmitted).toHaveBeenCalledWith(created));
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual(["POST /v1/files", "POST /v1/jobs"]);
    const upload = calls[0].body as FormData;
    // (jsdom's FormData loses the file name on its way into Node's Request; the bytes arrive.)
    const sentFile = upload.get("file") as File;
    expect(new Uint8Array(await sentFile.arrayBuffer()).slice(0, 4)).toEqual(new Uint8Array(MAGIC.png.slice(0, 4)));
    expect(calls[1].body).toEqual({
      pipeline: "everything",
      inputs: { text: "hello", photo: "file-7", style: "loud", count: 2, loud: true },
    });
    expect(calls[1].headers.get("Idempotency-Key")).toMatch(/\S{8,}/);
  });

  it("shows the server's refusal of an upload under the field, in plain words", async () => {
    const { user, onSubmitted } = setup(speechToImage);
    mockApi({
      "POST /v1/files": () =>
        problem(415, "Unsupported Media Type", "The file's contents are not audio the pipeline accepts."),
    });
    await user.upload(document.getElementById("input-audio") as HTMLInputElement, makeFile("odd.wav", "audio/wav", MAGIC.wav));
    await screen.findByLabelText("Listen to odd.wav");
    await user.click(screen.getByRole("button", { name: "Run Speech to image" }));
    expect(
      await screen.findByText(/The file's contents are not audio the pipeline accepts\. Choose a file of one of the accepted types/),
    ).toBeInTheDocument();
    expect(onSubmitted).not.toHaveBeenCalled();
  });

  it("puts the gateway's field errors next to the fields they name", async () => {
    const { user } = setup();
    mockApi({
      "POST /v1/jobs": () =>
        problem(422, "Invalid inputs", "1 input is invalid", {
          errors: [
            { field: "inputs.text", message: "The prompt contains a word the model refuses." },
            { field: "count", message: "must be an integer" },
          ],
        }),
    });
    await user.type(screen.getByRole("textbox", { name: /Prompt/ }), "hello");
    await user.click(screen.getByRole("button", { name: "Run Everything" }));
    expect(await screen.findByText("The prompt contains a word the model refuses.")).toBeInTheDocument();
    expect(screen.getByText("Count must be an integer.", { selector: ".field-error" })).toBeInTheDocument();
    expect(screen.getByText("Some inputs need fixing")).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: /Prompt/ })).toHaveFocus();
  });

  it("runs again with an earlier job's inputs, reusing its stored files", async () => {
    const earlier = job({
      pipeline: "speech_to_image",
      inputs: { audio: file({ id: "audio-1", url: "/v1/files/audio-1", content_type: "audio/wav", kind: "audio" }) },
    });
    const { user, onSubmitted } = setup(speechToImage, earlier);
    const { calls } = mockApi({ "POST /v1/jobs": () => json(job({ id: "job-2" }), 202) });
    expect(screen.getByText("File from the earlier run")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Run Speech to image" }));
    await waitFor(() => expect(onSubmitted).toHaveBeenCalled());
    expect(calls).toHaveLength(1);
    expect(calls[0].body).toEqual({ pipeline: "speech_to_image", inputs: { audio: "audio-1" } });
  });
});
