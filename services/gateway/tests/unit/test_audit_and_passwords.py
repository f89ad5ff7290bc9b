"""The audit outbox (an entry the database refuses is kept on disk and written later, never
dropped) and the bounded password hashing (a full queue answers 429, the threads yield the CPU)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from chatbot_common import db
from chatbot_common.settings import sqlite_url
from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.limits.backends import MemoryStore
from gateway.models import AuditEvent, Base
from gateway.security import PasswordHashing, hash_password


def _metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(AuditEvent))


async def test_an_entry_the_database_refuses_waits_in_the_outbox_and_is_written_later(tmp_path):
    engine = db.create_engine(sqlite_url(tmp_path / "gateway.db"))
    sessions = db.session_factory(engine)
    outbox = audit.Outbox(tmp_path / "outbox")
    audit.attach(sessions, outbox)
    before = _metric("audit_write_failures_total", kept_in="outbox")
    try:
        # No table yet: the database refuses the write, the caller does not notice.
        for i in range(3):
            await audit.write(sessions, audit.event(tenant_id="t1", actor_id=f"usr_{i}", actor_kind="user", action="auth.login",
                                                    outcome="failure", details={"reason": "wrong password"}))
        assert _metric("audit_write_failures_total", kept_in="outbox") == before + 3
        assert outbox.pending() == 3
        with pytest.raises(Exception):  # still no table: the entries stay for the next attempt
            await outbox.drain(sessions)
        assert outbox.pending() == 3
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        # A later write lands at once; the outbox follows when drained.
        await audit.write(sessions, audit.event(tenant_id="t1", actor_id="usr_9", actor_kind="user", action="auth.logout"))
        assert await outbox.drain(sessions) == 3
        assert outbox.pending() == 0 and await outbox.drain(sessions) == 0
        async with sessions() as session:
            rows = (await session.scalars(select(AuditEvent).order_by(AuditEvent.actor_id))).all()
        assert [(r.actor_id, r.action, r.outcome, r.details) for r in rows] == [
            ("usr_0", "auth.login", "failure", {"reason": "wrong password"}),
            ("usr_1", "auth.login", "failure", {"reason": "wrong password"}),
            ("usr_2", "auth.login", "failure", {"reason": "wrong password"}),
            ("usr_9", "auth.logout", "success", {}),
        ]
        assert all(r.created_at.tzinfo is not None for r in rows)
    finally:
        await engine.dispose()


async def test_entries_left_by_a_drainer_that_died_are_taken_again(tmp_path):
    engine = db.create_engine(sqlite_url(tmp_path / "gateway.db"))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = db.session_factory(engine)
    outbox = audit.Outbox(tmp_path / "outbox")
    try:
        entry = audit.event(tenant_id="t1", actor_id="usr_1", actor_kind="user", action="auth.login")
        await asyncio.to_thread(outbox.append, audit._as_record(entry))
        outbox._take()  # taken, then the process died before writing
        other_process = audit.Outbox(tmp_path / "outbox")
        await asyncio.to_thread(other_process.append, audit._as_record(entry))
        assert other_process.pending() == 2
        assert await other_process.drain(sessions) == 2 and await _count(sessions) == 2
    finally:
        await engine.dispose()


async def test_an_entry_nothing_can_keep_is_logged_whole_and_counted(tmp_path, caplog):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the outbox directory should be")
    engine = db.create_engine(sqlite_url(tmp_path / "gateway.db"))
    sessions = db.session_factory(engine)
    audit.attach(sessions, audit.Outbox(blocked))
    before = _metric("audit_write_failures_total", kept_in="log")
    try:
        await audit.write(sessions, audit.event(tenant_id="t1", actor_id="usr_1", actor_kind="user", action="document.delete",
                                                target_type="document", target_id="doc_1"))
    finally:
        await engine.dispose()
    assert _metric("audit_write_failures_total", kept_in="log") == before + 1
    record = next(r for r in caplog.records if r.getMessage().startswith("audit write failed"))
    assert record.levelname == "ERROR" and record.audit_entry["target_id"] == "doc_1"


async def test_password_hashing_is_bounded_and_a_full_queue_answers_429():
    hashing = PasswordHashing(workers=1, queue=1, nice=0)
    release = threading.Event()
    try:
        running = asyncio.ensure_future(hashing.run(release.wait, 30))
        waiting = asyncio.ensure_future(hashing.run(release.wait, 30))
        await asyncio.sleep(0)
        assert hashing.pending == 2
        with pytest.raises(AppError) as refused:
            await hashing.verify(hash_password("something"), "something")
        assert refused.value.code is ErrorCode.RATE_LIMIT_EXCEEDED and refused.value.details["retry_after"] >= 1
        release.set()
        assert await running and await waiting
        assert hashing.pending == 0
        stored = await hashing.hash("correct horse")
        assert await hashing.verify(stored, "correct horse") and not await hashing.verify(stored, "wrong horse")
        assert not await hashing.verify(None, "anything")
    finally:
        release.set()
        hashing.close()


async def test_a_caller_giving_up_does_not_free_a_slot_still_hashing():
    hashing = PasswordHashing(workers=1, queue=0, nice=0)
    started, release = threading.Event(), threading.Event()

    def hash_until_released() -> bool:
        started.set()
        return release.wait(30)

    try:
        task = asyncio.ensure_future(hashing.run(hash_until_released))
        assert await asyncio.to_thread(started.wait, 10)  # the hash is running on its thread
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # the caller has given up
        assert hashing.pending == 1  # the thread is still busy: the slot stays taken
        release.set()
        deadline = asyncio.get_running_loop().time() + 10
        while hashing.pending:
            assert asyncio.get_running_loop().time() < deadline, "the slot was never freed"
            await asyncio.sleep(0.01)
    finally:
        release.set()
        hashing.close()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a Linux feature here")
async def test_hashing_threads_run_at_a_lower_priority_than_the_event_loop():
    hashing = PasswordHashing(workers=1, queue=0, nice=7)
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        theirs = await hashing.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        assert theirs == min(19, mine + 7)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the loop's thread unchanged
    finally:
        hashing.close()


async def test_sign_in_failure_counter_opens_its_window_at_the_first_hit():
    store = MemoryStore()
    first = await store.hit("rl:signin:x", 60)
    second = await store.hit("rl:signin:x", 60)
    assert first[0] == 1 and second[0] == 2 and 0 < second[1] <= first[1] <= 60
    assert (await store.hit("rl:signin:y", 60))[0] == 1


async def test_an_entry_the_database_refuses_for_its_content_does_not_hold_back_the_rest(tmp_path):
    """Seen in review: the outbox committed file by file and stopped at the first failure, so one
    entry the database would never take blocked every later one for ever."""
    engine = db.create_engine(sqlite_url(tmp_path / "gateway.db"))
    sessions = db.session_factory(engine)
    outbox = audit.Outbox(tmp_path / "outbox")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    before = _metric("audit_outbox_rejected_total")
    try:
        good = audit.event(tenant_id="t1", actor_id="usr_1", actor_kind="user", action="auth.login", outcome="failure")
        record = audit._as_record(good)
        outbox.append(record)
        outbox.append({**record, "action": None})  # NOT NULL: refused for what it holds
        outbox.append({**record, "actor_id": "usr_2"})
        await outbox.drain(sessions)
        async with sessions() as session:
            assert sorted((await session.scalars(select(AuditEvent.actor_id))).all()) == ["usr_1", "usr_2"]
        assert outbox.pending() == 0 and _metric("audit_outbox_rejected_total") == before + 1
        assert (tmp_path / "outbox" / "rejected.jsonl.kept").read_text().count("\n") == 1
    finally:
        await engine.dispose()
