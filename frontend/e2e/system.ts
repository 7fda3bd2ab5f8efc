/**
 * Starts the real Modaline — the gateway and its five workers with their offline `local` backends — on
 * ports 18300-18305 with a throwaway data directory, waits until every /readyz answers 200, and stops
 * them again. Used by the Playwright global setup.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
export const BASE_PORT = Number(process.env.E2E_BASE_PORT ?? 18300);
/** E2E_GATEWAY_URL points the tests at a system that is already running (for working on the tests). */
const EXTERNAL = process.env.E2E_GATEWAY_URL;
export const GATEWAY_URL = EXTERNAL ?? `http://127.0.0.1:${BASE_PORT}`;
const CAPABILITIES = ["llm", "image", "stt", "tts", "cyclegan"] as const;
const READY_TIMEOUT_MS = Number(process.env.E2E_READY_TIMEOUT_MS ?? 600_000);

interface Service {
  name: string;
  url: string;
  log: string;
  child: ChildProcess;
}

function python(): string {
  const venv = path.join(REPO, ".venv", "bin", "python");
  if (!existsSync(venv)) throw new Error(`${venv} is missing: run \`make install\` at the top of the repository first`);
  return venv;
}

function start(name: string, args: string[], env: NodeJS.ProcessEnv, logs: string, port: number): Service {
  const log = path.join(logs, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(python(), args, {
    cwd: REPO,
    env: { ...env, PORT: String(port) },
    stdio: ["ignore", fd, fd],
    detached: false,
  });
  closeSync(fd);
  return { name, url: `http://127.0.0.1:${port}`, log, child };
}

async function ready(service: Service, deadline: number): Promise<void> {
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) {
      throw new Error(`${service.name} exited with ${service.child.exitCode}:\n${tail(service.log)}`);
    }
    try {
      const response = await fetch(`${service.url}/readyz`, { signal: AbortSignal.timeout(5000) });
      if (response.ok) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${service.name} was not ready in time (${last}):\n${tail(service.log)}`);
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function stop(service: Service): Promise<void> {
  const { child } = service;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Start everything; resolves with a function that stops it all and removes the data directory. */
export async function startSystem(): Promise<() => Promise<void>> {
  if (EXTERNAL) return async () => undefined;
  const data = mkdtempSync(path.join(tmpdir(), "modaline-e2e-"));
  const logs = process.env.E2E_LOG_DIR ?? path.join(data, "logs");
  mkdirSync(logs, { recursive: true });
  mkdirSync(path.join(data, "files"), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MODALINE_FILES_ROOT: path.join(data, "files"),
    DATABASE_URL: `sqlite+aiosqlite:///${path.join(data, "db")}`,
    MODALINE_UI_DIR: path.join(REPO, "frontend", "dist"),
    HF_HUB_OFFLINE: "1",
    PYTHONUNBUFFERED: "1",
  };
  // Offline engines only: no provider keys, every backend local.
  delete env.OPENROUTER_API_KEY;
  delete env.HF_TOKEN;
  delete env.DATABASE_URL_OVERRIDE;
  const services: Service[] = [];
  const stopAll = async () => {
    await Promise.all(services.map(stop));
    if (!process.env.E2E_KEEP_DATA) rmSync(data, { recursive: true, force: true });
  };
  try {
    CAPABILITIES.forEach((capability, index) => {
      const port = BASE_PORT + 1 + index;
      env[`MODALINE_${capability.toUpperCase()}_URL`] = `http://127.0.0.1:${port}`;
      env[`${capability.toUpperCase()}_BACKEND`] = "local";
      services.push(start(capability, ["-m", "workers", capability], env, logs, port));
    });
    services.push(start("gateway", ["-m", "gateway", "serve"], env, logs, BASE_PORT));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    await Promise.all(services.map((service) => ready(service, deadline)));
  } catch (error) {
    await stopAll();
    throw error;
  }
  process.stdout.write(`Modaline is up at ${GATEWAY_URL} (data in ${data})\n`);
  return stopAll;
}
