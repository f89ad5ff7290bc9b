/** The client routes: `/c/<conversation id>`, `/documents` and `/admin` (the gateway answers
 * any such path with the app). */
import { useEffect, useState } from "react";

const PREFIX = "/c/";

export type View = "chat" | "documents" | "admin";

export interface Route {
  view: View;
  conversationId: string | null;
}

function current(): Route {
  const path = window.location.pathname;
  if (path === "/documents") return { view: "documents", conversationId: null };
  if (path === "/admin") return { view: "admin", conversationId: null };
  const id = path.startsWith(PREFIX) ? decodeURIComponent(path.slice(PREFIX.length)) || null : null;
  return { view: "chat", conversationId: id };
}

function urlOf(route: Route): string {
  if (route.view !== "chat") return "/" + route.view;
  return route.conversationId ? PREFIX + encodeURIComponent(route.conversationId) : "/";
}

export function useRoute(): [Route, (route: Route, replace?: boolean) => void] {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const onPop = () => setRoute(current());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const go = (next: Route, replace = false) => {
    const url = urlOf(next);
    if (url !== window.location.pathname) window.history[replace ? "replaceState" : "pushState"](null, "", url);
    setRoute(next);
  };
  return [route, go];
}
