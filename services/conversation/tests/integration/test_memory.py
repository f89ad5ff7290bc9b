"""Conversation memory on an in-process conversation server talking to a real in-process
llm-orchestrator with the embedded model (no fakes): summaries written in the background and
used by later turns, titles after the first exchange, user memory in the prompt; and, on SQLite
and on the real PostgreSQL, the storage rules (compare-and-set summaries, never one of a branch
left, pinned first, archived hidden, erasure)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from chatbot.common.v1 import common_pb2
from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot.conversation.v1 import conversation_pb2_grpc
from chatbot_common import db
from chatbot_common.db import utcnow
from chatbot_common.grpc_server import start_grpc
from chatbot_common.ids import new_id
from chatbot_common.paging import Page
from conversation import server as conversation_server
from conversation.memory_store import MemoryStore, TooManyFacts
from conversation.models import Message
from conversation.repository import Repository
from conversation.settings import ConversationSettings
from llm_orchestrator.server import build_service as build_llm
from llm_orchestrator.settings import LlmSettings

pytestmark = pytest.mark.contract


@pytest.fixture
async def stub(tmp_path):
    llm_settings = LlmSettings(grpc_port=0, var_dir=tmp_path, local_n_ctx=2048, max_attempts=1,
                               model_aliases={"default": ["local:smollm2-135m-instruct"]})
    llm = await start_grpc(build_llm(llm_settings), llm_settings)
    # A small history allowance, so that a few short turns pass the summary trigger.
    settings = ConversationSettings(grpc_port=0, var_dir=tmp_path, llm_target=f"127.0.0.1:{llm.port}", history_tokens=160,
                                    summary_keep_messages=4, summary_max_tokens=48, title_max_tokens=10)
    await asyncio.to_thread(conversation_server.migrate, settings)
    conv = await start_grpc(conversation_server.build_service(settings), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{conv.port}")
    yield conversation_pb2_grpc.ConversationServiceStub(channel)
    await channel.close()
    await conv.stop(1)
    await llm.stop(1)


def caller(user="usr_a", tenant="t1"):
    return common_pb2.Caller(user_id=user, tenant_id=tenant)


async def turn(stub, message, conversation_id="", user="usr_a", tenant="t1", max_tokens=8):
    events = [e async for e in stub.Chat(pb.ChatRequest(caller=caller(user, tenant), conversation_id=conversation_id, message=message,
                                                         max_tokens=max_tokens, temperature=0.0), timeout=120)]
    done = events[-1].completed
    assert done.message_id, events[-1]
    return done, "".join(e.token.text for e in events if e.WhichOneof("event") == "token")


async def until(check, seconds=120.0):
    """Polls `check` (a coroutine function) until it returns something true, or fails."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_older_turns_are_summarised_in_the_background_and_used(stub):
    done, _ = await turn(stub, "My name is Ada and I am planning a trip to Lisbon.")
    conversation_id = done.conversation_id
    answers = {}
    for i in range(6):
        done, text = await turn(stub, f"Question {i}: name one thing to see in Lisbon.", conversation_id)
        answers[done.message_id] = text

    async def summarised():
        conv = await stub.GetConversation(pb.GetConversationRequest(caller=caller(), conversation_id=conversation_id), timeout=5)
        return conv if conv.HasField("summary") else None

    conv = await until(summarised)
    assert conv.summary.text.strip() and conv.summary.model and conv.summary.messages >= 2
    # The summary covers a prefix of the branch; the newest messages stay verbatim after it.
    branch = await stub.ListMessages(pb.ListMessagesRequest(caller=caller(), conversation_id=conversation_id, current_branch=True,
                                                            page=common_pb2.PageRequest(limit=100)), timeout=5)
    ids = [m.id for m in branch.messages]
    assert ids.index(conv.summary.through_message_id) + 1 == conv.summary.messages
    assert len(ids) - conv.summary.messages >= 4
    # A turn with the summary in place still answers, and every message is stored intact.
    done, text = await turn(stub, "And what should I eat there?", conversation_id)
    answers[done.message_id] = text
    stored = await stub.ListMessages(pb.ListMessagesRequest(caller=caller(), conversation_id=conversation_id,
                                                            page=common_pb2.PageRequest(limit=100)), timeout=5)
    assert len(stored.messages) == 16
    assert all(m.content == answers[m.id] for m in stored.messages if m.id in answers)


async def test_a_title_is_generated_after_the_first_exchange_but_never_over_a_persons(stub):
    done, _ = await turn(stub, "How do I repot a cactus without getting hurt?")

    async def titled():
        conv = await stub.GetConversation(pb.GetConversationRequest(caller=caller(), conversation_id=done.conversation_id), timeout=5)
        return conv if conv.title_source == "generated" else None

    conv = await until(titled)
    assert conv.title.strip() and len(conv.title) <= 60
    named = await stub.CreateConversation(pb.CreateConversationRequest(caller=caller(), title="Cactus care"), timeout=5)
    await turn(stub, "How often should a cactus be watered?", named.id)
    renamed_before_title = await turn(stub, "What soil suits a cactus?")
    await stub.UpdateConversation(pb.UpdateConversationRequest(caller=caller(), conversation_id=renamed_before_title[0].conversation_id,
                                                               title="My soil notes"), timeout=5)
    # Both conversations are idle once no background job remains for them (the service is in-process).
    for conversation_id, title in ((named.id, "Cactus care"), (renamed_before_title[0].conversation_id, "My soil notes")):
        conv = await stub.GetConversation(pb.GetConversationRequest(caller=caller(), conversation_id=conversation_id), timeout=5)
        assert (conv.title, conv.title_source) == (title, "user")


