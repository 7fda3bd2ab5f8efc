import { useEffect, useRef, useState, type ClipboardEvent, type DragEvent } from "react";
import { formatBytes } from "../../lib/format";
import { checkFile, describeAccept } from "../../lib/validate";
import { AudioRecorder } from "./AudioRecorder";
import { describedBy, FieldFrame } from "./FieldFrame";
import type { FieldProps, FileValue } from "./types";

/** Image or audio input: file picker, drag and drop, paste (images) or recording (audio), with a preview. */
export function FileField({ id, spec, value, error, onChange, onError }: FieldProps<FileValue | undefined>) {
  const picker = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [checking, setChecking] = useState(false);
  const isImage = spec.type === "image";
  const accept = spec.accept ?? [];

  // Free the preview URL of a local file once it is replaced.
  useEffect(() => {
    return () => {
      if (value?.kind === "local") URL.revokeObjectURL(value.url);
    };
  }, [value]);

  async function take(file: File | null | undefined) {
    if (!file) return;
    setChecking(true);
    const problem = await checkFile(spec, file);
    setChecking(false);
    if (problem) {
      onError(problem);
      return;
    }
    onError(null);
    onChange({ kind: "local", file, url: URL.createObjectURL(file) });
  }

  // Paste an image anywhere on the page (outside text boxes) into the first image input.
  useEffect(() => {
    if (!isImage) return;
    const onPaste = (event: globalThis.ClipboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target?.closest("input, textarea, [contenteditable]")) return;
      if (document.querySelector("[data-paste-target]")?.id !== `${id}-zone`) return;
      const file = Array.from(event.clipboardData?.files ?? [])[0];
      if (file) {
        event.preventDefault();
        void take(file);
      }
    };
    document.addEventListener("paste", onPaste);
    return () => document.removeEventListener("paste", onPaste);
  });

  const hint = (
    <>
      {accept.length ? `${describeAccept(accept)}` : "Any file"}
      {spec.max_bytes ? `, up to ${formatBytes(spec.max_bytes)}` : ""}.
      {isImage ? " Drop, paste or choose a file." : " Drop or choose a file, or record."}
    </>
  );

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    void take(event.dataTransfer.files[0]);
  }

  function onZonePaste(event: ClipboardEvent) {
    const file = Array.from(event.clipboardData.files)[0];
    if (file) {
      event.preventDefault();
      event.stopPropagation();
      void take(file);
    }
  }

  const url = value?.kind === "local" ? value.url : value?.file.url;
  const name = value?.kind === "local" ? value.file.name : value ? "File from the earlier run" : "";
  const size = value?.kind === "local" ? value.file.size : value?.file.bytes;

  return (
    <FieldFrame id={id} spec={spec} error={error} hint={hint} asGroup>
      <div
        id={`${id}-zone`}
        data-paste-target={isImage ? "" : undefined}
        className={`drop-zone${dragging ? " dragging" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        onPaste={isImage ? onZonePaste : undefined}
      >
        {value && url ? (
          <div className="file-preview">
            {isImage ? (
              <img src={url} alt={`Preview of ${name}`} className="preview-image" />
            ) : (
              <audio controls src={url} className="preview-audio" aria-label={`Listen to ${name}`} />
            )}
            <p className="file-name">
              {name}
              {size !== undefined ? <span className="muted"> · {formatBytes(size)}</span> : null}
            </p>
          </div>
        ) : (
          <p className="drop-text">{isImage ? "Drop an image here" : "Drop an audio file here"}</p>
        )}
        <div className="file-actions">
          <input
            ref={picker}
            id={id}
            name={id}
            type="file"
            className="visually-hidden"
            accept={accept.join(",") || undefined}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy(id, spec, error, hint)}
            onChange={(event) => {
              void take(event.target.files?.[0]);
              event.target.value = "";
            }}
          />
          <label htmlFor={id} className="button">
            {value ? "Choose another file" : "Choose a file"}
          </label>
          {value ? (
            <button
              type="button"
              className="button subtle"
              onClick={() => {
                onChange(undefined);
                onError(null);
              }}
            >
              Remove
            </button>
          ) : null}
          {spec.type === "audio" ? <AudioRecorder id={id} onRecorded={(file) => void take(file)} /> : null}
        </div>
        {checking ? <p className="field-hint">Checking the file…</p> : null}
      </div>
    </FieldFrame>
  );
}
