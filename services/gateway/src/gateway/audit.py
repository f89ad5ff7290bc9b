"""The append-only audit log: who did what to which object, from where, with what outcome.

Entries name people by id only (never an e-mail, a password or a key); a failed login for an
unknown address keeps a short hash of it, enough to see repeated attempts.

An entry is never dropped quietly. A change is recorded in the transaction that makes it
(`add`); an event with nothing to commit beside it (a refusal, a failed sign-in) is written on
its own (`write`), and if the database does not take it, it goes to an outbox on disk that a
background task writes to the database later (at least once: a crash between the insert and
the outbox's removal repeats an entry, it never loses one). Every entry the database did not
take at once is counted in `audit_write_failures_total`; one the outbox could not keep either
is written to the error log (ids only, no client address), the record of last resort."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import uuid
import weakref
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter, Gauge
from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot_common.db import utcnow
from gateway.models import AuditEvent

log = logging.getLogger(__name__)

WRITE_FAILURES = Counter("audit_write_failures_total", "Audit entries the database did not take when they happened",
                         ["kept_in"])  # outbox | log (the outbox failed too)
REJECTED = Counter("audit_outbox_rejected_total", "Audit entries the database refused for their content, set aside")
OUTBOX_PENDING = Gauge("audit_outbox_pending", "Audit entries waiting in this replica's outbox for the database")
_FIELDS = ("tenant_id", "actor_id", "actor_kind", "action", "target_type", "target_id", "outcome", "client_ip", "request_id", "details")


class Origin(Protocol):
    """Where an audited action came from: the HTTP request (its client address, its request id).
    Modules that act for a route take it as this, so that they need nothing of the web framework."""

    client: Any
    state: Any


def subject_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def event(
    *, tenant_id: str, actor_id: str, actor_kind: str, action: str, target_type: str = "", target_id: str = "",
    outcome: str = "success", request: Origin | None = None, details: dict[str, Any] | None = None,
) -> AuditEvent:
    client_ip = request.client.host if request is not None and request.client else ""
    request_id = getattr(request.state, "request_id", "") if request is not None else ""
    return AuditEvent(
        created_at=utcnow(), tenant_id=tenant_id, actor_id=actor_id, actor_kind=actor_kind, action=action,
        target_type=target_type, target_id=target_id, outcome=outcome, client_ip=client_ip[:64], request_id=request_id[:64],
        details=details or {},
    )


def by(principal, action: str, request: Origin | None = None, **kwargs) -> AuditEvent:
    """An event whose actor is the authenticated caller (a user, or the key acting for one)."""
    details = dict(kwargs.pop("details", None) or {})
    if principal.key_id:
        details.setdefault("on_behalf_of", principal.user_id)
    return event(
        tenant_id=principal.tenant_id, actor_id=principal.key_id or principal.user_id,
        actor_kind="api_key" if principal.key_id else "user", action=action, request=request, details=details, **kwargs,
    )


def add(session: AsyncSession, entry: AuditEvent) -> None:
    """Adds the entry to the caller's transaction: it lands with the change it records, or not at all."""
    session.add(entry)


def _as_record(entry: AuditEvent) -> dict[str, Any]:
    return {"created_at": entry.created_at.isoformat(), **{name: getattr(entry, name) for name in _FIELDS}}


def _row(entry: AuditEvent) -> dict[str, Any]:
    """The entry's column values, as an INSERT takes them: one left unset gets its column's default,
    as the ORM's flush would give it."""
    row = {}
    for column in AuditEvent.__table__.columns:
        if column.key == "id":
            continue
        value = getattr(entry, column.key)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
        row[column.key] = value
    return row


def _from_record(record: dict[str, Any]) -> AuditEvent:
    return AuditEvent(created_at=datetime.fromisoformat(record["created_at"]), **{name: record[name] for name in _FIELDS})


