import { expect, test } from "@playwright/test";
import { pipeline } from "./helpers";

test("lists jobs newest first, filters, pages through them and runs one again", async ({ page, request }) => {
  const spec = await pipeline(request, "text_to_text");
  // 24 jobs, canceled at once so they cost nothing: more than one page of history.
  const run = `run ${Date.now()}`;
  const made: string[] = [];
  for (let index = 0; index < 24; index += 1) {
    const created = await request.post("/v1/jobs", {
      data: { pipeline: spec.name, inputs: { text: `History ${run} #${index}` } },
    });
    expect(created.status()).toBe(202);
    const { id } = await created.json();
    made.push(id);
    await request.post(`/v1/jobs/${id}/cancel`);
  }
  // Let every job settle (a cancel may land while a step is still finishing), then read the truth.
  const statuses: Record<string, string> = {};
  for (const id of made) {
    await expect
      .poll(async () => (statuses[id] = (await (await request.get(`/v1/jobs/${id}`)).json()).status), { timeout: 120_000 })
      .toMatch(/^(succeeded|failed|canceled)$/);
  }
  const canceledNewestFirst = made.filter((id) => statuses[id] === "canceled").reverse();
  expect(canceledNewestFirst.length).toBeGreaterThan(20);
  const everyCanceled = (await (await request.get(`/v1/jobs?pipeline=${spec.name}&status=canceled&limit=100`)).json()).items;

  await page.goto("/");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "History" })).toBeVisible();
  await page.getByLabel("Pipeline").selectOption({ label: spec.title });
  await page.getByLabel("Status").selectOption({ label: "Canceled" });
  await expect(page).toHaveURL(new RegExp(`#/jobs\\?pipeline=${spec.name}&status=canceled`));

  const rows = page.getByRole("list", { name: "Jobs" }).getByRole("listitem");
  await expect(rows).toHaveCount(20);
  // Newest first: exactly the order they were made in, reversed.
  const hrefs = await rows.locator("a.history-main").evaluateAll((links) => links.map((link) => link.getAttribute("href")));
  expect(hrefs).toEqual(canceledNewestFirst.slice(0, 20).map((id) => `#/jobs/${id}`));
  for (const status of await rows.locator(".status").allTextContents()) expect(status).toBe("Canceled");

  await page.getByRole("button", { name: "Show older jobs" }).click();
  await expect(rows).toHaveCount(Math.min(everyCanceled.length, 40));

  // Reopen one and run it again with the same inputs.
  const first = canceledNewestFirst[0];
  await rows.first().getByRole("link", { name: "Run again" }).click();
  await expect(page).toHaveURL(new RegExp(`#/run/${spec.name}\\?from=${first}`));
  await expect(page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) })).toHaveValue(`History ${run} #${made.indexOf(first)}`);
});
