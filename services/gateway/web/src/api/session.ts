/** The browser session: the access token lives in this module's memory only (never in storage
 * script could read later); the refresh token is an httpOnly cookie the gateway sets, rotates and
 * clears. `X-Auth-Session: cookie` asks for the cookie flow and, being a custom header, cannot be
 * sent cross-site without a CORS preflight the gateway refuses: the CSRF guard of the refresh. */

import { ApiError, errorFromResponse } from "./errors";

export const SESSION_HEADER = { "X-Auth-Session": "cookie" };
const RENEW_BEFORE_EXPIRY_MS = 60_000;

interface AccessToken {
  access_token: string;
  expires_in: number;
}

let accessToken: string | null = null;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function adopt(token: AccessToken | null): void {
  const was = accessToken !== null;
  accessToken = token?.access_token ?? null;
  clearTimeout(renewTimer);
  if (token) {
    // Silent renewal shortly before expiry, so a request seldom meets an expired token.
    const delay = Math.max(5_000, token.expires_in * 1000 - RENEW_BEFORE_EXPIRY_MS);
    renewTimer = setTimeout(() => void refresh(), delay);
  }
  if (was !== (accessToken !== null)) listeners.forEach((l) => l(accessToken !== null));
}

async function post(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { ...SESSION_HEADER, ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "The server cannot be reached. Check your connection and try again.");
  }
}

export async function signIn(email: string, password: string): Promise<void> {
  await signInThrough("/api/v1/auth/login", { email, password });
}

/** Any door that answers like sign-in (an accepted invitation): the cookie is set, the token kept. */
export async function signInThrough(path: string, body: unknown): Promise<void> {
  const response = await post(path, body);
  if (!response.ok) throw await errorFromResponse(response);
  adopt((await response.json()) as AccessToken);
}

export async function signUp(email: string, password: string): Promise<void> {
  const response = await post("/api/v1/auth/register", { email, password });
  if (!response.ok) throw await errorFromResponse(response);
  await signIn(email, password);
}

/** Refreshes one at a time across this browser's tabs: they share the cookie, and a rotated
 * refresh token presented twice (two tabs at the same instant) ends the whole session. */
function exclusive<T>(work: () => Promise<T>): Promise<T> {
  return navigator.locks ? navigator.locks.request("chatbot-session-refresh", work) : work();
}

/** A new access token from the refresh cookie (which rotates); false when there is no session.
 * Concurrent callers in this tab share one request. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const response = await exclusive(() => post("/api/v1/auth/refresh"));
      if (!response.ok) {
        if (response.status === 401 || response.status === 403) adopt(null);
        return false;
      }
      adopt((await response.json()) as AccessToken);
      return true;
    } catch {
      return false; // offline: keep what we have and let the next request tell
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function signOut(): Promise<void> {
  try {
    // With a live access token: every session of the account ends. Without one (it expired while
    // the laptop slept), the session cookie alone ends this browser's. The cookie is cleared either way.
    await post("/api/v1/auth/logout", undefined, accessToken ? { Authorization: `Bearer ${accessToken}` } : {});
  } finally {
    adopt(null);
  }
}

/** The Authorization header for what fetch cannot do (XMLHttpRequest reports upload progress). */
export function bearer(): string | null {
  return accessToken ? `Bearer ${accessToken}` : null;
}

export function isSignedIn(): boolean {
  return accessToken !== null;
}

/** fetch with the access token; on a 401 the token is renewed once and the request repeated. */
export async function authFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const attempt = async () => {
    const headers = new Headers(init.headers);
    if (accessToken) headers.set("Authorization", `Bearer ${accessToken}`);
    try {
      return await fetch(path, { ...init, headers, credentials: "same-origin" });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ApiError(0, "NETWORK_ERROR", "The server cannot be reached. Check your connection and try again.");
    }
  };
  let response = await attempt();
  if (response.status === 401 && (await refresh())) response = await attempt();
  return response;
}

export async function apiJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set("Content-Type", "application/json");
  const response = await authFetch(path, { ...init, headers });
  if (!response.ok) throw await errorFromResponse(response);
  return (response.status === 204 ? undefined : await response.json()) as T;
}
