/** Invitations: the link `/#/invite/<token>` (in the fragment, so no server or Referer ever sees
 * the token), what it offers, and accepting it (the account is created and signed in). */

import { errorFromResponse } from "./errors";
import { signInThrough } from "./session";
import type { Role } from "./admin";

const LINK = /^#\/invite\/(cbi_[A-Za-z0-9_-]{43})$/;

export interface InvitationPreview {
  email: string;
  role: Role;
  organization: string;
  expires_at: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  state: "pending" | "accepted" | "revoked" | "expired";
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  revoked_at: string | null;
}

/** The invitation token in this page's address, if it is an invitation link. */
export function invitationToken(hash = window.location.hash): string | null {
  return LINK.exec(hash)?.[1] ?? null;
}

/** Takes the token out of the address (and the history), once it is no longer needed there. */
export function leaveInvitation(): void {
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
}

export async function inspectInvitation(token: string): Promise<InvitationPreview> {
  const response = await fetch("/api/v1/auth/invitations/inspect", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
  });
  if (!response.ok) throw await errorFromResponse(response);
  return (await response.json()) as InvitationPreview;
}

export function acceptInvitation(token: string, name: string, password: string): Promise<void> {
  return signInThrough("/api/v1/auth/invitations/accept", { token, name, password });
}

