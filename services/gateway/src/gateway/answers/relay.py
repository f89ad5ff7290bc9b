"""The task that generates a streamed answer, whoever is listening: it reads the turn's events,
encodes them as SSE and appends them to the answer's buffer, until the turn ends, fails, or is
stopped. A client leaving does not stop it; `stop` does (on this replica at once; on another,
through the buffer, at the relay's next event)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.streams import read_ahead
from gateway.answers.buffers import AnswerBuffers
from gateway.chat_stream import EventStream, GuardrailCaught, TokenMeter, TurnCompleted, TurnEvent
from gateway.limits.limiter import TurnGuard
from gateway.sse import HEARTBEAT
from gateway.sse import event as sse_event

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Relay:
    stream: EventStream[TurnEvent]
    reading: bool = True  # False once the relay is ending the answer: too late to stop it
    stop: bool = False


class Relays:
    """The answers this replica is generating, by assistant message id."""

    def __init__(self, buffers: AnswerBuffers) -> None:
        self.buffers = buffers
        self._running: dict[str, _Relay] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(
        self, message_id: str, owner: str, stream: EventStream[TurnEvent], guard: TurnGuard,
        encode: Callable[[TurnEvent], bytes | None], on_guardrail: Callable[[object], Awaitable[None]], conversation_id: str = "",
        resumed: bool = False,
    ) -> None:
        """Generates the answer into its buffer; `resumed`: the stream is a resumed agent run's
        next leg (charged what the leg added, TokenMeter)."""
        await self.buffers.open(message_id, owner, conversation_id)
        relay = self._running[message_id] = _Relay(stream)
        task = asyncio.create_task(self._run(message_id, relay, guard, encode, on_guardrail, TokenMeter(resumed)), name=f"answer {message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, message_id: str, relay: _Relay, guard: TurnGuard,
                   encode: Callable[[TurnEvent], bytes | None], on_guardrail: Callable[[object], Awaitable[None]], used: TokenMeter) -> None:
        try:
            # Events that arrive while an append is pending are appended together. A stop
            # cancels the call: the stream then ends (or fails) at once, and the flag tells why.
            async with contextlib.aclosing(read_ahead(aiter(relay.stream))) as batches:
                async for batch in batches:
                    out = []
                    for event in batch:
                        if isinstance(event, GuardrailCaught):
                            await on_guardrail(event.event)
                            continue
                        used.see(event)
                        if (data := encode(event)) is not None:
                            out.append(data)
                    completed = any(isinstance(event, TurnCompleted) for event in batch)
                    if completed:
                        relay.stop = False  # it ended before the stop took effect: the answer is whole
                    elif relay.stop:
                        break
                    if out and await self.buffers.append(message_id, out) and not completed:  # stopped on another replica
                        relay.stop = True
                        break
        except (AppError, asyncio.CancelledError) as error:
            if not relay.stop and isinstance(error, AppError):
                await self._append_last(message_id, sse_event("error", error.to_body()))
            elif not relay.stop:
                raise
        except Exception:  # noqa: BLE001 - e.g. the buffer store failing: the turn is cancelled below
            log.exception("answer relay failed", extra={"message_id": message_id})
            await self._append_last(message_id, sse_event("error", AppError(ErrorCode.INTERNAL_ERROR, "internal error").to_body()))
        finally:
            relay.reading = False
            # Shielded: whatever happens to this task now, the answer ends once, in order, and
            # the turn's limits are given back.
            await asyncio.shield(self._end(message_id, relay, guard, used))

    async def _end(self, message_id: str, relay: _Relay, guard: TurnGuard, used: TokenMeter) -> None:
        try:
            # Cancelling the call stops generation upstream; the conversation service stores
            # the partial answer as cancelled.
            relay.stream.cancel()
            if relay.stop:
                await self._append_last(message_id, sse_event("stopped", {"message_id": message_id}))
            with contextlib.suppress(Exception):
                await self.buffers.end(message_id)
        finally:
            self._running.pop(message_id, None)
            await guard.finish(*used.settlement())

    async def _append_last(self, message_id: str, data: bytes) -> None:
        with contextlib.suppress(Exception):
            await self.buffers.append(message_id, [data])

    async def require_owner(self, message_id: str, user_id: str) -> None:
        """Only the person an answer is for may follow or stop it; to anyone else it does not exist."""
        if await self.buffers.owner(message_id) != user_id:
            raise AppError(ErrorCode.NOT_FOUND, "no answer in flight with this id (a finished answer is in its conversation's messages)")

    async def pending(self, owner: str, conversation_ids: list[str]) -> dict[str, str]:
        """The answers in flight in these conversations of `owner`, by conversation id. When the
        buffer cannot be read the conversations are still shown, as having none (a client that
        started the answer keeps its own hint)."""
        try:
            return await self.buffers.pending(owner, conversation_ids)
        except AppError as error:
            log.warning("answers in flight unknown: %s", error.message)
            return {}

    async def stop(self, message_id: str) -> bool:
        """Stops the answer's generation; False when it has already ended (or is ending)."""
        relay = self._running.get(message_id)
        if relay is None:
            return await self.buffers.ask_stop(message_id)
        if not relay.reading:
            return False
        relay.stop = True
        relay.stream.cancel()
        return True

    async def close(self, grace_seconds: float = 0.0) -> None:
        """Shutting down: the answers in flight get `grace_seconds` to end (a rolling restart
        must not cut the answers that clients follow on other replicas, or will come back
        for); those still going then stop (each stored as cancelled, its followers told)."""
        if self._tasks and grace_seconds > 0:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for message_id in list(self._running):
            await self.stop(message_id)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.buffers.close()


async def follow(buffers: AnswerBuffers, message_id: str, after: int, heartbeat: float) -> AsyncIterator[bytes]:
    """The answer's SSE events numbered above `after`, each with its `id:`, then the end (or an
    error event, without an id, when the buffer cannot be read: the client may come back)."""
    try:
        async for batch in buffers.follow(message_id, after, heartbeat):
            if not batch:
                yield HEARTBEAT
                continue
            yield b"".join(b"id: %d\n" % n + data for n, data in batch)
    except AppError as error:
        yield sse_event("error", error.to_body())
