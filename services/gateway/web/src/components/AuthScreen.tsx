import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../api/errors";
import { externalSignIn, signInHref, takeSignInError, type ExternalSignIn } from "../api/oidc";
import { signIn, signUp } from "../api/session";

export function AuthScreen({ onSignedIn }: { onSignedIn: () => void }) {
  const [mode, setMode] = useState<"in" | "up">("in");
  const [error, setError] = useState(takeSignInError);
  const [busy, setBusy] = useState(false);
  const [external, setExternal] = useState<ExternalSignIn | null>(null);
  useEffect(() => {
    let live = true;
    void externalSignIn().then((option) => live && setExternal(option));
    return () => {
      live = false;
    };
  }, []);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const email = String(form.get("email"));
    const password = String(form.get("password"));
    setBusy(true);
    setError("");
    try {
      await (mode === "in" ? signIn(email, password) : signUp(email, password));
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong. Try again.");
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth">
      <form className="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <h1 id="auth-title">{mode === "in" ? "Sign in" : "Create an account"}</h1>
        {external && (
          <>
            <a className="button external-sign-in" href={signInHref(external, window.location.pathname + window.location.search)}>
              Sign in with {external.name}
            </a>
            <p className="divider" aria-hidden="true">or</p>
          </>
        )}
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Password
          <input name="password" type="password" minLength={mode === "up" ? 8 : 1} required
            autoComplete={mode === "in" ? "current-password" : "new-password"} />
        </label>
        {error && <p className="form-error" role="alert">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>
          {mode === "in" ? "Sign in" : "Create account"}
        </button>
        <p className="switch">
          {mode === "in" ? "No account yet?" : "Already have an account?"}{" "}
          <button type="button" className="link" onClick={() => { setMode(mode === "in" ? "up" : "in"); setError(""); }}>
            {mode === "in" ? "Create one" : "Sign in"}
          </button>
        </p>
      </form>
    </main>
  );
}
