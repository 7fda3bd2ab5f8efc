import { useState } from "react";
import { isFilePublic, type FilePublic } from "../api/types";
import { formatBytes } from "../lib/format";
import { CopyButton } from "./CopyButton";
import { ImageViewer } from "./ImageViewer";

function extension(file: FilePublic): string {
  const sub = file.content_type.split(";")[0].split("/")[1] ?? "bin";
  return { mpeg: "mp3", "x-wav": "wav", jpeg: "jpg", plain: "txt" }[sub] ?? sub;
}

function FileOutput({ file, title }: { file: FilePublic; title: string }) {
  // With keys on, file links are signed and expire (an hour by default): a page left open that long
  // may hold a dead one.
  const [broken, setBroken] = useState<string | null>(null);
  const failed = broken === file.url;
  const onError = () => setBroken(file.url);
  const notice = failed ? (
    <p className="field-error" role="status">
      This file could not be loaded; its link may have expired. Reload the page to get a fresh one.
    </p>
  ) : null;
  const download = (
    <a className="button subtle small" href={file.url} download={`${title.toLowerCase().replace(/\W+/g, "-")}.${extension(file)}`}>
      Download <span className="muted">({formatBytes(file.bytes)})</span>
    </a>
  );
  if (file.kind === "image" || file.content_type.startsWith("image/")) {
    return (
      <div className="file-output">
        <ImageViewer src={file.url} alt={title} onError={onError} />
        {notice}
        {download}
      </div>
    );
  }
  if (file.kind === "audio" || file.content_type.startsWith("audio/")) {
    return (
      <div className="file-output">
        <audio controls preload="metadata" src={file.url} aria-label={title} onError={onError} />
        {notice}
        {download}
      </div>
    );
  }
  return <div className="file-output">{download}</div>;
}

/** One output (of a job or of a step): text with a copy button, an image, an audio player, or a download. */
export function OutputValue({ value, title }: { value: unknown; title: string }) {
  if (isFilePublic(value)) return <FileOutput file={value} title={title} />;
  if (value === null || value === undefined || value === "") return <p className="muted">(empty)</p>;
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return (
    <div className="text-output">
      <p className="text-value">{text}</p>
      <CopyButton text={text} label={`Copy ${title.toLowerCase()}`} />
    </div>
  );
}
