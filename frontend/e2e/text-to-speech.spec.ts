import { expect, test } from "@playwright/test";
import { openPipeline, pipeline, snapshot, submit, waitForStatus } from "./helpers";

test("runs text to speech and plays the spoken result", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_speech");
  await openPipeline(page, spec.title);
  const text = page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) });
  await text.fill("Hello from Modaline. This sentence was spoken by the offline voice.");
  await expect(page.getByText(/^\d+ \/ [\d,]+ characters$/)).toBeVisible();
  await snapshot(page, "form");

  const id = await submit(page, spec.title);
  await expect(page.getByRole("heading", { level: 1, name: spec.title })).toBeVisible();
  await expect(page.getByRole("list", { name: "Steps" }).getByRole("listitem")).toHaveCount(spec.steps.length);
  await waitForStatus(page, "Done");

  // Each step says which engine served it.
  await expect(page.getByRole("listitem", { name: /speak: succeeded/ }).getByText(/Local · offline/)).toBeVisible();
  const results = page.getByRole("region", { name: "Results" });
  const audio = results.locator("audio");
  await expect(audio).toHaveAttribute("src", /\/v1\/files\//);
  const duration = await audio.evaluate(async (element: HTMLAudioElement) => {
    if (element.readyState < 1) await new Promise((resolve) => element.addEventListener("loadedmetadata", resolve, { once: true }));
    return element.duration;
  });
  expect(duration).toBeGreaterThan(1);
  // Play it: time moves on.
  const played = await audio.evaluate(async (element: HTMLAudioElement) => {
    element.muted = true;
    await element.play();
    await new Promise((resolve) => setTimeout(resolve, 700));
    element.pause();
    return element.currentTime;
  });
  expect(played).toBeGreaterThan(0.2);
  await expect(results.getByRole("link", { name: /Download/ })).toHaveAttribute("download", /\.wav$/);

  // The job has its own URL: opened afresh in another tab, it shows the same finished job.
  const fresh = await page.context().newPage();
  await fresh.goto(`/#/jobs/${id}`);
  await waitForStatus(fresh, "Done", 20_000);
  await expect(fresh.getByRole("region", { name: "Results" }).locator("audio")).toHaveAttribute(
    "src",
    (await audio.getAttribute("src"))!,
  );
  await snapshot(fresh, "results-text-to-speech");
});

test("keeps following a job by polling when the event stream is cut", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_speech");
  // A proxy that drops the stream: every connection to the events endpoint fails.
  await page.route("**/v1/jobs/*/events", (route) => route.abort("connectionreset"));
  await openPipeline(page, spec.title);
  await page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) }).fill("Polling still gets me there.");
  await submit(page, spec.title);
  await expect(page.locator(".live-polling")).toHaveText("Checking every second");
  await waitForStatus(page, "Done");
  await expect(page.getByRole("region", { name: "Results" }).locator("audio")).toHaveAttribute("src", /\/v1\/files\//);
});
