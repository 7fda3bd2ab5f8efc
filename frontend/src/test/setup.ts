import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

afterEach(() => cleanup());

// The machine is shared: give async queries room before calling a slow render a failure.
configure({ asyncUtilTimeout: 5000 });

// jsdom has no object URLs; previews only need a stable string.
if (!URL.createObjectURL) {
  let next = 0;
  URL.createObjectURL = () => `blob:test/${(next += 1)}`;
  URL.revokeObjectURL = () => undefined;
}

// jsdom's FormData/File/Blob do not survive Node's Request (which openapi-fetch builds here), while a
// browser's do: use Node's own, as a browser would have one coherent set.
import { Blob as NodeBlob, File as NodeFile } from "node:buffer";
const nodeForm = await new Response("a=1", {
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
}).formData();
Object.assign(globalThis, { FormData: nodeForm.constructor, File: NodeFile, Blob: NodeBlob });
