import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { auth, KEY_STORAGE } from "./api/auth";
import { App } from "./App";
import { mockApi, problem, type Sent } from "./test/api";
import { anonymous, job, me, speechToImage } from "./test/fixtures";
import { renderWithClient } from "./test/render";

const NEEDS_KEY = "this request needs an API key: send 'Authorization: Bearer mdl_…'";

/** A gateway with auth on, knowing these keys (key → who); `revoked` ones answer 401 "…was revoked". */
function gatewayWithKeys(known: Record<string, ReturnType<typeof me>>, revoked: Set<string> = new Set()) {
  const who = (sent: Sent) => {
    const header = sent.headers.get("Authorization");
    if (!header) return problem(401, "Unauthorized", NEEDS_KEY);
    const key = header.replace(/^Bearer /, "");
    if (revoked.has(key)) return problem(401, "Unauthorized", `API key ${key.slice(0, 12)}… was revoked`);
    return known[key] ?? problem(401, "Unauthorized", "unknown API key");
  };
  const guarded = (answer: (sent: Sent, tenant: string) => unknown) => (sent: Sent) => {
    const found = who(sent);
    return found instanceof Response ? found : answer(sent, found.tenant);
  };
  return { who, guarded };
}

function typeKey(user: ReturnType<typeof userEvent.setup>, key: string) {
  return (async () => {
    const input = screen.getByLabelText("API key");
    await user.clear(input);
    await user.type(input, key);
    await user.click(screen.getByRole("button", { name: "Sign in" }));
  })();
}

beforeEach(() => {
  localStorage.clear();
  auth.reset();
  window.history.replaceState(null, "", "#/");
});
afterEach(() => {
  localStorage.clear();
  window.history.replaceState(null, "", "#/");
});

describe("App with auth off", () => {
  it("shows the pages straight away: no sign-in, no tenant, no keys link, no key sent", async () => {
    const { calls } = mockApi({
      "GET /v1/me": () => anonymous,
      "GET /v1/pipelines": () => ({ items: [speechToImage] }),
    });
    renderWithClient(<App />);
    expect(await screen.findByRole("heading", { name: "What would you like to make?" })).toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Sign in" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Sign out" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Keys" })).not.toBeInTheDocument();
    expect(calls.every((call) => !call.headers.has("Authorization"))).toBe(true);
  });
});

