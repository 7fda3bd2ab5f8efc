import { describe, expect, it } from "vitest";
import type { InputSpec } from "../api/types";
import { everything, MAGIC, makeFile, speechToImage } from "../test/fixtures";
import { accepts, checkFile, checkValue, describeAccept } from "./validate";

const audio = speechToImage.inputs.audio;
const photo = everything.inputs.photo;

describe("checkFile", () => {
  it("accepts a real WAV within the limit", async () => {
    expect(await checkFile(audio, makeFile("hello.wav", "audio/wav", MAGIC.wav, 500))).toBeNull();
  });

  it("refuses a file over max_bytes, naming both sizes", async () => {
    const message = await checkFile(photo, makeFile("big.png", "image/png", MAGIC.png, 5000));
    expect(message).toContain("“big.png” is 5 KB, larger than the 2 KB limit");
    expect(message).toContain("choose a smaller image");
  });

  it("refuses a type that is not accepted, listing the accepted ones", async () => {
    const message = await checkFile(photo, makeFile("scan.gif", "image/gif", [0x47, 0x49, 0x46, 0x38]));
    expect(message).toBe("“scan.gif” is a GIF file. Please choose a PNG or JPEG image.");
  });

  it("refuses a text file renamed .wav by looking at its contents", async () => {
    const message = await checkFile(audio, makeFile("fake.wav", "audio/wav", MAGIC.text));
    expect(message).toMatch(/named like WAV, but its contents are not a real WAV audio file/);
  });

  it("guesses the type from the name when the browser gives none", async () => {
    expect(await checkFile(audio, makeFile("speech.wav", "", MAGIC.wav))).toBeNull();
    expect(await checkFile(audio, makeFile("notes.txt", "", MAGIC.text))).toMatch(/a file of unknown type/);
  });

  it("refuses an empty file", async () => {
    expect(await checkFile(audio, new File([], "empty.wav", { type: "audio/wav" }))).toMatch(/is empty/);
  });

  it("understands wildcards such as audio/* and codec parameters", async () => {
    const voice = everything.inputs.voice;
    const webm = makeFile("rec.webm", "audio/webm;codecs=opus", [0x1a, 0x45, 0xdf, 0xa3]);
    expect(await checkFile(voice, webm)).toBeNull();
    expect(accepts(["audio/*"], "image/png")).toBe(false);
    expect(describeAccept(["audio/*"])).toBe("any audio");
    expect(describeAccept(["audio/wav", "audio/x-wav", "audio/mpeg", "audio/flac"])).toBe("WAV, MP3 or FLAC");
  });
});

describe("checkValue", () => {
  const text = everything.inputs.text;
  const count = everything.inputs.count;
  const scale = everything.inputs.scale;

  it("asks for required values, including text that is only spaces", () => {
    expect(checkValue(text, "")).toBe("Please fill in Prompt.");
    expect(checkValue(text, "   ")).toBe("Please fill in Prompt.");
    expect(checkValue(scale, "")).toBeNull();
  });

  it("counts characters against max_length", () => {
    expect(checkValue(text, "a".repeat(20))).toBeNull();
    expect(checkValue(text, "a".repeat(21))).toBe("Prompt is 21 characters long; the limit is 20. Please shorten it.");
  });

  it("checks whole numbers and ranges", () => {
    expect(checkValue(count, "3")).toBeNull();
    expect(checkValue(count, "2.5")).toBe("Count must be a whole number.");
    expect(checkValue(count, "0")).toBe("Count must be at least 1.");
    expect(checkValue(count, "6")).toBe("Count must be at most 5.");
    expect(checkValue(scale, "0.5")).toBeNull();
    expect(checkValue(scale, "abc")).toBe("Scale must be a number.");
  });

  it("only allows listed choices", () => {
    const style: InputSpec = everything.inputs.style;
    expect(checkValue(style, "calm")).toBeNull();
    expect(checkValue(style, "weird")).toBe("Please pick one of: calm, loud.");
  });
});
