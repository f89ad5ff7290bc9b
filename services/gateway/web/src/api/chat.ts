/** The chat stream: `POST /api/v1/chat/stream` read as typed events.
 *
 * Every event goes through `applyChatEvent`, a pure reducer over the answer so far, so a stream
 * resumed later (from the message id in `start`/`complete` and the parser's last event id) can
 * feed the same reducer and nothing is shown twice (`followAnswer`). */

import { authFetch } from "./session";
import { ApiError, errorFromBody, errorFromResponse } from "./errors";
import { readSse, SseParser } from "./sse";
import type { Citation, PendingApproval, ToolCall, ToolStep } from "./types";

export interface ChatRequest {
  message?: string;
  edit_message_id?: string;
  regenerate_message_id?: string;
  conversation_id?: string;
  model?: string;
  /** Tools the assistant may call this turn (an agent run): names, or "auto" for every tool you may use. */
  tools?: string[] | "auto";
}

export type ChatEvent =
  | { type: "start"; conversation_id: string; user_message_id: string; message_id?: string }
  | { type: "model"; provider: string; model: string }
  | { type: "citations"; citations: Citation[] }
  | ({ type: "tool_call" } & ToolCall)
  | { type: "tool_result"; call_id: string; name: string; status: string; summary: string; step: number }
  | ({ type: "approval_required" } & PendingApproval)
  | { type: "token"; token: string; index: number }
  | { type: "complete"; finish_reason: string; message_id: string; conversation_id: string; model: string; provider: string }
  | { type: "stopped"; message_id: string }
  | { type: "error"; error: ApiError };

export interface Answer {
  conversationId?: string;
  userMessageId?: string;
  messageId?: string;
  text: string;
  citations: Citation[];
  /** An agent run's tool calls as they happen, and the calls it waits on for a person. */
  steps?: ToolStep[];
  approval?: PendingApproval;
  model?: string;
  /** waiting: nothing yet (typing indicator); then streaming, and one of the ends. */
  status: "waiting" | "streaming" | "done" | "stopped" | "error";
  finishReason?: string;
  error?: ApiError;
}

export const emptyAnswer: Answer = { text: "", citations: [], status: "waiting" };

export function applyChatEvent(answer: Answer, event: ChatEvent): Answer {
  switch (event.type) {
    case "start":
      return { ...answer, conversationId: event.conversation_id, userMessageId: event.user_message_id,
        messageId: event.message_id ?? answer.messageId };
    case "model":
      return { ...answer, model: event.model };
    case "citations":
      return { ...answer, citations: event.citations };
    case "tool_call": {
      const { type: _, ...call } = event;
      return { ...answer, status: "streaming", steps: [...(answer.steps ?? []), { type: "tool", ...call, status: "running" }] };
    }
    case "tool_result":
      return { ...answer, steps: (answer.steps ?? []).map((s) => s.call_id === event.call_id ? { ...s, status: event.status, summary: event.summary } : s) };
    case "approval_required": {
      const { type: _, ...approval } = event;
      const waiting = new Set(approval.calls.map((c) => c.call_id));
      return { ...answer, approval,
        steps: (answer.steps ?? []).map((s) => waiting.has(s.call_id ?? "") ? { ...s, status: "awaiting_approval" } : s) };
    }
    case "token":
      return { ...answer, text: answer.text + event.token, status: "streaming" };
    case "complete":
      return {
        ...answer, status: "done", messageId: event.message_id, conversationId: event.conversation_id,
        finishReason: event.finish_reason, model: event.model || answer.model,
      };
    case "stopped":
      return { ...answer, status: "stopped" };
    case "error":
      return { ...answer, status: "error", error: event.error };
  }
}

/** One SSE frame as a ChatEvent; unknown names are skipped (a newer gateway may add some). */
export function toChatEvent(name: string, data: string): ChatEvent | null {
  const payload = JSON.parse(data);
  switch (name) {
    case "start":
    case "model":
    case "citations":
    case "tool_call":
    case "tool_result":
    case "approval_required":
    case "token":
    case "complete":
    case "stopped":
      return { type: name, ...payload } as ChatEvent;
    case "error":
      return { type: "error", error: errorFromBody(200, payload) };
    default:
      return null;
  }
}

/** Asks the gateway to stop an answer (generation goes on server side when a client merely leaves);
 * the stream then ends with `stopped`, and the stored message is what was shown. */
export async function stopAnswer(messageId: string): Promise<boolean> {
  try {
    const response = await authFetch(`/api/v1/chat/stream/${encodeURIComponent(messageId)}/stop`, { method: "POST" });
    return response.ok;
  } catch {
    return false;
  }
}

export async function* streamChat(request: ChatRequest, signal: AbortSignal, parser = new SseParser()): AsyncGenerator<ChatEvent> {
  const response = await authFetch("/api/v1/chat/stream", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(request),
    signal,
  });
  yield* readChat(response, signal, parser);
}

/** Follows an answer already under way (after a reload, a switch of conversation or a dropped
 * connection): with the parser of an earlier stream, only the events after its last id come
 * (Last-Event-ID), so feeding them to the same answer shows nothing twice; with a fresh parser,
 * the whole answer is replayed. A 404 means the answer is no longer kept: the stored message is
 * the record. */
export async function* followAnswer(messageId: string, signal: AbortSignal, parser = new SseParser()): AsyncGenerator<ChatEvent> {
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (parser.lastEventId) headers["Last-Event-ID"] = parser.lastEventId;
  const response = await authFetch(`/api/v1/chat/stream/${encodeURIComponent(messageId)}`, { headers, signal });
  yield* readChat(response, signal, parser);
}

async function* readChat(response: Response, signal: AbortSignal, parser: SseParser): AsyncGenerator<ChatEvent> {
  if (!response.ok) throw await errorFromResponse(response);
  if (!response.body) throw new ApiError(0, "NETWORK_ERROR", "The answer stream could not be read.");
  let ended = false;
  try {
    for await (const frame of readSse(response.body, parser)) {
      const event = toChatEvent(frame.event, frame.data);
      if (!event) continue;
      if (event.type === "complete" || event.type === "stopped" || event.type === "error") ended = true;
      yield event;
    }
  } catch (error) {
    if ((error as Error).name === "AbortError" || signal.aborted) throw error;
    throw new ApiError(0, "NETWORK_ERROR", "The connection was lost before the answer ended.");
  }
  if (!ended) throw new ApiError(0, "NETWORK_ERROR", "The connection was lost before the answer ended.");
}

/** A person's decision about the calls a paused run waits on; the run goes on in a new stream
 * (`stream_id`, followed like any answer). */
export async function decideApproval(runId: string, decision: "approve" | "deny" | "edit",
  args?: Record<string, unknown>): Promise<{ stream_id: string; message_id: string; conversation_id: string }> {
  const response = await authFetch(`/api/v1/runs/${encodeURIComponent(runId)}/approval`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(decision === "edit" ? { decision, arguments: args } : { decision }),
  });
  if (!response.ok) throw await errorFromResponse(response);
  return response.json();
}
