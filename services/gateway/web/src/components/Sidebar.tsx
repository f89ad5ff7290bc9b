import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { apiJson } from "../api/session";
import type { Conversation, Page } from "../api/types";
import { groupByDate } from "../dates";

/** The newest conversations, or those whose title or messages hold `q` (searched by the server). */
export function useConversations(q = "") {
  return useQuery({
    queryKey: ["conversations", q],
    queryFn: () => apiJson<{ conversations: Conversation[]; pagination: Page }>(
      "/api/v1/conversations?" + new URLSearchParams({ limit: "100", sort: "updated", order: "desc", q })),
    placeholderData: keepPreviousData,
  });
}

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export function titleOf(c: Pick<Conversation, "title">): string {
  return c.title.trim() || "New chat";
}

export function Sidebar({ current, onOpen }: { current: string | null; onOpen: (id: string | null) => void }) {
  const [query, setQuery] = useState("");
  const searched = useDebounced(query.trim(), 250);
  const list = useConversations(searched);
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: string) => apiJson<void>(`/api/v1/conversations/${id}`, { method: "DELETE" }),
    onSuccess: (_, id) => {
      void queries.invalidateQueries({ queryKey: ["conversations"] });
      if (id === current) onOpen(null);
    },
  });
  const rename = useMutation({
    mutationFn: ({ id, title }: { id: string; title: string }) =>
      apiJson<Conversation>(`/api/v1/conversations/${id}`, { method: "PATCH", body: JSON.stringify({ title }) }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["conversations"] }),
  });
  const flag = useMutation({
    mutationFn: ({ id, change }: { id: string; change: { pinned?: boolean; archived?: boolean } }) =>
      apiJson<Conversation>(`/api/v1/conversations/${id}`, { method: "PATCH", body: JSON.stringify(change) }),
    onSuccess: (_, { id, change }) => {
      void queries.invalidateQueries({ queryKey: ["conversations"] });
      if (change.archived && id === current) onOpen(null);
    },
  });
  const [editing, setEditing] = useState<string | null>(null);
  // Pinned first (the server lists them first too), then the rest by date.
  const groups = useMemo(() => {
    const all = list.data?.conversations ?? [];
    const pinned = all.filter((c) => c.pinned);
    const dated = groupByDate(all.filter((c) => !c.pinned));
    return pinned.length ? [["Pinned", pinned] as [string, Conversation[]], ...dated] : dated;
  }, [list.data]);

  return (
    <nav id="sidebar" className="sidebar" aria-label="Conversations">
      <button type="button" className="primary new-chat" onClick={() => onOpen(null)} aria-keyshortcuts="Control+Shift+O"
        title="New chat (Ctrl+Shift+O)">New chat</button>
      <label className="search">
        <span className="visually-hidden">Search conversations</span>
        <input id="conversation-search" type="search" placeholder="Search (Ctrl+K)" aria-keyshortcuts="Control+K" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      {list.isError && <p role="alert" className="form-error">Conversations could not be loaded.</p>}
      {groups.map(([group, items]) => (
        <section key={group} aria-label={group}>
          <h2>{group}</h2>
          <ul>
            {items.map((c) => (
              <li key={c.id} className={c.id === current ? "current" : ""}>
                {editing === c.id ? (
                  <RenameField title={titleOf(c)} onDone={(title) => {
                    setEditing(null);
                    if (title && title !== titleOf(c)) rename.mutate({ id: c.id, title });
                  }} />
                ) : (
                  <a href={`/c/${c.id}`} aria-current={c.id === current ? "page" : undefined}
                    onClick={(e) => { e.preventDefault(); onOpen(c.id); }}>{titleOf(c)}</a>
                )}
                <button type="button" className="icon" aria-label={`${c.pinned ? "Unpin" : "Pin"} ${titleOf(c)}`} aria-pressed={!!c.pinned}
                  onClick={() => flag.mutate({ id: c.id, change: { pinned: !c.pinned } })}>{c.pinned ? "★" : "☆"}</button>
                <button type="button" className="icon" aria-label={`Archive ${titleOf(c)}`}
                  onClick={() => flag.mutate({ id: c.id, change: { archived: true } })}>⤓</button>
                <button type="button" className="icon" aria-label={`Rename ${titleOf(c)}`} onClick={() => setEditing(c.id)}>✎</button>
                <button type="button" className="icon" aria-label={`Delete ${titleOf(c)}`}
                  onClick={() => { if (window.confirm(`Delete “${titleOf(c)}”?`)) remove.mutate(c.id); }}>×</button>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {list.isSuccess && groups.length === 0 && <p className="muted">{query ? "No match." : "No conversations yet."}</p>}
    </nav>
  );
}

/** Enter saves, Escape or leaving the field without a change cancels. */
function RenameField({ title, onDone }: { title: string; onDone: (title: string | null) => void }) {
  const [value, setValue] = useState(title);
  return (
    <input className="rename" aria-label="New title" value={value} autoFocus maxLength={200}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => onDone(value.trim() || null)}
      onKeyDown={(e) => {
        if (e.key === "Enter") onDone(value.trim() || null);
        if (e.key === "Escape") { e.stopPropagation(); onDone(null); }
      }} />
  );
}
