/**
 * Starts the real Modaline — the gateway and its five workers with their offline `local` backends — on
 * ports 18300-18305 with a throwaway data directory, plus a second gateway with API keys on (port 18310,
 * its own database, the same workers and files root) and keys for two tenants made with the CLI; waits until
 * every /readyz answers 200, and stops them again. Used by the Playwright global setup.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
export const BASE_PORT = Number(process.env.E2E_BASE_PORT ?? 18300);
/** E2E_GATEWAY_URL points the tests at a system that is already running (for working on the tests). */
const EXTERNAL = process.env.E2E_GATEWAY_URL;
export const GATEWAY_URL = EXTERNAL ?? `http://127.0.0.1:${BASE_PORT}`;
/** The gateway with MODALINE_AUTH=keys. With E2E_GATEWAY_URL, only when E2E_AUTH_GATEWAY_URL names one. */
const EXTERNAL_AUTH = process.env.E2E_AUTH_GATEWAY_URL;
export const AUTH_PORT = BASE_PORT + 10;
export const AUTH_GATEWAY_URL = EXTERNAL_AUTH ?? (EXTERNAL ? undefined : `http://127.0.0.1:${AUTH_PORT}`);
const SIGNING_KEY = "e2e-signing-key";
const CAPABILITIES = ["llm", "image", "stt", "tts", "cyclegan"] as const;

/**
 * The keys the auth tests sign in with, made by `python -m gateway keys create` before that gateway starts
 * and handed to the test workers in the environment (set by the global setup, or by hand with
 * E2E_AUTH_GATEWAY_URL): acme's admin (admin + what running pipelines needs) and globex's user.
 */
export const KEY_ENV = { acmeAdmin: "E2E_KEY_ACME_ADMIN", globex: "E2E_KEY_GLOBEX" } as const;
const KEYS: Record<keyof typeof KEY_ENV, { tenant: string; scopes: string[] }> = {
  acmeAdmin: { tenant: "acme", scopes: ["admin", "jobs:read", "jobs:write", "files:write"] },
  globex: { tenant: "globex", scopes: ["jobs:read", "jobs:write", "files:write"] },
};

export function authKeys(): Record<keyof typeof KEY_ENV, string> | undefined {
  const acmeAdmin = process.env[KEY_ENV.acmeAdmin];
  const globex = process.env[KEY_ENV.globex];
  return AUTH_GATEWAY_URL && acmeAdmin && globex ? { acmeAdmin, globex } : undefined;
}
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

/** Run the key CLI on the auth gateway's database; the key is the last line of its standard output. */
function createKey(env: NodeJS.ProcessEnv, tenant: string, scopes: string[], logs: string): Promise<string> {
  const args = ["-m", "gateway", "keys", "create", "--tenant", tenant, "--name", `e2e ${tenant}`];
  for (const scope of scopes) args.push("--scope", scope);
  return new Promise((resolve, reject) => {
    const child = spawn(python(), args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      appendFileSync(path.join(logs, "keys-cli.log"), `$ keys create --tenant ${tenant}\n${err}\n`);
      const key = out.trim().split("\n").at(-1)?.trim() ?? "";
      if (code === 0 && key.startsWith("mdl_")) resolve(key);
      else reject(new Error(`keys create --tenant ${tenant} exited with ${code}:\n${err}${out}`));
    });
  });
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
  delete env.MODALINE_DATABASE_URL; // it would win over DATABASE_URL
  delete env.MODALINE_AUTH; // the first gateway is the one `make run` gives: auth off on the loopback
  delete env.MODALINE_SIGNING_KEY;
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
    if (!EXTERNAL_AUTH) {
      // The same workers behind a gateway with keys on; its keys are made before it starts (the CLI
      // migrates the fresh database), one after another so two migrations never race on one SQLite file.
      const authEnv: NodeJS.ProcessEnv = {
        ...env,
        MODALINE_AUTH: "keys",
        MODALINE_SIGNING_KEY: SIGNING_KEY,
        // Its own database; the files root stays the workers' one, as they write their outputs there.
        DATABASE_URL: `sqlite+aiosqlite:///${path.join(data, "auth-db")}`,
      };
      for (const [name, spec] of Object.entries(KEYS) as [keyof typeof KEY_ENV, (typeof KEYS)[keyof typeof KEY_ENV]][]) {
        process.env[KEY_ENV[name]] = await createKey(authEnv, spec.tenant, spec.scopes, logs);
      }
      services.push(start("gateway-auth", ["-m", "gateway", "serve"], authEnv, logs, AUTH_PORT));
    }
    const deadline = Date.now() + READY_TIMEOUT_MS;
    await Promise.all(services.map((service) => ready(service, deadline)));
  } catch (error) {
    await stopAll();
    throw error;
  }
  process.stdout.write(`Modaline is up at ${GATEWAY_URL}, with keys at ${AUTH_GATEWAY_URL} (data in ${data})\n`);
  return stopAll;
}
