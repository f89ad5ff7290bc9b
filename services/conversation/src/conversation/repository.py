"""Reads and writes of conversations, messages and the usage ledger. Every read is scoped to its owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

from sqlalchemy import case, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from chatbot_common.ids import new_id
from chatbot_common.paging import Page
from conversation.models import Conversation, Message, UsageRecord
from conversation.usage import to_pico


_CONVERSATIONS = Conversation.__table__
_MESSAGES = Message.__table__


def _row(entity: Conversation | Message, table) -> dict:
    """The entity's column values; a column left unset is left out, for its default to apply."""
    return {column.key: value for column in table.columns if (value := getattr(entity, column.key)) is not None}


class Repository:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def create_conversation(
        self, user_id: str, tenant_id: str, title: str, model: str = "", provider: str = "", system_prompt: str = ""
    ) -> Conversation:
        now = utcnow()
        conv = Conversation(
            id=new_id("conv"), user_id=user_id, tenant_id=tenant_id, title=title, model=model, provider=provider,
            system_prompt=system_prompt, message_count=0, created_at=now, updated_at=now,
            # Untitled: a title is generated after the first exchange.
            title_source="user" if title.strip() else "first_message",
        )
        async with self._sessions() as session, session.begin():
            session.add(conv)
        return conv

    async def get_conversation(self, conversation_id: str, user_id: str) -> Conversation | None:
        async with self._sessions() as session:
            conv = await session.get(Conversation, conversation_id)
        return conv if conv is not None and conv.user_id == user_id else None

    async def list_conversations(self, user_id: str, page: Page, sort: str, order: str, query: str = "",
                                 archived: str = "exclude") -> tuple[list[Conversation], int]:
        """The user's conversations, pinned ones first; with `query`, those whose title or any
        message contains it (case-insensitively, the text taken literally: % and _ match
        themselves); archived ones left out, included, or alone (`archived`)."""
        column = Conversation.created_at if sort == "created" else Conversation.updated_at
        ordering = column.asc() if order == "asc" else column.desc()
        where = [Conversation.user_id == user_id]
        if archived == "exclude":
            where.append(Conversation.archived_at.is_(None))
        elif archived == "only":
            where.append(Conversation.archived_at.is_not(None))
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            in_messages = select(Message.id).where(Message.conversation_id == Conversation.id,
                                                   Message.content.ilike(pattern, escape="\\")).exists()
            where.append(or_(Conversation.title.ilike(pattern, escape="\\"), in_messages))
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Conversation).where(*where))
            rows = await session.scalars(
                select(Conversation).where(*where).order_by(Conversation.pinned_at.is_(None), ordering, Conversation.id)
                .limit(page.limit).offset(page.offset)
            )
            return list(rows), int(total or 0)

    async def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> Conversation | None:
        async with self._sessions() as session, session.begin():
            conv = await session.get(Conversation, conversation_id)
            if conv is None or conv.user_id != user_id:
                return None
            conv.title = title
            conv.title_source = "user"
        return conv

    async def set_flags(self, conversation_id: str, user_id: str, pinned: bool | None, archived: bool | None) -> Conversation | None:
        """Pins or unpins, archives or restores; setting what is already set changes nothing."""
        async with self._sessions() as session, session.begin():
            conv = await session.get(Conversation, conversation_id)
            if conv is None or conv.user_id != user_id:
                return None
            now = utcnow()
            if pinned is not None and pinned != (conv.pinned_at is not None):
                conv.pinned_at = now if pinned else None
            if archived is not None and archived != (conv.archived_at is not None):
                conv.archived_at = now if archived else None
        return conv

    async def set_generated_title(self, conversation_id: str, title: str) -> bool:
        """Stores a generated title unless the person has given one (then nothing changes)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == conversation_id, _CONVERSATIONS.c.title_source == "first_message")
                .values(title=title[:200], title_source="generated"))
        return bool(result.rowcount)

    async def store_summary(self, conversation_id: str, expected_through: str, through_id: str, text: str, messages: int,
                            model: str) -> bool:
        """Replaces the conversation's summary with one that covers its branch up to `through_id`,
        only if the summary is still the one this was written from (`expected_through`) and
        `through_id` still lies on the branch shown: a summary of a branch the person has left,
        or a second writer of the same fold, stores nothing."""
        async with self._sessions() as session, session.begin():
            current = await session.scalar(select(Conversation.current_message_id).where(
                Conversation.id == conversation_id, Conversation.summary_through_id == expected_through))
            if not current:
                return False
            path = self._path(conversation_id, current, None)
            if not await session.scalar(select(path.c.id).where(path.c.id == through_id).limit(1)):
                return False
            result = await session.execute(
                update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == conversation_id, _CONVERSATIONS.c.summary_through_id == expected_through)
                .values(summary=text, summary_through_id=through_id, summary_messages=messages, summary_model=model[:200],
                        summary_updated_at=utcnow()))
        return bool(result.rowcount)

    async def conversation(self, conversation_id: str) -> Conversation | None:
        """A conversation by id alone, for background work the service started itself."""
        async with self._sessions() as session:
            return await session.get(Conversation, conversation_id)

    async def set_feedback(self, conversation_id: str, user_id: str, message_id: str, rating: int, comment: str) -> Message | None:
        """Rates an answer in one of the user's conversations (0 withdraws the rating); None when
        there is no such answer of theirs."""
        async with self._sessions() as session, session.begin():
            conv = await session.get(Conversation, conversation_id)
            message = await session.get(Message, message_id)
            if conv is None or conv.user_id != user_id or message is None or message.conversation_id != conversation_id \
                    or message.role != "assistant":
                return None
            message.feedback_rating = rating
            message.feedback_comment = comment if rating else ""
            message.feedback_at = utcnow() if rating else None
        return message

    async def delete_conversation(self, conversation_id: str, user_id: str) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
            )
            if result.rowcount:
                await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            return bool(result.rowcount)

    async def list_messages(self, conversation_id: str, page: Page) -> tuple[list[Message], int]:
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id))
            rows = await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id)
                .order_by(Message.created_at, Message.id).limit(page.limit).offset(page.offset)
            )
            return list(rows), int(total or 0)

    @staticmethod
    def _path(conversation_id: str, last_id: str, limit: int | None, stop_at: str = ""):
        """The ids of the branch ending with `last_id` and their depth (1: the last), as a recursive
        CTE; the walk goes no further back than `stop_at` when it meets it."""
        path = select(Message.id, Message.parent_id, literal(1).label("depth")).where(
            Message.id == last_id, Message.conversation_id == conversation_id).cte("path", recursive=True)
        step = select(Message.id, Message.parent_id, (path.c.depth + 1).label("depth")).join(path, Message.id == path.c.parent_id)
        if limit is not None:
            step = step.where(path.c.depth < limit)
        if stop_at:
            step = step.where(path.c.id != stop_at)
        return path.union_all(step.where(Message.conversation_id == conversation_id))

    async def branch(self, conversation_id: str, last_id: str | None, limit: int | None = None,
                     stop_at: str = "") -> list[Message]:
        """The branch that ends with `last_id`, oldest first: the message and those it follows,
        at most `limit` of them (the newest). With `stop_at` (the message a summary covers the
        branch through), a branch it lies on starts with it: what the summary retells is not
        read again on every turn. One recursive query on SQLite and PostgreSQL."""
        if not last_id:
            return []
        path = self._path(conversation_id, last_id, limit, stop_at)
        async with self._sessions() as session:
            rows = await session.scalars(select(Message).join(path, Message.id == path.c.id).order_by(path.c.depth.desc()))
            return list(rows)

    async def branch_page(self, conversation_id: str, last_id: str | None, page: Page) -> tuple[list[Message], int]:
        """A page of the branch ending with `last_id`, oldest first, and the branch's length: the
        path is walked over ids only, and only the page's messages are read."""
        if not last_id:
            return [], 0
        path = self._path(conversation_id, last_id, None)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(path))
            rows = await session.scalars(select(Message).join(path, Message.id == path.c.id)
                                         .order_by(path.c.depth.desc()).limit(page.limit).offset(page.offset))
            return list(rows), int(total or 0)

    async def get_message(self, conversation_id: str, message_id: str) -> Message | None:
        async with self._sessions() as session:
            message = await session.get(Message, message_id)
        return message if message is not None and message.conversation_id == conversation_id else None

    async def set_current(self, conversation_id: str, message_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == conversation_id).values(current_message_id=message_id))

    async def show_branch(self, conversation_id: str, user_id: str, message_id: str) -> Conversation | None:
        """Makes the branch through `message_id` current: its newest message under it (following
        the newest child at each step) becomes the conversation's current message. None when
        the conversation is not the user's or the message not in it."""
        async with self._sessions() as session, session.begin():
            conv = await session.get(Conversation, conversation_id)
            if conv is None or conv.user_id != user_id:
                return None
            rows = (await session.execute(
                select(Message.id, Message.parent_id).where(Message.conversation_id == conversation_id)
                .order_by(Message.created_at, Message.id)
            )).all()
            if message_id not in {row.id for row in rows}:
                return None
            newest_child = {row.parent_id: row.id for row in rows}  # later rows win: the newest child
            current = message_id
            while current in newest_child:
                current = newest_child[current]
            conv.current_message_id = current
        return conv

    async def add_message(self, message: Message, new_conversation: Conversation | None = None) -> Message:
        """Stores a message and bumps its conversation in the same transaction (a turn's first
        message creates its conversation in it); an answer's usage goes to the ledger in that
        transaction too, so the two never disagree. Plain INSERT statements, not the ORM's unit
        of work: this runs twice a turn, and the unit of work cost more than the statements."""
        message.created_at = message.created_at or utcnow()
        async with self._sessions() as session, session.begin():
            if new_conversation is not None:
                new_conversation.message_count, new_conversation.updated_at = 1, message.created_at
                new_conversation.current_message_id = message.id
                await session.execute(insert(_CONVERSATIONS), [_row(new_conversation, _CONVERSATIONS)])
                await session.execute(insert(_MESSAGES), [_row(message, _MESSAGES)])
                return message
            await session.execute(insert(_MESSAGES), [_row(message, _MESSAGES)])
            # A person's message becomes current (it continues the branch shown, or starts one);
            # an answer only if its question still is (the person may have switched branch since).
            current = _CONVERSATIONS.c.current_message_id
            if message.role != "user":
                current_now = case((current == (message.parent_id or ""), message.id), else_=current)
            else:
                current_now = message.id
            owner = (await session.execute(
                update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == message.conversation_id)
                .values(message_count=_CONVERSATIONS.c.message_count + 1, updated_at=message.created_at, current_message_id=current_now)
                .returning(_CONVERSATIONS.c.tenant_id, _CONVERSATIONS.c.user_id)
            )).one_or_none()
            if message.role == "assistant" and owner is not None:
                await add_usages(session, owner.tenant_id, owner.user_id, message.created_at.date(),
                                 usage_by_model(message.provider, message.model, _tally(message), message.steps))
        return message

    async def record_usage(self, tenant_id: str, user_id: str, provider: str, model: str, tally: dict[str, int],
                           kind: str = "chat") -> None:
        """Usage of a generation that was no chat turn (the gateway's /v1; a summary or a title,
        `kind`), into the same ledger."""
        async with self._sessions() as session, session.begin():
            await _add_usage(session, tenant_id, user_id, utcnow().date(), provider, model, tally, kind)

    # --- privacy and retention ------------------------------------------------------------

    async def user_conversations(self, user_id: str) -> AsyncIterator[tuple[Conversation, list[Message]]]:
        """Every conversation of the user with all its messages, oldest first (for an export)."""
        async with self._sessions() as session:
            ids = list(await session.scalars(
                select(Conversation.id).where(Conversation.user_id == user_id).order_by(Conversation.created_at, Conversation.id)
            ))
        for conversation_id in ids:
            async with self._sessions() as session:
                conv = await session.get(Conversation, conversation_id)
                if conv is None:
                    continue
                messages = list(await session.scalars(
                    select(Message).where(Message.conversation_id == conversation_id).order_by(Message.created_at, Message.id)
                ))
            yield conv, messages

    async def erase_user(self, user_id: str) -> tuple[int, int, int]:
        """Deletes every conversation and message of the user, and folds the user's usage into
        the tenant's anonymous ledger rows, all in one transaction: (conversations, messages,
        ledger rows anonymised). The tenant's totals stay as they were; nothing names the user."""
        async with self._sessions() as session, session.begin():
            owned = select(Conversation.id).where(Conversation.user_id == user_id).scalar_subquery()
            messages = await session.execute(delete(Message).where(Message.conversation_id.in_(owned)))
            conversations = await session.execute(delete(Conversation).where(Conversation.user_id == user_id))
            records = (await session.execute(
                select(UsageRecord.tenant_id, UsageRecord.day, UsageRecord.provider, UsageRecord.model, UsageRecord.kind,
                       *(getattr(UsageRecord, name) for name in _AMOUNTS)).where(UsageRecord.user_id == user_id)
            )).all()
            await session.execute(delete(UsageRecord).where(UsageRecord.user_id == user_id))
            # In the ledger's key order, as every writer of several rows (see add_usages).
            for tenant_id, day, provider, model, kind, *amounts in sorted(records, key=lambda r: (r[0], r[1], r[2], r[3], r[4])):
                await _add_usage(session, tenant_id, "", day, provider, model, dict(zip(_AMOUNTS, amounts, strict=True)), kind)
        return int(conversations.rowcount or 0), int(messages.rowcount or 0), len(records)

    async def tenant_usage(self, tenant_id: str, since: date, until: date, user_id: str | None = None) -> list[tuple]:
        """The tenant's usage per day, provider, model and kind, erased users' included (with
        `user_id`: that user's alone): (day, provider, model, {amount: sum}, kind) with the amounts
        of the ledger."""
        where = [UsageRecord.tenant_id == tenant_id, UsageRecord.day >= since, UsageRecord.day <= until]
        if user_id is not None:
            where.append(UsageRecord.user_id == user_id)
        async with self._sessions() as session:
            rows = await session.execute(
                select(UsageRecord.day, UsageRecord.provider, UsageRecord.model, UsageRecord.kind,
                       *(func.sum(getattr(UsageRecord, n)) for n in _AMOUNTS))
                .where(*where)
                .group_by(UsageRecord.day, UsageRecord.provider, UsageRecord.model, UsageRecord.kind)
                .order_by(UsageRecord.day, UsageRecord.provider, UsageRecord.model, UsageRecord.kind)
            )
            return [(day, provider, model, {n: int(v or 0) for n, v in zip(_AMOUNTS, amounts, strict=True)}, kind)
                    for day, provider, model, kind, *amounts in rows]

    async def purge_messages(self, cutoff) -> tuple[int, int]:
        """Deletes messages created before `cutoff`, then conversations left empty and untouched
        since; message counts of the others are brought up to date and their summaries removed.
        (messages, conversations)"""
        async with self._sessions() as session, session.begin():
            touched = list(await session.scalars(select(Message.conversation_id).where(Message.created_at < cutoff).distinct()))
            messages = await session.execute(delete(Message).where(Message.created_at < cutoff))
            remaining = select(func.count()).select_from(Message).where(Message.conversation_id == Conversation.id).scalar_subquery()
            conversations = await session.execute(
                delete(Conversation).where(Conversation.updated_at < cutoff, ~select(Message.id).where(
                    Message.conversation_id == Conversation.id).exists())
            )
            if touched:
                # A summary retells the oldest messages: it goes with them, and the next turn over
                # the trigger summarises what remains.
                await session.execute(update(Conversation).where(Conversation.id.in_(touched)).values(
                    message_count=remaining, summary="", summary_through_id="", summary_messages=0, summary_model="",
                    summary_updated_at=None))
        return int(messages.rowcount or 0), int(conversations.rowcount or 0)


