"""The document registry: who owns what, and where each document is in its ingestion.

Access rules: a caller reads their own documents and the shared (`tenant`) documents of their
tenant; only the owner deletes; the owner, or an admin of the document's tenant, shares a document
with the tenant or takes it back (an admin never sees, so never shares, someone's private one). Status moves queued -> processing -> indexed | failed; a
document being deleted is `deleting` until its vectors are gone, and nothing indexes it then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import is_valid_id, new_id
from chatbot_common.paging import Page
from rag.models import Document

QUEUED, PROCESSING, INDEXED, FAILED, DELETING = "queued", "processing", "indexed", "failed", "deleting"
# Documents one call may name (an upload, a worker's claim or index call): one transaction each.
MAX_DOCUMENTS_PER_CALL = 100


# The ingestion path's statements, built once (building one costs more than running it on SQLite);
# `ids` is expanded to the call's document ids.
_BY_IDS = select(Document).where(Document.id.in_(bindparam("ids", expanding=True)))
_LOCK_BY_IDS = _BY_IDS.order_by(Document.id).with_for_update()


@dataclass(frozen=True)
class Reader:
    """The user a read or a delete is for; there is always one."""

    user_id: str
    tenant_id: str

    def __post_init__(self) -> None:
        if not self.user_id:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, "caller identity missing")


def valid_document_id(value: str) -> str:
    if not is_valid_id(value, "doc"):
        raise AppError(ErrorCode.VALIDATION_ERROR, "malformed document id", {"field": "document_id"})
    return value


def check_call_size(count: int, field: str) -> None:
    if not 1 <= count <= MAX_DOCUMENTS_PER_CALL:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"1 to {MAX_DOCUMENTS_PER_CALL} documents per call", {"field": field})


def valid_document_ids(values, field: str) -> list[str]:
    """The documents one call names: 1 to MAX_DOCUMENTS_PER_CALL well-formed ids, none twice."""
    check_call_size(len(values), field)
    ids = [valid_document_id(value) for value in values]
    if len(set(ids)) != len(ids):
        raise AppError(ErrorCode.VALIDATION_ERROR, "a document is named twice", {"field": field})
    return ids


def readable(reader: Reader):
    """The SQL twin of the vector filter: own documents, or the tenant's shared ones."""
    own = Document.owner_id == reader.user_id
    if not reader.tenant_id:
        return own
    return or_(own, and_(Document.tenant_id == reader.tenant_id, Document.visibility == "tenant"))


@dataclass(frozen=True)
class ListFilter:
    status: str = ""
    collection: str = ""
    visibility: str = ""
    owned_only: bool = False
    query: str = ""


