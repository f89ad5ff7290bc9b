/** Answers under way. The server is the record: a conversation names its answer in flight
 * (`pending_message_id`), so a page opened anywhere (a reload that lands on another gateway
 * replica, a new tab, another device) follows it again. This tab also keeps, by conversation in
 * its sessionStorage, the answers it started and the question it typed: a hint used when the
 * server cannot be asked, and the question shown until the history has it. Only ids and the
 * question are kept, never a token; signing out forgets them. */

import { apiJson } from "./session";
import type { Conversation } from "./types";

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

/** The answer in flight in the conversation, as the server knows it: its message id, null when
 * none is, undefined when the server could not be asked. */
export async function pendingAnswer(conversationId: string): Promise<string | null | undefined> {
  try {
    const conversation = await apiJson<Conversation>(`/api/v1/conversations/${encodeURIComponent(conversationId)}`);
    return conversation.pending_message_id ?? null;
  } catch {
    return undefined;
  }
}
