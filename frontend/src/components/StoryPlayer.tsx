import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { isFilePublic, type FilePublic } from "../api/types";
import { formatBytes } from "../lib/format";
import { PlaceholderBadge } from "./Badges";

/** One page of a story: its text, picture and narration (either file may be missing). */
export interface StorySegment {
  text: string;
  image?: FilePublic | null;
  audio?: FilePublic | null;
}

/** True for a list of `{text, image, audio}` segments (the story pipeline's `segments` output). */
export function isStory(value: unknown): value is StorySegment[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (item) =>
        typeof item === "object" &&
        item !== null &&
        typeof (item as StorySegment).text === "string" &&
        (isFilePublic((item as StorySegment).image) || isFilePublic((item as StorySegment).audio)),
    )
  );
}

function DownloadLink({ file, label, name }: { file: FilePublic; label: string; name: string }) {
  return (
    <a className="button subtle small" href={file.url} download={name}>
      {label} <span className="muted">({formatBytes(file.bytes)})</span>
    </a>
  );
}

/**
 * Plays a story: the picture, the caption and the narration of one segment at a time. When a segment's
 * narration ends the next one starts (unless auto-advance is off). Keyboard, with the player focused:
 * ← previous, → next, space play/pause.
 */
export function StoryPlayer({
  segments,
  narration,
  storyboard,
  placeholder = false,
}: {
  segments: StorySegment[];
  narration?: FilePublic | null;
  storyboard?: FilePublic | null;
  placeholder?: boolean;
}) {
  const [index, setIndex] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [auto, setAuto] = useState(true);
  const [finished, setFinished] = useState(false);
  const audio = useRef<HTMLAudioElement>(null);
  const last = segments.length - 1;
  const segment = segments[Math.min(index, last)];

  // A new page (or pressing play) starts its narration from the beginning while playing.
  useEffect(() => {
    const element = audio.current;
    if (!element) return;
    if (playing) {
      element.play()?.catch(() => setPlaying(false));
    } else {
      element.pause();
    }
  }, [index, playing]);

  const go = (next: number) => {
    const bounded = Math.max(0, Math.min(last, next));
    if (bounded === index) return;
    setFinished(false);
    if (audio.current) audio.current.currentTime = 0;
    setIndex(bounded);
  };
  const toggle = () => {
    if (!playing && finished) {
      setFinished(false);
      setIndex(0);
    }
    setPlaying(!playing);
  };
  const onEnded = () => {
    if (auto && index < last) {
      setIndex(index + 1);
    } else {
      setPlaying(false);
      if (index === last) setFinished(true);
    }
  };
  const onKeyDown = (event: KeyboardEvent<HTMLElement>) => {
    const target = event.target as HTMLElement;
    if (event.key === " " && (target.tagName === "BUTTON" || target.tagName === "INPUT" || target.tagName === "A")) {
      return; // the focused control handles its own space
    }
    if (event.key === "ArrowRight") go(index + 1);
    else if (event.key === "ArrowLeft") go(index - 1);
    else if (event.key === " ") toggle();
    else return;
    event.preventDefault();
  };

  return (
    <section
      className="story-player"
      aria-label="Story player"
      aria-roledescription="story player"
      tabIndex={0}
      onKeyDown={onKeyDown}
    >
      {segment.image ? (
        <img className="story-picture" src={segment.image.url} alt={`Picture ${index + 1}: ${segment.text}`} />
      ) : (
        <div className="story-nopicture">No picture for this part</div>
      )}
      <p className="story-caption" aria-live="polite" data-testid="story-caption">
        {segment.text}
      </p>
      {segment.audio ? (
        <audio
          ref={audio}
          key={segment.audio.url}
          src={segment.audio.url}
          controls
          preload="auto"
          aria-label={`Narration ${index + 1}`}
          onEnded={onEnded}
          onPlay={() => setPlaying(true)}
          // Paused from its own controls; a clip that ends also pauses first, and must go on to the next.
          onPause={(event) => {
            if (!event.currentTarget.ended) setPlaying(false);
          }}
        />
      ) : null}
      <div className="story-controls" role="toolbar" aria-label="Story controls">
        <button type="button" className="button subtle" onClick={() => go(index - 1)} disabled={index === 0}>
          ← Previous
        </button>
        <button type="button" className="button primary" onClick={toggle}>
          {playing ? "Pause" : finished ? "Play again" : "Play"}
        </button>
        <button type="button" className="button subtle" onClick={() => go(index + 1)} disabled={index === last}>
          Next →
        </button>
        <span className="story-count" role="status">
          {index + 1} / {segments.length}
          {finished ? " · The end" : ""}
        </span>
        <label className="story-auto">
          <input type="checkbox" checked={auto} onChange={(event) => setAuto(event.target.checked)} /> Turn pages
          when the narration ends
        </label>
      </div>
      <p className="muted story-keys">Keys: ← → to turn pages, space to play or pause.</p>
      <div className="story-controls">
        {placeholder ? <PlaceholderBadge /> : null}
        {storyboard ? <DownloadLink file={storyboard} label="Download storyboard" name="storyboard.html" /> : null}
        {narration ? <DownloadLink file={narration} label="Download narration" name="narration.wav" /> : null}
      </div>
    </section>
  );
}
