import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { Answer } from "../api/chat";
import { apiJson } from "../api/session";
import type { Citation, Message } from "../api/types";
import { RichText } from "./markdownSlot";
import { citationLabel, PassageDialog } from "./Passage";
import { STOPPED, useChat } from "./useChat";

interface Props {
  conversationId: string | null;
  model: string;
  onStarted: (id: string) => void;
  onDeleted: () => void;
}

export function ChatPane({ conversationId, model, onStarted, onDeleted }: Props) {
  const history = useQuery({
    queryKey: ["messages", conversationId],
    queryFn: () => apiJson<{ messages: Message[] }>(`/api/v1/conversations/${conversationId}/messages?limit=100&branch=current`),
    enabled: conversationId !== null,
  });
  const { live, streaming, send, stop, settle } = useChat(conversationId, model, onStarted);
  const [draft, setDraft] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const end = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (history.error && (history.error as { status?: number }).status === 404) onDeleted();
  }, [history.error, onDeleted]);

  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [history.data, live?.answer.text, live?.answer.status]);

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key === "Escape" && streaming) stop();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [streaming, stop]);

  const submit = (text = draft) => {
    if (!text.trim() || streaming) return;
    settle();
    setDraft("");
    void send(text);
    input.current?.focus();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  };

  const shown = (history.data?.messages ?? []).filter((m) => m.role !== "system" &&
    m.id !== live?.answer.userMessageId && m.id !== live?.answer.messageId);

  return (
    <main className="chat">
      <div className="messages" role="log" aria-live="polite" aria-relevant="additions text" aria-label="Messages">
        {conversationId === null && !live && <p className="empty">Ask anything to start a conversation.</p>}
        {history.isError && (history.error as { status?: number }).status !== 404 && (
          <p role="alert" className="banner error">Messages could not be loaded.</p>
        )}
        {shown.map((m) => (
          <article key={m.id} className={"message " + m.role} aria-label={m.role === "user" ? "You" : "Assistant"}>
            {m.role === "user" ? <p className="plain">{m.content}</p> : <RichText text={m.content} />}
            {m.finish_reason === STOPPED && <p className="muted">Stopped.</p>}
            {m.citations.length > 0 && <Citations items={m.citations} />}
          </article>
        ))}
        {live && (
          <>
            {/* A resumed answer's question is in the history until its start event names it. */}
            {!(live.resumed && !live.answer.userMessageId) && (
              <article className="message user" aria-label="You"><p className="plain">{live.question}</p></article>
            )}
            <LiveAnswer answer={live.answer} onRetry={() => submit(live.question)} />
          </>
        )}
        <div ref={end} />
      </div>
      <form className="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <label className="visually-hidden" htmlFor="composer-input">Message</label>
        <textarea id="composer-input" ref={input} value={draft} rows={2} autoFocus
          placeholder="Message (Enter sends, Shift+Enter adds a line)"
          onChange={(e) => setDraft(e.target.value)} onKeyDown={onKeyDown} />
        {streaming
          ? <button type="button" className="stop" onClick={stop} aria-keyshortcuts="Escape">Stop</button>
          : <button type="submit" className="primary" disabled={!draft.trim()}>Send</button>}
      </form>
    </main>
  );
}

function LiveAnswer({ answer, onRetry }: { answer: Answer; onRetry: () => void }) {
  return (
    <article className="message assistant" aria-label="Assistant" aria-busy={answer.status === "waiting" || answer.status === "streaming"}>
      {answer.status === "waiting" && (
        <p className="typing" role="status"><span /><span /><span /><span className="visually-hidden">Assistant is typing</span></p>
      )}
      {answer.text && <div className="answer-text"><RichText text={answer.text} /></div>}
      {answer.status === "stopped" && <p className="muted">Stopped.</p>}
      {answer.citations.length > 0 && <Citations items={answer.citations} />}
      {answer.status === "error" && answer.error && (
        <div className="banner error" role="alert">
          <span>{answer.error.message}</span>
          <button type="button" onClick={onRetry}>Retry</button>
        </div>
      )}
    </article>
  );
}

function Citations({ items }: { items: Citation[] }) {
  const [open, setOpen] = useState<Citation | null>(null);
  return (
    <section className="citations" aria-label="Sources">
      <h3>Sources</h3>
      <ol>
        {items.map((c) => (
          <li key={c.number} value={c.number}>
            <button type="button" className="link" aria-haspopup="dialog" onClick={() => setOpen(c)}>{citationLabel(c)}</button>
            <p className="plain muted snippet">{c.snippet}</p>
          </li>
        ))}
      </ol>
      {open && <PassageDialog citation={open} onClose={() => setOpen(null)} />}
    </section>
  );
}