class Registry:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def create(self, doc: Document) -> tuple[Document, bool]:
        """Records a queued document; the same owner uploading the same bytes gets the existing one.
        New content is the common case: the insert is tried first and the unique (owner, sha256)
        index answers whether it is a duplicate, in one transaction."""
        doc.id = doc.id or new_id("doc")
        doc.status, doc.created_at = QUEUED, utcnow()
        try:
            async with self._sessions() as session, session.begin():
                session.add(doc)
        except IntegrityError:  # the same content is already here (or a concurrent upload won)
            existing = await self._by_sha(doc.owner_id, doc.sha256)
            if existing is None:
                raise
            if existing.status == DELETING:
                raise AppError(ErrorCode.CONFLICT, "an earlier copy of this file is still being deleted; try again shortly") from None
            return existing, False
        return doc, True

    async def create_many(self, docs: list[Document]) -> list[tuple[Document, bool]]:
        """`create` for several documents in one transaction. Nothing is recorded when one of
        them is the same content as a document still being deleted."""
        now = utcnow()
        for doc in docs:
            doc.id = doc.id or new_id("doc")
            doc.status, doc.created_at = QUEUED, now
        try:
            async with self._sessions() as session, session.begin():
                session.add_all(docs)
            return [(doc, True) for doc in docs]
        except IntegrityError:  # some content is already here: sort it out document by document
            pass
        async with self._sessions() as session:
            existing = await session.scalars(select(Document).where(
                or_(*(and_(Document.owner_id == d.owner_id, Document.sha256 == d.sha256) for d in docs))))
            if any(d.status == DELETING for d in existing):
                raise AppError(ErrorCode.CONFLICT, "an earlier copy of a file is still being deleted; try again shortly")
        return [await self.create(doc) for doc in docs]

    async def _by_sha(self, owner_id: str, sha256: str) -> Document | None:
        async with self._sessions() as session:
            return await session.scalar(select(Document).where(Document.owner_id == owner_id, Document.sha256 == sha256))

    async def get(self, document_id: str) -> Document | None:
        async with self._sessions() as session:
            return await session.get(Document, document_id)

    async def get_many(self, document_ids: list[str]) -> dict[str, Document]:
        async with self._sessions() as session:
            return {doc.id: doc for doc in await session.scalars(_BY_IDS, {"ids": list(document_ids)})}

    async def get_readable(self, document_id: str, reader: Reader) -> Document | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Document).where(Document.id == document_id, readable(reader), Document.status != DELETING)
            )

    async def list(self, reader: Reader, flt: ListFilter, page: Page) -> tuple[list[Document], int]:
        conditions = [Document.owner_id == reader.user_id if flt.owned_only else readable(reader), Document.status != DELETING]
        if flt.status:
            conditions.append(Document.status == flt.status)
        if flt.collection:
            conditions.append(Document.collection == flt.collection)
        if flt.visibility:
            conditions.append(Document.visibility == flt.visibility)
        if flt.query:
            pattern = "%" + flt.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(or_(Document.title.ilike(pattern, escape="\\"), Document.filename.ilike(pattern, escape="\\")))
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(Document).where(*conditions))
            rows = await session.scalars(
                select(Document).where(*conditions).order_by(Document.created_at.desc(), Document.id)
                .limit(page.limit).offset(page.offset)
            )
            return list(rows), int(total or 0)

    async def readable_ids(self, document_ids, reader: Reader) -> set[str]:
        """Which of these documents the reader may read now (the registry is the authority; a
        point's access field may lag behind it while a change of visibility is being written)."""
        ids = list(set(document_ids))
        if not ids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(select(Document.id).where(Document.id.in_(ids), readable(reader),
                                                                   Document.status != DELETING))
            return set(rows)

    async def count_searchable(self, reader: Reader) -> int:
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(Document).where(readable(reader), Document.status == INDEXED)
            )
        return int(total or 0)

    async def set_visibility(self, document_id: str, reader: Reader, visibility: str, *, tenant_admin: bool) -> Document:
        """Who may read the document from now on (`private` or `tenant`), changed under the row's
        lock. A document the caller cannot read is not found; one they read but neither own nor
        administer (a colleague's shared one) is refused."""
        async with self._sessions() as session, session.begin():
            doc = await session.scalar(select(Document).where(Document.id == document_id, readable(reader),
                                                              Document.status != DELETING).with_for_update())
            if doc is None:
                raise AppError(ErrorCode.NOT_FOUND, "document not found")
            if doc.owner_id != reader.user_id and not (tenant_admin and reader.tenant_id and doc.tenant_id == reader.tenant_id):
                raise AppError(ErrorCode.PERMISSION_DENIED, "only the owner or a tenant admin may change who can read a document")
            doc.visibility = visibility
        return doc

    async def visibility_of(self, document_id: str) -> str | None:
        """The registry's visibility of a live document; None once it is gone or being deleted."""
        async with self._sessions() as session:
            row = (await session.execute(select(Document.visibility, Document.status).where(Document.id == document_id))).first()
        return row[0] if row is not None and row[1] != DELETING else None

    async def mark_deleting(self, document_id: str, owner_id: str) -> Document | None:
        """Tombstones the owner's document so that no worker indexes it any more."""
        async with self._sessions() as session, session.begin():
            doc = await session.scalar(
                select(Document).where(Document.id == document_id, Document.owner_id == owner_id).with_for_update()
            )
            if doc is None:
                return None
            doc.status = DELETING
        return doc

    async def owned_by(self, user_id: str) -> list[Document]:
        async with self._sessions() as session:
            return list(await session.scalars(select(Document).where(Document.owner_id == user_id).order_by(Document.created_at)))

    async def tombstone_owned(self, user_id: str) -> list[Document]:
        """Erasure, first step: every document of the user becomes `deleting` (no worker writes
        its vectors any more)."""
        async with self._sessions() as session, session.begin():
            docs = list(await session.scalars(select(Document).where(Document.owner_id == user_id).with_for_update()))
            for doc in docs:
                doc.status = DELETING
        return docs

    async def remove(self, document_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(Document).where(Document.id == document_id))

    async def start_processing_many(
        self, document_ids: list[str], max_attempts: int, time_limit_seconds: float, takeover: bool = False
    ) -> list[tuple[Document | None, bool, str]]:
        """Claims documents for one worker, in one transaction; answers in the ids' order. A second
        delivery of the same task while the first still runs within its time limit is turned
        away; past it (or on a `takeover`), the first worker is presumed gone."""
        async with self._sessions() as session, session.begin():
            # Rows locked in id order, so two workers claiming overlapping sets cannot deadlock.
            rows = await session.scalars(_LOCK_BY_IDS, {"ids": list(document_ids)})
            found = {doc.id: doc for doc in rows}
            now = utcnow()
            claims = [_claim(found.get(document_id), now, max_attempts, time_limit_seconds, takeover)
                      for document_id in document_ids]
            changed = [(found[document_id], values) for document_id, (_, _, values) in zip(document_ids, claims, strict=True)
                       if values]
            if changed:
                await _update_rows(session, changed)
            return [(found.get(document_id), proceed, reason) for document_id, (proceed, reason, _) in zip(document_ids, claims, strict=True)]

    async def finish(self, document_id: str, values: dict, *, success: bool, retrying: bool) -> Document | None:
        return (await self.finish_many([(document_id, values)], success=success, retrying=retrying))[0]

    async def finish_many(self, items: list[tuple[str, dict]], *, success: bool, retrying: bool = False) -> list[Document | None]:
        """Records the end of an attempt for each (document id, column values), in one
        transaction. A document being deleted is left alone (and returned, for its points to go)."""
        async with self._sessions() as session, session.begin():
            rows = await session.scalars(_LOCK_BY_IDS, {"ids": [i for i, _ in items]})
            found = {doc.id: doc for doc in rows}
            now = utcnow()
            ending = []  # (document, the columns its attempt's end sets)
            for document_id, values in items:
                doc = found.get(document_id)
                if doc is None or doc.status == DELETING:
                    continue
                values = dict(values)
                if success:
                    values["status"], values["error"] = INDEXED, ""
                else:
                    values["status"] = QUEUED if retrying else FAILED
                values["finished_at"] = now
                ending.append((doc, values))
            if ending:
                await _update_rows(session, ending)
            return [found.get(document_id) for document_id, _ in items]

    async def reap_stale(self, time_limit_seconds: float, max_attempts: int) -> tuple[list[str], list[str]]:
        """Documents `processing` for longer than a task may run: their worker is gone.
        Each is flipped back to queued (to be enqueued again) or failed, exactly once."""
        cutoff = utcnow() - timedelta(seconds=time_limit_seconds)
        requeue: list[str] = []
        failed: list[str] = []
        async with self._sessions() as session, session.begin():
            rows = await session.scalars(
                select(Document).where(Document.status == PROCESSING, Document.started_at < cutoff).with_for_update()
            )
            for doc in rows:
                if doc.attempts >= max_attempts:
                    doc.status, doc.error, doc.finished_at = FAILED, "processing did not finish in time", utcnow()
                    failed.append(doc.id)
                else:
                    doc.status = QUEUED
                    requeue.append(doc.id)
        return requeue, failed


