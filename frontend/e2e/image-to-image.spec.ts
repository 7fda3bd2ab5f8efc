import { expect, test } from "@playwright/test";
import { openPipeline, pipeline, snapshot, submit, waitForStatus } from "./helpers";

test("restyles a picture: image input with preview, a choice, and the restyled result", async ({ page, request }) => {
  const spec = await pipeline(request, "image_to_image");
  // Any real PNG will do: a screenshot of the pipeline list.
  await page.goto("/");
  await expect(page.getByRole("list", { name: "Pipelines" })).toBeVisible();
  const photo = await page.screenshot({ clip: { x: 0, y: 0, width: 480, height: 320 } });

  await openPipeline(page, spec.title);
  const style = page.getByRole("combobox", { name: new RegExp(spec.inputs.style.title) });
  await expect(style.locator("option")).toHaveCount((await request.get(`/v1/pipelines/${spec.name}`).then((r) => r.json())).inputs.style.choices.length);
  await page.getByLabel(/Choose a file/).setInputFiles({ name: "screen.png", mimeType: "image/png", buffer: photo });
  const preview = page.getByRole("img", { name: "Preview of screen.png" });
  await expect(preview).toBeVisible();
  // Visible is not loaded: wait until the browser has decoded the picture.
  await expect.poll(() => preview.evaluate((image: HTMLImageElement) => (image.complete ? image.naturalWidth : 0))).toBeGreaterThan(100);
  await style.selectOption("style-03");
  await snapshot(page, "form-image");

  await submit(page, spec.title);
  await waitForStatus(page, "Done");
  const result = page.getByRole("region", { name: "Results" }).getByRole("img");
  await expect(result).toBeVisible();
  // Visible is not loaded: wait until the browser has decoded the picture.
  await expect.poll(() => result.evaluate((image: HTMLImageElement) => (image.complete ? image.naturalWidth : 0))).toBeGreaterThan(100);
  await expect(page.getByRole("listitem", { name: /^restyle: succeeded/ }).getByText(/Local · offline/)).toBeVisible();
});
