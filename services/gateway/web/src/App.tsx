import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { forgetAllInFlight } from "./api/inflight";
import { invitationToken } from "./api/invitations";
import { onSessionChange, refresh } from "./api/session";
import { AcceptInvitation } from "./components/AcceptInvitation";
import { AuthScreen } from "./components/AuthScreen";
import { Workspace } from "./components/Workspace";

/** Signed in or not; a reload asks the refresh cookie for a new access token before deciding.
 * An invitation link (`/#/invite/<token>`) opens the screen that accepts it, signed in or not. */
export default function App() {
  const [state, setState] = useState<"checking" | "in" | "out">("checking");
  const [invitation, setInvitation] = useState(() => invitationToken());
  const queries = useQueryClient();
  useEffect(() => {
    const onHash = () => setInvitation(invitationToken());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
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
  const joined = useCallback(() => {
    // Whoever was signed in here before, the new account's data starts afresh.
    queries.clear();
    forgetAllInFlight();
    setInvitation(null);
    setState("in");
  }, [queries]);
  if (invitation) return <AcceptInvitation token={invitation} onSignedIn={joined} onLeave={() => setInvitation(null)} />;
  if (state === "checking") return <p className="splash" role="status">Loading…</p>;
  return state === "in" ? <Workspace /> : <AuthScreen onSignedIn={signedIn} />;
}