async def _update_rows(session, ending: list[tuple[Document, dict]]) -> None:
    """Writes each row's new column values with one executemany UPDATE, without the unit of work's
    change tracking and flush (most of a finish's CPU), and sets them on the loaded objects, which
    stay clean. Every row gets every column any of them sets, a column it does not set keeping the
    value just read under the transaction's lock."""
    table = Document.__table__
    columns = list(dict.fromkeys(key for _, values in ending for key in values))
    params = [{"_row_id": doc.id, **{key: values[key] if key in values else getattr(doc, key) for key in columns}}
              for doc, values in ending]
    await session.execute(update(table).where(table.c.id == bindparam("_row_id")), params)
    for doc, values in ending:
        for key, value in values.items():
            set_committed_value(doc, key, value)


def _claim(doc: Document | None, now, max_attempts: int, time_limit_seconds: float, takeover: bool) -> tuple[bool, str, dict | None]:
    """Whether the claim proceeds, why not, and the columns it changes (None: none)."""
    if doc is None or doc.status == DELETING:
        return False, "deleted", None
    if doc.status == INDEXED:
        return False, "already indexed", None
    if doc.status == FAILED:
        return False, "already failed", None
    recent = doc.started_at and doc.started_at > now - timedelta(seconds=time_limit_seconds)
    if doc.status == PROCESSING and recent and not takeover:
        return False, "in progress elsewhere", None
    if doc.attempts >= max_attempts:
        return False, "out of attempts", {"status": FAILED, "error": doc.error or "too many attempts", "finished_at": now}
    return True, "", {"status": PROCESSING, "started_at": now, "attempts": doc.attempts + 1, "error": ""}
