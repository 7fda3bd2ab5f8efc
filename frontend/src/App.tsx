import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useLayoutEffect } from "react";
import { auth, useAuth } from "./api/auth";
import { ApiError } from "./api/client";
import { useMe } from "./api/queries";
import { isAdmin, type Me } from "./api/types";
import { HistoryPage } from "./components/HistoryPage";
import { JobPage } from "./components/JobPage";
import { KeysPage } from "./components/KeysPage";
import { PipelinesPage } from "./components/PipelinesPage";
import { RunPage } from "./components/RunPage";
import { SignInPage } from "./components/SignInPage";
import { href, useRoute, type Route } from "./lib/router";

function Page({ route, me }: { route: Route; me: Me | undefined }) {
  switch (route.page) {
    case "pipelines":
      return <PipelinesPage />;
    case "run":
      return <RunPage name={route.pipeline} from={route.from} />;
    case "jobs":
      return <HistoryPage pipeline={route.pipeline} status={route.status} />;
    case "job":
      return <JobPage id={route.id} />;
    case "keys":
      return <KeysPage me={me} />;
    case "missing":
      return (
        <>
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            There is nothing at “{route.path}”. <a href={href({ page: "pipelines" })}>Go to the pipelines</a>.
          </p>
        </>
      );
  }
}

type Section = "pipelines" | "jobs" | "keys";

function section(route: Route): Section {
  if (route.page === "jobs" || route.page === "job") return "jobs";
  return route.page === "keys" ? "keys" : "pipelines";
}

function Nav({ current, me }: { current: Section; me: Me | undefined }) {
  const here = (name: Section) => (current === name ? ("page" as const) : undefined);
  return (
    <nav aria-label="Main">
      <a href={href({ page: "pipelines" })} aria-current={here("pipelines")}>
        Pipelines
      </a>
      <a href={href({ page: "jobs" })} aria-current={here("jobs")}>
        History
      </a>
      {me?.auth === "keys" && isAdmin(me) ? (
        <a href={href({ page: "keys" })} aria-current={here("keys")}>
          Keys
        </a>
      ) : null}
    </nav>
  );
}

/** Who is signed in, with auth on; nothing with auth off (everyone is the default tenant). */
function Account({ me }: { me: Me }) {
  return (
    <div className="account">
      <span className="tenant" title={me.operator ? "An operator key: it manages every tenant" : undefined}>
        <span className="muted tenant-label">Signed in as</span> {me.tenant}
        {me.operator ? <span className="badge">operator</span> : null}
      </span>
      <button type="button" className="button subtle small" onClick={() => auth.signOut()}>
        Sign out
      </button>
    </div>
  );
}

export function App() {
  const route = useRoute();
  const client = useQueryClient();
  const state = useAuth();
  // Answers cached for one key belong to its tenant: forget them all the moment anyone signs in or out,
  // before the next render can show them to someone else.
  useLayoutEffect(() => auth.subscribe(() => client.clear()), [client]);
  const needsKey = state.required && !state.key;
  const me = useMe(state.epoch, !needsKey);
  const refused = me.error instanceof ApiError && me.error.status === 401 ? me.error : null;
  const signIn = needsKey || refused !== null;
  const who = me.data;
  // Move focus to the new page's heading so screen readers and keyboards start at the top.
  useEffect(() => {
    const heading = document.querySelector<HTMLElement>("main h1");
    if (heading && document.activeElement === document.body) heading.focus();
  }, [route, signIn, me.isPending]);

  let content;
  if (signIn) content = <SignInPage reason={state.reason ?? (state.key ? refused?.problem.detail ?? null : null)} />;
  else if (me.isPending) content = <p role="status">Loading…</p>;
  // Any other trouble with /v1/me (the gateway is down, or older than keys): show the pages, which say
  // what is wrong in their own words.
  else content = <Page route={route} me={who} />;

  return (
    <>
      <a className="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header className="top-bar">
        <a className="brand" href={href({ page: "pipelines" })}>
          <span className="brand-mark" aria-hidden="true">◆</span> Modaline
        </a>
        {signIn ? null : <Nav current={section(route)} me={who} />}
        {!signIn && who?.auth === "keys" ? <Account me={who} /> : null}
      </header>
      <main id="main" tabIndex={-1}>
        {content}
      </main>
    </>
  );
}
