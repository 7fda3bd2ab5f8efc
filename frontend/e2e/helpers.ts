import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { REPO } from "./system";

/** Screenshots for docs/screenshots are written only when asked (E2E_SCREENSHOTS=1), so test runs leave the tree clean. */
export async function snapshot(page: Page, name: string, fullPage = true, mask: Locator[] = []): Promise<void> {
  if (!process.env.E2E_SCREENSHOTS) return;
  const dir = path.join(REPO, "docs", "screenshots");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage, animations: "disabled", mask, maskColor: "#8a90a0" });
}

export interface PipelineInfo {
  name: string;
  title: string;
  inputs: Record<string, { title: string; type: string }>;
  outputs: Record<string, { title: string; type: string }>;
  steps: { id: string; worker: string }[];
}

export async function pipeline(request: APIRequestContext, name: string): Promise<PipelineInfo> {
  const response = await request.get(`/v1/pipelines/${name}`);
  expect(response.ok()).toBeTruthy();
  return response.json();
}

/** Open a pipeline from its card on the home page, as a person would. */
export async function openPipeline(page: Page, title: string): Promise<void> {
  await page.goto("/");
  await page.getByRole("link", { name: title, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: title })).toBeVisible();
}

/** Submit the form and wait for the job page; returns the job id from the URL. */
export async function submit(page: Page, title: string): Promise<string> {
  await page.getByRole("button", { name: `Run ${title}` }).click();
  await expect(page).toHaveURL(/#\/jobs\/[^/]+$/);
  return decodeURIComponent(page.url().split("#/jobs/")[1]);
}

/** Wait until the job ends (or shows `label`), then require `label`, saying why when it is not. */
export async function waitForStatus(page: Page, label: string, timeout = 180_000): Promise<void> {
  const status = page.locator(".job-summary .status");
  await expect(status).toHaveText(new RegExp(`^(${label}|Done|Failed|Canceled)$`), { timeout });
  const shown = await status.textContent();
  const problem = (await page.locator(".problem").allTextContents()).join(" / ");
  expect(shown, `the job ended ${shown}: ${problem}`).toBe(label);
}
