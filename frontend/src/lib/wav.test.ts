import { describe, expect, it } from "vitest";
import { speechToImage } from "../test/fixtures";
import { checkFile } from "./validate";
import { encodeWav, WAV_RATE } from "./wav";

describe("encodeWav", () => {
  it("writes a 16 kHz mono 16-bit PCM WAV that the form accepts", async () => {
    const samples = new Float32Array([0, 0.5, -0.5, 1, -1, 2]);
    const bytes = encodeWav(samples);
    const view = new DataView(bytes);
    const ascii = (offset: number) => String.fromCharCode(...new Uint8Array(bytes, offset, 4));
    expect([ascii(0), ascii(8), ascii(12), ascii(36)]).toEqual(["RIFF", "WAVE", "fmt ", "data"]);
    expect(view.getUint32(4, true)).toBe(bytes.byteLength - 8);
    expect(view.getUint16(22, true)).toBe(1);
    expect(view.getUint32(24, true)).toBe(WAV_RATE);
    expect(view.getUint16(34, true)).toBe(16);
    expect(view.getUint32(40, true)).toBe(samples.length * 2);
    const pcm = Array.from({ length: samples.length }, (_, index) => view.getInt16(44 + index * 2, true));
    expect(pcm).toEqual([0, 16383, -16384, 32767, -32768, 32767]); // clipped, not wrapped
    const file = new File([bytes], "recording.wav", { type: "audio/wav" });
    expect(await checkFile(speechToImage.inputs.audio, file)).toBeNull();
  });
});
