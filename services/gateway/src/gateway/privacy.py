"""A user's data, whole: the export (one ZIP) and the erasure (every store, with a report).

Each service owns its part: the conversation service streams and deletes conversations and
messages, and the user's memory (remembered facts and the opt-in); the rag service lists and deletes document records and their vectors (and forgets cached
query embeddings); the gateway holds the account, sessions, API keys, the uploaded files (blob
store), the limit counters and the audit log.

Erasure disables the account and ends its sessions first, so nothing new arrives while the rest
is removed; every step can run again, so an erasure interrupted half-way is finished by asking
again. The audit log is append-only and stays: its entries name the account by id, which no
longer leads to a person once the account is gone. The conversation service's usage ledger
stays too, its rows folded into the tenant's anonymous ones, so the organisation's usage totals
do not change when one of its users is erased.

Only a signed-in person acts on their own data (an API key cannot); an admin acts on the data
of an account of their organisation. The export's records have the shapes the API answers with
(`gateway.api.schemas`), so a person reads their data as the API shows it."""

from __future__ import annotations

import asyncio
import json
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.conversation.v1 import conversation_pb2 as conv_pb
from chatbot.llm.v1 import llm_pb2
from chatbot.rag.v1 import rag_pb2
from chatbot_common.blobstore import BlobStore
from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.api.schemas.conversations import conversation_out, message_out
from gateway.api.schemas.documents import document_out
from gateway.api.schemas.memory import memory_out
from gateway.grpc_clients import Downstream, account_caller
from gateway.identity import api_keys, invitations, tenants, users
from gateway.identity.sessions import end_sessions, remove_sessions
from gateway.identity.accounts import Accounts
from gateway.limits.limiter import Limits
from gateway.models import User
from gateway.security import PasswordHashing, Principal, TokenIssuer
from gateway.settings import GatewaySettings


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _signed_in(principal: Principal) -> None:
    if principal.key_id:
        raise AppError(ErrorCode.PERMISSION_DENIED, "sign in to export or erase your data; an API key cannot")


