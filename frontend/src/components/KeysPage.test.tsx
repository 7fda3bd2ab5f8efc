import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { ApiKey } from "../api/types";
import { json, mockApi } from "../test/api";
import { apiKey, me } from "../test/fixtures";
import { renderWithClient } from "../test/render";
import { KeysPage } from "./KeysPage";

function serveKeys(initial: ApiKey[]) {
  let items = [...initial];
  const api = mockApi({
    "GET /v1/admin/keys": () => ({ items }),
    "POST /v1/admin/keys": ({ body }) => {
      const request = body as { scopes: string[]; name?: string; expires_in_days?: number };
      const created = apiKey({
        id: "key-new",
        prefix: "mdl_NEWKEY01",
        name: request.name ?? null,
        scopes: request.scopes,
        created_at: "2026-11-21T12:00:00Z",
        expires_at: request.expires_in_days ? "2026-12-21T12:00:00Z" : null,
      });
      items = [created, ...items];
      return json({ ...created, secret: "mdl_NEWKEY01-the-whole-secret" }, 201);
    },
    "DELETE /v1/admin/keys/key-ci": () => {
      items = items.map((item) => (item.id === "key-ci" ? { ...item, revoked_at: "2026-11-21T13:00:00Z" } : item));
      return items.find((item) => item.id === "key-ci");
    },
  });
  return api;
}

const existing = [
  apiKey({ id: "key-acme", prefix: "mdl_ADMIN001", name: "Ana", scopes: ["admin", "jobs:read"], last_used_at: "2026-11-21T11:00:00Z" }),
  apiKey({ id: "key-ci", prefix: "mdl_CIKEY001", name: "CI", scopes: ["jobs:read", "jobs:write"], expires_at: "2027-01-01T00:00:00Z" }),
  apiKey({ id: "key-old", prefix: "mdl_OLDKEY01", scopes: ["jobs:read"], revoked_at: "2026-11-01T00:00:00Z" }),
];

