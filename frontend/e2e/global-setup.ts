import { startSystem } from "./system";

/** Playwright global setup: the whole system for the run; the returned function is the teardown. */
export default async function globalSetup() {
  return startSystem();
}
