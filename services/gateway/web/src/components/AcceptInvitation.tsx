import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../api/errors";
import { acceptInvitation, inspectInvitation, leaveInvitation, type InvitationPreview } from "../api/invitations";

/** The screen an invitation link opens: who invited the address, into which organisation and
 * with which role; the person gives a name and a password and is signed in. */
export function AcceptInvitation({ token, onSignedIn, onLeave }: { token: string; onSignedIn: () => void; onLeave: () => void }) {
  const [preview, setPreview] = useState<InvitationPreview | null>(null);
  const [refusal, setRefusal] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    inspectInvitation(token).then(
      (found) => live && setPreview(found),
      (err) => live && setRefusal(err instanceof ApiError ? err.message : "The invitation could not be read. Try again."),
    );
    return () => {
      live = false;
    };
  }, [token]);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError("");
    try {
      await acceptInvitation(token, String(form.get("name")), String(form.get("password")));
      leaveInvitation();
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
    } finally {
      setBusy(false);
    }
  };
  const leave = () => {
    leaveInvitation();
    onLeave();
  };

  return (
    <main className="auth">
      {refusal ? (
        <div className="auth-card">
          <h1>Invitation</h1>
          <p role="alert" className="form-error">{refusal}</p>
          <button type="button" className="primary" onClick={leave}>Go to sign-in</button>
        </div>
      ) : !preview ? (
        <p className="splash" role="status">Loading…</p>
      ) : (
        <form className="auth-card" onSubmit={submit} aria-labelledby="invite-title">
          <h1 id="invite-title">Join {preview.organization}</h1>
          <p>
            You are invited as <strong>{preview.email}</strong>, with the role <strong>{preview.role}</strong>. The link works
            until {new Date(preview.expires_at).toLocaleString()}.
          </p>
          <label>
            Your name
            <input name="name" autoComplete="name" required maxLength={200} />
          </label>
          <label>
            Choose a password
            <input name="password" type="password" minLength={8} required autoComplete="new-password" />
          </label>
          {error && <p className="form-error" role="alert">{error}</p>}
          <button type="submit" className="primary" disabled={busy}>Join {preview.organization}</button>
          <p className="switch">
            <button type="button" className="link" onClick={leave}>Not you? Go to sign-in</button>
          </p>
        </form>
      )}
    </main>
  );
}
