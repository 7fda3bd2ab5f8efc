/**
 * The UI against the second gateway, which runs with MODALINE_AUTH=keys (see system.ts): sign-in, refused
 * and revoked keys, tenants kept apart, signed file URLs and the fetch-based event stream.
 */
import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { snapshot, waitForStatus, type PipelineInfo } from "./helpers";
import { AUTH_GATEWAY_URL, authKeys } from "./system";

const KEYS = authKeys();
test.skip(!KEYS, "no gateway with keys on (E2E_GATEWAY_URL without E2E_AUTH_GATEWAY_URL and its keys)");
test.use({ baseURL: AUTH_GATEWAY_URL });

function bearer(key: string) {
  return { Authorization: `Bearer ${key}` };
}

async function spec(request: APIRequestContext, name: string): Promise<PipelineInfo> {
  const response = await request.get(`/v1/pipelines/${name}`, { headers: bearer(KEYS!.acmeAdmin) });
  expect(response.ok()).toBeTruthy();
  return response.json();
}

/** Fail the test if any URL the page asks for carries an API key. */
function watchUrls(page: Page): string[] {
  const leaked: string[] = [];
  page.on("request", (request) => {
    if (request.url().includes("mdl_")) leaked.push(request.url());
  });
  return leaked;
}

async function signIn(page: Page, key: string): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name: "Sign in" })).toBeVisible();
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signedInAs(page: Page, tenant: string): Promise<void> {
  await expect(page.locator(".top-bar .tenant")).toHaveText(new RegExp(tenant));
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Sign in" })).toBeVisible();
}

/** Run text to text as whoever is signed in; returns the job id once it is done. */
async function runTextToText(page: Page, request: APIRequestContext, text: string): Promise<string> {
  const info = await spec(request, "text_to_text");
  await page.goto("/#/");
  await page.getByRole("link", { name: info.title, exact: true }).click();
  await page.getByRole("textbox", { name: new RegExp(info.inputs.text.title) }).fill(text);
  await page.getByRole("button", { name: `Run ${info.title}` }).click();
  await expect(page).toHaveURL(/#\/jobs\/[^/]+$/);
  const id = decodeURIComponent(page.url().split("#/jobs/")[1]);
  await waitForStatus(page, "Done");
  return id;
}

test("signs in with a good key: the tenant, the pipelines, kept across a reload, gone after sign-out", async ({ page, request }) => {
  const leaked = watchUrls(page);
  const { items } = await (await request.get("/v1/pipelines", { headers: bearer(KEYS!.acmeAdmin) })).json();
  await page.goto("/");
  await expect(page.getByLabel("API key")).toHaveAttribute("type", "password");
  await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
  await snapshot(page, "sign-in");
  await signIn(page, KEYS!.acmeAdmin);
  await signedInAs(page, "acme");
  await expect(page.getByRole("list", { name: "Pipelines" }).locator(":scope > li")).toHaveCount(items.length);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("modaline.apiKey"))).toBe(KEYS!.acmeAdmin);

  await page.reload();
  await signedInAs(page, "acme");
  await signOut(page);
  await expect(page.getByRole("alert")).toHaveCount(0);
  expect(await page.evaluate(() => localStorage.getItem("modaline.apiKey"))).toBeNull();
  expect(leaked).toEqual([]);
});

test("a wrong key shows the gateway's reason and stays on sign-in", async ({ page }) => {
  await page.goto("/");
  await signIn(page, `mdl_${"x".repeat(43)}`);
  await expect(page.getByRole("alert")).toContainText("That key was not accepted");
  await expect(page.getByRole("alert")).toContainText("unknown API key");
  await signIn(page, "not-a-key");
  await expect(page.getByRole("alert")).toContainText("not a Modaline API key");
  await expect(page.getByRole("heading", { level: 1, name: "Sign in" })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("modaline.apiKey"))).toBeNull();
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: "Sign in" })).toBeVisible();
});

test("a key made on the keys page works until it is revoked there, then its next request signs it out", async ({ page, browser }) => {
  await page.goto("/");
  await signIn(page, KEYS!.acmeAdmin);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "API keys" })).toBeVisible();
  await expect(page.getByRole("row", { name: /Key mdl_.*\(e2e acme\)/ })).toContainText("this key");

  const name = `temp ${Date.now()}`;
  const form = page.getByRole("form", { name: "Create a key" });
  await form.getByLabel(/Name/).fill(name);
  await form.getByLabel(/Expires after/).fill("7");
  await form.getByRole("button", { name: "Create key" }).click();
  const panel = page.getByRole("region", { name: `New key: ${name}` });
  await expect(panel).toContainText("you will not see this again");
  const secret = await panel.getByRole("textbox", { name: "The new key" }).inputValue();
  expect(secret).toMatch(/^mdl_[A-Za-z0-9_-]{43}$/);
  const row = page.getByRole("row", { name: `Key ${secret.slice(0, 12)}… (${name})` });
  await expect(row).toContainText("files:write, jobs:read, jobs:write");
  await expect(row).toContainText("Active");
  // A key (even a throwaway's) has no place in a committed picture.
  await snapshot(page, "keys", true, [panel.getByRole("textbox", { name: "The new key" }), page.locator(".keys-table code")]);
  await panel.getByRole("button", { name: "I have copied it" }).click();
  await expect(panel).toHaveCount(0);

  // Someone else signs in with it, in their own browser.
  const other = await browser.newContext({ baseURL: AUTH_GATEWAY_URL });
  const them = await other.newPage();
  await them.goto("/");
  await signIn(them, secret);
  await signedInAs(them, "acme");
  await expect(them.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" })).toHaveCount(0);
  await them.goto("/#/keys");
  await expect(them.getByRole("alert")).toContainText("Your key lacks the admin scope");

  await row.getByRole("button", { name: `Revoke ${secret.slice(0, 12)}…` }).click();
  await row.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(row).toContainText("Revoked");

  await them.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  await expect(them.getByRole("heading", { level: 1, name: "Sign in" })).toBeVisible();
  await expect(them.getByRole("alert")).toContainText("You were signed out");
  await expect(them.getByRole("alert")).toContainText("revoked");
  expect(await them.evaluate(() => localStorage.getItem("modaline.apiKey"))).toBeNull();
  await other.close();
});

