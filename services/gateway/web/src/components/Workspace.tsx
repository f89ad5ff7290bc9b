import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { apiJson, signOut } from "../api/session";
import type { Me } from "../api/types";
import { useConversationRoute } from "../route";
import { applyTheme, storedTheme, type Theme } from "../theme";
import { ChatPane } from "./ChatPane";
import { ModelPicker } from "./ModelPicker";
import { Sidebar } from "./Sidebar";

export function Workspace() {
  const [conversationId, go] = useConversationRoute();
  const [model, setModel] = useState("");
  const [menuOpen, setMenuOpen] = useState(false);
  const [theme, setTheme] = useState<Theme>(storedTheme);
  // A new chat gets a fresh pane (and its own stream state) even when no id changes.
  const [chatKey, setChatKey] = useState(0);
  const me = useQuery({ queryKey: ["me"], queryFn: () => apiJson<Me>("/api/v1/me") });

  const open = (id: string | null) => {
    go(id);
    setChatKey((k) => k + 1);
    setMenuOpen(false);
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey)) return;
      if (e.shiftKey && e.key.toLowerCase() === "o") {
        e.preventDefault();
        open(null);
      } else if (!e.shiftKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setMenuOpen(true);
        document.getElementById("conversation-search")?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  return (
    <div className={"workspace" + (menuOpen ? " menu-open" : "")}>
      <header className="topbar">
        <button type="button" className="icon menu-button" aria-label="Conversations" aria-expanded={menuOpen}
          aria-controls="sidebar" onClick={() => setMenuOpen(!menuOpen)}>☰</button>
        <ModelPicker value={model} onChange={setModel} />
        <div className="spacer" />
        <label className="theme">
          <span className="visually-hidden">Theme</span>
          <select value={theme} onChange={(e) => { const t = e.target.value as Theme; setTheme(t); applyTheme(t); }}>
            <option value="system">System</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <span className="who" title={me.data?.email}>{me.data?.email}</span>
        <button type="button" onClick={() => void signOut()}>Sign out</button>
      </header>
      <Sidebar current={conversationId} onOpen={open} />
      <ChatPane key={chatKey} conversationId={conversationId} model={model}
        onStarted={(id) => go(id, true)} onDeleted={() => open(null)} />
    </div>
  );
}
