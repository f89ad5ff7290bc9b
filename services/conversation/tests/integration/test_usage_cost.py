"""Cost in the usage ledger, on SQLite and the real PostgreSQL: each answer's cost summed exactly
(picodollars), unknown costs counted as unpriced turns (never as zero), semantic-cache answers
counted as hits, /v1 usage recorded beside the turns, a user's own rows apart from the tenant's,
and erasure folding cost like tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from chatbot_common.ids import new_id
from conversation.models import Message
from conversation.repository import usage_tally
from conversation.usage import from_pico, to_pico

import asyncio

import pytest

from chatbot_common import db
from conversation.repository import Repository
from conversation.server import MIGRATIONS

pytestmark = pytest.mark.contract


def _upgrade(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.normalize_url(url).replace("%", "%%"))
    command.upgrade(config, "head")


@pytest.fixture
async def repo(database_url):
    await asyncio.to_thread(_upgrade, database_url)
    engine = db.create_engine(database_url)
    yield Repository(db.session_factory(engine))
    await engine.dispose()

WINDOW = (date(2000, 1, 1), date(2100, 1, 1))


async def answer(repo, user: str, tenant: str, model: str, prompt: int, completion: int, cost: str, served: dict | None = None,
                 cached_prompt: int = 0) -> None:
    conversation = (await repo.create_conversation(user, tenant, "t")).id
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="user", content="q", citations=[]))
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="assistant", content="a", provider="fake",
                                   model=model, prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=cached_prompt,
                                   cost_pico_usd=to_pico(cost), served=served or {}, citations=[]))


def test_costs_convert_exactly_and_unknown_stays_unknown():
    assert to_pico("0.0000123") == 12_300_000
    assert from_pico(to_pico("0.0000123")) == "0.0000123"
    assert to_pico("") is None and from_pico(None) == ""
    assert to_pico("nonsense") is None and to_pico("-1") is None
    assert from_pico(0) == "0"


async def test_cost_cache_hits_and_v1_usage_are_summed_per_user_and_tenant(repo):
    today = datetime.now(UTC).date()
    await answer(repo, "usr_ann", "t1", "m1", 100, 20, "0.000198", cached_prompt=40)
    await answer(repo, "usr_ann", "t1", "m1", 0, 0, "0", {"cached": True, "saved_cost": "0.000198"})
    await answer(repo, "usr_bob", "t1", "m1", 10, 10, "0.0000275")
    await answer(repo, "usr_bob", "t1", "m2", 10, 10, "")  # no price for m2
    await repo.record_usage("t1", "usr_bob", "fake", "m1", usage_tally(7, 3, 0, to_pico("0.0000209"), False))

    rows = {(r[1], r[2]): r[3] for r in await repo.tenant_usage("t1", *WINDOW)}
    m1 = rows[("fake", "m1")]
    assert (m1["turns"], m1["prompt_tokens"], m1["completion_tokens"], m1["cached_prompt_tokens"]) == (4, 117, 33, 40)
    assert from_pico(m1["cost_pico_usd"]) == str(Decimal("0.000198") + Decimal("0.0000275") + Decimal("0.0000209"))
    assert (m1["unpriced_turns"], m1["cache_hits"]) == (0, 1)
    assert (rows[("fake", "m2")]["unpriced_turns"], rows[("fake", "m2")]["cost_pico_usd"]) == (1, 0)

    ann = await repo.tenant_usage("t1", *WINDOW, user_id="usr_ann")
    assert [(r[0], r[2], r[3]["turns"], from_pico(r[3]["cost_pico_usd"])) for r in ann] == [(today, "m1", 2, "0.000198")]

    before = await repo.tenant_usage("t1", *WINDOW)
    await repo.erase_user("usr_ann")
    assert await repo.tenant_usage("t1", *WINDOW) == before
    assert await repo.tenant_usage("t1", *WINDOW, user_id="usr_ann") == []


async def test_an_unpriced_step_of_another_provider_is_booked_unpriced_not_at_zero(repo):
    """A run whose first step was served by a model without a price (the answer's cost is then
    unknown too): the step's row counts an unpriced answer, its cost unknown, never a priced $0."""
    conversation = (await repo.create_conversation("usr_ann", "t1", "t")).id
    question = Message(id=new_id("msg"), conversation_id=conversation, role="user", content="q", citations=[])
    await repo.add_message(question)
    steps = [{"type": "model", "step": 1, "provider": "unpriced", "model": "m", "prompt_tokens": 5, "completion_tokens": 1, "cost": ""},
             {"type": "model", "step": 2, "provider": "fake", "model": "m1", "prompt_tokens": 6, "completion_tokens": 2,
              "cost": "0.000004"}]
    await repo.add_message(Message(id=new_id("msg"), conversation_id=conversation, role="assistant", content="a", parent_id=question.id,
                                   provider="fake", model="m1", prompt_tokens=11, completion_tokens=3, cost_pico_usd=None, steps=steps,
                                   citations=[]))
    rows = {(r[1], r[2]): r[3] for r in await repo.tenant_usage("t1", *WINDOW)}
    step = rows[("unpriced", "m")]
    assert (step["turns"], step["prompt_tokens"], step["completion_tokens"]) == (0, 5, 1)
    assert (step["unpriced_turns"], step["cost_pico_usd"]) == (1, 0)  # unknown: the cost column leaves it out
    assert (rows[("fake", "m1")]["prompt_tokens"], rows[("fake", "m1")]["unpriced_turns"]) == (6, 1)
