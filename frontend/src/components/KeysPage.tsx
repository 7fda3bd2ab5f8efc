import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { createApiKey, keys, revokeApiKey, useApiKeys } from "../api/queries";
import { isAdmin, SCOPES, type ApiKey, type CreatedKey, type KeyRequest, type Me, type Scope } from "../api/types";
import { formatTime } from "../lib/format";
import { friendlyProblem, type Friendly } from "../lib/problem";
import { CopyButton } from "./CopyButton";
import { ProblemBox } from "./ProblemBox";

const SCOPE_TEXT: Record<Scope, string> = {
  "jobs:read": "see pipelines, jobs and their results",
  "jobs:write": "run and cancel jobs",
  "files:write": "upload pictures and recordings",
  admin: "manage this team's keys",
  "metrics:read": "read the gateway's metrics",
};
/** What a person running pipelines in this UI needs. */
const DEFAULT_SCOPES: readonly Scope[] = ["jobs:read", "jobs:write", "files:write"];
const MAX_DAYS = 3650;

function problemOf(error: unknown, fallback: string): Friendly {
  return error instanceof ApiError ? friendlyProblem(error.problem) : { title: fallback, advice: "Try again." };
}

function NewKey({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const secret = useRef<HTMLInputElement>(null);
  useEffect(() => secret.current?.focus(), [created.id]);
  return (
    <section className="card new-key" aria-labelledby="new-key-title">
      <h2 id="new-key-title">New key{created.name ? `: ${created.name}` : ""}</h2>
      <p className="new-key-warning" role="status">
        <strong>Copy it now: you will not see this again.</strong> Modaline keeps only a fingerprint of it, so it
        cannot show it to anyone later.
      </p>
      <div className="secret-row">
        <input
          ref={secret}
          className="secret"
          type="text"
          readOnly
          value={created.secret}
          aria-label="The new key"
          spellCheck={false}
          onFocus={(event) => event.currentTarget.select()}
        />
        <CopyButton text={created.secret} label="Copy key" />
      </div>
      <p className="muted">
        Scopes: {created.scopes.join(", ")}
        {created.expires_at ? ` · expires ${formatTime(created.expires_at)}` : " · does not expire"}
      </p>
      <button type="button" className="button" onClick={onDone}>
        I have copied it
      </button>
    </section>
  );
}

function CreateForm({ me, onCreated }: { me: Me; onCreated: (key: CreatedKey) => void }) {
  const client = useQueryClient();
  const [scopes, setScopes] = useState<Scope[]>([...DEFAULT_SCOPES]);
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [tenant, setTenant] = useState("");
  const [errors, setErrors] = useState<{ scopes?: string; days?: string }>({});
  const create = useMutation({
    mutationFn: createApiKey,
    onSuccess: (key) => {
      onCreated(key);
      setName("");
      setDays("");
      void client.invalidateQueries({ queryKey: keys.apiKeys });
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found: typeof errors = {};
    if (scopes.length === 0) found.scopes = "Pick at least one scope.";
    const count = days.trim() === "" ? null : Number(days);
    if (count !== null && !(Number.isInteger(count) && count >= 1 && count <= MAX_DAYS)) {
      found.days = `A whole number of days from 1 to ${MAX_DAYS}, or empty for no expiry.`;
    }
    setErrors(found);
    if (found.scopes || found.days) return;
    const body: KeyRequest = {
      scopes: SCOPES.filter((scope) => scopes.includes(scope)),
      operator: false,
      ...(name.trim() ? { name: name.trim() } : {}),
      ...(count !== null ? { expires_in_days: count } : {}),
      ...(me.operator && tenant.trim() ? { tenant: tenant.trim() } : {}),
    };
    create.mutate(body);
  };

  const toggle = (scope: Scope, on: boolean) =>
    setScopes((current) => (on ? [...current, scope] : current.filter((item) => item !== scope)));

  return (
    <form className="card key-form" aria-labelledby="create-key-title" onSubmit={submit} noValidate>
      <h2 id="create-key-title">Create a key</h2>
      <fieldset className={`field${errors.scopes ? " has-error" : ""}`} aria-describedby={errors.scopes ? "scopes-error" : undefined}>
        <legend className="field-label">Scopes</legend>
        {SCOPES.map((scope) => (
          <label key={scope} className="scope-option">
            <input type="checkbox" checked={scopes.includes(scope)} onChange={(event) => toggle(scope, event.target.checked)} />
            <code>{scope}</code> <span className="muted">{SCOPE_TEXT[scope]}</span>
          </label>
        ))}
        {errors.scopes ? (
          <p className="field-error" id="scopes-error">
            {errors.scopes}
          </p>
        ) : null}
      </fieldset>
      <div className="field">
        <label className="field-label" htmlFor="key-name">
          Name <span className="optional">(optional)</span>
        </label>
        <input id="key-name" type="text" maxLength={200} value={name} onChange={(event) => setName(event.target.value)} />
        <p className="field-hint">Shown in the list, to tell keys apart: who or what uses it.</p>
      </div>
      <div className={`field${errors.days ? " has-error" : ""}`}>
        <label className="field-label" htmlFor="key-days">
          Expires after (days) <span className="optional">(optional)</span>
        </label>
        <input
          id="key-days"
          type="number"
          min={1}
          max={MAX_DAYS}
          step={1}
          inputMode="numeric"
          value={days}
          onChange={(event) => setDays(event.target.value)}
          aria-invalid={errors.days ? true : undefined}
          aria-describedby={errors.days ? "key-days-error" : "key-days-hint"}
        />
        {errors.days ? (
          <p className="field-error" id="key-days-error">
            {errors.days}
          </p>
        ) : (
          <p className="field-hint" id="key-days-hint">
            Leave empty for a key that does not expire.
          </p>
        )}
      </div>
      {me.operator ? (
        <div className="field">
          <label className="field-label" htmlFor="key-tenant">
            Tenant <span className="optional">(optional: yours, {me.tenant}, if empty)</span>
          </label>
          <input id="key-tenant" type="text" value={tenant} onChange={(event) => setTenant(event.target.value)} />
        </div>
      ) : null}
      {create.error ? <ProblemBox problem={problemOf(create.error, "The key could not be created")} /> : null}
      <div className="form-actions">
        <button type="submit" className="button primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create key"}
        </button>
      </div>
    </form>
  );
}

function keyState(key: ApiKey): string {
  if (key.revoked_at) return `Revoked ${formatTime(key.revoked_at)}`;
  if (key.expires_at && new Date(key.expires_at).getTime() <= Date.now()) return "Expired";
  return "Active";
}

function KeyRow({ apiKey, mine, showTenant }: { apiKey: ApiKey; mine: boolean; showTenant: boolean }) {
  const client = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const revoke = useMutation({
    mutationFn: () => revokeApiKey(apiKey.id),
    onSuccess: (next) => {
      client.setQueryData<ApiKey[]>(keys.apiKeys, (items) => items?.map((item) => (item.id === next.id ? next : item)));
      setConfirming(false);
    },
    // A revoked key of one's own: this refetch is refused, and that 401 signs the browser out.
    onSettled: () => client.invalidateQueries({ queryKey: keys.apiKeys }),
  });
  const label = `${apiKey.prefix}…`;
  const state = keyState(apiKey);
  return (
    <tr aria-label={`Key ${label}${apiKey.name ? ` (${apiKey.name})` : ""}`} className={apiKey.revoked_at ? "revoked" : undefined}>
      <td>
        <code>{label}</code>
        {mine ? <span className="badge">this key</span> : null}
        {apiKey.operator ? <span className="badge">operator</span> : null}
      </td>
      {showTenant ? <td>{apiKey.tenant}</td> : null}
      <td>{apiKey.name ?? <span className="muted">—</span>}</td>
      <td>{apiKey.scopes.join(", ")}</td>
      <td>{formatTime(apiKey.created_at)}</td>
      <td>{apiKey.last_used_at ? formatTime(apiKey.last_used_at) : <span className="muted">never</span>}</td>
      <td>{apiKey.expires_at ? formatTime(apiKey.expires_at) : <span className="muted">never</span>}</td>
      <td>
        <span className={`status ${state === "Active" ? "status-succeeded" : "status-failed"}`}>{state}</span>
      </td>
      <td className="key-actions">
        {apiKey.revoked_at ? null : confirming ? (
          <div className="confirm" role="group" aria-label={`Revoke ${label}?`}>
            <p>
              Revoke {label}? Anything using it stops working at once{mine ? ", and you will be signed out" : ""}.
            </p>
            <button type="button" className="button danger small" disabled={revoke.isPending} onClick={() => revoke.mutate()}>
              {revoke.isPending ? "Revoking…" : "Yes, revoke"}
            </button>
            <button type="button" className="button subtle small" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </div>
        ) : (
          <button type="button" className="button danger small" aria-label={`Revoke ${label}`} onClick={() => setConfirming(true)}>
            Revoke
          </button>
        )}
        {revoke.error ? <ProblemBox problem={problemOf(revoke.error, "The key could not be revoked")} /> : null}
      </td>
    </tr>
  );
}

function KeyTable({ me }: { me: Me }) {
  const list = useApiKeys(true);
  const items = list.data ?? [];
  const showTenant = me.operator;
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">Keys</h2>
      {list.error ? <ProblemBox problem={problemOf(list.error, "The keys could not be loaded")} /> : null}
      {list.isPending ? <p role="status">Loading…</p> : null}
      {list.isSuccess && items.length === 0 ? <p className="empty">No keys yet.</p> : null}
      {items.length ? (
        <div className="table-scroll">
          <table className="keys-table" aria-labelledby="keys-title">
            <thead>
              <tr>
                <th scope="col">Key</th>
                {showTenant ? <th scope="col">Tenant</th> : null}
                <th scope="col">Name</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <KeyRow key={item.id} apiKey={item} mine={item.id === me.key_id} showTenant={showTenant} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** The tenant's API keys (an operator's: every tenant's): create one (its secret shown once), list, revoke. */
export function KeysPage({ me }: { me: Me | undefined }) {
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const header = (
    <header className="page-header">
      <h1 tabIndex={-1}>API keys</h1>
      <p className="lead">
        Keys let people and programs use Modaline as {me ? <strong>{me.tenant}</strong> : "your team"}. Each one has
        only the scopes you give it.
      </p>
    </header>
  );
  if (!me || !isAdmin(me)) {
    return (
      <>
        {header}
        <ProblemBox
          problem={{
            title: "Your key lacks the admin scope",
            detail: me ? `This key has: ${me.scopes.join(", ") || "no scopes"}.` : undefined,
            advice: "Only a key with the admin scope, or an operator key, can manage keys. Ask an admin of your team.",
          }}
        />
      </>
    );
  }
  return (
    <>
      {header}
      {me.auth !== "keys" ? (
        <ProblemBox
          role="status"
          problem={{
            title: "Keys are off on this Modaline",
            detail: "MODALINE_AUTH is off: every request is the default tenant and needs no key.",
            advice: "Keys made here only count once the gateway runs with MODALINE_AUTH=keys.",
          }}
        />
      ) : null}
      {created ? <NewKey created={created} onDone={() => setCreated(null)} /> : null}
      <CreateForm me={me} onCreated={setCreated} />
      <KeyTable me={me} />
    </>
  );
}
