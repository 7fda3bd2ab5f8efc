import { useEffect, useRef, useState } from "react";
import { recordingToWav } from "../../lib/wav";

interface Props {
  id: string;
  onRecorded: (file: File) => void;
}

type State = { phase: "idle" } | { phase: "starting" } | { phase: "recording"; since: number } | { phase: "error"; message: string };

function supported(): boolean {
  return typeof window !== "undefined" && "MediaRecorder" in window && !!navigator.mediaDevices?.getUserMedia;
}

function microphoneMessage(error: unknown): string {
  const name = error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Modaline may not use your microphone. Allow it in your browser (the icon in the address bar), or choose an audio file instead.";
  }
  if (name === "NotFoundError") return "No microphone was found. Plug one in, or choose an audio file instead.";
  return "The microphone could not be started. Try again, or choose an audio file instead.";
}

/** Records from the microphone with a live level meter; hands the recording over as a File when stopped. */
export function AudioRecorder({ id, onRecorded }: Props) {
  const [state, setState] = useState<State>({ phase: "idle" });
  const [level, setLevel] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const recorder = useRef<MediaRecorder | null>(null);
  const teardown = useRef<() => void>(() => {});

  useEffect(() => () => teardown.current(), []);

  if (!supported()) {
    return <p className="field-hint">Recording is not available in this browser; choose an audio file instead.</p>;
  }

  async function start() {
    setState({ phase: "starting" });
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      setState({ phase: "error", message: microphoneMessage(error) });
      return;
    }
    const chunks: Blob[] = [];
    const media = new MediaRecorder(stream);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    let frame = 0;
    const tick = () => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += ((sample - 128) / 128) ** 2;
      setLevel(Math.min(1, Math.sqrt(sum / samples.length) * 3));
      setNow(Date.now());
      frame = requestAnimationFrame(tick);
    };
    teardown.current = () => {
      cancelAnimationFrame(frame);
      if (media.state !== "inactive") media.stop();
      stream.getTracks().forEach((track) => track.stop());
      void context.close().catch(() => undefined);
      setLevel(0);
    };
    media.ondataavailable = (event) => {
      if (event.data.size > 0) chunks.push(event.data);
    };
    media.onstop = async () => {
      const type = media.mimeType || "audio/webm";
      const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      const raw = new File(chunks, `recording.${extension}`, { type });
      onRecorded((await recordingToWav(raw)) ?? raw);
    };
    recorder.current = media;
    media.start(250);
    tick();
    setState({ phase: "recording", since: Date.now() });
  }

  function stop() {
    teardown.current();
    teardown.current = () => {};
    recorder.current = null;
    setState({ phase: "idle" });
  }

  const seconds = state.phase === "recording" ? Math.max(0, Math.floor((now - state.since) / 1000)) : 0;
  return (
    <div className="recorder">
      {state.phase === "recording" ? (
        <>
          <button type="button" className="button danger" onClick={stop} id={`${id}-record`}>
            ■ Stop recording
          </button>
          <span className="recording-dot" aria-hidden="true" />
          <span aria-live="off" className="recording-time">
            {Math.floor(seconds / 60)}:{String(seconds % 60).padStart(2, "0")}
          </span>
          <div
            className="level-meter"
            role="meter"
            aria-label="Microphone level"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(level * 100)}
          >
            <div className="level-meter-fill" style={{ width: `${Math.round(level * 100)}%` }} />
          </div>
        </>
      ) : (
        <button
          type="button"
          className="button"
          onClick={() => void start()}
          disabled={state.phase === "starting"}
          id={`${id}-record`}
        >
          ● Record with microphone
        </button>
      )}
      {state.phase === "error" ? (
        <p className="field-error" role="alert">
          {state.message}
        </p>
      ) : null}
    </div>
  );
}