describe("App with auth on", () => {
  it("asks for a key, refuses a wrong one with the gateway's reason, keeps a good one and sends it", async () => {
    const { who, guarded } = gatewayWithKeys({ mdl_good: me() });
    const { calls } = mockApi({
      "GET /v1/me": who,
      "GET /v1/pipelines": guarded(() => ({ items: [speechToImage] })),
    });
    const user = userEvent.setup();
    renderWithClient(<App />);
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    const input = screen.getByLabelText("API key");
    expect(input).toHaveAttribute("type", "password");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument(); // a first visit is not an error
    expect(screen.queryByRole("navigation")).not.toBeInTheDocument();

    await typeKey(user, "mdl_wrong");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("That key was not accepted");
    expect(alert).toHaveTextContent("unknown API key");
    expect(screen.getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(localStorage.getItem(KEY_STORAGE)).toBeNull();

    await typeKey(user, "mdl_good");
    expect(await screen.findByRole("heading", { name: "What would you like to make?" })).toBeInTheDocument();
    expect(screen.getByText("acme")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Keys" })).toHaveAttribute("href", "#/keys");
    expect(localStorage.getItem(KEY_STORAGE)).toBe("mdl_good");
    const pipelines = calls.filter((call) => call.path === "/v1/pipelines");
    expect(pipelines.length).toBeGreaterThan(0);
    expect(pipelines.every((call) => call.headers.get("Authorization") === "Bearer mdl_good")).toBe(true);
    // No key in any URL.
    expect(calls.every((call) => !call.query.toString().includes("mdl_"))).toBe(true);
  });

  it("a key kept from before is used at once; one that stopped working goes back to sign-in saying why", async () => {
    localStorage.setItem(KEY_STORAGE, "mdl_acme");
    auth.reset();
    const revoked = new Set<string>();
    const { who, guarded } = gatewayWithKeys({ mdl_acme: me() }, revoked);
    mockApi({
      "GET /v1/me": who,
      "GET /v1/pipelines": guarded(() => ({ items: [speechToImage] })),
      "GET /v1/jobs": guarded(() => ({ items: [job({ id: "acme-job", inputs: { text: "acme's secret plan" } })], next_cursor: null })),
    });
    window.history.replaceState(null, "", "#/jobs");
    renderWithClient(<App />);
    expect(await screen.findByText("“acme's secret plan”")).toBeInTheDocument();

    revoked.add("mdl_acme");
    act(() => {
      window.location.hash = "#/jobs?status=failed"; // the next request
    });
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("You were signed out");
    expect(alert).toHaveTextContent("API key mdl_acme… was revoked");
    expect(localStorage.getItem(KEY_STORAGE)).toBeNull();
    expect(screen.queryByText("acme")).not.toBeInTheDocument();
  });

  it("signing out and in as another tenant shows nothing cached for the first", async () => {
    localStorage.setItem(KEY_STORAGE, "mdl_acme");
    auth.reset();
    let releaseGlobex: () => void = () => undefined;
    const globexAnswered = new Promise<void>((resolve) => (releaseGlobex = resolve));
    const { who, guarded } = gatewayWithKeys({ mdl_acme: me(), mdl_globex: me({ tenant: "globex", key_id: "key-globex", scopes: ["jobs:read", "jobs:write"] }) });
    const { calls } = mockApi({
      "GET /v1/me": who,
      "GET /v1/pipelines": guarded(() => ({ items: [speechToImage] })),
      "GET /v1/jobs": guarded(async (_, tenant) => {
        if (tenant === "acme") return { items: [job({ id: "acme-job", inputs: { text: "acme's secret plan" } })], next_cursor: null };
        await globexAnswered;
        return { items: [], next_cursor: null };
      }),
    });
    window.history.replaceState(null, "", "#/jobs");
    const user = userEvent.setup();
    renderWithClient(<App />);
    expect(await screen.findByText("“acme's secret plan”")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(localStorage.getItem(KEY_STORAGE)).toBeNull();

    await typeKey(user, "mdl_globex");
    // Back on the same page, as globex: while globex's answer is on its way, acme's is not shown.
    expect(await screen.findByRole("heading", { name: "History" })).toBeInTheDocument();
    expect(within(document.querySelector<HTMLElement>(".top-bar")!).getByText("globex")).toBeInTheDocument();
    expect(screen.queryByText("“acme's secret plan”")).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Keys" })).not.toBeInTheDocument(); // globex is no admin
    releaseGlobex();
    expect(await screen.findByText(/No jobs yet/)).toBeInTheDocument();
    expect(screen.queryByText("“acme's secret plan”")).not.toBeInTheDocument();
    const lastList = calls.filter((call) => call.path === "/v1/jobs").at(-1)!;
    expect(lastList.headers.get("Authorization")).toBe("Bearer mdl_globex");
  });

  it("a 401 answered to an older key does not sign out the one in use", async () => {
    localStorage.setItem(KEY_STORAGE, "mdl_new");
    auth.reset();
    mockApi({ "GET /v1/me": () => me(), "GET /v1/pipelines": () => ({ items: [speechToImage] }) });
    renderWithClient(<App />);
    expect(await screen.findByRole("button", { name: "Sign out" })).toBeInTheDocument();
    act(() => auth.rejected("mdl_old", "API key mdl_old… was revoked"));
    expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
    expect(auth.get().key).toBe("mdl_new");
    expect(localStorage.getItem(KEY_STORAGE)).toBe("mdl_new");
  });
});
