import { expect, test } from "@playwright/test";
import { openPipeline, pipeline, submit, waitForStatus } from "./helpers";

test("cancels a running job", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_speech");
  await openPipeline(page, spec.title);
  // Long text keeps the offline voice busy for a while.
  const sentence = "The quick brown fox jumps over the lazy dog while the orchestra tunes up. ";
  await page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) }).fill(sentence.repeat(60).slice(0, 4500));
  const id = await submit(page, spec.title);
  await expect(page.getByRole("listitem", { name: /^speak: running/ })).toBeVisible({ timeout: 60_000 });
  await page.getByRole("button", { name: "Cancel job" }).click();
  await waitForStatus(page, "Canceled", 60_000);
  await expect(page.getByText("You canceled this job")).toBeVisible();
  await expect(page.getByRole("button", { name: "Cancel job" })).toHaveCount(0);
  await expect(page.getByRole("region", { name: "Results" })).toHaveCount(0);
  const job = await (await request.get(`/v1/jobs/${id}`)).json();
  expect(job.status).toBe("canceled");
});
