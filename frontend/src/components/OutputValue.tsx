import { isFilePublic, type FilePublic } from "../api/types";
import { formatBytes } from "../lib/format";
import { CopyButton } from "./CopyButton";
import { ImageViewer } from "./ImageViewer";

function extension(file: FilePublic): string {
  const sub = file.content_type.split(";")[0].split("/")[1] ?? "bin";
  return { mpeg: "mp3", "x-wav": "wav", jpeg: "jpg", plain: "txt" }[sub] ?? sub;
}

function FileOutput({ file, title }: { file: FilePublic; title: string }) {
  const download = (
    <a className="button subtle small" href={file.url} download={`${title.toLowerCase().replace(/\W+/g, "-")}.${extension(file)}`}>
      Download <span className="muted">({formatBytes(file.bytes)})</span>
    </a>
  );
  if (file.kind === "image" || file.content_type.startsWith("image/")) {
    return (
      <div className="file-output">
        <ImageViewer src={file.url} alt={title} />
        {download}
      </div>
    );
  }
  if (file.kind === "audio" || file.content_type.startsWith("audio/")) {
    return (
      <div className="file-output">
        <audio controls preload="metadata" src={file.url} aria-label={title} />
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