async def test_user_memory_is_opt_in_reaches_the_prompt_and_obeys_the_tenant(stub):
    said = "Remember that I work in the Berlin office."
    # Off by default: nothing is kept.
    await turn(stub, said, user="usr_mem", tenant="t_mem")
    assert list((await stub.GetMemory(pb.GetMemoryRequest(caller=caller("usr_mem", "t_mem")), timeout=5)).facts) == []
    memory = await stub.UpdateMemorySettings(pb.UpdateMemorySettingsRequest(caller=caller("usr_mem", "t_mem"), enabled=True), timeout=5)
    assert memory.enabled and memory.tenant_allowed
    without, _ = await turn(stub, "What is two plus two?", user="usr_mem", tenant="t_mem")
    await turn(stub, said, user="usr_mem", tenant="t_mem")
    await turn(stub, said, user="usr_mem", tenant="t_mem")  # the same fact twice is kept once
    memory = await stub.GetMemory(pb.GetMemoryRequest(caller=caller("usr_mem", "t_mem")), timeout=5)
    assert [(f.content, f.source) for f in memory.facts] == [("I work in the Berlin office", "chat")]
    # The same question now carries the fact (its block is about 25 tokens; each turn's random
    # canary varies the system prompt by a few).
    with_fact, _ = await turn(stub, "What is two plus two?", user="usr_mem", tenant="t_mem")
    assert with_fact.usage.prompt_tokens >= without.usage.prompt_tokens + 15
    # Edit and delete through the API; another user sees none of it.
    fact = memory.facts[0]
    edited = await stub.UpdateMemoryFact(pb.UpdateMemoryFactRequest(caller=caller("usr_mem", "t_mem"), fact_id=fact.id,
                                                                    content="I work in the Munich office"), timeout=5)
    assert edited.content == "I work in the Munich office"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.DeleteMemoryFact(pb.DeleteMemoryFactRequest(caller=caller("usr_other", "t_mem"), fact_id=fact.id), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # The tenant turns memory off: nothing is captured or used, and nobody can turn it on.
    await stub.SetTenantMemoryPolicy(pb.TenantMemoryPolicy(caller=caller("usr_admin", "t_mem"), user_memory_allowed=False), timeout=5)
    off, _ = await turn(stub, "What is two plus two?", user="usr_mem", tenant="t_mem")
    assert abs(off.usage.prompt_tokens - without.usage.prompt_tokens) <= 5
    await turn(stub, "Remember that my desk is 4.12.", user="usr_mem", tenant="t_mem")
    memory = await stub.GetMemory(pb.GetMemoryRequest(caller=caller("usr_mem", "t_mem")), timeout=5)
    assert not memory.tenant_allowed and [f.content for f in memory.facts] == ["I work in the Munich office"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UpdateMemorySettings(pb.UpdateMemorySettingsRequest(caller=caller("usr_new", "t_mem"), enabled=True), timeout=5)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Erasure removes the facts.
    erased = await stub.EraseUserData(pb.UserDataRequest(caller=caller("usr_mem", "t_mem")), timeout=10)
    assert erased.memory_facts == 1
    assert list((await stub.GetMemory(pb.GetMemoryRequest(caller=caller("usr_mem", "t_mem")), timeout=5)).facts) == []


# --- storage rules, on both databases -------------------------------------------------------

@pytest.fixture
async def sessions(database_url):
    await asyncio.to_thread(db.upgrade_to_head, conversation_server.MIGRATIONS, db.normalize_url(database_url))
    engine = db.create_engine(database_url)
    yield db.session_factory(engine)
    await engine.dispose()


async def say(repo, conversation_id, role, parent_id, text="x"):
    message = Message(id=new_id("msg"), conversation_id=conversation_id, role=role, content=text, parent_id=parent_id,
                      provider="local", model="m", prompt_tokens=0, completion_tokens=0, citations=[], created_at=utcnow())
    await repo.add_message(message)
    return message.id


async def exchanges(repo, conversation_id, count: int) -> list[str]:
    """`count` messages in one branch, a question first and answers between: their ids, oldest first."""
    ids: list[str] = []
    for i in range(count):
        ids.append(await say(repo, conversation_id, "assistant" if i % 2 else "user", ids[-1] if ids else None))
    return ids


async def test_a_summary_is_stored_once_and_never_for_a_branch_left(sessions):
    repo = Repository(sessions)
    conv = await repo.create_conversation("usr_a", "t1", "")
    q1, a1, q2, a2 = await exchanges(repo, conv.id, 4)
    assert await repo.store_summary(conv.id, "", a1, "first", 2, "m")
    # A second writer of the same fold (it read the summary as it was) stores nothing.
    assert not await repo.store_summary(conv.id, "", a1, "again", 2, "m")
    # The person edits q2: a new branch from a1; the old one (q2, a2) is left.
    q2b = await say(repo, conv.id, "user", a1)
    assert (await repo.conversation(conv.id)).current_message_id == q2b
    assert not await repo.store_summary(conv.id, a1, a2, "of the branch left", 4, "m")
    assert await repo.store_summary(conv.id, a1, q2b, "of the branch shown", 3, "m")
    stored = await repo.conversation(conv.id)
    assert (stored.summary, stored.summary_through_id, stored.summary_messages) == ("of the branch shown", q2b, 3)


async def test_the_history_is_read_back_to_the_summary_only(sessions):
    repo = Repository(sessions)
    conv = await repo.create_conversation("usr_a", "t1", "")
    whole = q1, a1, q2, a2, q3 = await exchanges(repo, conv.id, 5)
    assert [m.id for m in await repo.branch(conv.id, q3)] == whole
    # The walk ends at the summary's last message (kept, so the turn sees the summary is on its branch).
    assert [m.id for m in await repo.branch(conv.id, q3, 200, stop_at=a1)] == [a1, q2, a2, q3]
    assert [m.id for m in await repo.branch(conv.id, q3, 2, stop_at=a1)] == [a2, q3]
    # A summary of another branch (q2b, an edit of q2) stops nothing: the whole branch is read.
    q2b = await say(repo, conv.id, "user", a1)
    assert [m.id for m in await repo.branch(conv.id, q3, stop_at=q2b)] == whole
    assert [m.id for m in await repo.branch(conv.id, q2b, stop_at=a2)] == [q1, a1, q2b]


async def test_pinned_first_archived_hidden_and_a_persons_title_kept(sessions):
    repo = Repository(sessions)
    older = await repo.create_conversation("usr_a", "t1", "older")
    untitled = await repo.create_conversation("usr_a", "t1", "")
    newest = await repo.create_conversation("usr_a", "t1", "newest")
    await repo.set_flags(older.id, "usr_a", pinned=True, archived=None)
    await repo.set_flags(newest.id, "usr_a", pinned=None, archived=True)
    assert await repo.set_flags(older.id, "usr_b", pinned=False, archived=None) is None

    async def listed(archived):
        rows, total = await repo.list_conversations("usr_a", Page(20, 0), "created", "desc", "", archived)
        return [c.id for c in rows], total

    assert await listed("exclude") == ([older.id, untitled.id], 2)
    assert await listed("include") == ([older.id, newest.id, untitled.id], 3)
    assert await listed("only") == ([newest.id], 1)
    # A generated title fills only a title that the person has not given.
    assert await repo.set_generated_title(untitled.id, "Generated")
    assert not await repo.set_generated_title(older.id, "Generated")
    await repo.rename_conversation(untitled.id, "usr_a", "Mine")
    assert not await repo.set_generated_title(untitled.id, "Generated again")
    assert (await repo.conversation(untitled.id)).title == "Mine"


async def test_memory_store_limits_and_erasure(sessions):
    store = MemoryStore(sessions)
    assert not (await store.state("usr_a", "t1")).active
    await store.set_enabled("usr_a", True)
    first = await store.add("usr_a", "t1", "I like tea", "api", "", max_facts=2)
    assert (await store.add("usr_a", "t1", "i like  TEA.", "chat", "", max_facts=2)).id == first.id
    await store.add("usr_a", "t1", "I live in Porto", "api", "", max_facts=2)
    with pytest.raises(TooManyFacts):
        await store.add("usr_a", "t1", "A third", "api", "", max_facts=2)
    state = await store.state("usr_a", "t1")
    assert state.active and [f.content for f in state.facts] == ["I like tea", "I live in Porto"]
    await store.set_tenant_policy("t1", False)
    state = await store.state("usr_a", "t1")
    assert state.enabled and not state.active and state.facts == []
    assert await store.erase_user("usr_a") == 2
    assert await store.facts("usr_a") == [] and not (await store.state("usr_a", "t1")).enabled


async def test_retention_takes_the_summary_with_the_messages_it_retells(sessions):
    from datetime import timedelta

    repo = Repository(sessions)
    conv = await repo.create_conversation("usr_a", "t1", "")
    old = utcnow() - timedelta(days=10)
    q1 = Message(id=new_id("msg"), conversation_id=conv.id, role="user", content="old question", parent_id=None,
                 provider="", model="", prompt_tokens=0, completion_tokens=0, citations=[], created_at=old)
    await repo.add_message(q1)
    q2 = await say(repo, conv.id, "user", q1.id)
    assert await repo.store_summary(conv.id, "", q1.id, "retells the old question", 1, "m")
    assert await repo.purge_messages(utcnow() - timedelta(days=5)) == (1, 0)
    kept = await repo.conversation(conv.id)
    assert (kept.summary, kept.summary_through_id, kept.message_count, kept.current_message_id) == ("", "", 1, q2)
