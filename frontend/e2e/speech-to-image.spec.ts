import { expect, test } from "@playwright/test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { openPipeline, pipeline, snapshot, submit, waitForStatus } from "./helpers";

const SPEECH = path.join(import.meta.dirname, "fixtures", "speech.wav"); // espeak-ng: "A red apple on a wooden table."

test("turns an uploaded recording into a transcript and a (placeholder) picture", async ({ page, request }) => {
  const spec = await pipeline(request, "speech_to_image");
  await openPipeline(page, spec.title);
  await page.getByLabel(/Choose a file/).setInputFiles(SPEECH);
  // A player to listen before sending.
  await expect(page.getByLabel("Listen to speech.wav")).toBeVisible();
  await submit(page, spec.title);
  // Followed over the gateway's event stream while it runs.
  await expect(page.locator(".live-live")).toHaveText("Live");
  await expect(page.getByRole("list", { name: "Steps" }).getByRole("listitem")).toHaveCount(spec.steps.length);
  await snapshot(page, "running-job");
  await waitForStatus(page, "Done");

  // The transcript, as the pipeline's output and inside the speech-recognition step.
  const results = page.getByRole("region", { name: "Results" });
  const transcript = results.locator(".result", { has: page.getByRole("heading", { name: spec.outputs.transcript.title }) });
  await expect(transcript.locator(".text-value")).toContainText(/apple/i);
  const transcribe = page.getByRole("listitem", { name: /^transcribe: succeeded/ });
  await expect(transcribe.locator(".text-value").filter({ hasText: /apple/i })).toBeVisible();

  // The picture loads, and the offline renderer's step carries the placeholder badge.
  const picture = results.getByRole("img", { name: spec.outputs.image.title });
  await expect(picture).toBeVisible();
  // Visible is not loaded: wait until the browser has decoded the picture.
  await expect.poll(() => picture.evaluate((image: HTMLImageElement) => (image.complete ? image.naturalWidth : 0))).toBeGreaterThan(32);
  const draw = page.getByRole("listitem", { name: /^draw: succeeded/ });
  await expect(draw.getByText("Placeholder · not AI")).toBeVisible();
  await expect(transcribe.getByText("Placeholder · not AI")).toHaveCount(0);
  await snapshot(page, "results");

  // Zoom in and out with the keyboard.
  await picture.click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);

  // Copy the transcript.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await transcript.getByRole("button", { name: /Copy/ }).click();
  await expect(transcript.getByRole("button", { name: /Copied/ })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toMatch(/apple/i);

  // Run again with the same recording: the stored file is reused, nothing is uploaded again.
  const first = page.url();
  await page.getByRole("link", { name: "Run again with the same inputs" }).click();
  await expect(page.getByText("File from the earlier run")).toBeVisible();
  await expect(page.getByLabel(/^Listen to/)).toHaveAttribute("src", /\/v1\/files\//);
  const uploads: string[] = [];
  page.on("request", (sent) => {
    if (sent.method() === "POST" && sent.url().endsWith("/v1/files")) uploads.push(sent.url());
  });
  await submit(page, spec.title);
  expect(page.url()).not.toBe(first);
  expect(uploads).toEqual([]);
  await expect(page.locator(".job-summary .status")).toHaveText(/Waiting|Running|Done/);
  const again = await (await request.get(`/v1/jobs/${page.url().split("#/jobs/")[1]}`)).json();
  const before = await (await request.get(`/v1/jobs/${first.split("#/jobs/")[1]}`)).json();
  expect(again.inputs.audio.id).toBe(before.inputs.audio.id);
  await request.post(`/v1/jobs/${again.id}/cancel`);
});

test("explains, before uploading anything, that a text file renamed .wav is not audio", async ({ page, request }, testInfo) => {
  const spec = await pipeline(request, "speech_to_image");
  const fake = testInfo.outputPath("notes.wav");
  writeFileSync(fake, "Shopping list: apples, bread, milk.\n");
  const before = (await (await request.get("/v1/jobs?limit=100")).json()).items.length;
  await openPipeline(page, spec.title);
  await page.getByLabel(/Choose a file/).setInputFiles(fake);
  const error = page.getByRole("alert").filter({ hasText: "notes.wav" });
  await expect(error).toContainText("is named like WAV, but its contents are not a real WAV audio file");
  await expect(error).toContainText("Please choose a");
  await page.getByRole("button", { name: `Run ${spec.title}` }).click();
  await expect(page.getByText(/Please add/)).toBeVisible();
  await expect(page).toHaveURL(/#\/run\/speech_to_image/);
  expect((await (await request.get("/v1/jobs?limit=100")).json()).items.length).toBe(before);
});

test("shows the gateway's refusal of a damaged WAV in plain words", async ({ page, request }, testInfo) => {
  // Starts like a WAV (so the browser's own check passes) but is not one: the gateway must refuse it.
  const spec = await pipeline(request, "speech_to_image");
  const broken = testInfo.outputPath("broken.wav");
  const bytes = Buffer.alloc(2000, 7);
  bytes.write("RIFF", 0, "latin1");
  bytes.writeUInt32LE(1992, 4);
  bytes.write("WAVE", 8, "latin1");
  writeFileSync(broken, bytes);
  await openPipeline(page, spec.title);
  await page.getByLabel(/Choose a file/).setInputFiles(broken);
  await page.getByRole("button", { name: `Run ${spec.title}` }).click();
  // Refused at upload (under the field) or by speech recognition (on the job page): either way the
  // person reads what to do next, not a stack trace.
  await expect(
    page.getByRole("alert").filter({ hasText: /Try a clearer recording|Choose a file of one of the accepted types/ }),
  ).toBeVisible({ timeout: 120_000 });
  await snapshot(page, "friendly-error");
});
