/** Realistic API shapes for the component tests. */
import type { ApiKey, FilePublic, Job, Me, Pipeline, Step } from "../api/types";

export const speechToImage: Pipeline = {
  name: "speech_to_image",
  title: "Speech to image",
  description: "Say what you would like to see.",
  inputs: {
    audio: {
      type: "audio",
      title: "Spoken description",
      description: "A recording describing the picture.",
      required: true,
      default: null,
      max_bytes: 1000,
      accept: ["audio/wav", "audio/mpeg", "audio/webm"],
    },
  },
  outputs: {
    transcript: { type: "text", title: "Transcript" },
    image: { type: "image", title: "Picture" },
  },
  steps: [
    { id: "transcribe", worker: "stt", optional: false, map: false },
    { id: "prompt", worker: "llm", optional: true, map: false },
    { id: "draw", worker: "image", optional: false, map: false },
  ],
};

/** One input of every type, with limits. */
export const everything: Pipeline = {
  name: "everything",
  title: "Everything",
  description: "One input of each type.",
  inputs: {
    text: { type: "text", title: "Prompt", description: "What to say", required: true, default: null, max_length: 20 },
    photo: {
      type: "image",
      title: "Photo",
      description: "",
      required: false,
      default: null,
      max_bytes: 2048,
      accept: ["image/png", "image/jpeg"],
    },
    voice: { type: "audio", title: "Voice", description: "", required: false, default: null, accept: ["audio/*"] },
    style: { type: "choice", title: "Style", description: "", required: true, default: "calm", choices: ["calm", "loud"] },
    count: { type: "integer", title: "Count", description: "", required: true, default: 2, minimum: 1, maximum: 5 },
    scale: { type: "number", title: "Scale", description: "", required: false, default: null, minimum: 0, maximum: 1 },
    loud: { type: "boolean", title: "Shout", description: "Use capitals", required: false, default: false },
  },
  outputs: { text: { type: "text", title: "Answer" } },
  steps: [{ id: "answer", worker: "llm", optional: false, map: false }],
};

export function file(overrides: Partial<FilePublic> = {}): FilePublic {
  return {
    id: "f1",
    url: "/v1/files/f1",
    content_type: "image/png",
    bytes: 2048,
    sha256: "0".repeat(64),
    kind: "image",
    ...overrides,
  };
}

export function step(overrides: Partial<Step> & { id: string }): Step {
  return {
    worker: "llm",
    status: "pending",
    attempts: 0,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    backend: null,
    model: null,
    placeholder: false,
    fallback: false,
    outputs: {},
    error: null,
    usage: null,
    ...overrides,
  } as Step;
}

export function job(overrides: Partial<Job> = {}): Job {
  return {
    id: "job-1",
    pipeline: "speech_to_image",
    status: "queued",
    inputs: {},
    outputs: {},
    error: null,
    steps: [
      step({ id: "transcribe", worker: "stt" }),
      step({ id: "prompt", worker: "llm" }),
      step({ id: "draw", worker: "image" }),
    ],
    usage: { seconds: 0, input_tokens: null, output_tokens: null, cost_usd: null },
    created_at: "2026-11-21T10:00:00Z",
    started_at: null,
    finished_at: null,
    updated_at: "2026-11-21T10:00:00Z",
    ...overrides,
  } as Job;
}

/** Bytes that start like a real file of the given type. */
export const MAGIC = {
  wav: [0x52, 0x49, 0x46, 0x46, 0x24, 0, 0, 0, 0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20],
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  text: Array.from(new TextEncoder().encode("hello, this is not audio")),
};

/** A file whose first bytes are `head`. */
export function makeFile(name: string, type: string, head: number[], size = head.length): File {
  const bytes = new Uint8Array(Math.max(size, head.length));
  bytes.set(head);
  return new File([bytes], name, { type });
}

export function me(overrides: Partial<Me> = {}): Me {
  return {
    tenant: "acme",
    key_id: "key-acme",
    scopes: ["admin", "files:write", "jobs:read", "jobs:write"],
    operator: false,
    auth: "keys",
    ...overrides,
  };
}

/** What `/v1/me` answers with MODALINE_AUTH=off. */
export const anonymous: Me = {
  tenant: "default",
  key_id: null,
  scopes: ["admin", "files:write", "jobs:read", "jobs:write", "metrics:read"],
  operator: true,
  auth: "off",
};

export function apiKey(overrides: Partial<ApiKey> & { id: string }): ApiKey {
  return {
    tenant: "acme",
    prefix: "mdl_abcd1234",
    name: null,
    scopes: ["jobs:read"],
    operator: false,
    created_at: "2026-11-20T09:00:00Z",
    expires_at: null,
    last_used_at: null,
    revoked_at: null,
    ...overrides,
  };
}