# What a ledger row sums.
_AMOUNTS = ("turns", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cost_pico_usd", "unpriced_turns", "cache_hits")


def usage_tally(prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int, cost_pico_usd: int | None,
                cached: bool) -> dict[str, int]:
    """One answer's amounts for the ledger (an unknown cost counts as an unpriced turn, not as zero)."""
    return {"turns": 1, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cached_prompt_tokens": cached_prompt_tokens, "cost_pico_usd": cost_pico_usd or 0,
            "unpriced_turns": int(cost_pico_usd is None), "cache_hits": int(cached)}


_STEP_TOKENS = ("prompt_tokens", "completion_tokens", "cached_prompt_tokens")


def usage_by_model(provider: str, model: str, tally: dict[str, int], steps) -> list[tuple[str, str, dict[str, int]]]:
    """An answer's ledger rows. An agent run's model steps each name the provider and model that
    served them (a step after a fallback was served elsewhere): each step's tokens and cost go
    to its own row. The turn itself, and what no step accounts for (an answer cut short, counted
    here), stay on the answer's provider and model, so the rows always add up to the answer."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    priced = tally.get("unpriced_turns", 0) == 0
    for step in steps or ():
        if not isinstance(step, dict) or step.get("type") != "model" or not step.get("provider"):
            continue
        key = (str(step["provider"]), str(step.get("model") or ""))
        if key == (provider, model):
            continue  # the answer's own row takes the remainder, this step included
        row = rows.setdefault(key, dict.fromkeys(_AMOUNTS, 0))
        for name in _STEP_TOKENS:
            row[name] += max(int(step.get(name) or 0), 0)
        cost = to_pico(str(step.get("cost") or ""))
        if cost is None:
            row["unpriced_turns"] = 1  # the step's model has no price: its cost is unknown, not zero
        else:
            row["cost_pico_usd"] += cost
    own = dict(tally)
    for row in rows.values():
        for name in _STEP_TOKENS:
            own[name] = max(own.get(name, 0) - row[name], 0)
        if priced:  # an answer of unknown cost has none of its own to share: the steps' known costs are added
            own["cost_pico_usd"] = max(own.get("cost_pico_usd", 0) - row["cost_pico_usd"], 0)
    return [(provider, model, own), *((p, m, row) for (p, m), row in rows.items())]


def _tally(message: Message) -> dict[str, int]:
    return usage_tally(message.prompt_tokens, message.completion_tokens, message.cached_prompt_tokens or 0, message.cost_pico_usd,
                       bool((message.served or {}).get("cached")))


async def add_usages(session: AsyncSession, tenant_id: str, user_id: str, day: date,
                     rows: list[tuple[str, str, dict[str, int]]], kind: str = "chat") -> None:
    """Adds to several ledger rows of one owner and day in one transaction, in the order of their
    key (provider, model): two transactions booking the same rows in opposite orders (two runs
    of one user, each with steps on the other's provider) would each hold one row's lock and wait
    for the other's, a deadlock on PostgreSQL."""
    for provider, model, tally in sorted(rows, key=lambda row: (row[0][:64], row[1][:200])):
        await _add_usage(session, tenant_id, user_id, day, provider, model, tally, kind)


async def _add_usage(session: AsyncSession, tenant_id: str, user_id: str, day: date, provider: str, model: str,
                     tally: dict[str, int], kind: str = "chat") -> None:
    """Adds to one ledger row, creating it if needed: one statement, so concurrent turns of a
    tenant (and an erasure folding rows into the same anonymous row) never lose a count."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(UsageRecord).values(tenant_id=tenant_id, user_id=user_id, day=day, provider=provider[:64], model=model[:200],
                                           kind=kind, **{name: tally.get(name, 0) for name in _AMOUNTS})
    await session.execute(statement.on_conflict_do_update(
        index_elements=[UsageRecord.tenant_id, UsageRecord.day, UsageRecord.provider, UsageRecord.model, UsageRecord.user_id,
                        UsageRecord.kind],
        set_={name: getattr(UsageRecord, name) + getattr(statement.excluded, name) for name in _AMOUNTS},
    ))
