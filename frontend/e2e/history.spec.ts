import { expect, test } from "@playwright/test";
import { pipeline } from "./helpers";

test("lists jobs newest first, filters, pages through them and runs one again", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_text");
  // 24 jobs, canceled at once so they cost nothing: more than one page of history.
  const run = `run ${Date.now()}`;
  const canceled: string[] = [];
  for (let index = 0; index < 24; index += 1) {
    const created = await request.post("/v1/jobs", {
      data: { pipeline: spec.name, inputs: { text: `History ${run} #${index}` } },
    });
    expect(created.status()).toBe(202);
    const { id } = await created.json();
    if ((await request.post(`/v1/jobs/${id}/cancel`)).status() === 202) canceled.push(id);
  }
  expect(canceled.length).toBeGreaterThan(20);
  const everyCanceled = (await (await request.get(`/v1/jobs?pipeline=${spec.name}&status=canceled&limit=100`)).json()).items;

  await page.goto("/");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "History" })).toBeVisible();
  await page.getByLabel("Pipeline").selectOption({ label: spec.title });
  await page.getByLabel("Status").selectOption({ label: "Canceled" });
  await expect(page).toHaveURL(new RegExp(`#/jobs\\?pipeline=${spec.name}&status=canceled`));

  const rows = page.getByRole("list", { name: "Jobs" }).getByRole("listitem");
  await expect(rows).toHaveCount(20);
  // Newest first: the last job made is on top.
  await expect(rows.first().getByRole("link").first()).toHaveAttribute("href", `#/jobs/${canceled[canceled.length - 1]}`);
  for (const status of await rows.locator(".status").allTextContents()) expect(status).toBe("Canceled");

  await page.getByRole("button", { name: "Show older jobs" }).click();
  await expect(rows).toHaveCount(Math.min(everyCanceled.length, 40));

  // Reopen one and run it again with the same inputs.
  const first = canceled[canceled.length - 1];
  await rows.first().getByRole("link", { name: "Run again" }).click();
  await expect(page).toHaveURL(new RegExp(`#/run/${spec.name}\\?from=${first}`));
  await expect(page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) })).toHaveValue(`History ${run} #23`);
});