class Outbox:
    """Audit entries waiting for the database, as JSON lines in files under `directory`.

    Several processes may share the directory (workers of one replica). Appends hold a shared
    lock and drains an exclusive one only while they rename the files they take, so an append
    never lands in a file already taken; one drainer at a time (a second lock) writes the taken
    files to the database and deletes them once committed. Taken files left by a drainer that
    died are taken again by the next one."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._file = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"

    @contextmanager
    def _lock(self, name: str, mode: int):
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / name, "a") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str) + "\n"
        with self._lock(".append.lock", fcntl.LOCK_SH):
            fd = os.open(self.directory / self._file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def pending(self) -> int:
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in [*self.directory.glob("*.jsonl"), *self.directory.glob("*.taken")]:
            try:
                total += sum(1 for line in path.read_text().splitlines() if line.strip())
            except OSError:
                continue
        return total

    def _take(self) -> list[Path]:
        """Renames every waiting file so no append goes into it any more; returns the taken ones."""
        with self._lock(".append.lock", fcntl.LOCK_EX):
            for path in self.directory.glob("*.jsonl"):
                path.rename(path.with_name(f"{path.stem}-{uuid.uuid4().hex[:8]}.taken"))
        return sorted(self.directory.glob("*.taken"))

    async def drain(self, sessions: async_sessionmaker) -> int:
        """Writes the waiting entries to the database; returns how many. Raises if the database
        refuses (the entries stay for the next attempt)."""
        if not self.directory.is_dir():
            return 0
        drainer = open(self.directory / ".drain.lock", "a")
        try:
            try:
                fcntl.flock(drainer, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process is draining
                return 0
            written = 0
            for path in await asyncio.to_thread(self._take):
                records = []
                for line in (await asyncio.to_thread(path.read_text)).splitlines():
                    try:
                        records.append(_from_record(json.loads(line)))
                    except (ValueError, KeyError, TypeError):  # a line cut short by a crash mid-append
                        log.error("unreadable audit outbox line skipped", extra={"file": path.name})
                if records:
                    try:
                        async with sessions() as session:
                            session.add_all(records)
                            await session.commit()
                    except (DataError, IntegrityError):
                        # One entry the database refuses for what it holds must not hold back the
                        # rest for ever: entry by entry, and what is refused is set aside.
                        await self._one_by_one(sessions, [json.loads(line) for line in
                                                          (await asyncio.to_thread(path.read_text)).splitlines() if line.strip()])
                path.unlink()
                written += len(records)
            return written
        finally:
            drainer.close()


    async def _one_by_one(self, sessions: async_sessionmaker, lines: list[dict]) -> None:
        for record in lines:
            try:
                entry = _from_record(record)
                async with sessions() as session:
                    session.add(entry)
                    await session.commit()
            except (DataError, IntegrityError, ValueError, KeyError, TypeError):
                REJECTED.inc()
                log.error("audit entry refused by the database; set aside in the outbox's rejected file",
                          extra={"action": record.get("action", ""), "actor_id": record.get("actor_id", "")})
                await asyncio.to_thread(self._set_aside, record)

    def _set_aside(self, record: dict) -> None:
        with open(self.directory / "rejected.jsonl.kept", "a") as handle:
            handle.write(json.dumps(record) + "\n")


# The outbox of each session factory: `write` is called with the application's factory, and
# the outbox belongs to the same application (registered at start-up by `attach`).
_outboxes: weakref.WeakKeyDictionary[async_sessionmaker, Outbox] = weakref.WeakKeyDictionary()


def attach(sessions: async_sessionmaker, outbox: Outbox) -> None:
    _outboxes[sessions] = outbox


async def write(sessions: async_sessionmaker, entry: AuditEvent) -> None:
    """Records an event on its own (a refusal, where there is no change to commit with it).
    Never raises: an audit write failing must not turn a 401 into a 500."""
    await write_all(sessions, [entry])


async def write_all(sessions: async_sessionmaker, entries: list[AuditEvent]) -> None:
    """Several events in one transaction (one per document of an upload), kept alike."""
    records = [_as_record(entry) for entry in entries]  # before the session expires or detaches them
    if not records:
        return
    try:
        async with sessions() as session, session.begin():
            # One executemany INSERT of the rows, without the unit of work's flush and without
            # reading the new ids back (nothing reads them): most of an upload's CPU in the gateway
            # went to the ORM's insert of its entries.
            await session.execute(insert(AuditEvent.__table__), [_row(entry) for entry in entries])
        return
    except Exception as exc:  # noqa: BLE001 - whatever the database's failure, the entries are kept below
        failure = type(exc).__name__
    outbox = _outboxes.get(sessions)
    if outbox is not None:
        try:
            for record in records:
                await asyncio.to_thread(outbox.append, record)
                WRITE_FAILURES.labels("outbox").inc()
                OUTBOX_PENDING.inc()
                log.warning("audit write failed; kept in the outbox", extra={"action": record["action"], "error": failure})
            return
        except Exception as exc:  # noqa: BLE001
            failure = f"{failure}; outbox: {type(exc).__name__}"
            records = records[records.index(record):]  # those before it are in the outbox
    for record in records:
        WRITE_FAILURES.labels("log").inc()
        # The client's address stays out of the log (personal data); everything else is ids.
        log.error("audit write failed; the entry is kept in this log only",
                  extra={"audit_entry": {k: v for k, v in record.items() if k != "client_ip"}, "error": failure})


async def drain_forever(sessions: async_sessionmaker, outbox: Outbox, every_seconds: float) -> None:
    """The outbox's writer: at start-up (entries left by an earlier run) and then periodically."""
    while True:
        try:
            written = await outbox.drain(sessions)
            if written:
                log.info("audit outbox written to the database", extra={"entries": written})
            OUTBOX_PENDING.set(await asyncio.to_thread(outbox.pending))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database is still away: try again later
            log.warning("audit outbox not written yet", extra={"error": type(exc).__name__})
        await asyncio.sleep(every_seconds)


async def search(session: AsyncSession, tenant_id: str, *, action: str | None = None, actor_id: str | None = None,
                 outcome: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 limit: int, offset: int) -> tuple[int, list[AuditEvent]]:
    """A tenant's entries, newest first, and how many match in all."""
    where = [AuditEvent.tenant_id == tenant_id]
    if action:
        where.append(AuditEvent.action == action)
    if actor_id:
        where.append(AuditEvent.actor_id == actor_id)
    if outcome:
        where.append(AuditEvent.outcome == outcome)
    if since:
        where.append(AuditEvent.created_at >= since)
    if until:
        where.append(AuditEvent.created_at < until)
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    rows = (await session.scalars(
        select(AuditEvent).where(*where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    )).all()
    return total, list(rows)


async def about(session: AsyncSession, user_id: str) -> list[AuditEvent]:
    """Every entry the account made or was the target of, oldest first (a personal-data export)."""
    return list(await session.scalars(
        select(AuditEvent).where(or_(AuditEvent.actor_id == user_id, AuditEvent.target_id == user_id)).order_by(AuditEvent.id)
    ))
