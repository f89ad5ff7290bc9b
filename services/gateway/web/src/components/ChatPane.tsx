import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { Answer } from "../api/chat";
import { apiJson } from "../api/session";
import type { Citation, Message, Page } from "../api/types";
import { siblingsOf } from "../branches";
import { RichText } from "./markdownSlot";
import { BranchSwitcher, exportConversation, FeedbackButtons } from "./MessageTools";
import { VirtualList, VIRTUALISE_FROM } from "./VirtualList";
import { citationLabel, PassageDialog } from "./Passage";
import { ApprovalCard, ToolSteps } from "./ToolSteps";
import { STOPPED, useChat } from "./useChat";

interface Props {
  conversationId: string | null;
  model: string;
  onStarted: (id: string) => void;
  onDeleted: () => void;
}

// The API's largest page of messages.
const PAGE = 100;

/** Every message of the branch (oldest first), whatever its length: the first page says how many
 * there are and the rest are asked for together. */
async function allMessages(conversationId: string, branch: "current" | "all"): Promise<{ messages: Message[] }> {
  const page = (offset: number) => apiJson<{ messages: Message[]; pagination: Page }>(
    `/api/v1/conversations/${conversationId}/messages?limit=${PAGE}&offset=${offset}&branch=${branch}`);
  const first = await page(0);
  const offsets = [];
  for (let offset = PAGE; offset < first.pagination.total; offset += PAGE) offsets.push(offset);
  const rest = await Promise.all(offsets.map(page));
  return { messages: [first, ...rest].flatMap((p) => p.messages) };
}

export function ChatPane({ conversationId, model, onStarted, onDeleted }: Props) {
  const history = useQuery({
    queryKey: ["messages", conversationId],
    queryFn: () => allMessages(conversationId!, "current"),
    enabled: conversationId !== null,
  });
  // Every branch, for the ‹ 1/2 › switchers (siblings share a parent_id).
  const branches = useQuery({
    queryKey: ["messages", conversationId, "all"],
    queryFn: () => allMessages(conversationId!, "all"),
    enabled: conversationId !== null,
  });
  const queries = useQueryClient();
  const switchBranch = useMutation({
    mutationFn: (id: string) => apiJson(`/api/v1/conversations/${conversationId}`, { method: "PATCH",
      body: JSON.stringify({ current_message_id: id }) }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["messages", conversationId] }),
  });
  const [editing, setEditing] = useState<string | null>(null);
  const [exportFailed, setExportFailed] = useState(false);
  const [tools, setTools] = useState(false);
  const { live, streaming, send, stop, settle, decide } = useChat(conversationId, model, onStarted, tools);
  const [draft, setDraft] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const end = useRef<HTMLDivElement>(null);
  const log = useRef<HTMLDivElement>(null);

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

  const stored = history.data?.messages ?? [];
  // An edit or a regeneration under way replaces the branch from its question on.
  const cut = live?.cutAt ? stored.findIndex((m) => m.id === live.cutAt) : -1;
  const shown = (cut === -1 ? stored : stored.slice(0, cut)).filter((m) => m.role !== "system" &&
    m.id !== live?.answer.userMessageId && m.id !== live?.answer.messageId);
  // A resumed answer's question is the stored one (this tab may not have typed it).
  const liveQuestion = live ? live.question || stored.find((m) => m.id === live.answer.userMessageId)?.content || "" : "";
  const all = branches.data?.messages ?? [];
  const busy = streaming || switchBranch.isPending;

  const edit = (m: Message, text: string) => {
    setEditing(null);
    if (!text.trim() || busy) return;
    settle();
    void send(text, { edit_message_id: m.id, cutAt: m.id });
  };
  const regenerate = (answer: Message) => {
    const at = shown.indexOf(answer);
    const question = shown.slice(0, at).reverse().find((m) => m.role === "user");
    if (!question || busy) return;
    settle();
    void send(question.content, { regenerate_message_id: answer.id, cutAt: question.id });
  };

  const renderMessage = (m: Message) => (
    <article key={m.id} className={"message " + m.role} aria-label={m.role === "user" ? "You" : "Assistant"}>
      {m.role === "user" && editing === m.id
        ? <EditForm text={m.content} onSend={(text) => edit(m, text)} onCancel={() => setEditing(null)} />
        : m.role === "user" ? <p className="plain content">{m.content}</p> : <div className="content"><RichText text={m.content} /></div>}
      {m.steps && <ToolSteps steps={m.steps} />}
      {m.finish_reason === STOPPED && <p className="muted">Stopped.</p>}
      {m.pending_approval && (
        <ApprovalCard approval={m.pending_approval} disabled={busy} onDecide={(d, args) => decide(m.pending_approval!.run_id, d, args)} />
      )}
      {m.citations.length > 0 && <Citations items={m.citations} />}
      {editing !== m.id && (
        <div className="message-tools">
          {(() => {
            const siblings = siblingsOf(all, m);
            return siblings && <BranchSwitcher siblings={siblings} what={m.role === "user" ? "question" : "answer"}
              disabled={busy} onSwitch={(id) => switchBranch.mutate(id)} />;
          })()}
          {m.role === "user"
            ? <button type="button" className="link" disabled={busy} onClick={() => setEditing(m.id)}>Edit</button>
            : <>
              <button type="button" className="link" disabled={busy} onClick={() => regenerate(m)}>Regenerate</button>
              <FeedbackButtons message={m} />
            </>}
        </div>
      )}
    </article>);

  return (
    <main className="chat">
      {conversationId && (
        <div className="chat-tools">
          {exportFailed && <span role="alert" className="form-error small">The export failed.</span>}
          <button type="button" onClick={() => { setExportFailed(false); exportConversation(conversationId).catch(() => setExportFailed(true)); }}>
            Export as Markdown
          </button>
        </div>
      )}
      <div className="messages" ref={log} role="log" aria-live="polite" aria-relevant="additions text" aria-label="Messages">
        {conversationId === null && !live && <p className="empty">Ask anything to start a conversation.</p>}
        {history.isError && (history.error as { status?: number }).status !== 404 && (
          <p role="alert" className="banner error">Messages could not be loaded.</p>
        )}
        {shown.length >= VIRTUALISE_FROM
          ? <VirtualList items={shown} scroller={log} render={renderMessage} />
          : shown.map(renderMessage)}
        {live && (
          <>
            {/* A resumed answer's question is in the history until its start event names it. */}
            {!(live.resumed && !live.answer.userMessageId) && liveQuestion && (
              <article className="message user" aria-label="You"><p className="plain content">{liveQuestion}</p></article>
            )}
            <LiveAnswer answer={live.answer} onRetry={() => submit(liveQuestion)}
              onDecide={(d, args) => decide(live.answer.approval!.run_id, d, args)} />
          </>
        )}
        <div ref={end} />
      </div>
      <form className="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <label className="visually-hidden" htmlFor="composer-input">Message</label>
        <textarea id="composer-input" ref={input} value={draft} rows={2} autoFocus
          placeholder="Message (Enter sends, Shift+Enter adds a line)"
          onChange={(e) => setDraft(e.target.value)} onKeyDown={onKeyDown} />
        <label className="tools-toggle" title="Let the assistant use tools (search, calculator, and more) in its answers">
          <input type="checkbox" checked={tools} onChange={(e) => setTools(e.target.checked)} /> Tools
        </label>
        {streaming
          ? <button type="button" className="stop" onClick={stop} aria-keyshortcuts="Escape">Stop</button>
          : <button type="submit" className="primary" disabled={!draft.trim()}>Send</button>}
      </form>
    </main>
  );
}

