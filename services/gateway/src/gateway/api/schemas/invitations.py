"""Invitations: the admin's side (invite, list, revoke) and the invitee's (look at it, accept)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from chatbot_common.db import utcnow
from gateway.api.schemas.common import Pagination
from gateway.identity.invitations import TOKEN_PATTERN, state_of
from gateway.identity.roles import Role
from gateway.models import Invitation

InvitationState = Literal["pending", "accepted", "revoked", "expired"]


class NewInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: Role = "member"
    expires_in_days: int | None = Field(None, ge=1, le=90, description="how long the link works (default: GATEWAY_INVITATION_TTL_DAYS, 7)")

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    def expiry(self, default_days: float) -> datetime:
        return utcnow() + timedelta(days=self.expires_in_days if self.expires_in_days is not None else default_days)


class InvitationOut(BaseModel):
    id: str
    email: str
    role: str
    state: InvitationState
    created_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    user_id: str | None = Field(description="the account the invitation created, once accepted")
    revoked_at: datetime | None


class CreatedInvitation(InvitationOut):
    url: str = Field(description="the link to send the person; it holds the token, shown this once (only its hash is kept)")
    token: str


class InvitationList(BaseModel):
    invitations: list[InvitationOut]
    pagination: Pagination


class InvitationToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=TOKEN_PATTERN, description="the token from the invitation's link")


class InvitationAcceptance(InvitationToken):
    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description="your name, as your colleagues will see it")
    password: str = Field(min_length=1, max_length=256)

    @field_validator("name")
    @classmethod
    def _tidy(cls, value: str) -> str:
        return " ".join(value.split())


class InvitationPreview(BaseModel):
    email: str
    role: str
    organization: str
    expires_at: datetime


def _fields(invitation: Invitation) -> dict:
    return dict(id=invitation.id, email=invitation.email, role=invitation.role, state=state_of(invitation),
                created_by=invitation.created_by, created_at=invitation.created_at, expires_at=invitation.expires_at,
                accepted_at=invitation.accepted_at, user_id=invitation.user_id, revoked_at=invitation.revoked_at)


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(**_fields(invitation))


def created_invitation(invitation: Invitation, token: str, base_url: str) -> CreatedInvitation:
    # In the fragment: a browser never sends it to a server, nor in a Referer.
    return CreatedInvitation(url=f"{base_url.rstrip('/')}/#/invite/{token}", token=token, **_fields(invitation))
