import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { auth } from "../api/auth";
import { ApiError } from "../api/client";
import { checkKey, keys } from "../api/queries";
import { friendlyProblem, type Friendly } from "../lib/problem";
import { ProblemBox } from "./ProblemBox";

/**
 * Shown while this gateway wants a key and the browser has none (or its key stopped working: `reason` is
 * the gateway's word for why). The key is checked against `/v1/me` before it is kept.
 */
export function SignInPage({ reason }: { reason: string | null }) {
  const client = useQueryClient();
  const [key, setKey] = useState("");
  const [problem, setProblem] = useState<Friendly | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = key.trim();
    if (!value) {
      setProblem({ title: "Enter your API key", advice: "Paste the key an admin of your team gave you; it starts with mdl_." });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const me = await checkKey(value);
      const epoch = auth.signIn(value);
      client.setQueryData(keys.me(epoch), me);
    } catch (error) {
      const found = error instanceof ApiError ? error.problem : { title: "Something went wrong", status: 0 };
      setProblem(
        found.status === 401
          ? {
              title: "That key was not accepted",
              detail: found.detail,
              advice: "Check that you pasted the whole key (it starts with mdl_), or ask an admin of your team for a new one.",
            }
          : friendlyProblem(found),
      );
      setBusy(false);
    }
  };

  return (
    <section className="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title" tabIndex={-1}>
        Sign in
      </h1>
      <p className="lead">This Modaline needs an API key. An admin of your team can make one for you.</p>
      {problem ? (
        <ProblemBox problem={problem} />
      ) : reason ? (
        <ProblemBox problem={{ title: "You were signed out", detail: reason, advice: "Sign in again with a key that works." }} />
      ) : null}
      <form className="sign-in-form" onSubmit={(event) => void submit(event)} noValidate>
        <div className="field">
          <label className="field-label" htmlFor="api-key">
            API key
          </label>
          <input
            id="api-key"
            name="api-key"
            type="password"
            autoComplete="current-password"
            spellCheck={false}
            autoCapitalize="off"
            placeholder="mdl_…"
            value={key}
            onChange={(event) => setKey(event.target.value)}
            autoFocus
          />
          <p className="field-hint">Kept in this browser until you sign out.</p>
        </div>
        <div className="form-actions">
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? "Checking…" : "Sign in"}
          </button>
        </div>
      </form>
    </section>
  );
}
