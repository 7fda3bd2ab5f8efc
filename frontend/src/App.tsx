import { useEffect } from "react";
import { HistoryPage } from "./components/HistoryPage";
import { JobPage } from "./components/JobPage";
import { PipelinesPage } from "./components/PipelinesPage";
import { RunPage } from "./components/RunPage";
import { href, useRoute, type Route } from "./lib/router";

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "pipelines":
      return <PipelinesPage />;
    case "run":
      return <RunPage name={route.pipeline} from={route.from} />;
    case "jobs":
      return <HistoryPage pipeline={route.pipeline} status={route.status} />;
    case "job":
      return <JobPage id={route.id} />;
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

export function App() {
  const route = useRoute();
  const section = route.page === "jobs" || route.page === "job" ? "jobs" : "pipelines";
  // Move focus to the new page's heading so screen readers and keyboards start at the top.
  useEffect(() => {
    const heading = document.querySelector<HTMLElement>("main h1");
    if (heading && document.activeElement === document.body) heading.focus();
  }, [route]);
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
        <nav aria-label="Main">
          <a href={href({ page: "pipelines" })} aria-current={section === "pipelines" ? "page" : undefined}>
            Pipelines
          </a>
          <a href={href({ page: "jobs" })} aria-current={section === "jobs" ? "page" : undefined}>
            History
          </a>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}
