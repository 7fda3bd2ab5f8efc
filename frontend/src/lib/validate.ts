/**
 * Checks a person's input against a pipeline's input schema before anything is uploaded, with messages
 * that say what is wrong and what to do. The gateway checks again; these only save a round trip.
 */
import type { InputSpec } from "../api/types";
import { formatBytes } from "./format";

const TYPE_NAMES: Record<string, string> = {
  "image/png": "PNG",
  "image/jpeg": "JPEG",
  "image/webp": "WebP",
  "image/gif": "GIF",
  "audio/wav": "WAV",
  "audio/x-wav": "WAV",
  "audio/wave": "WAV",
  "audio/mpeg": "MP3",
  "audio/flac": "FLAC",
  "audio/ogg": "Ogg",
  "audio/webm": "WebM",
  "audio/mp4": "M4A",
};

const EXTENSION_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  webm: "audio/webm",
  m4a: "audio/mp4",
};

/** `audio/webm;codecs=opus` → `audio/webm`. */
export function baseType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

/** A file's content type as the browser reports it, else guessed from its name. */
export function fileType(file: File): string {
  if (file.type) return baseType(file.type);
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return EXTENSION_TYPES[extension] ?? "";
}

function typeName(type: string): string {
  const base = baseType(type);
  if (base.endsWith("/*")) return `any ${base.slice(0, -2)}`;
  return TYPE_NAMES[base] ?? base;
}

/** Whether a content type is among the accepted ones (which may hold wildcards such as `audio/*`). */
export function accepts(accept: readonly string[], type: string): boolean {
  return accept.some((item) => {
    const wanted = baseType(item);
    return wanted === "*/*" || wanted === type || (wanted.endsWith("/*") && type.startsWith(wanted.slice(0, -1)));
  });
}

/** ["image/png", "image/jpeg"] → "PNG or JPEG". */
export function describeAccept(accept: readonly string[]): string {
  const names = [...new Set(accept.map(typeName))];
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

function kindWord(spec: InputSpec): string {
  return spec.type === "image" ? "image" : spec.type === "audio" ? "audio file" : "file";
}

/** The first bytes each known format starts with; `null` bytes are "any". */
const SIGNATURES: Record<string, ReadonlyArray<ReadonlyArray<number | null>>> = {
  "image/png": [[0x89, 0x50, 0x4e, 0x47]],
  "image/jpeg": [[0xff, 0xd8, 0xff]],
  "image/gif": [[0x47, 0x49, 0x46, 0x38]],
  "image/webp": [[0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50]],
  "audio/wav": [[0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x41, 0x56, 0x45]],
  "audio/flac": [[0x66, 0x4c, 0x61, 0x43]],
  "audio/ogg": [[0x4f, 0x67, 0x67, 0x53]],
  "audio/webm": [[0x1a, 0x45, 0xdf, 0xa3]],
  "audio/mpeg": [[0x49, 0x44, 0x33], [0xff, 0xfb], [0xff, 0xf3], [0xff, 0xf2], [0xff, 0xfa]],
  "audio/mp4": [[null, null, null, null, 0x66, 0x74, 0x79, 0x70]],
};
SIGNATURES["audio/x-wav"] = SIGNATURES["audio/wav"];
SIGNATURES["audio/wave"] = SIGNATURES["audio/wav"];

function readHead(file: Blob, count: number): Promise<Uint8Array> {
  const head = file.slice(0, count);
  if (typeof head.arrayBuffer === "function") {
    return head.arrayBuffer().then((buffer) => new Uint8Array(buffer));
  }
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(new Uint8Array(reader.result as ArrayBuffer));
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(head);
  });
}

/** True when the bytes look like `type`, or when we know no signature for it. */
export function contentMatches(type: string, head: Uint8Array): boolean {
  const signatures = SIGNATURES[type];
  if (!signatures) return true;
  return signatures.some((signature) =>
    signature.every((byte, index) => byte === null || head[index] === byte),
  );
}

/** What is wrong with `file` for this input, or null when it may be uploaded. */
export async function checkFile(spec: InputSpec, file: File): Promise<string | null> {
  const what = kindWord(spec);
  const accept = spec.accept ?? [];
  const wanted = accept.length ? describeAccept(accept) : null;
  if (file.size === 0) return `“${file.name}” is empty. Please choose another ${what}.`;
  if (spec.max_bytes && file.size > spec.max_bytes) {
    return `“${file.name}” is ${formatBytes(file.size)}, larger than the ${formatBytes(spec.max_bytes)} limit. Please choose a smaller ${what}.`;
  }
  const type = fileType(file);
  if (accept.length && !accepts(accept, type)) {
    const seen = type ? `a ${TYPE_NAMES[type] ?? type} file` : "a file of unknown type";
    return `“${file.name}” is ${seen}. Please choose ${wanted?.startsWith("any ") ? "" : "a "}${wanted} ${what}.`;
  }
  const head = await readHead(file, 16);
  if (!contentMatches(type, head)) {
    return `“${file.name}” is named like ${TYPE_NAMES[type] ?? type}, but its contents are not a real ${
      TYPE_NAMES[type] ?? type
    } ${what}. It may be damaged or renamed. Please choose ${wanted ? `a ${wanted}` : "another"} ${what}.`;
  }
  return null;
}

/** What is wrong with a typed-in value for this input, or null. `value` is what the form holds. */
export function checkValue(spec: InputSpec, value: unknown): string | null {
  const label = spec.title || "this field";
  const empty = value === undefined || value === null || value === "";
  if (empty) return spec.required && spec.type !== "boolean" ? `Please fill in ${label}.` : null;
  switch (spec.type) {
    case "text": {
      const text = String(value);
      if (spec.required && text.trim() === "") return `Please fill in ${label}.`;
      if (spec.max_length && text.length > spec.max_length) {
        return `${label} is ${text.length.toLocaleString()} characters long; the limit is ${spec.max_length.toLocaleString()}. Please shorten it.`;
      }
      return null;
    }
    case "integer":
    case "number": {
      const number = typeof value === "number" ? value : Number(value);
      if (!Number.isFinite(number)) return `${label} must be a number.`;
      if (spec.type === "integer" && !Number.isInteger(number)) return `${label} must be a whole number.`;
      if (spec.minimum !== null && spec.minimum !== undefined && number < spec.minimum) {
        return `${label} must be at least ${spec.minimum}.`;
      }
      if (spec.maximum !== null && spec.maximum !== undefined && number > spec.maximum) {
        return `${label} must be at most ${spec.maximum}.`;
      }
      return null;
    }
    case "choice":
      return spec.choices && !spec.choices.includes(String(value))
        ? `Please pick one of: ${spec.choices.join(", ")}.`
        : null;
    default:
      return null;
  }
}
