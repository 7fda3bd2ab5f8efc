import { expect, test, type Page } from "@playwright/test";
import { openPipeline, pipeline, snapshot } from "./helpers";

function luminance(page: Page): Promise<number> {
  return page.evaluate(() => {
    const [r, g, b, alpha = 1] = getComputedStyle(document.documentElement).backgroundColor.match(/\d+/g)!.map(Number);
    if (alpha === 0) throw new Error("the page has no background colour of its own");
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  });
}

async function fitsWidth(page: Page): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, "the page scrolls sideways").toBeLessThanOrEqual(0);
}

test("shows every pipeline from the API as a card", async ({ page, request }) => {
  const { items } = await (await request.get("/v1/pipelines")).json();
  await page.goto("/");
  const cards = page.getByRole("list", { name: "Pipelines" }).locator(":scope > li");
  await expect(cards).toHaveCount(items.length);
  for (const item of items) {
    const card = cards.filter({ has: page.getByRole("heading", { name: item.title, exact: true }) });
    await expect(card).toContainText(item.description.slice(0, 30));
    for (const input of Object.values(item.inputs) as { title: string }[]) await expect(card).toContainText(input.title);
  }
  expect(await luminance(page)).toBeGreaterThan(0.8);
  await snapshot(page, "pipelines");
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });

  test("fits the screen: pipelines, a form and a finished job", async ({ page, request }) => {
    await page.goto("/");
    await expect(page.getByRole("list", { name: "Pipelines" })).toBeVisible();
    await fitsWidth(page);
    const spec = await pipeline(request, "text_to_image");
    await openPipeline(page, spec.title);
    await fitsWidth(page);
    await page.getByRole("textbox", { name: new RegExp(spec.inputs.text.title) }).fill("A lighthouse on a cliff at sunset");
    await page.getByRole("button", { name: `Run ${spec.title}` }).tap();
    await expect(page.locator(".job-summary .status")).toHaveText("Done", { timeout: 180_000 });
    await expect(page.getByRole("region", { name: "Results" }).getByRole("img")).toBeVisible();
    await fitsWidth(page);
    await snapshot(page, "phone", false);
  });
});

test.describe("with a dark system theme", () => {
  test.use({ colorScheme: "dark" });

  test("follows prefers-color-scheme", async ({ page, request }) => {
    await page.goto("/");
    await expect(page.getByRole("list", { name: "Pipelines" })).toBeVisible();
    expect(await luminance(page)).toBeLessThan(0.2);
    const { items } = await (await request.get("/v1/jobs?status=succeeded&pipeline=speech_to_image&limit=1")).json();
    if (items.length) {
      await page.goto(`/#/jobs/${items[0].id}`);
      await expect(page.locator(".job-summary .status")).toHaveText("Done");
    }
    await snapshot(page, "dark");
  });
});

test("history of finished jobs across pipelines", async ({ page, request }) => {
  // Two quick jobs of different pipelines, so the page has a mix even when this test runs alone.
  const made = [];
  for (const [name, text] of [["text_to_speech", "Good morning."], ["text_to_image", "A blue kite over a beach"]]) {
    made.push((await (await request.post("/v1/jobs", { data: { pipeline: name, inputs: { text } } })).json()).id);
  }
  for (const id of made) {
    await expect.poll(async () => (await (await request.get(`/v1/jobs/${id}`)).json()).status, { timeout: 180_000 }).toBe("succeeded");
  }
  await page.goto("/#/jobs?status=succeeded");
  const rows = page.getByRole("list", { name: "Jobs" }).locator(":scope > li");
  await expect(rows.first()).toBeVisible();
  for (const status of await rows.locator(".status").allTextContents()) expect(status).toBe("Done");
  const titles = new Set(await rows.locator(".history-title").allTextContents());
  expect(titles.size).toBeGreaterThan(1);
  await snapshot(page, "history");
});
