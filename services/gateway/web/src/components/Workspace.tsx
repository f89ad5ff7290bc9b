import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { apiJson, signOut } from "../api/session";
import type { Me } from "../api/types";
import { useRoute, type View } from "../route";
import { applyTheme, storedTheme, type Theme } from "../theme";
import { AdminPage } from "./Admin";
import { ChatPane } from "./ChatPane";
import { DocumentsPage } from "./Documents";
import { ModelPicker } from "./ModelPicker";
import { Sidebar } from "./Sidebar";

export function Workspace() {
  const [route, go] = useRoute();
  const conversationId = route.conversationId;
  const [model, setModel] = useState("");
  const [menuOpen, setMenuOpen] = useState(false);
  const [theme, setTheme] = useState<Theme>(storedTheme);
  // A new chat gets a fresh pane (and its own stream state) even when no id changes.
  const [chatKey, setChatKey] = useState(0);
  const me = useQuery({ queryKey: ["me"], queryFn: () => apiJson<Me>("/api/v1/me") });

  const open = (id: string | null) => {
    go({ view: "chat", conversationId: id });
    setChatKey((k) => k + 1);
    setMenuOpen(false);
  };

  const show = (view: View) => (view === "chat" ? open(conversationId) : go({ view, conversationId: null }));
  const sections: [View, string][] = [["chat", "Chat"], ["documents", "Documents"],
    ...(me.data?.permissions.includes("admin") ? [["admin", "Admin"] as [View, string]] : [])];

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
        <nav aria-label="Sections" className="sections">
          {sections.map(([view, label]) => (
            <a key={view} href={view === "chat" ? "/" : `/${view}`} aria-current={route.view === view ? "page" : undefined}
              onClick={(e) => { e.preventDefault(); show(view); }}>{label}</a>
          ))}
        </nav>
        {route.view === "chat" && <ModelPicker value={model} onChange={setModel} />}
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
      {route.view === "documents" ? <DocumentsPage me={me.data} /> : route.view === "admin" ? <AdminPage me={me.data} /> : (
        <ChatPane key={chatKey} conversationId={conversationId} model={model}
          onStarted={(id) => go({ view: "chat", conversationId: id }, true)} onDeleted={() => open(null)} />
      )}
    </div>
  );
}
