/**
 * Who the browser is signed in as: the API key (kept in localStorage, sent by the client's middleware in
 * the Authorization header, never in a URL), why the last one stopped working, and whether this gateway
 * wants a key at all. A tiny store outside React, because the client's middleware reads and changes it;
 * components follow it with {@link useAuth}.
 */
import { useSyncExternalStore } from "react";

export const KEY_STORAGE = "modaline.apiKey";

export interface AuthState {
  /** The key every request carries, or null. */
  key: string | null;
  /** Why the browser was signed out (the 401's detail), shown on the sign-in screen. */
  reason: string | null;
  /** The gateway answered 401 to a request without a key: auth is on, so sign-in is needed. */
  required: boolean;
  /** Bumped on every sign-in and sign-out: cached answers from before belong to someone else. */
  epoch: number;
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage blocked (e.g. some private modes): the key lives for this page only
  }
}

function readStoredKey(): string | null {
  return storage()?.getItem(KEY_STORAGE) || null;
}

let state: AuthState = { key: readStoredKey(), reason: null, required: false, epoch: 0 };
const listeners = new Set<() => void>();

function set(next: Partial<AuthState>, newEpoch: boolean): void {
  state = { ...state, ...next, epoch: newEpoch ? state.epoch + 1 : state.epoch };
  for (const listener of [...listeners]) listener();
}

export const auth = {
  get(): AuthState {
    return state;
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Start using `key` (already checked against `/v1/me`); returns the new epoch. */
  signIn(key: string): number {
    storage()?.setItem(KEY_STORAGE, key);
    set({ key, reason: null }, true);
    return state.epoch;
  },
  /** Forget the key; `reason` is shown on the sign-in screen. */
  signOut(reason: string | null = null): void {
    storage()?.removeItem(KEY_STORAGE);
    set({ key: null, reason, required: state.required || state.key !== null }, true);
  },
  /**
   * A request carrying `sentKey` (null: none) was answered 401 with `detail`. Acts only when that is the
   * key in use now, so a late answer to a request made with an older key cannot sign the new one out.
   */
  rejected(sentKey: string | null, detail: string | null): void {
    if (sentKey !== state.key) return;
    if (sentKey !== null) {
      auth.signOut(detail || "Your key was not accepted.");
    } else if (!state.required) {
      set({ required: true }, true);
    }
  },
  /** Back to the state of a fresh page load (tests). */
  reset(): void {
    state = { key: readStoredKey(), reason: null, required: false, epoch: state.epoch + 1 };
    for (const listener of [...listeners]) listener();
  },
};

export function useAuth(): AuthState {
  return useSyncExternalStore(auth.subscribe, auth.get, auth.get);
}

export function bearer(key: string): string {
  return `Bearer ${key}`;
}

/** The key a request carries in its Authorization header, or null. */
export function sentKey(request: Request): string | null {
  const header = request.headers.get("Authorization");
  const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return match ? match[1] : null;
}
