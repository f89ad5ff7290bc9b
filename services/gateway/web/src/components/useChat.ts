import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { applyChatEvent, decideApproval, emptyAnswer, followAnswer, stopAnswer, streamChat, type Answer, type ChatEvent } from "../api/chat";
import { ApiError } from "../api/errors";
import { forgetInFlight, inFlight, pendingAnswer, rememberInFlight } from "../api/inflight";
import { SseParser } from "../api/sse";
import type { Message } from "../api/types";

// The finish reason the conversation service stores for an answer stopped before its end.
export const STOPPED = "cancelled";
// How long a stop asked of the server may take before the stream is simply dropped.
const STOP_GRACE_MS = 3000;
// A connection that drops mid-answer is followed again from its last event, this many times.
const RECONNECTS = 3;

export interface LiveTurn {
  question: string;
  answer: Answer;
  /** Followed again after a reload or a switch: the question is already in the history. */
  resumed?: boolean;
  /** An edit or a regeneration: the history is shown up to this message, the new branch live. */
  cutAt?: string;
}

export interface Branching {
  edit_message_id?: string;
  regenerate_message_id?: string;
  cutAt: string;
}

type Open = (signal: AbortSignal, parser: SseParser) => AsyncGenerator<ChatEvent>;

/** One turn at a time: sends, streams into `live`, stops (the partial answer stays), retries.
 * When the turn ends it is kept in the messages cache, so the list does not reload mid-read.
 * An answer under way is remembered by conversation (api/inflight), so a pane that opens on it
 * (a reload, a switch back) follows it from the start, and a dropped connection from its last event. */
