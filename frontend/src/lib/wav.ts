/**
 * Browser recordings come as WebM/Opus (Chrome) or Ogg (Firefox), which not every speech engine reads.
 * Turning them into 16 kHz mono 16-bit WAV here makes a recording work with any backend, and gives the
 * preview player a real duration.
 */

export const WAV_RATE = 16_000;

/** PCM samples in [-1, 1] → a WAV file's bytes. */
export function encodeWav(samples: Float32Array, sampleRate = WAV_RATE): ArrayBuffer {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset: number, value: string) => {
    for (let index = 0; index < value.length; index += 1) view.setUint8(offset + index, value.charCodeAt(index));
  };
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((sample, index) => {
    const clamped = Math.max(-1, Math.min(1, sample));
    view.setInt16(44 + index * 2, clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff, true);
  });
  return buffer;
}

/** Decode a recording and re-encode it as 16 kHz mono WAV; null when this browser cannot decode it. */
export async function recordingToWav(recording: Blob, name = "recording.wav"): Promise<File | null> {
  if (typeof OfflineAudioContext === "undefined") return null;
  try {
    const bytes = await recording.arrayBuffer();
    const decoded = await new OfflineAudioContext(1, 1, WAV_RATE).decodeAudioData(bytes);
    const frames = Math.max(1, Math.ceil(decoded.duration * WAV_RATE));
    const context = new OfflineAudioContext(1, frames, WAV_RATE); // mixes down to mono and resamples
    const source = context.createBufferSource();
    source.buffer = decoded;
    source.connect(context.destination);
    source.start();
    const rendered = await context.startRendering();
    return new File([encodeWav(rendered.getChannelData(0))], name, { type: "audio/wav" });
  } catch {
    return null;
  }
}
