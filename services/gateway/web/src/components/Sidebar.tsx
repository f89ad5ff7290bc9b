import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { apiJson } from "../api/session";
import type { Conversation, Page } from "../api/types";
import { groupByDate } from "../dates";

export function useConversations() {
  return useQuery({
    queryKey: ["conversations"],
    queryFn: () => apiJson<{ conversations: Conversation[]; pagination: Page }>("/api/v1/conversations?limit=100&sort=updated&order=desc"),
  });
}

export function titleOf(c: Pick<Conversation, "title">): string {
  return c.title.trim() || "New chat";
}

export function Sidebar({ current, onOpen }: { current: string | null; onOpen: (id: string | null) => void }) {
  const [query, setQuery] = useState("");
  const list = useConversations();
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: string) => apiJson<void>(`/api/v1/conversations/${id}`, { method: "DELETE" }),
    onSuccess: (_, id) => {
      void queries.invalidateQueries({ queryKey: ["conversations"] });
      if (id === current) onOpen(null);
    },
  });
  const groups = useMemo(() => {
    const needle = query.trim().toLowerCase();
    const all = list.data?.conversations ?? [];
    return groupByDate(needle ? all.filter((c) => titleOf(c).toLowerCase().includes(needle)) : all);
  }, [list.data, query]);

  return (
    <nav id="sidebar" className="sidebar" aria-label="Conversations">
      <button type="button" className="primary new-chat" onClick={() => onOpen(null)}>New chat</button>
      <label className="search">
        <span className="visually-hidden">Search conversations</span>
        <input type="search" placeholder="Search" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      {list.isError && <p role="alert" className="form-error">Conversations could not be loaded.</p>}
      {groups.map(([group, items]) => (
        <section key={group} aria-label={group}>
          <h2>{group}</h2>
          <ul>
            {items.map((c) => (
              <li key={c.id} className={c.id === current ? "current" : ""}>
                <a href={`/c/${c.id}`} aria-current={c.id === current ? "page" : undefined}
                  onClick={(e) => { e.preventDefault(); onOpen(c.id); }}>{titleOf(c)}</a>
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
