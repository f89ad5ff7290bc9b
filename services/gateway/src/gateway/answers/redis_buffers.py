"""Answer buffers in Redis Streams, shared by every gateway replica: a client that reconnects
may land on another replica than the one generating, and still follows the answer.

Per answer: a stream `chatbot:answer:<id>` whose entries are numbered `0-<n>` (n = the event
number, so `Last-Event-ID` is the stream position), with an entry holding `end` last; a key
naming the owner; a key present once a stop was asked for; while it is in flight, a key
`chatbot:answer:conversation:<id>` holding "<owner> <message id>" (removed when the answer ends,
unless a newer answer of the conversation took it over). Every key expires: while the answer is
in flight, after the longest a turn may take; once it ended, after the buffer's ttl."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from redis.exceptions import RedisError

from chatbot_common.errors import AppError, ErrorCode
from gateway.answers.buffers import Batch

_PREFIX = "chatbot:answer:"
_CONVERSATION = _PREFIX + "conversation:"
# Removes a conversation's mark only if it still names this answer (a newer one may have taken it).
_FORGET_PENDING = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _unavailable() -> AppError:
    return AppError(ErrorCode.SERVICE_UNAVAILABLE, "the answer buffer (Redis) is unavailable; try again shortly", {"retry_after": 1})


def _store_call(method):
    """A Redis failure is the service being unavailable (503, retryable), never a 500."""

    @functools.wraps(method)
    async def call(*args, **kwargs):
        try:
            return await method(*args, **kwargs)
        except RedisError:
            raise _unavailable() from None

    return call


def _keys(message_id: str) -> tuple[str, str, str]:
    base = _PREFIX + message_id
    return base, base + ":owner", base + ":stop"


class RedisBuffers:
    def __init__(self, url: str, ttl_seconds: float, inflight_seconds: float, longest_wait_seconds: float = 30.0) -> None:
        import redis.asyncio as redis

        # Followers block in XREAD for up to their heartbeat interval: the socket timeout is
        # longer than that, and still ends a read that a network partition would hang forever.
        self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=longest_wait_seconds + 5,
                                            health_check_interval=30)
        self._ttl = max(1, int(ttl_seconds))
        self._inflight = max(1, int(inflight_seconds)) + self._ttl
        self._appended: dict[str, int] = {}  # answers this replica generates: events so far
        self._marks: dict[str, tuple[str, str]] = {}  # and the (key, value) naming each in its conversation
        self._forget_pending = self._client.register_script(_FORGET_PENDING)

    @_store_call
    async def open(self, message_id: str, owner: str, conversation_id: str = "") -> None:
        _, owner_key, _ = _keys(message_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(owner_key, owner, ex=self._inflight)
            if conversation_id:
                mark = (_CONVERSATION + conversation_id, f"{owner} {message_id}")
                pipe.set(*mark, ex=self._inflight)
                self._marks[message_id] = mark
            await pipe.execute()
        self._appended[message_id] = 0

    @_store_call
    async def append(self, message_id: str, events: list[bytes]) -> bool:
        stream, owner_key, stop_key = _keys(message_id)
        n = self._appended[message_id]
        async with self._client.pipeline(transaction=False) as pipe:
            for data in events:
                n += 1
                pipe.xadd(stream, {"e": data}, id=f"0-{n}")
            pipe.expire(stream, self._inflight)
            pipe.exists(stop_key)
            *_, stop = await pipe.execute()
        self._appended[message_id] = n
        return bool(stop)

    @_store_call
    async def end(self, message_id: str) -> None:
        n = self._appended.pop(message_id, None)
        mark = self._marks.pop(message_id, None)
        if n is None:
            return
        stream, owner_key, stop_key = _keys(message_id)
        async with self._client.pipeline(transaction=False) as pipe:
            if mark is not None:  # first: whoever sees the end finds the conversation waiting for nothing
                await self._forget_pending(keys=[mark[0]], args=[mark[1]], client=pipe)
            pipe.xadd(stream, {"end": b"1"}, id=f"0-{n + 1}")
            for key in (stream, owner_key, stop_key):
                pipe.expire(key, self._ttl)
            await pipe.execute()

    @_store_call
    async def pending(self, owner: str, conversation_ids: list[str]) -> dict[str, str]:
        if not conversation_ids:
            return {}
        values = await self._client.mget([_CONVERSATION + c for c in conversation_ids])
        found = {}
        for conversation_id, value in zip(conversation_ids, values, strict=True):
            if value is None:
                continue
            who, _, message_id = value.decode().partition(" ")
            if who == owner and message_id:
                found[conversation_id] = message_id
        return found

    @_store_call
    async def owner(self, message_id: str) -> str | None:
        value = await self._client.get(_keys(message_id)[1])
        return value.decode() if value is not None else None

    @_store_call
    async def ask_stop(self, message_id: str) -> bool:
        stream, owner_key, stop_key = _keys(message_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.exists(owner_key)
            pipe.xrevrange(stream, count=1)
            exists, last = await pipe.execute()
        if not exists or (last and b"end" in last[0][1]):
            return False
        await self._client.set(stop_key, b"1", ex=self._inflight)
        return True

    async def follow(self, message_id: str, after: int, wait: float) -> AsyncIterator[Batch]:
        stream, owner_key, _ = _keys(message_id)
        position = f"0-{after}"
        while True:
            try:
                reply = await self._client.xread({stream: position}, count=512, block=max(1, int(wait * 1000)))
                gone = not reply and not await self._client.exists(owner_key)
            except RedisError:
                raise _unavailable() from None
            if not reply:
                if gone:
                    return  # forgotten (or its replica died long ago): the stored message is the record
                yield []
                continue
            batch: Batch = []
            for entry_id, fields in reply[0][1]:
                position = entry_id.decode()
                if b"end" in fields:
                    if batch:
                        yield batch
                    return
                batch.append((int(position.split("-", 1)[1]), fields[b"e"]))
            yield batch

    async def close(self) -> None:
        await self._client.aclose()
