"""Reads and writes of online evaluation: each tenant's sampling share, the judge's scores of an
answer, and the tenant's list of judged answers with their owners' ratings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.paging import Page
from conversation.models import Conversation, Message, MessageEvaluation, TenantEvaluationPolicy

SCORES = ("faithfulness", "answer_relevance", "context_precision", "context_recall")


@dataclass(frozen=True)
class EvaluationInput:
    answer: Message
    question: str
    conversation: Conversation


@dataclass(frozen=True)
class EvaluationFilters:
    model: str = ""
    rating: str = ""  # up | down | none | "" (any)
    status: str = ""  # done | failed | "" (any)
    since: datetime | None = None
    until: datetime | None = None
    max_faithfulness: float | None = None


class EvaluationStore:
    def __init__(self, sessions: async_sessionmaker, default_share: float = 0.0) -> None:
        self._sessions = sessions
        self._default_share = default_share

    async def share(self, tenant_id: str) -> float:
        async with self._sessions() as session:
            share = await session.scalar(select(TenantEvaluationPolicy.share).where(TenantEvaluationPolicy.tenant_id == tenant_id))
        return self._default_share if share is None else float(share)

    async def set_share(self, tenant_id: str, share: float) -> None:
        async with self._sessions() as session, session.begin():
            policy = await session.get(TenantEvaluationPolicy, tenant_id)
            if policy is None:
                session.add(TenantEvaluationPolicy(tenant_id=tenant_id, share=share, updated_at=utcnow()))
            else:
                policy.share, policy.updated_at = share, utcnow()

    async def evaluation_input(self, message_id: str) -> EvaluationInput | None:
        """An assistant message with the question it answers (its parent) and its conversation."""
        async with self._sessions() as session:
            answer = await session.get(Message, message_id)
            if answer is None or answer.role != "assistant":
                return None
            conv = await session.get(Conversation, answer.conversation_id)
            question = await session.get(Message, answer.parent_id) if answer.parent_id else None
        if conv is None or question is None:
            return None
        return EvaluationInput(answer, question.content, conv)

    async def record(self, message_id: str, values: dict) -> bool:
        """Stores (or replaces: a task delivered twice) the scores; False when the message is gone."""
        async with self._sessions() as session, session.begin():
            answer = await session.get(Message, message_id)
            conv = await session.get(Conversation, answer.conversation_id) if answer is not None else None
            if answer is None or conv is None:
                return False
            row = await session.get(MessageEvaluation, message_id)
            if row is None:
                row = MessageEvaluation(message_id=message_id)
                session.add(row)
            row.conversation_id, row.tenant_id, row.user_id = conv.id, conv.tenant_id, conv.user_id
            row.model, row.provider, row.answered_at = answer.model, answer.provider, answer.created_at
            for name, value in values.items():
                setattr(row, name, value)
            row.evaluated_at = utcnow()
        return True

    async def list(self, tenant_id: str, page: Page, filters: EvaluationFilters) -> tuple[list[tuple[MessageEvaluation, int]], int]:
        """The tenant's evaluations, newest first, each with the answer's rating (1, -1, 0)."""
        query = (select(MessageEvaluation, Message.feedback_rating).join(Message, Message.id == MessageEvaluation.message_id)
                 .where(MessageEvaluation.tenant_id == tenant_id))
        if filters.model:
            query = query.where(MessageEvaluation.model == filters.model)
        if filters.status:
            query = query.where(MessageEvaluation.status == filters.status)
        if filters.rating:
            query = query.where(Message.feedback_rating == {"up": 1, "down": -1, "none": 0}[filters.rating])
        if filters.since is not None:
            query = query.where(MessageEvaluation.evaluated_at >= filters.since)
        if filters.until is not None:
            query = query.where(MessageEvaluation.evaluated_at < filters.until)
        if filters.max_faithfulness is not None:
            query = query.where(MessageEvaluation.faithfulness <= filters.max_faithfulness)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.execute(query.order_by(MessageEvaluation.evaluated_at.desc(), MessageEvaluation.message_id)
                                         .limit(page.limit).offset(page.offset))
            return [(evaluation, int(rating or 0)) for evaluation, rating in rows.all()], int(total or 0)
