import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { forgetAllInFlight } from "./api/inflight";
import { onSessionChange, refresh } from "./api/session";
import { AuthScreen } from "./components/AuthScreen";
import { Workspace } from "./components/Workspace";

/** Signed in or not; a reload asks the refresh cookie for a new access token before deciding. */
export default function App() {
  const [state, setState] = useState<"checking" | "in" | "out">("checking");
  const queries = useQueryClient();
  useEffect(() => {
    let live = true;
    void refresh().then((ok) => live && setState(ok ? "in" : "out"));
    const stop = onSessionChange((signedIn) => {
      if (!signedIn) {
        queries.clear();
        forgetAllInFlight();
      }
      setState(signedIn ? "in" : "out");
    });
    return () => {
      live = false;
      stop();
    };
  }, [queries]);
  const signedIn = useCallback(() => setState("in"), []);
  if (state === "checking") return <p className="splash" role="status">Loading…</p>;
  return state === "in" ? <Workspace /> : <AuthScreen onSignedIn={signedIn} />;
}
