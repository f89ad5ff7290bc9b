/** Answers under way, by conversation, in this tab's sessionStorage: a reload, or a switch to
 * another conversation and back, finds the answer and follows it again (the gateway keeps
 * generating it). Only ids and the question the user typed are kept, never a token; signing out
 * forgets them. */

const PREFIX = "chat.inflight.";

export interface InFlight {
  messageId: string;
  question: string;
}

function store(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: answers are simply not resumed
  }
}

export function rememberInFlight(conversationId: string, entry: InFlight): void {
  try {
    store()?.setItem(PREFIX + conversationId, JSON.stringify(entry));
  } catch {
    // quota or privacy mode: the answer still streams, it just is not resumed after a reload
  }
}

export function inFlight(conversationId: string | null): InFlight | null {
  if (!conversationId) return null;
  try {
    const entry = JSON.parse(store()?.getItem(PREFIX + conversationId) ?? "null") as InFlight | null;
    return entry && typeof entry.messageId === "string" && typeof entry.question === "string" ? entry : null;
  } catch {
    return null;
  }
}

export function forgetInFlight(conversationId: string | null | undefined, messageId?: string): void {
  if (!conversationId) return;
  if (messageId && inFlight(conversationId)?.messageId !== messageId) return;
  store()?.removeItem(PREFIX + conversationId);
}

export function forgetAllInFlight(): void {
  const s = store();
  if (!s) return;
  for (const key of Object.keys(s)) if (key.startsWith(PREFIX)) s.removeItem(key);
}
