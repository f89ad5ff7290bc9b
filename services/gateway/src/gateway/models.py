"""Tables owned by the gateway: tenants, accounts, refresh-token sessions, API keys, invitations
and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chatbot_common.db import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    """An organisation. Its policy and budgets apply to every user and key in it."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Prompt-injection policy: block | flag | allow.
    injection_policy: Mapped[str] = mapped_column(String(8), default="block")
    # Token budgets for the whole tenant (0 = the configured default; -1 = unlimited).
    tokens_per_minute: Mapped[int] = mapped_column(BigInteger, default=0)
    daily_token_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    monthly_token_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    # False: the llm-orchestrator's semantic cache neither answers nor keeps this tenant's requests.
    semantic_cache: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[str] = mapped_column(String(64), default="default")
    role: Mapped[str] = mapped_column(String(16), default="member")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every access token carries the epoch it was issued in; raising it ends every session.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The name the person gave (an invitation asks for it); may be empty.
    name: Mapped[str] = mapped_column(String(200), default="")
    # "<issuer>|<sub>" for an account created by an external OpenID Connect sign-in.
    external_subject: Mapped[str | None] = mapped_column(String(400), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_users_tenant", "tenant_id"),)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[str] = mapped_column(String(64))
    # When the family's first token was issued (its sign-in): the session ends a fixed time after.
    family_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"), Index("ix_refresh_tokens_user", "user_id"))


class ApiKey(Base):
    """A partner system's key: `cbk_<id>_<secret>`. Only the secret's SHA-256 is kept (the
    secret has 256 random bits, so a slow hash adds nothing)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(40), ForeignKey("users.id", ondelete="CASCADE"))  # acts as this user
    created_by: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_api_keys_tenant", "tenant_id"), Index("ix_api_keys_user", "user_id"))


class Invitation(Base):
    """An admin's invitation of an e-mail address into the tenant with a role. The link carries a
    256-bit random token; only its SHA-256 is kept. Used once (accepted), or revoked, or expired."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the account it created
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_invitations_tenant", "tenant_id", "created_at"), Index("ix_invitations_email", "email"))


class AuditEvent(Base):
    """Append-only (the database refuses UPDATE and DELETE on it; see migration 0002)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str] = mapped_column(String(40))  # a user id, an API key id, or "" (anonymous)
    actor_kind: Mapped[str] = mapped_column(String(16))  # user | api_key | system | anonymous
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(80), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="success")  # success | failure | blocked | flagged
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_tenant_time", "tenant_id", "created_at"), Index("ix_audit_action", "tenant_id", "action"))


class OidcSignIn(Base):
    """A browser sign-in under way at the external issuer: kept until its callback comes back
    (once) or it expires. Looked up by the SHA-256 of its `state`; `binding` is the SHA-256 of
    the value in the starting browser's cookie, so the callback counts only in that browser."""

    __tablename__ = "oidc_sign_ins"

    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    binding_sha256: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_oidc_sign_ins_expires", "expires_at"),)
