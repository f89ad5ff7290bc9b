"""Where an answer's events wait for whoever follows them: one buffer per assistant message.

Events are numbered from 1 in the order they were appended (the SSE `id:`); a follower asks
for the events after the last one it has and waits for more. A buffer records who may read it
and whether its generation was asked to stop; it ends once, and is forgotten `ttl` seconds
after it ended (the stored message is the record from then on).

While an answer is in flight its conversation names it (`pending`): the server, not the tab that
asked, knows which answer a conversation is waiting for, so a client that opens the conversation
anywhere (after a reload on another replica, in a new tab, on another device) follows it. Only
the answer's owner sees it; the mark goes when the answer ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

Batch = list[tuple[int, bytes]]  # (event number, encoded event)


class AnswerBuffers(Protocol):
    async def open(self, message_id: str, owner: str, conversation_id: str = "") -> None: ...

    async def append(self, message_id: str, events: list[bytes]) -> bool:
        """Adds events after the ones before; returns whether a stop was asked for."""
        ...

    async def end(self, message_id: str) -> None: ...

    async def owner(self, message_id: str) -> str | None:
        """Who may follow the answer; None: no such answer (never, or forgotten)."""
        ...

    async def ask_stop(self, message_id: str) -> bool:
        """Asks the generation to stop (seen by its relay at its next event); False when the
        answer has already ended."""
        ...

    async def pending(self, owner: str, conversation_ids: list[str]) -> dict[str, str]:
        """The answer in flight in each of these conversations that `owner` may follow, by
        conversation id (conversations with none are left out)."""
        ...

    def follow(self, message_id: str, after: int, wait: float) -> AsyncIterator[Batch]:
        """The events numbered above `after`, as they come, until the end. An empty batch means
        nothing came for `wait` seconds (a heartbeat's cue)."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Answer:
    owner: str
    conversation_id: str = ""
    events: list[bytes] = field(default_factory=list)
    ended: bool = False
    stop: bool = False
    changed: asyncio.Future | None = None

    def wake(self) -> None:
        if self.changed is not None and not self.changed.done():
            self.changed.set_result(None)
        self.changed = None


class InProcessBuffers:
    """This process's buffers: for one gateway replica (the embedded default). Ended answers are
    kept for `ttl` seconds, and at most `max_ended` of them (the oldest go first), so that memory
    stays bounded however many answers a busy replica ends per second."""

    def __init__(self, ttl_seconds: float, max_ended: int = 5000) -> None:
        self._ttl = ttl_seconds
        self._max_ended = max_ended
        self._answers: dict[str, _Answer] = {}
        self._ended: dict[str, _Answer] = {}  # in the order they ended
        self._pending: dict[str, str] = {}  # conversation id -> its answer in flight

    async def open(self, message_id: str, owner: str, conversation_id: str = "") -> None:
        self._answers[message_id] = _Answer(owner, conversation_id)
        if conversation_id:
            self._pending[conversation_id] = message_id

    async def append(self, message_id: str, events: list[bytes]) -> bool:
        answer = self._answers[message_id]
        answer.events.extend(events)
        answer.wake()
        return answer.stop

    async def end(self, message_id: str) -> None:
        answer = self._answers.get(message_id)
        if answer is None or answer.ended:
            return
        answer.ended = True
        answer.wake()
        if answer.conversation_id and self._pending.get(answer.conversation_id) == message_id:
            del self._pending[answer.conversation_id]
        self._ended[message_id] = answer
        while len(self._ended) > self._max_ended:
            self._forget(*next(iter(self._ended.items())))
        asyncio.get_running_loop().call_later(self._ttl, self._forget, message_id, answer)

    def _forget(self, message_id: str, answer: _Answer) -> None:
        if self._answers.get(message_id) is answer:
            del self._answers[message_id]
        if self._ended.get(message_id) is answer:
            del self._ended[message_id]

    async def owner(self, message_id: str) -> str | None:
        answer = self._answers.get(message_id)
        return answer.owner if answer else None

    async def ask_stop(self, message_id: str) -> bool:
        answer = self._answers.get(message_id)
        if answer is None or answer.ended:
            return False
        answer.stop = True
        return True

    async def pending(self, owner: str, conversation_ids: list[str]) -> dict[str, str]:
        found = {}
        for conversation_id in conversation_ids:
            message_id = self._pending.get(conversation_id)
            answer = self._answers.get(message_id) if message_id else None
            if answer is not None and answer.owner == owner and not answer.ended:
                found[conversation_id] = message_id
        return found

    async def follow(self, message_id: str, after: int, wait: float) -> AsyncIterator[Batch]:
        answer = self._answers.get(message_id)
        if answer is None:
            return
        while True:
            if len(answer.events) > after:
                batch = [(n, answer.events[n - 1]) for n in range(after + 1, len(answer.events) + 1)]
                after = len(answer.events)
                yield batch
                continue
            if answer.ended:
                return
            if answer.changed is None:
                answer.changed = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(wait):
                    await asyncio.shield(answer.changed)
            except TimeoutError:
                yield []

    async def close(self) -> None:
        self._answers.clear()
        self._ended.clear()
        self._pending.clear()
