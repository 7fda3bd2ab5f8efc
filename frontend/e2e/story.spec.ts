import { expect, test, type Page } from "@playwright/test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openPipeline, pipeline, snapshot, submit, waitForStatus } from "./helpers";

/** Make the narration now playing fast and silent, so a story plays through in seconds. */
async function hurry(page: Page): Promise<void> {
  await page.locator(".story-player audio").evaluate((element: HTMLAudioElement) => {
    element.muted = true;
    element.playbackRate = 8;
  });
}

test("tells a story offline: items are drawn and spoken one by one, then it plays through", async ({ page, request }) => {
  test.setTimeout(900_000);
  const spec = await pipeline(request, "text_to_story");
  await openPipeline(page, spec.title);
  await page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) }).fill("A small robot learns to paint the sea.");
  await page.getByRole("spinbutton", { name: new RegExp(spec.inputs.scenes.title) }).fill("3");
  const id = await submit(page, spec.title);

  // The map steps show their items as they complete: a progress line per map step, live.
  const draw = page.getByRole("listitem", { name: /^draw: / });
  const progress = draw.locator(".map-progress-text");
  await expect(progress).toHaveText(/^0 of [1-3] drawn$/, { timeout: 600_000 });
  await expect(progress).toHaveText(/^[1-2] of [2-3] drawn$|^1 of 1 drawn$/, { timeout: 600_000 });
  await snapshot(page, "story-items");
  await waitForStatus(page, "Done", 600_000);

  const job = await (await request.get(`/v1/jobs/${id}`)).json();
  const segments: { text: string; image: { url: string }; audio: { url: string } }[] = job.outputs.segments;
  const n = segments.length;
  expect(n).toBeGreaterThanOrEqual(1);
  expect(n).toBeLessThanOrEqual(3);
  await expect(progress).toHaveText(`${n} of ${n} drawn`);
  await expect(page.getByRole("listitem", { name: /^speak: / }).locator(".map-progress-text")).toHaveText(`${n} of ${n} spoken`);
  await expect(draw.getByRole("button", { name: /^draw\[\d+\]: Done$/ })).toHaveCount(n);

  // The story player: picture, caption, narration; ← and → turn pages on the focused player.
  const player = page.getByRole("region", { name: "Story player" });
  const caption = player.getByTestId("story-caption");
  const counter = player.locator(".story-count");
  await expect(caption).toHaveText(segments[0].text);
  const picture = player.getByRole("img");
  await expect(picture).toHaveAttribute("src", /\/v1\/files\//);
  expect(await picture.evaluate(async (img: HTMLImageElement) => (await img.decode(), img.naturalWidth))).toBeGreaterThan(0);
  await expect(player.getByText("Placeholder · not AI")).toBeVisible();
  await snapshot(page, "story-player", false);
  await player.focus();
  if (n > 1) {
    await page.keyboard.press("ArrowRight");
    await expect(counter).toHaveText(`2 / ${n}`);
    await expect(caption).toHaveText(segments[1].text);
    await page.keyboard.press("ArrowLeft");
  }
  await expect(counter).toHaveText(`1 / ${n}`);

  // Space plays; each narration's end turns the page, to the end of the story.
  await page.keyboard.press(" ");
  for (let i = 0; i < n; i += 1) {
    await expect(caption).toHaveText(segments[i].text);
    await expect(player.locator("audio")).toHaveAttribute("src", segments[i].audio.url);
    await hurry(page);
  }
  await expect(counter).toHaveText(`${n} / ${n} · The end`, { timeout: 120_000 });
  await expect(player.getByRole("button", { name: "Play again" })).toBeVisible();

  // The joined narration: one WAV, longer than the segments' clips together.
  const narrationLink = player.getByRole("link", { name: /Download narration/ });
  const narration = await (await request.get((await narrationLink.getAttribute("href"))!)).body();
  expect(narration.subarray(0, 4).toString()).toBe("RIFF");

  // The storyboard downloads as one HTML file that plays with the network off.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    player.getByRole("link", { name: /Download storyboard/ }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("storyboard.html");
  const saved = path.join(mkdtempSync(path.join(tmpdir(), "story-")), download.suggestedFilename());
  await download.saveAs(saved);
  expect(readFileSync(saved, "utf8")).toContain("<!doctype html>");
  const offline = await page.context().browser()!.newContext({ offline: true, javaScriptEnabled: true });
  const board = await offline.newPage();
  await board.goto(`file://${saved}`);
  await expect(board.locator(".slide.current figcaption")).toHaveText(segments[0].text);
  await expect(board.locator("#counter")).toHaveText(`1 / ${n}`);
  const loaded = await board.locator(".slide.current img").evaluate(async (img: HTMLImageElement) => (await img.decode(), img.naturalWidth));
  expect(loaded).toBeGreaterThan(0);
  const seconds = await board.locator(".slide.current audio").evaluate(async (audio: HTMLAudioElement) => {
    if (audio.readyState < 1) await new Promise((resolve) => audio.addEventListener("loadedmetadata", resolve, { once: true }));
    return audio.duration;
  });
  expect(seconds).toBeGreaterThan(0.5);
  if (n > 1) {
    await board.keyboard.press("ArrowRight");
    await expect(board.locator("#counter")).toHaveText(`2 / ${n}`);
    await expect(board.locator(".slide.current figcaption")).toHaveText(segments[1].text);
  }
  await offline.close();
});
