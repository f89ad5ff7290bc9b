"""The usage ledger on SQLite and on the real PostgreSQL: every answer counted in the same
transaction as the message, concurrent turns never losing a count, erasure folding a user's
usage into the tenant's anonymous rows (totals unchanged, the user named nowhere), and the
migrations filling the ledger, and each conversation's branch, from the messages already stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from chatbot_common import db
from chatbot_common.ids import new_id
from conversation.models import Message
from conversation.repository import Repository
from conversation.server import MIGRATIONS

pytestmark = pytest.mark.contract


def upgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.normalize_url(url).replace("%", "%%"))
    command.upgrade(config, revision)


def sync_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


@pytest.fixture
async def repo(database_url):
    await asyncio.to_thread(upgrade, database_url, "head")
    engine = db.create_engine(database_url)
    yield Repository(db.session_factory(engine))
    await engine.dispose()


async def turn(repo: Repository, user: str, tenant: str, model: str, prompt: int, completion: int, conversation=None) -> str:
    conversation = conversation or (await repo.create_conversation(user, tenant, "t")).id
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="user", content=f"question of {user}", citations=[]))
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="assistant", content=f"answer for {user}",
                                   provider="fake", model=model, prompt_tokens=prompt, completion_tokens=completion, citations=[]))
    return conversation


def totals(rows) -> tuple[int, int, int]:
    return sum(r[3]["turns"] for r in rows), sum(r[3]["prompt_tokens"] for r in rows), sum(r[3]["completion_tokens"] for r in rows)


async def test_erasure_keeps_the_tenants_totals_and_names_no_one(repo, database_url):
    today = datetime.now(UTC).date()
    window = (date(2000, 1, 1), date(2100, 1, 1))
    await turn(repo, "usr_ann", "t1", "m1", 10, 5)
    conversation = await turn(repo, "usr_ann", "t1", "m2", 7, 3)
    await turn(repo, "usr_ann", "t1", "m2", 1, 1, conversation)
    await turn(repo, "usr_bob", "t1", "m1", 20, 10)
    await turn(repo, "usr_cat", "t2", "m1", 100, 100)
    before = await repo.tenant_usage("t1", *window)
    unpriced = {"cached_prompt_tokens": 0, "cost_pico_usd": 0, "cache_hits": 0}  # these turns carry no cost: unknown
    assert before == [(today, "fake", "m1", {"turns": 2, "prompt_tokens": 30, "completion_tokens": 15, "unpriced_turns": 2, **unpriced}, "chat"),
                      (today, "fake", "m2", {"turns": 2, "prompt_tokens": 8, "completion_tokens": 4, "unpriced_turns": 2, **unpriced}, "chat")]

    assert await repo.erase_user("usr_ann") == (2, 6, 2)
    assert await repo.tenant_usage("t1", *window) == before
    # Bob's erasure folds into the same anonymous row Ann's went to.
    assert (await repo.erase_user("usr_bob"))[2] == 1
    assert await repo.tenant_usage("t1", *window) == before
    assert totals(await repo.tenant_usage("t2", *window)) == (1, 100, 100)
    # Erasing again finds nothing more to fold.
    assert await repo.erase_user("usr_ann") == (0, 0, 0)

    engine = sync_engine(database_url)
    try:
        with engine.connect() as conn:
            ledger = conn.execute(sa.text("SELECT tenant_id, user_id, model, turns FROM usage_ledger ORDER BY tenant_id, model")).all()
            text = " ".join(str(v) for table in ("conversations", "messages", "usage_ledger")
                            for row in conn.execute(sa.text(f"SELECT * FROM {table}")) for v in row)
    finally:
        engine.dispose()
    assert [tuple(r) for r in ledger] == [("t1", "", "m1", 2), ("t1", "", "m2", 2), ("t2", "usr_cat", "m1", 1)]
    assert "usr_ann" not in text and "usr_bob" not in text and "question of usr_ann" not in text


async def test_concurrent_turns_of_one_tenant_never_lose_a_count(repo):
    conversations = [(await repo.create_conversation(f"usr_{i % 3}", "t1", "t")).id for i in range(6)]
    await asyncio.gather(*(turn(repo, f"usr_{i % 3}", "t1", "m", 2, 1, conversations[i % 6]) for i in range(30)))
    assert totals(await repo.tenant_usage("t1", date(2000, 1, 1), date(2100, 1, 1))) == (30, 60, 30)


async def run_answer(repo: Repository, conversation: str, provider: str, step_provider: str) -> None:
    """An agent run's answer served by `provider` with one earlier step on `step_provider`."""
    question = Message(id=new_id("msg"), conversation_id=conversation, role="user", content="q", citations=[])
    await repo.add_message(question)
    steps = [{"type": "model", "step": 1, "provider": step_provider, "model": "m", "prompt_tokens": 3, "completion_tokens": 1,
              "cost": "0.000001"},
             {"type": "model", "step": 2, "provider": provider, "model": "m", "prompt_tokens": 4, "completion_tokens": 2,
              "cost": "0.000002"}]
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="assistant", content="a", parent_id=question.id,
                                   provider=provider, model="m", prompt_tokens=7, completion_tokens=3, cost_pico_usd=3_000_000,
                                   steps=steps, citations=[]))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_runs_booking_the_same_providers_in_opposite_orders_never_deadlock(repo, database_url):
    """Two runs of one user, one answered by p1 with a step on p2, the other the reverse: each
    books two ledger rows in one transaction. A trigger holds each row's lock a while once it is
    taken (as a slow statement would), so in the order the rows come in, each run holds one and
    waits for the other's: PostgreSQL breaks that deadlock by failing one turn."""
    conversations = [(await repo.create_conversation("usr_a", "t1", "t")).id for _ in range(3)]
    await run_answer(repo, conversations[0], "p1", "p2")  # both rows exist: the runs below update them
    engine = sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE FUNCTION slow_ledger() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ "
                                 "LANGUAGE plpgsql"))
            conn.execute(sa.text("CREATE TRIGGER slow_ledger BEFORE UPDATE ON usage_ledger FOR EACH ROW EXECUTE FUNCTION slow_ledger()"))
    finally:
        engine.dispose()
    await asyncio.gather(run_answer(repo, conversations[1], "p1", "p2"), run_answer(repo, conversations[2], "p2", "p1"))
    rows = {r[1]: r[3] for r in await repo.tenant_usage("t1", date(2000, 1, 1), date(2100, 1, 1))}
    assert {p: (r["turns"], r["prompt_tokens"], r["completion_tokens"]) for p, r in rows.items()} == {
        "p1": (2, 4 + 4 + 3, 2 + 2 + 1), "p2": (1, 3 + 3 + 4, 1 + 1 + 2)}


