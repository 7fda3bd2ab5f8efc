/** Hash routing, so every page (a job at #/jobs/<id>) has its own URL and the gateway needs no fallback. */
import { useEffect, useState } from "react";

export type Route =
  | { page: "pipelines" }
  | { page: "run"; pipeline: string; from?: string }
  | { page: "jobs"; pipeline?: string; status?: string }
  | { page: "job"; id: string }
  | { page: "keys" }
  | { page: "missing"; path: string };

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/";
  const [pathPart, queryPart = ""] = raw.split("?");
  const query = new URLSearchParams(queryPart);
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "pipelines" };
  if (parts[0] === "run" && parts.length === 2) {
    return { page: "run", pipeline: parts[1], from: query.get("from") ?? undefined };
  }
  if (parts[0] === "jobs" && parts.length === 1) {
    return { page: "jobs", pipeline: query.get("pipeline") ?? undefined, status: query.get("status") ?? undefined };
  }
  if (parts[0] === "jobs" && parts.length === 2) return { page: "job", id: parts[1] };
  if (parts[0] === "keys" && parts.length === 1) return { page: "keys" };
  return { page: "missing", path: pathPart };
}

export function href(route: Route): string {
  switch (route.page) {
    case "pipelines":
      return "#/";
    case "run":
      return `#/run/${encodeURIComponent(route.pipeline)}${route.from ? `?from=${encodeURIComponent(route.from)}` : ""}`;
    case "jobs": {
      const query = new URLSearchParams();
      if (route.pipeline) query.set("pipeline", route.pipeline);
      if (route.status) query.set("status", route.status);
      const text = query.toString();
      return `#/jobs${text ? `?${text}` : ""}`;
    }
    case "job":
      return `#/jobs/${encodeURIComponent(route.id)}`;
    case "keys":
      return "#/keys";
    case "missing":
      return `#${route.path}`;
  }
}

export function navigate(route: Route, replace = false): void {
  const target = href(route);
  if (replace) {
    window.history.replaceState(null, "", target);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = target;
  }
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