export function useChat(conversationId: string | null, model: string, onStarted: (id: string) => void, tools = false) {
  const [live, setLive] = useState<LiveTurn | null>(null);
  const abort = useRef<AbortController | null>(null);
  const liveRef = useRef<LiveTurn | null>(null);
  const conversation = useRef(conversationId);
  conversation.current = conversationId;
  const queries = useQueryClient();
  const settleRef = useRef<(() => void) | null>(null);

  useEffect(() => () => abort.current?.abort(), []);

  const keep = useCallback((turn: LiveTurn) => {
    const id = turn.answer.conversationId;
    if (!id) return;
    const now = new Date().toISOString();
    const kept: Message[] = [
      { id: turn.answer.userMessageId ?? `local-user-${now}`, conversation_id: id, role: "user", content: turn.question, model: "",
        finish_reason: "", citations: [], error: null, created_at: now },
    ];
    if (turn.answer.text || turn.answer.status === "done") {
      kept.push({ id: turn.answer.messageId ?? `local-answer-${now}`, conversation_id: id, role: "assistant", content: turn.answer.text,
        model: turn.answer.model ?? "", finish_reason: turn.answer.status === "stopped" ? STOPPED : turn.answer.finishReason ?? "",
        citations: turn.answer.citations, error: null, created_at: now, steps: turn.answer.steps ?? null,
        pending_approval: turn.answer.finishReason === "awaiting_approval" ? turn.answer.approval ?? null : null });
    }
    queries.setQueryData<{ messages: Message[] }>(["messages", id], (old) => {
      const have = new Set(old?.messages.map((m) => m.id));
      return { ...old, messages: [...(old?.messages ?? []), ...kept.filter((m) => !have.has(m.id))] };
    });
    void queries.invalidateQueries({ queryKey: ["conversations"] });
  }, [queries]);

  /** The turn joins the history: kept in the cache as it was shown, or, for a new branch (whose
   * messages replace part of what was shown), the history is asked again before the live turn goes. */
  const finish = useCallback(async (turn: LiveTurn) => {
    if (turn.cutAt) {
      await queries.invalidateQueries({ queryKey: ["messages", turn.answer.conversationId ?? conversation.current] });
      void queries.invalidateQueries({ queryKey: ["conversations"] });
    } else keep(turn);
    setLive(null);
  }, [keep, queries]);

  const run = useCallback(async (question: string, open: Open, resumed = false, cutAt?: string) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    const parser = new SseParser();
    let turn: LiveTurn = { question, answer: emptyAnswer, resumed, cutAt };
    const update = (answer: Answer) => {
      turn = { question, answer, resumed, cutAt };
      liveRef.current = turn;
      setLive(turn);
    };
    update(emptyAnswer);
    let stream = open(controller.signal, parser);
    try {
      for (let reconnects = 0; ; reconnects++) {
        try {
          for await (const event of stream) {
            update(applyChatEvent(turn.answer, event));
            if (event.type === "start") {
              if (event.message_id) rememberInFlight(event.conversation_id, { messageId: event.message_id, question });
              if (!conversation.current) {
                queries.setQueryData(["messages", event.conversation_id], { messages: [] });
                conversation.current = event.conversation_id;
                onStarted(event.conversation_id);
              }
            }
          }
          break;
        } catch (error) {
          const id = turn.answer.messageId;
          const dropped = error instanceof ApiError && error.code === "NETWORK_ERROR";
          if (controller.signal.aborted || !id || !dropped || reconnects >= RECONNECTS) throw error;
          stream = followAnswer(id, controller.signal, parser);
        }
      }
      forgetInFlight(turn.answer.conversationId, turn.answer.messageId);
      if (turn.answer.status === "done" || turn.answer.status === "stopped") await finish(turn);
    } catch (error) {
      if (controller.signal.aborted) {
        // Left (another conversation, a new chat) or stopped here: what the server goes on with
        // is followed again when this conversation is shown.
        update({ ...turn.answer, status: "stopped" });
      } else if (resumed && error instanceof ApiError && error.status === 404) {
        // No longer kept (ended a while ago): the stored message is the answer.
        forgetInFlight(conversation.current);
        setLive(null);
        void queries.invalidateQueries({ queryKey: ["messages", conversation.current] });
      } else {
        forgetInFlight(turn.answer.conversationId, turn.answer.messageId);
        const failure = error instanceof ApiError ? error : new ApiError(0, "NETWORK_ERROR", "The answer could not be read.");
        update({ ...turn.answer, status: "error", error: failure });
      }
    } finally {
      if (abort.current === controller) abort.current = null;
    }
  }, [finish, onStarted, queries]);

  /** A question; or, with `branching`, an edited question or a new answer in a new branch. */
  const send = useCallback((question: string, branching?: Branching) => {
    const { cutAt, ...branch }: Partial<Branching> = branching ?? {};
    const request = { ...(branch.regenerate_message_id ? {} : { message: question }), ...branch,
      ...(conversation.current ? { conversation_id: conversation.current } : {}), ...(model ? { model } : {}),
      ...(tools ? { tools: "auto" as const } : {}) };
    return run(question, (signal, parser) => streamChat(request, signal, parser), false, cutAt);
  }, [model, run, tools]);

  /** A person's decision about a paused run: the run goes on, followed like any answer, in place
   * of the stored answer (shown whole again from the history once it ends). Throws when refused. */
  const decide = useCallback(async (runId: string, decision: "approve" | "deny" | "edit", args?: Record<string, unknown>) => {
    settleRef.current?.();
    const decided = await decideApproval(runId, decision, args);
    void run("", (signal, parser) => followAnswer(decided.stream_id, signal, parser), true, decided.message_id);
  }, [run]);

  // Once, when the pane opens: the answer the server says is under way in this conversation,
  // wherever it was asked (this tab's own record only when the server cannot be asked).
  useEffect(() => {
    const id = conversation.current;
    if (!id) return;
    let open = true;
    const hint = inFlight(id);
    void pendingAnswer(id).then((pending) => {
      if (!open || abort.current) return; // left, or a new question was sent meanwhile
      const messageId = pending === undefined ? hint?.messageId : pending;
      if (!messageId) {
        if (hint) {
          // It ended while this page was away: the stored message is the answer.
          forgetInFlight(id);
          void queries.invalidateQueries({ queryKey: ["messages", id] });
        }
        return;
      }
      // The question is in the history; the one this tab typed is shown until the history has it.
      const question = hint?.messageId === messageId ? hint.question : "";
      void run(question, (signal, parser) => followAnswer(messageId, signal, parser), true);
    });
    return () => {
      open = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  /** The server stops the answer and the stream ends with `stopped`, so the partial answer shown
   * is the one stored; without a message id yet, or when the server does not answer, the stream
   * is dropped here and what arrived stays. */
  const stop = useCallback(() => {
    const controller = abort.current;
    if (!controller) return;
    const messageId = liveRef.current?.answer.messageId;
    if (!messageId) {
      controller.abort();
      return;
    }
    const timer = setTimeout(() => controller.abort(), STOP_GRACE_MS);
    controller.signal.addEventListener("abort", () => clearTimeout(timer));
    void stopAnswer(messageId).then((ok) => ok || controller.abort());
  }, []);

  /** Before the next question, a stopped or failed turn joins the history as it was shown. */
  const settle = useCallback(() => {
    if (live && live.answer.status !== "waiting" && live.answer.status !== "streaming") void finish(live);
  }, [finish, live]);

  settleRef.current = settle;

  const streaming = live !== null && (live.answer.status === "waiting" || live.answer.status === "streaming");
  return { live, streaming, send, stop, settle, decide };
}
