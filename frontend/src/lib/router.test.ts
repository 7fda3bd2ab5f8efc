import { describe, expect, it } from "vitest";
import { href, parseHash, type Route } from "./router";

describe("hash routes", () => {
  const routes: [string, Route][] = [
    ["#/", { page: "pipelines" }],
    ["", { page: "pipelines" }],
    ["#/run/text_to_speech", { page: "run", pipeline: "text_to_speech", from: undefined }],
    ["#/run/speech_to_image?from=job%201", { page: "run", pipeline: "speech_to_image", from: "job 1" }],
    ["#/jobs", { page: "jobs", pipeline: undefined, status: undefined }],
    ["#/jobs?pipeline=text_to_text&status=failed", { page: "jobs", pipeline: "text_to_text", status: "failed" }],
    ["#/jobs/0b5c", { page: "job", id: "0b5c" }],
    ["#/keys", { page: "keys" }],
    ["#/nowhere/at/all", { page: "missing", path: "/nowhere/at/all" }],
  ];

  it.each(routes)("reads %s", (hash, route) => {
    expect(parseHash(hash)).toEqual(route);
  });

  it("writes links that read back as the same route", () => {
    for (const [, route] of routes) expect(parseHash(href(route))).toEqual(route);
    expect(href({ page: "job", id: "a/b" })).toBe("#/jobs/a%2Fb");
  });
});