class Privacy:
    def __init__(self, *, settings: GatewaySettings, sessions: async_sessionmaker, downstream: Downstream, blobs: BlobStore,
                 limits: Limits, accounts: Accounts, issuer: TokenIssuer, passwords: PasswordHashing) -> None:
        self.settings, self.sessions, self.downstream, self.blobs = settings, sessions, downstream, blobs
        self.limits, self.accounts, self.issuer, self.passwords = limits, accounts, issuer, passwords

    async def _own_account(self, principal: Principal) -> User:
        _signed_in(principal)
        async with self.sessions() as session:
            user = await users.get(session, principal.user_id)
        if user is None:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account not found")
        return user

    async def export_own(self, principal: Principal, request: audit.Origin) -> Path:
        """The caller's data as a ZIP file (the caller removes it once sent)."""
        return await self._export_as(principal, await self._own_account(principal), request)

    async def export_member(self, admin: Principal, user_id: str, request: audit.Origin) -> Path:
        async with self.sessions() as session:
            user = await users.in_tenant(session, admin.tenant_id, user_id)
        return await self._export_as(admin, user, request)

    async def erase_own(self, principal: Principal, password: str | None, request: audit.Origin) -> dict:
        """The caller confirms with their password (an account of an external identity provider has none)."""
        user = await self._own_account(principal)
        if user.external_subject is None and not (password and await self.passwords.verify(user.password_hash, password)):
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "password is wrong")
        async with self.sessions() as session:
            await users.ensure_not_last_admin(session, user)
        return await self._erase_as(principal, user.id, request)

    async def erase_member(self, admin: Principal, user_id: str, request: audit.Origin) -> dict:
        async with self.sessions() as session:
            user = await users.in_tenant(session, admin.tenant_id, user_id)
            await users.ensure_not_last_admin(session, user)
        return await self._erase_as(admin, user_id, request)

    async def _export_as(self, actor: Principal, user: User, request: audit.Origin) -> Path:
        path = await self.export_user(user)
        await audit.write(self.sessions, audit.by(actor, "user.export", request, target_type="user", target_id=user.id,
                                                  details={"bytes": path.stat().st_size}))
        return path

    async def _erase_as(self, actor: Principal, user_id: str, request: audit.Origin) -> dict:
        removed = await self.erase_user(user_id)
        if not removed:
            raise AppError(ErrorCode.NOT_FOUND, "user not found")
        await audit.write(self.sessions, audit.by(actor, "user.erase", request, target_type="user", target_id=user_id,
                                                  details={k: v for k, v in removed.items() if k != "audit_log"}))
        return removed

    async def export_user(self, user: User) -> Path:
        """Writes everything of the user into a ZIP file and returns its path (the caller removes it)."""
        downstream, settings = self.downstream, self.settings
        subject = account_caller(user)
        conversations = []
        async for item in downstream.conversation.ExportUserData(conv_pb.UserDataRequest(caller=subject),
                                                                 timeout=settings.chat_timeout_seconds):
            conversations.append({**conversation_out(item.conversation).model_dump(),
                                  "messages": [message_out(m).model_dump() for m in item.messages]})
        memory = await downstream.conversation.GetMemory(conv_pb.GetMemoryRequest(caller=subject), timeout=settings.call_timeout_seconds)
        documents = (await downstream.rag.ExportUserDocuments(rag_pb2.UserDocumentsRequest(caller=subject),
                                                              timeout=settings.call_timeout_seconds)).documents
        async with self.sessions() as session:
            tenant = await tenants.load(session, user.tenant_id)
            keys = await api_keys.of_user(session, user.id)
            events = await audit.about(session, user.id)
        usage = {
            "messages": sum(1 for c in conversations for m in c["messages"] if m["role"] == "assistant"),
            "tokens": {kind: sum(m["tokens_used"][kind] for c in conversations for m in c["messages"])
                       for kind in ("prompt", "completion", "total")},
            "limits": await self.limits.usage_of(user.id, user.tenant_id),
        }
        parts = {
            "profile.json": {"id": user.id, "email": user.email, "tenant_id": user.tenant_id, "tenant_name": tenant.name if tenant else "",
                             "role": user.role, "is_active": user.is_active, "created_at": _iso(user.created_at)},
            "conversations.json": conversations,
            "memory.json": memory_out(memory).model_dump(),
            "documents.json": [document_out(d, user.id).model_dump() for d in documents],
            "api_keys.json": [{"id": k.id, "name": k.name, "scopes": list(k.scopes), "expires_at": _iso(k.expires_at),
                               "revoked_at": _iso(k.revoked_at), "last_used_at": _iso(k.last_used_at), "created_at": _iso(k.created_at)}
                              for k in keys],
            "usage.json": usage,
            "activity.json": [{"at": _iso(e.created_at), "action": e.action, "outcome": e.outcome, "actor_id": e.actor_id,
                               "target_id": e.target_id, "client_ip": e.client_ip, "details": e.details} for e in events],
        }
        files = [(f"files/{d.id}/{Path(d.filename).name or 'document'}", d.blob_key) for d in documents if d.blob_key]
        return await asyncio.to_thread(_write_zip, parts, files, self.blobs)

    async def erase_user(self, user_id: str) -> dict:
        """Removes the user from every store; returns what was removed where ({} for no such user)."""
        downstream, settings = self.downstream, self.settings
        async with self.sessions() as session:
            user = await users.get(session, user_id)
            if user is None:
                return {}
            subject = account_caller(user)
            user.is_active = False
            await end_sessions(session, user_id)
            await invitations.revoke_created_by(session, user_id)  # the invitations they sent stop with them
            await session.commit()
        self.accounts.invalidate(user_id)
        docs = await downstream.rag.EraseUserDocuments(rag_pb2.UserDocumentsRequest(caller=subject), timeout=settings.chat_timeout_seconds)
        convs = await downstream.conversation.EraseUserData(conv_pb.UserDataRequest(caller=subject), timeout=settings.chat_timeout_seconds)
        cached = await downstream.llm.EraseUserData(llm_pb2.EraseCacheRequest(caller=subject), timeout=settings.chat_timeout_seconds)
        blobs = sum(await asyncio.gather(*(asyncio.to_thread(self.blobs.delete, key) for key in docs.blob_keys)))
        limit_keys = await self.limits.forget_user(user_id)
        async with self.sessions() as session, session.begin():
            refresh_tokens = await remove_sessions(session, user_id)
            keys = await api_keys.remove_of_user(session, user_id)
            invites = await invitations.remove_of(session, user)
            removed_users = await users.remove(session, user_id)
        self.accounts.invalidate(user_id)
        self.issuer.forget_user(user_id)
        return {
            "gateway": {"users": removed_users, "sessions": refresh_tokens, "api_keys": keys, "invitations": invites,
                        "rate_limit_keys": limit_keys,
                        "caches": ["account state", "verified tokens"]},
            "conversation": {"conversations": convs.conversations, "messages": convs.messages, "memory_facts": convs.memory_facts},
            # Usage stays for the organisation's totals, with the user's name taken off it.
            "usage_ledger": {"records_anonymised": convs.usage_records_anonymised},
            "rag": {"documents": docs.documents, "vectors": docs.points, "caches": ["query embeddings"]},
            "llm_orchestrator": {"semantic_cache_entries": cached.cache_entries},
            "blob_store": {"files": blobs},
            "audit_log": {"kept": "append-only; entries name the account id only, which no longer resolves to a person"},
        }


def _write_zip(parts: dict, files: list[tuple[str, str]], blobs: BlobStore) -> Path:
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
