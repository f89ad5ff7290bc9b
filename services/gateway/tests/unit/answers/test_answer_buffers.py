"""What every answer buffer must do, whatever holds it: in this process, and (marked `contract`,
so `make test-unit` skips it) in Redis Streams on the real Redis at 127.0.0.1:6379, where a
second buffer on the same Redis plays a second gateway replica."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from chatbot_common.errors import AppError, ErrorCode
from gateway.answers.buffers import AnswerBuffers, Batch, InProcessBuffers
from gateway.answers.redis_buffers import RedisBuffers

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def make(kind: str, ttl: float) -> AnswerBuffers:
    return InProcessBuffers(ttl) if kind == "in-process" else RedisBuffers(REDIS_URL, ttl, inflight_seconds=60)


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.contract)])
def kind(request) -> str:
    return request.param


def new_id() -> str:
    return "msg_" + uuid.uuid4().hex


async def collect(buffers: AnswerBuffers, message_id: str, after: int, wait: float = 0.05, limit: int = 100) -> list[Batch]:
    batches = []
    async for batch in buffers.follow(message_id, after, wait):
        batches.append(batch)
        if len(batches) >= limit:
            break
    return batches


async def replays_follows_and_ends(buffers: AnswerBuffers, ttl: float) -> None:
    message_id = new_id()
    await buffers.open(message_id, "usr_1")
    assert await buffers.owner(message_id) == "usr_1"
    assert await buffers.append(message_id, [b"a", b"b"]) is False
    follower = asyncio.ensure_future(collect(buffers, message_id, 0, wait=5))
    await asyncio.sleep(0.05)
    await buffers.append(message_id, [b"c"])
    await buffers.end(message_id)
    batches = await asyncio.wait_for(follower, 5)
    # numbered from 1, in order, each once, and the follow ends with the answer
    assert [event for batch in batches for event in batch] == [(1, b"a"), (2, b"b"), (3, b"c")]
    # after the end: a replay from any point, until the buffer is forgotten
    assert [e for b in await collect(buffers, message_id, 2) for e in b] == [(3, b"c")]
    assert await collect(buffers, message_id, 3) == []
    assert await buffers.owner(message_id) == "usr_1"


async def heartbeats_while_nothing_comes(buffers: AnswerBuffers, ttl: float) -> None:
    message_id = new_id()
    await buffers.open(message_id, "usr_1")
    batches = await collect(buffers, message_id, 0, wait=0.02, limit=3)
    assert batches == [[], [], []]
    await buffers.end(message_id)


async def stop_is_seen_by_the_next_append_and_refused_once_ended(buffers: AnswerBuffers, ttl: float) -> None:
    message_id = new_id()
    await buffers.open(message_id, "usr_1")
    await buffers.append(message_id, [b"a"])
    assert await buffers.ask_stop(message_id) is True
    assert await buffers.append(message_id, [b"b"]) is True
    await buffers.end(message_id)
    assert await buffers.ask_stop(message_id) is False


async def unknown_answers_have_no_owner_and_nothing_to_follow(buffers: AnswerBuffers, ttl: float) -> None:
    message_id = new_id()
    assert await buffers.owner(message_id) is None
    assert await buffers.ask_stop(message_id) is False
    assert await collect(buffers, message_id, 0) == []


async def forgotten_after_the_ttl(buffers: AnswerBuffers, ttl: float) -> None:
    message_id = new_id()
    await buffers.open(message_id, "usr_1")
    await buffers.append(message_id, [b"a"])
    await buffers.end(message_id)
    deadline = asyncio.get_running_loop().time() + ttl + 5
    while await buffers.owner(message_id) is not None:
        assert asyncio.get_running_loop().time() < deadline, "the buffer outlived its ttl"
        await asyncio.sleep(0.05)
    assert await collect(buffers, message_id, 0) == []


async def a_conversation_names_its_answer_in_flight_to_its_owner_only(buffers: AnswerBuffers, ttl: float) -> None:
    conversation, other = "conv_" + uuid.uuid4().hex, "conv_" + uuid.uuid4().hex
    first, second = new_id(), new_id()
    assert await buffers.pending("usr_1", [conversation, other]) == {}
    await buffers.open(first, "usr_1", conversation)
    assert await buffers.pending("usr_1", [conversation, other]) == {conversation: first}
    assert await buffers.pending("usr_2", [conversation]) == {}  # nobody else sees it
    # a newer answer in the same conversation takes over; the older one ending leaves it
    await buffers.open(second, "usr_1", conversation)
    await buffers.end(first)
    assert await buffers.pending("usr_1", [conversation]) == {conversation: second}
    await buffers.end(second)
    assert await buffers.pending("usr_1", [conversation]) == {}
    assert await buffers.owner(second) == "usr_1"  # the events are still kept for the ttl


@pytest.mark.parametrize(("check", "ttl"), [
    (a_conversation_names_its_answer_in_flight_to_its_owner_only, 60),
    (replays_follows_and_ends, 60), (heartbeats_while_nothing_comes, 60), (stop_is_seen_by_the_next_append_and_refused_once_ended, 60),
    (unknown_answers_have_no_owner_and_nothing_to_follow, 60), (forgotten_after_the_ttl, 1),
], ids=lambda v: getattr(v, "__name__", str(v)))
async def test_buffer(kind, check, ttl):
    buffers = make(kind, ttl)
    try:
        await check(buffers, ttl)
    finally:
        await buffers.close()


@pytest.mark.contract
async def test_a_second_replica_follows_and_stops_an_answer_the_first_generates():
    first, second = make("redis", 60), make("redis", 60)
    try:
        message_id, conversation = new_id(), "conv_" + uuid.uuid4().hex
        await first.open(message_id, "usr_1", conversation)
        assert await second.pending("usr_1", [conversation]) == {conversation: message_id}
        await first.append(message_id, [b"a"])
        follower = asyncio.ensure_future(collect(second, message_id, 0, wait=5))
        await asyncio.sleep(0.05)
        assert await second.owner(message_id) == "usr_1"
        assert await second.ask_stop(message_id) is True
        assert await first.append(message_id, [b"b"]) is True  # the generating replica sees the stop
        await first.end(message_id)
        assert [e for b in await asyncio.wait_for(follower, 5) for e in b] == [(1, b"a"), (2, b"b")]
        assert await second.ask_stop(message_id) is False
        assert await second.pending("usr_1", [conversation]) == {}
    finally:
        await first.close()
        await second.close()


async def test_a_busy_replica_keeps_a_bounded_number_of_ended_answers():
    buffers = InProcessBuffers(ttl_seconds=60, max_ended=3)
    ids = [new_id() for _ in range(5)]
    for message_id in ids:
        await buffers.open(message_id, "usr_1")
        await buffers.append(message_id, [b"a"])
        await buffers.end(message_id)
    assert [await buffers.owner(m) for m in ids] == [None, None, "usr_1", "usr_1", "usr_1"]
    in_flight = new_id()
    await buffers.open(in_flight, "usr_1")  # answers in flight are never dropped for room
    assert await buffers.owner(in_flight) == "usr_1"


async def test_redis_down_is_service_unavailable_never_a_500():
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    buffers = RedisBuffers(f"redis://127.0.0.1:{port}/0", 60, inflight_seconds=60)
    try:
        for call in (buffers.open(new_id(), "usr_1", "conv_1"), buffers.owner(new_id()), buffers.ask_stop(new_id()),
                     buffers.pending("usr_1", ["conv_1"]), collect(buffers, new_id(), 0)):
            with pytest.raises(AppError) as refused:
                await call
            assert refused.value.code is ErrorCode.SERVICE_UNAVAILABLE
    finally:
        await buffers.close()
