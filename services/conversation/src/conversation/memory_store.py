"""Reads and writes of user memory: the facts, each user's opt-in, each tenant's policy. Every
read and write is scoped to its owner."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.ids import new_id
from conversation.models import MemoryFact, MemorySetting, TenantMemoryPolicy


@dataclass(frozen=True)
class MemoryState:
    enabled: bool  # the user's choice
    tenant_allowed: bool
    facts: list[MemoryFact]

    @property
    def active(self) -> bool:
        return self.enabled and self.tenant_allowed


class TooManyFacts(Exception):
    pass


class MemoryStore:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def state(self, user_id: str, tenant_id: str, with_facts: bool = True) -> MemoryState:
        """The user's memory as a turn sees it, in one session: the facts are read only while
        memory is on for them (`with_facts`: all the same)."""
        async with self._sessions() as session:
            enabled = await session.scalar(select(MemorySetting.enabled).where(MemorySetting.user_id == user_id))
            allowed = await session.scalar(select(TenantMemoryPolicy.user_memory_allowed).where(TenantMemoryPolicy.tenant_id == tenant_id))
            facts = []
            if with_facts and enabled and (allowed is None or allowed):
                facts = list(await session.scalars(
                    select(MemoryFact).where(MemoryFact.user_id == user_id).order_by(MemoryFact.created_at, MemoryFact.id)))
        return MemoryState(bool(enabled), allowed is None or bool(allowed), facts)

    async def facts(self, user_id: str) -> list[MemoryFact]:
        async with self._sessions() as session:
            return list(await session.scalars(
                select(MemoryFact).where(MemoryFact.user_id == user_id).order_by(MemoryFact.created_at, MemoryFact.id)))

    async def set_enabled(self, user_id: str, enabled: bool) -> None:
        async with self._sessions() as session, session.begin():
            setting = await session.get(MemorySetting, user_id)
            if setting is None:
                session.add(MemorySetting(user_id=user_id, enabled=enabled, updated_at=utcnow()))
            else:
                setting.enabled, setting.updated_at = enabled, utcnow()

    async def add(self, user_id: str, tenant_id: str, content: str, source: str, conversation_id: str, max_facts: int) -> MemoryFact:
        """Stores a fact; the same fact again (ignoring case and spacing) returns the stored one.
        Raises TooManyFacts when the user already has `max_facts`."""
        key = _key(content)
        async with self._sessions() as session, session.begin():
            existing = list(await session.scalars(select(MemoryFact).where(MemoryFact.user_id == user_id)))
            for fact in existing:
                if _key(fact.content) == key:
                    return fact
            if len(existing) >= max_facts:
                raise TooManyFacts()
            now = utcnow()
            fact = MemoryFact(id=new_id("mem"), user_id=user_id, tenant_id=tenant_id, content=content, source=source,
                              conversation_id=conversation_id, created_at=now, updated_at=now)
            session.add(fact)
        return fact

    async def update(self, user_id: str, fact_id: str, content: str) -> MemoryFact | None:
        async with self._sessions() as session, session.begin():
            fact = await session.get(MemoryFact, fact_id)
            if fact is None or fact.user_id != user_id:
                return None
            fact.content, fact.updated_at = content, utcnow()
        return fact

    async def delete(self, user_id: str, fact_id: str) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(MemoryFact).where(MemoryFact.id == fact_id, MemoryFact.user_id == user_id))
        return bool(result.rowcount)

    async def set_tenant_policy(self, tenant_id: str, allowed: bool) -> None:
        async with self._sessions() as session, session.begin():
            policy = await session.get(TenantMemoryPolicy, tenant_id)
            if policy is None:
                session.add(TenantMemoryPolicy(tenant_id=tenant_id, user_memory_allowed=allowed, updated_at=utcnow()))
            else:
                policy.user_memory_allowed, policy.updated_at = allowed, utcnow()

    async def tenant_allows(self, tenant_id: str) -> bool:
        async with self._sessions() as session:
            allowed = await session.scalar(select(TenantMemoryPolicy.user_memory_allowed).where(TenantMemoryPolicy.tenant_id == tenant_id))
        return allowed is None or bool(allowed)

    async def erase_user(self, user_id: str) -> int:
        """Removes the user's facts and their choice; the number of facts removed."""
        async with self._sessions() as session, session.begin():
            facts = await session.scalar(select(func.count()).select_from(MemoryFact).where(MemoryFact.user_id == user_id))
            await session.execute(delete(MemoryFact).where(MemoryFact.user_id == user_id))
            await session.execute(delete(MemorySetting).where(MemorySetting.user_id == user_id))
        return int(facts or 0)


def _key(content: str) -> str:
    return " ".join(content.casefold().split()).rstrip(".!")
