"""Online evaluation's storage and sampling on SQLite and the real PostgreSQL: the tenant's share
decides what is enqueued (a real Celery publish on the embedded broker), a broker that is down
costs the sample and nothing else, scores are stored with the message, listed with the owner's
rating, filtered, and go with the message."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatbot_common import db
from chatbot_common.ids import new_id
from chatbot_common.paging import Page
from chatbot_common.tasks import TASK_EVALUATE_ANSWER
from conversation.evaluation_store import EvaluationFilters, EvaluationStore
from conversation.models import Message
from conversation.online_evaluation import SAMPLED, CeleryEvaluationQueue, OnlineEvaluation
from conversation.repository import Repository
from conversation.server import MIGRATIONS
from conversation.settings import ConversationSettings

pytestmark = pytest.mark.contract

CITATION = {"number": 1, "document_id": "doc_" + "a" * 32, "chunk_id": "c1", "title": "t", "section": "", "page": 0,
            "snippet": "s", "score": 0.5}


@pytest.fixture
async def stores(database_url):
    await asyncio.to_thread(db.upgrade_to_head, MIGRATIONS, db.normalize_url(database_url))
    engine = db.create_engine(database_url)
    sessions = db.session_factory(engine)
    yield Repository(sessions), EvaluationStore(sessions)
    await engine.dispose()


async def answered(repo: Repository, tenant: str, citations: list[dict]) -> Message:
    conv = await repo.create_conversation("usr_" + "1" * 32, tenant, "t")
    question = await repo.add_message(Message(id=new_id("msg"), conversation_id=conv.id, role="user", content="How long?", citations=[]))
    return await repo.add_message(Message(id=new_id("msg"), conversation_id=conv.id, parent_id=question.id, role="assistant",
                                          content="400 days [1].", provider="fake", model="m1", finish_reason="stop", prompt_tokens=10, completion_tokens=5,
                                          citations=citations))


def queued(var_dir) -> list[dict]:
    folder = var_dir / "broker" / "queue"
    return [json.loads(p.read_text()) for p in folder.glob("*.msg")] if folder.exists() else []


async def test_the_share_decides_what_is_enqueued_and_a_broker_down_costs_only_the_sample(stores, tmp_path):
    repo, store = stores
    settings = ConversationSettings(var_dir=tmp_path, broker_url="")
    online = OnlineEvaluation(store, CeleryEvaluationQueue(settings))
    grounded, ungrounded = await answered(repo, "t1", [CITATION]), await answered(repo, "t1", [])
    online.after_answer(grounded, "t1")  # share 0 (no policy): off
    await online.idle()
    assert queued(tmp_path) == []
    await store.set_share("t1", 1.0)
    online.after_answer(grounded, "t1")
    online.after_answer(ungrounded, "t1")  # no sources: nothing to judge
    await online.idle()
    (message,) = queued(tmp_path)
    assert message["headers"]["task"] == TASK_EVALUATE_ANSWER and grounded.id in json.dumps(message)
    assert await store.share("t2") == 0.0 and await EvaluationStore(store._sessions, 0.25).share("t2") == 0.25

    failed = SAMPLED.labels("failed")._value.get()
    down = OnlineEvaluation(store, CeleryEvaluationQueue(ConversationSettings(var_dir=tmp_path, broker_url="redis://127.0.0.1:1/0")))
    down.after_answer(grounded, "t1")  # returns at once; the publish fails in the background
    await down.idle()
    assert SAMPLED.labels("failed")._value.get() == failed + 1


async def test_scores_are_stored_with_the_message_and_listed_with_the_rating(stores):
    repo, store = stores
    first, second = await answered(repo, "t1", [CITATION]), await answered(repo, "t1", [CITATION])
    assert await store.record(first.id, {"faithfulness": 0.5, "context_precision": 1.0, "status": "done", "claims": 2,
                                         "supported_claims": 1, "judge_model": "j"})
    assert await store.record(second.id, {"faithfulness": None, "status": "failed", "error": "judge_unavailable"})
    assert await store.record(first.id, {"faithfulness": 0.75, "status": "done"})  # a task delivered twice replaces
    assert not await store.record(new_id("msg"), {"status": "done"})
    await repo.set_feedback(first.conversation_id, "usr_" + "1" * 32, first.id, -1, "wrong")
    rows, total = await store.list("t1", Page(10, 0), EvaluationFilters())
    assert total == 2 and {e.message_id: (e.faithfulness, rating) for e, rating in rows} == {first.id: (0.75, -1), second.id: (None, 0)}
    assert [e.message_id for e, _ in (await store.list("t1", Page(10, 0), EvaluationFilters(rating="down")))[0]] == [first.id]
    assert (await store.list("t1", Page(10, 0), EvaluationFilters(max_faithfulness=0.5)))[1] == 0
    assert (await store.list("t1", Page(10, 0), EvaluationFilters(status="failed")))[1] == 1
    assert (await store.list("t2", Page(10, 0), EvaluationFilters()))[1] == 0
    await repo.delete_conversation(first.conversation_id, "usr_" + "1" * 32)
    assert [e.message_id for e, _ in (await store.list("t1", Page(10, 0), EvaluationFilters()))[0]] == [second.id]
