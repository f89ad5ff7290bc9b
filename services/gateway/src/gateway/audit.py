"""The append-only audit log: who did what to which object, from where, with what outcome.

Entries name people by id only (never an e-mail, a password or a key); a failed login for an
unknown address keeps a short hash of it, enough to see repeated attempts."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from gateway.models import AuditEvent

log = logging.getLogger(__name__)


def subject_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def event(
    *, tenant_id: str, actor_id: str, actor_kind: str, action: str, target_type: str = "", target_id: str = "",
    outcome: str = "success", request: Request | None = None, details: dict[str, Any] | None = None,
) -> AuditEvent:
    client_ip = request.client.host if request is not None and request.client else ""
    request_id = getattr(request.state, "request_id", "") if request is not None else ""
    return AuditEvent(
        created_at=utcnow(), tenant_id=tenant_id, actor_id=actor_id, actor_kind=actor_kind, action=action,
        target_type=target_type, target_id=target_id, outcome=outcome, client_ip=client_ip[:64], request_id=request_id[:64],
        details=details or {},
    )


def by(principal, action: str, request: Request | None = None, **kwargs) -> AuditEvent:
    """An event whose actor is the authenticated caller (a user, or the key acting for one)."""
    details = dict(kwargs.pop("details", None) or {})
    if principal.key_id:
        details.setdefault("on_behalf_of", principal.user_id)
    return event(
        tenant_id=principal.tenant_id, actor_id=principal.key_id or principal.user_id,
        actor_kind="api_key" if principal.key_id else "user", action=action, request=request, details=details, **kwargs,
    )


def add(session: AsyncSession, entry: AuditEvent) -> None:
    """Adds the entry to the caller's transaction: it lands with the change it records, or not at all."""
    session.add(entry)


async def write(sessions: async_sessionmaker, entry: AuditEvent) -> None:
    """Records an event on its own (a refusal, where there is no change to commit with it)."""
    try:
        async with sessions() as session:
            session.add(entry)
            await session.commit()
    except Exception:  # noqa: BLE001 - an audit write failing must not turn a 401 into a 500
        log.exception("audit write failed", extra={"action": entry.action})
