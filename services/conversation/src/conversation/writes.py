"""Writes that must outlive the request that started them: an answer and its usage, written as a
chat turn or a resumed run ends, or kept when the client went away. Each runs as a task of its
own, awaited through asyncio.shield, so a stop or a client gone mid-write does not roll it back.

The tasks are held here until they are done. A write that fails is logged by name (the answer's
id, never its text: an SQL error's message can quote the row), where a bare shield left only
'Task exception was never retrieved' once the caller was gone. The service's graceful shutdown
waits for the writes under way (`drain`, within a timeout) before it closes the database, so a
run stopped while the service shuts down is still stored and booked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_LOGGED = "_shielded_write_logged"


class ShieldedWrites:
    def __init__(self) -> None:
        self._pending: dict[asyncio.Future, str] = {}

    async def run(self, write: Awaitable[T], what: str) -> T:
        """`write`'s result; cancelled while it runs, the caller is, not the write. `what` names it
        in the log (an answer's id: no content)."""
        task = asyncio.ensure_future(write)
        self._pending[task] = what
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Future) -> None:
        what = self._pending.pop(task, "")
        if task.cancelled():
            log.error("a shielded write was cancelled: the answer and its usage are not stored", extra={"write": what})
            return
        error = task.exception()  # retrieved here, so asyncio never reports it as unretrieved
        if error is not None and not getattr(error, _LOGGED, False):
            with contextlib.suppress(AttributeError):
                setattr(error, _LOGGED, True)  # once, by the innermost write (a write may wait on another)
            log.error("a shielded write failed: the answer and its usage are not stored",
                      extra={"write": what, "error": type(error).__name__})

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self, timeout: float) -> None:
        """Waits for the writes under way, `timeout` seconds at most (at shutdown, before the
        database is closed). Requests cancelled by the shutdown start their writes as they unwind:
        the loop runs once before the first look, and each write started meanwhile is waited for too."""
        deadline = time.monotonic() + timeout
        await asyncio.sleep(0)
        while self._pending and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self._pending), timeout=left)
        if self._pending:
            log.error("shutdown: shielded writes still under way; their answers and usage may be lost",
                      extra={"writes": sorted(self._pending.values()), "timeout_seconds": timeout})
