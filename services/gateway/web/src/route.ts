/** The one client route: `/c/<conversation id>` (the gateway answers any such path with the app). */
import { useEffect, useState } from "react";

const PREFIX = "/c/";

function current(): string | null {
  const path = window.location.pathname;
  return path.startsWith(PREFIX) ? decodeURIComponent(path.slice(PREFIX.length)) || null : null;
}

export function useConversationRoute(): [string | null, (id: string | null, replace?: boolean) => void] {
  const [id, setId] = useState(current);
  useEffect(() => {
    const onPop = () => setId(current());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const go = (next: string | null, replace = false) => {
    const url = next ? PREFIX + encodeURIComponent(next) : "/";
    if (url !== window.location.pathname) window.history[replace ? "replaceState" : "pushState"](null, "", url);
    setId(next);
  };
  return [id, go];
}