/** An earlier question edited in place: sending starts a new branch, the old one stays reachable. */
function EditForm({ text, onSend, onCancel }: { text: string; onSend: (text: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(text);
  return (
    <form className="edit" onSubmit={(e) => { e.preventDefault(); onSend(value); }}>
      <label className="visually-hidden" htmlFor="edit-input">Edit your message</label>
      <textarea id="edit-input" value={value} autoFocus rows={3} onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") { e.stopPropagation(); onCancel(); }
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) { e.preventDefault(); onSend(value); }
        }} />
      <div className="edit-actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="submit" className="primary" disabled={!value.trim()}>Send</button>
      </div>
    </form>
  );
}

function LiveAnswer({ answer, onRetry, onDecide }: { answer: Answer; onRetry: () => void;
  onDecide: (decision: "approve" | "deny" | "edit", args?: Record<string, unknown>) => Promise<void> }) {
  return (
    <article className="message assistant" aria-label="Assistant" aria-busy={answer.status === "waiting" || answer.status === "streaming"}>
      {answer.status === "waiting" && (
        <p className="typing" role="status"><span /><span /><span /><span className="visually-hidden">Assistant is typing</span></p>
      )}
      {answer.steps && <ToolSteps steps={answer.steps} />}
      {answer.text && <div className="answer-text content"><RichText text={answer.text} /></div>}
      {answer.status === "stopped" && <p className="muted">Stopped.</p>}
      {answer.approval && answer.status === "done" && answer.finishReason === "awaiting_approval" && (
        <ApprovalCard approval={answer.approval} disabled={false} onDecide={onDecide} />
      )}
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
