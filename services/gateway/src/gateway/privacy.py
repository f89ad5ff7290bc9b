"""A user's data, whole: the export (one ZIP) and the erasure (every store, with a report).

Each service owns its part: the conversation service streams and deletes conversations and
messages; the rag service lists and deletes document records and their vectors (and forgets cached
query embeddings); the gateway holds the account, sessions, API keys, the uploaded files (blob
store), the limit counters and the audit log.

Erasure disables the account and ends its sessions first, so nothing new arrives while the rest
is removed; every step can run again, so an erasure interrupted half-way is finished by asking
again. The audit log is append-only and stays: its entries name the account by id, which no
longer leads to a person once the account is gone. The conversation service's usage ledger
stays too, its rows folded into the tenant's anonymous ones, so the organisation's usage totals
do not change when one of its users is erased."""

from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, or_, select

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as conv_pb
from chatbot.rag.v1 import rag_pb2
from gateway.api.routes.auth import end_sessions
from gateway.api.routes.conversations import conversation_out, message_out
from gateway.api.routes.documents import document_out
from gateway.models import ApiKey, AuditEvent, RefreshToken, Tenant, User


def _subject(user: User) -> common_pb2.Caller:
    return common_pb2.Caller(user_id=user.id, tenant_id=user.tenant_id, roles=[user.role])


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


async def export_user(app, user: User) -> Path:
    """Writes everything of the user into a ZIP file and returns its path (the caller removes it)."""
    downstream, settings = app.state.downstream, app.state.settings
    subject = _subject(user)
    conversations = []
    async for item in downstream.conversation.ExportUserData(conv_pb.UserDataRequest(caller=subject),
                                                             timeout=settings.chat_timeout_seconds):
        conversations.append({**conversation_out(item.conversation).model_dump(),
                              "messages": [message_out(m).model_dump() for m in item.messages]})
    documents = (await downstream.rag.ExportUserDocuments(rag_pb2.UserDocumentsRequest(caller=subject),
                                                          timeout=settings.call_timeout_seconds)).documents
    async with app.state.sessions() as session:
        tenant = await session.get(Tenant, user.tenant_id)
        keys = list(await session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)))
        events = list(await session.scalars(
            select(AuditEvent).where(or_(AuditEvent.actor_id == user.id, AuditEvent.target_id == user.id)).order_by(AuditEvent.id)
        ))
    usage = {
        "messages": sum(1 for c in conversations for m in c["messages"] if m["role"] == "assistant"),
        "tokens": {kind: sum(m["tokens_used"][kind] for c in conversations for m in c["messages"])
                   for kind in ("prompt", "completion", "total")},
        "limits": await app.state.limits.usage_of(user.id, user.tenant_id),
    }
    parts = {
        "profile.json": {"id": user.id, "email": user.email, "tenant_id": user.tenant_id, "tenant_name": tenant.name if tenant else "",
                         "role": user.role, "is_active": user.is_active, "created_at": _iso(user.created_at)},
        "conversations.json": conversations,
        "documents.json": [document_out(d, user.id).model_dump() for d in documents],
        "api_keys.json": [{"id": k.id, "name": k.name, "scopes": list(k.scopes), "expires_at": _iso(k.expires_at),
                           "revoked_at": _iso(k.revoked_at), "last_used_at": _iso(k.last_used_at), "created_at": _iso(k.created_at)}
                          for k in keys],
        "usage.json": usage,
        "activity.json": [{"at": _iso(e.created_at), "action": e.action, "outcome": e.outcome, "actor_id": e.actor_id,
                           "target_id": e.target_id, "client_ip": e.client_ip, "details": e.details} for e in events],
    }
    files = [(f"files/{d.id}/{Path(d.filename).name or 'document'}", d.blob_key) for d in documents if d.blob_key]
    return await asyncio.to_thread(_write_zip, parts, files, app.state.blobs)


def _write_zip(parts: dict, files: list[tuple[str, str]], blobs) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="export-", suffix=".zip", delete=False)  # noqa: SIM115 - returned
    path = Path(handle.name)
    try:
        with handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, value in parts.items():
                archive.writestr(name, json.dumps(value, indent=1, ensure_ascii=False, default=str))
            for name, key in files:
                if blobs.exists(key):
                    archive.writestr(name, blobs.get(key))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def erase_user(app, user_id: str) -> dict:
    """Removes the user from every store; returns what was removed where."""
    downstream, settings = app.state.downstream, app.state.settings
    async with app.state.sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            return {}
        subject = _subject(user)
        user.is_active = False
        await end_sessions(session, user_id)
        await session.commit()
    app.state.accounts.invalidate(user_id)
    docs = await downstream.rag.EraseUserDocuments(rag_pb2.UserDocumentsRequest(caller=subject), timeout=settings.chat_timeout_seconds)
    convs = await downstream.conversation.EraseUserData(conv_pb.UserDataRequest(caller=subject), timeout=settings.chat_timeout_seconds)
    blobs = sum(await asyncio.gather(*(asyncio.to_thread(app.state.blobs.delete, key) for key in docs.blob_keys)))
    limit_keys = await app.state.limits.forget_user(user_id)
    async with app.state.sessions() as session, session.begin():
        sessions = (await session.execute(delete(RefreshToken).where(RefreshToken.user_id == user_id))).rowcount
        keys = (await session.execute(delete(ApiKey).where(ApiKey.user_id == user_id))).rowcount
        users = (await session.execute(delete(User).where(User.id == user_id))).rowcount
    app.state.accounts.invalidate(user_id)
    app.state.issuer.forget_user(user_id)
    return {
        "gateway": {"users": users, "sessions": sessions, "api_keys": keys, "rate_limit_keys": limit_keys,
                    "caches": ["account state", "verified tokens"]},
        "conversation": {"conversations": convs.conversations, "messages": convs.messages},
        # Usage stays for the organisation's totals, with the user's name taken off it.
        "usage_ledger": {"records_anonymised": convs.usage_records_anonymised},
        "rag": {"documents": docs.documents, "vectors": docs.points, "caches": ["query embeddings"]},
        "blob_store": {"files": blobs},
        "audit_log": {"kept": "append-only; entries name the account id only, which no longer resolves to a person"},
    }
