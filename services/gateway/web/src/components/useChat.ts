import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { applyChatEvent, emptyAnswer, stopAnswer, streamChat, type Answer } from "../api/chat";
import { ApiError } from "../api/errors";
import type { Message } from "../api/types";

// The finish reason the conversation service stores for an answer stopped before its end.
export const STOPPED = "cancelled";
// How long a stop asked of the server may take before the stream is simply dropped.
const STOP_GRACE_MS = 3000;

export interface LiveTurn {
  question: string;
  answer: Answer;
}

/** One turn at a time: sends, streams into `live`, stops (the partial answer stays), retries.
 * When the turn ends it is kept in the messages cache, so the list does not reload mid-read. */
export function useChat(conversationId: string | null, model: string, onStarted: (id: string) => void) {
  const [live, setLive] = useState<LiveTurn | null>(null);
  const abort = useRef<AbortController | null>(null);
  const liveRef = useRef<LiveTurn | null>(null);
  const conversation = useRef(conversationId);
  conversation.current = conversationId;
  const queries = useQueryClient();

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
        citations: turn.answer.citations, error: null, created_at: now });
    }
    queries.setQueryData<{ messages: Message[] }>(["messages", id], (old) => {
      const have = new Set(old?.messages.map((m) => m.id));
      return { ...old, messages: [...(old?.messages ?? []), ...kept.filter((m) => !have.has(m.id))] };
    });
    void queries.invalidateQueries({ queryKey: ["conversations"] });
  }, [queries]);

  const send = useCallback(async (question: string) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    let turn: LiveTurn = { question, answer: emptyAnswer };
    const update = (answer: Answer) => {
      turn = { question, answer };
      liveRef.current = turn;
      setLive(turn);
    };
    update(emptyAnswer);
    try {
      const request = { message: question, ...(conversation.current ? { conversation_id: conversation.current } : {}),
        ...(model ? { model } : {}) };
      for await (const event of streamChat(request, controller.signal)) {
        update(applyChatEvent(turn.answer, event));
        if (event.type === "start" && !conversation.current) {
          queries.setQueryData(["messages", event.conversation_id], { messages: [] });
          conversation.current = event.conversation_id;
          onStarted(event.conversation_id);
        }
      }
      if (turn.answer.status === "done" || turn.answer.status === "stopped") {
        keep(turn);
        setLive(null);
      }
    } catch (error) {
      if (controller.signal.aborted) {
        update({ ...turn.answer, status: "stopped" });
      } else {
        const failure = error instanceof ApiError ? error : new ApiError(0, "NETWORK_ERROR", "The answer could not be read.");
        update({ ...turn.answer, status: "error", error: failure });
      }
    } finally {
      if (abort.current === controller) abort.current = null;
    }
  }, [keep, model, onStarted, queries]);

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
    if (live && live.answer.status !== "waiting" && live.answer.status !== "streaming") {
      keep(live);
      setLive(null);
    }
  }, [keep, live]);

  const streaming = live !== null && (live.answer.status === "waiting" || live.answer.status === "streaming");
  return { live, streaming, send, stop, settle };
}