async def test_the_range_is_by_utc_day(repo):
    await turn(repo, "usr_a", "t1", "m", 1, 1)
    today = datetime.now(UTC).date()
    assert totals(await repo.tenant_usage("t1", today, today)) == (1, 1, 1)
    assert await repo.tenant_usage("t1", date(2000, 1, 1), date(2000, 1, 2)) == []


def test_the_migrations_fill_the_ledger_and_the_branches_from_the_stored_messages(database_url):
    upgrade(database_url, "0001")
    engine = sync_engine(database_url)
    try:
        with engine.begin() as conn:
            for conv, user, tenant in (("conv_1", "usr_a", "t1"), ("conv_2", "usr_b", "t1")):
                conn.execute(sa.text("INSERT INTO conversations (id, user_id, tenant_id, title, model, provider, system_prompt, "
                                     "message_count, created_at, updated_at) VALUES (:i, :u, :t, '', '', '', '', 0, :c, :c)"),
                             {"i": conv, "u": user, "t": tenant, "c": datetime(2026, 1, 1, tzinfo=UTC)})
            answers = [("conv_1", "assistant", datetime(2026, 1, 1, 23, 59, tzinfo=UTC), 10, 5),
                       ("conv_1", "assistant", datetime(2026, 1, 2, 0, 1, tzinfo=UTC), 1, 1),
                       ("conv_1", "user", datetime(2026, 1, 2, 0, 0, tzinfo=UTC), 0, 0),
                       ("conv_2", "assistant", datetime(2026, 1, 2, 9, 0, tzinfo=UTC), 4, 2),
                       ("conv_2", "assistant", datetime(2026, 1, 2, 10, 0, tzinfo=UTC), 6, 3)]
            for n, (conv, role, at, prompt, completion) in enumerate(answers):
                conn.execute(sa.text("INSERT INTO messages (id, conversation_id, role, content, model, provider, finish_reason, "
                                     "prompt_tokens, completion_tokens, latency_ms, ttft_ms, error_code, error_message, citations, "
                                     "token_count, token_counter, created_at) VALUES (:i, :c, :r, 'x', 'm', 'p', 'stop', :pt, :ct, "
                                     "0, 0, '', '', '[]', 0, '', :at)"),
                             {"i": f"msg_{n}", "c": conv, "r": role, "pt": prompt, "ct": completion, "at": at})
        upgrade(database_url, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT tenant_id, user_id, day, turns, prompt_tokens, completion_tokens, kind FROM usage_ledger "
                                        "ORDER BY day, user_id")).all()
            parents = dict(conn.execute(sa.text("SELECT id, parent_id FROM messages")).all())
            current = dict(conn.execute(sa.text("SELECT id, current_message_id FROM conversations")).all())
    finally:
        engine.dispose()
    # 0004: the messages already stored became one branch per conversation, in the order written
    assert parents == {"msg_0": None, "msg_2": "msg_0", "msg_1": "msg_2", "msg_3": None, "msg_4": "msg_3"}
    assert current == {"conv_1": "msg_1", "conv_2": "msg_4"}
    as_date = lambda v: v if isinstance(v, date) else date.fromisoformat(v)  # noqa: E731 - SQLite reads a Date back as text
    # 0007: the answers recorded before are of kind chat
    assert [(t, u, as_date(d), n, p, c, k) for t, u, d, n, p, c, k in rows] == [
        ("t1", "usr_a", date(2026, 1, 1), 1, 10, 5, "chat"),
        ("t1", "usr_a", date(2026, 1, 2), 1, 1, 1, "chat"),
        ("t1", "usr_b", date(2026, 1, 2), 2, 10, 5, "chat"),
    ]


def test_the_kind_joins_the_ledgers_key_and_a_downgrade_keeps_the_answers(database_url):
    from alembic import command
    from alembic.config import Config

    upgrade(database_url, "0007")
    engine = sync_engine(database_url)
    row = ("INSERT INTO usage_ledger (tenant_id, day, provider, model, user_id, kind, turns, prompt_tokens, completion_tokens, "
           "cached_prompt_tokens, cost_pico_usd, unpriced_turns, cache_hits) VALUES ('t1', :d, 'p', 'm', 'usr_a', :k, 1, 5, 2, 0, 0, 1, 0)")
    try:
        with engine.begin() as conn:
            for kind in ("chat", "summary", "title"):
                conn.execute(sa.text(row), {"d": date(2026, 1, 1), "k": kind})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text(row), {"d": date(2026, 1, 1), "k": "title"})
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", db.normalize_url(database_url).replace("%", "%%"))
        command.downgrade(config, "0006")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT user_id, turns, prompt_tokens FROM usage_ledger")).all()
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("usage_ledger")}
    finally:
        engine.dispose()
    assert [tuple(r) for r in kept] == [("usr_a", 1, 5)] and "ix_usage_ledger_user" in indexes