describe("KeysPage", () => {
  it("lists the tenant's keys: prefix, name, scopes, created, last used, expiry, revoked", async () => {
    serveKeys(existing);
    renderWithClient(<KeysPage me={me()} />);
    const admin = await screen.findByRole("row", { name: "Key mdl_ADMIN001… (Ana)" });
    expect(admin).toHaveTextContent("mdl_ADMIN001…");
    expect(admin).toHaveTextContent("this key");
    expect(admin).toHaveTextContent("admin, jobs:read");
    expect(admin).toHaveTextContent("Active");
    const ci = screen.getByRole("row", { name: "Key mdl_CIKEY001… (CI)" });
    expect(within(ci).getAllByRole("cell")[4]).toHaveTextContent("never"); // last used
    expect(within(ci).getAllByRole("cell")[5]).not.toHaveTextContent("never"); // expires
    const old = screen.getByRole("row", { name: "Key mdl_OLDKEY01…" });
    expect(old).toHaveTextContent(/Revoked/);
    expect(within(old).queryByRole("button", { name: /Revoke/ })).not.toBeInTheDocument();
    expect(screen.getAllByRole("columnheader").map((cell) => cell.textContent)).toEqual([
      "Key", "Name", "Scopes", "Created", "Last used", "Expires", "Status", "Actions",
    ]);
  });

  it("creates a key with the chosen scopes, name and expiry, and shows its secret once", async () => {
    const { calls } = serveKeys(existing);
    const user = userEvent.setup();
    renderWithClient(<KeysPage me={me()} />);
    await screen.findByRole("row", { name: "Key mdl_CIKEY001… (CI)" });
    const form = screen.getByRole("form", { name: "Create a key" });
    // The scopes a person running pipelines needs are ticked to begin with.
    expect(within(form).getByRole("checkbox", { name: /jobs:read/ })).toBeChecked();
    expect(within(form).getByRole("checkbox", { name: /admin/ })).not.toBeChecked();
    await user.click(within(form).getByRole("checkbox", { name: /files:write/ }));
    await user.click(within(form).getByRole("checkbox", { name: /metrics:read/ }));
    await user.type(within(form).getByLabelText(/Name/), "Build server");
    await user.type(within(form).getByLabelText(/Expires after/), "30");
    await user.click(within(form).getByRole("button", { name: "Create key" }));

    const panel = await screen.findByRole("region", { name: "New key: Build server" });
    expect(within(panel).getByRole("textbox", { name: "The new key" })).toHaveValue("mdl_NEWKEY01-the-whole-secret");
    expect(panel).toHaveTextContent("you will not see this again");
    expect(within(panel).getByRole("button", { name: "Copy key" })).toBeInTheDocument();
    const post = calls.find((call) => call.method === "POST")!;
    expect(post.body).toEqual({ scopes: ["jobs:read", "jobs:write", "metrics:read"], name: "Build server", expires_in_days: 30, operator: false });
    // The list is read again and shows the new key (never its secret).
    expect(await screen.findByRole("row", { name: "Key mdl_NEWKEY01… (Build server)" })).not.toHaveTextContent("the-whole-secret");

    await user.click(within(panel).getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByRole("region", { name: /New key/ })).not.toBeInTheDocument();
    expect(screen.queryByDisplayValue("mdl_NEWKEY01-the-whole-secret")).not.toBeInTheDocument();
  });

  it("says what to fix before sending: no scope, or an expiry that is not a whole number of days", async () => {
    const { calls } = serveKeys([]);
    const user = userEvent.setup();
    renderWithClient(<KeysPage me={me()} />);
    expect(await screen.findByText("No keys yet.")).toBeInTheDocument();
    const form = screen.getByRole("form", { name: "Create a key" });
    for (const box of within(form).getAllByRole("checkbox")) if ((box as HTMLInputElement).checked) await user.click(box);
    await user.type(within(form).getByLabelText(/Expires after/), "0");
    await user.click(within(form).getByRole("button", { name: "Create key" }));
    expect(screen.getByText("Pick at least one scope.")).toBeInTheDocument();
    expect(screen.getByText(/A whole number of days from 1 to 3650/)).toBeInTheDocument();
    expect(calls.some((call) => call.method === "POST")).toBe(false);
  });

  it("revokes a key only after asking", async () => {
    const { calls } = serveKeys(existing);
    const user = userEvent.setup();
    renderWithClient(<KeysPage me={me()} />);
    const ci = await screen.findByRole("row", { name: "Key mdl_CIKEY001… (CI)" });
    await user.click(within(ci).getByRole("button", { name: "Revoke mdl_CIKEY001…" }));
    const confirm = within(ci).getByRole("group", { name: "Revoke mdl_CIKEY001…?" });
    expect(confirm).toHaveTextContent("stops working at once");
    await user.click(within(confirm).getByRole("button", { name: "Keep it" }));
    expect(calls.some((call) => call.method === "DELETE")).toBe(false);

    await user.click(within(ci).getByRole("button", { name: "Revoke mdl_CIKEY001…" }));
    await user.click(within(ci).getByRole("button", { name: "Yes, revoke" }));
    await waitFor(() => expect(within(screen.getByRole("row", { name: "Key mdl_CIKEY001… (CI)" })).getByText(/Revoked/)).toBeInTheDocument());
    expect(calls.filter((call) => call.method === "DELETE").map((call) => call.path)).toEqual(["/v1/admin/keys/key-ci"]);
  });

  it("tells a key without the admin scope that it lacks it, and asks the gateway nothing", async () => {
    const { calls } = mockApi({});
    renderWithClient(<KeysPage me={me({ tenant: "globex", scopes: ["jobs:read", "jobs:write"] })} />);
    expect(screen.getByRole("alert")).toHaveTextContent("Your key lacks the admin scope");
    expect(screen.getByRole("alert")).toHaveTextContent("This key has: jobs:read, jobs:write.");
    expect(screen.queryByRole("form", { name: "Create a key" })).not.toBeInTheDocument();
    expect(calls).toHaveLength(0);
  });
});
