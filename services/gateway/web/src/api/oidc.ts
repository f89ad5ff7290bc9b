/** Sign-in through the configured external identity provider (OpenID Connect): whether the
 * gateway offers it, where the browser goes to start it, and why one that came back failed. The
 * gateway sends only a short reason (`?oidc_error=`), never text the provider wrote; the messages
 * are ours. */

export interface ExternalSignIn {
  name: string;
  login_url: string;
}

export async function externalSignIn(): Promise<ExternalSignIn | null> {
  try {
    const response = await fetch("/api/v1/auth/config", { credentials: "same-origin" });
    if (!response.ok) return null;
    return ((await response.json()) as { oidc: ExternalSignIn | null }).oidc;
  } catch {
    return null; // offline: the password form still shows
  }
}

/** Where the button sends the browser: the gateway, which sends it on to the provider and brings
 * it back to `path` (a path of this app; the gateway refuses any other). */
export function signInHref(option: ExternalSignIn, path: string): string {
  return `${option.login_url}?${new URLSearchParams({ return_to: path })}`;
}

export const SIGN_IN_ERRORS: Record<string, string> = {
  denied: "The sign-in was cancelled or refused at your identity provider.",
  provider: "Your identity provider could not complete the sign-in. Try again, or ask your administrator.",
  state: "That sign-in is not valid in this browser (it was used already, or started elsewhere). Start again here.",
  expired: "The sign-in took too long. Try again.",
  issuer: "The answer did not come from the configured identity provider, so the sign-in was stopped.",
  token: "Your identity provider did not accept this sign-in (it may have been used already). Try again.",
  id_token: "Your identity provider's answer could not be verified. Try again, or ask your administrator.",
  nonce: "Your identity provider's answer did not belong to this sign-in. Try again.",
  unavailable: "Your identity provider cannot be reached right now. Try again in a moment.",
  account_disabled: "Your account here is disabled. Ask your administrator.",
  account_exists: "An account with your e-mail address already exists here: sign in with its password.",
  no_email: "Your identity provider did not share your e-mail address, which this app needs. Ask your administrator.",
  email_unverified: "Your identity provider has not verified your e-mail address. Verify it there, then try again.",
  domain: "Accounts with your e-mail address's domain cannot be created here. Ask your administrator.",
  registration_closed: "Sign-up is closed here. Ask your organisation's administrator for an invitation.",
  busy: "Too many sign-in attempts from your network. Wait a minute and try again.",
};
const UNKNOWN = "The sign-in did not complete. Try again.";

let taken: string | undefined;

/** The message for the reason the gateway sent this page back with, read once and removed from
 * the address bar (a reload does not show it again, a bookmark does not keep it). */
export function takeSignInError(): string {
  if (taken === undefined) {
    const url = new URL(window.location.href);
    const reason = url.searchParams.get("oidc_error");
    taken = reason === null ? "" : (SIGN_IN_ERRORS[reason] ?? UNKNOWN);
    if (reason !== null) {
      url.searchParams.delete("oidc_error");
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
  }
  return taken;
}
