import { expect, test } from "@playwright/test";
import { openPipeline, pipeline, submit, waitForStatus } from "./helpers";

test("records from the (fake) microphone with a level meter and sends the recording", async ({ page, request }) => {
  const spec = await pipeline(request, "speech_to_text");
  await openPipeline(page, spec.title);
  await page.getByRole("button", { name: /Record with microphone/ }).click();
  const meter = page.getByRole("meter", { name: "Microphone level" });
  await expect(meter).toBeVisible();
  // Chrome's fake device beeps: the meter moves.
  await expect
    .poll(async () => Number(await meter.getAttribute("aria-valuenow")), { timeout: 10_000 })
    .toBeGreaterThan(0);
  await page.waitForTimeout(1500);
  await page.getByRole("button", { name: /Stop recording/ }).click();
  // Turned into WAV in the browser, so any speech engine reads it; listen before sending.
  const preview = page.getByLabel("Listen to recording.wav");
  await expect(preview).toBeVisible();
  await expect(page.getByText(/recording\.wav · [\d.]+ KB/)).toBeVisible();
  const seconds = await preview.evaluate(async (element: HTMLAudioElement) => {
    if (element.readyState < 1) await new Promise((resolve) => element.addEventListener("loadedmetadata", resolve, { once: true }));
    return element.duration;
  });
  expect(seconds).toBeGreaterThan(1);
  await submit(page, spec.title);
  await waitForStatus(page, "Done");
  await expect(page.getByRole("listitem", { name: /^transcribe: succeeded/ })).toBeVisible();
});

test("works with the keyboard alone: pick a pipeline, fill it in, send", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_text");
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  // Tab to the first pipeline card link, then onward until the wanted one.
  const cards = page.getByRole("list", { name: "Pipelines" }).getByRole("link");
  const count = await cards.count();
  let found = false;
  for (let presses = 0; presses < count + 6 && !found; presses += 1) {
    await page.keyboard.press("Tab");
    found = (await page.evaluate(() => document.activeElement?.textContent ?? "")) === spec.title;
  }
  expect(found).toBe(true);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: spec.title })).toBeVisible();
  // Sending empty moves focus to the field that needs filling, with the reason announced.
  await page.getByRole("button", { name: `Run ${spec.title}` }).focus();
  await page.keyboard.press("Enter");
  const text = page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) });
  await expect(text).toBeFocused();
  await expect(text).toHaveAttribute("aria-invalid", "true");
  await page.keyboard.type("Say hello in three words.");
  await page.keyboard.press("Tab"); // instruction
  await page.keyboard.press("Tab"); // run button
  await expect(page.getByRole("button", { name: `Run ${spec.title}` })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/#\/jobs\//);
  await waitForStatus(page, "Done");
  await expect(page.getByRole("region", { name: "Results" }).locator(".text-value")).not.toBeEmpty();
});