test("two tenants do not see each other's jobs", async ({ page, request }) => {
  const text = `acme only ${Date.now()}`;
  await page.goto("/");
  await signIn(page, KEYS!.acmeAdmin);
  await signedInAs(page, "acme");
  const id = await runTextToText(page, request, text);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
  const rows = page.getByRole("list", { name: "Jobs" }).getByRole("listitem");
  await expect(rows.filter({ hasText: text })).toHaveCount(1);

  await signOut(page);
  await signIn(page, KEYS!.globex);
  await signedInAs(page, "globex");
  await expect(page.getByRole("heading", { level: 1, name: "History" })).toBeVisible();
  await expect(page.getByText(/No jobs yet/)).toBeVisible();
  await expect(rows).toHaveCount(0);
  await expect(page.locator(`a[href="#/jobs/${id}"]`)).toHaveCount(0);
  await page.goto(`/#/jobs/${id}`);
  await expect(page.getByRole("alert")).toContainText("Not found");
  await expect(page.getByText(text)).toHaveCount(0);
});

test("a picture and a recording display through signed URLs, and the timeline follows the fetch-based stream", async ({ page, request }) => {
  const leaked = watchUrls(page);
  const info = await spec(request, "text_to_picture_and_speech");
  const streams: { status: number; type: string | null; auth: string | null; resumeFrom: string | null }[] = [];
  page.on("response", async (response) => {
    if (!/\/v1\/jobs\/[^/]+\/events$/.test(new URL(response.url()).pathname)) return;
    const headers = await response.request().allHeaders();
    streams.push({
      status: response.status(),
      type: response.headers()["content-type"] ?? null,
      auth: headers.authorization ?? null,
      resumeFrom: headers["last-event-id"] ?? null,
    });
  });
  // What the job page shows over time (the job takes about a second here: too quick to sample from outside).
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    const note = (text: string) => {
      if (text && seen.at(-1) !== text) seen.push(text);
    };
    new MutationObserver(() => {
      note(document.querySelector(".job-summary .live")?.textContent ?? "");
      document.querySelectorAll(".timeline > li").forEach((step) => note(step.getAttribute("aria-label") ?? ""));
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.goto("/");
  await signIn(page, KEYS!.acmeAdmin);
  await page.getByRole("link", { name: info.title, exact: true }).click();
  await page.getByRole("textbox", { name: new RegExp(info.inputs.text.title) }).fill("A lighthouse at dusk, read aloud.");
  await page.getByRole("button", { name: `Run ${info.title}` }).click();
  await expect(page).toHaveURL(/#\/jobs\/[^/]+$/);
  await waitForStatus(page, "Done");
  for (const step of info.steps) {
    await expect(page.getByRole("listitem", { name: new RegExp(`${step.id}: succeeded`) })).toBeVisible();
  }
  // The page was live on the stream (never fell back to polling) while the steps moved on.
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  expect(seen).toContain("Live");
  expect(seen).not.toContain("Checking every second");
  const live = seen.indexOf("Live");
  for (const step of info.steps) expect(seen.slice(live).some((text) => text.startsWith(`${step.id}: succeeded`))).toBe(true);
  expect(streams.length).toBeGreaterThan(0);
  expect(streams[0]).toMatchObject({ status: 200, auth: `Bearer ${KEYS!.acmeAdmin}` });
  expect(streams[0].type).toContain("text/event-stream");

  const results = page.getByRole("region", { name: "Results" });
  const image = results.getByRole("img", { name: info.outputs.image.title });
  await expect(image).toHaveAttribute("src", /\/v1\/files\/[^?]+\?expires=\d+&signature=/);
  await expect.poll(() => image.evaluate((element: HTMLImageElement) => element.complete && element.naturalWidth)).toBeGreaterThan(0);
  const audio = results.locator("audio");
  await expect(audio).toHaveAttribute("src", /signature=/);
  const duration = await audio.evaluate(async (element: HTMLAudioElement) => {
    if (element.readyState < 1) await new Promise((resolve) => element.addEventListener("loadedmetadata", resolve, { once: true }));
    return element.duration;
  });
  expect(duration).toBeGreaterThan(0.5);

  // The signature is what lets the element in: the same file without it, and without a key, is refused.
  const signed = (await image.getAttribute("src"))!;
  expect((await request.get(signed)).status()).toBe(200);
  expect((await request.get(signed.split("?")[0])).status()).toBe(401);
  expect(leaked).toEqual([]);
  await snapshot(page, "results-with-keys");
});
