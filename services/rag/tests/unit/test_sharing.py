"""Sharing a document with its tenant after upload, and taking it back: who may, and the points'
access field following the record at once, also when the change lands while the document is
being indexed."""

import pytest

from chatbot_common.errors import AppError, ErrorCode
from rag.indexing import AttemptEnd
from rag.registry import Reader
from rag.retrieval import Question
from rag.store import point_id

BADGES = "Visitor badges go back to reception by six in the evening."


async def found_by(parts, reader: Reader, doc_id: str) -> bool:
    hits = (await parts.search.search(reader, Question("visitor badges reception", threshold=-1.0))).passages
    return any(hit.payload["document_id"] == doc_id for hit in hits)


async def visibilities(parts, doc_id: str, count: int) -> set[str]:
    store = await parts.resources.store()
    return {(await store.get(point_id(doc_id, i)))["visibility"] for i in range(count)}


def write_after(store, before):
    """The store's next point write lands only after `before` ran: a share overtaking a write in flight."""
    real = store.upsert

    async def upsert(points):
        await before()
        await real(points)

    store.upsert = upsert


async def test_the_owner_shares_and_takes_back_and_search_follows_at_once(parts):
    doc = await parts.index(await parts.upload(parts.alice, "badges"), [BADGES, "A second passage about badges."])
    assert not await found_by(parts, parts.bob, doc.id)
    shared = await parts.documents.set_visibility(parts.alice, doc.id, "tenant", tenant_admin=False)
    assert shared.visibility == "tenant" and (await parts.documents.get(parts.bob, doc.id)).visibility == "tenant"
    assert await visibilities(parts, doc.id, 2) == {"tenant"}
    assert await found_by(parts, parts.bob, doc.id) and not await found_by(parts, parts.eve, doc.id)

    await parts.documents.set_visibility(parts.alice, doc.id, "private", tenant_admin=False)
    assert await visibilities(parts, doc.id, 2) == {"private"}
    assert not await found_by(parts, parts.bob, doc.id)
    assert await found_by(parts, parts.alice, doc.id)


async def test_only_the_owner_or_an_admin_of_the_tenant_changes_it_and_nobody_reaches_what_they_cannot_read(parts):
    doc = await parts.index(await parts.upload(parts.alice, "shared", visibility="tenant"), [BADGES])
    refusals = [
        (parts.bob, False, "private", ErrorCode.PERMISSION_DENIED),  # a colleague reads it, does not own it
        (parts.eve, True, "private", ErrorCode.NOT_FOUND),  # an admin of another tenant
        (parts.alice, False, "public", ErrorCode.VALIDATION_ERROR),
    ]
    for caller, admin, visibility, code in refusals:
        with pytest.raises(AppError) as info:
            await parts.documents.set_visibility(caller, doc.id, visibility, tenant_admin=admin)
        assert info.value.code == code, (caller, visibility)
    with pytest.raises(AppError) as info:
        await parts.documents.set_visibility(parts.alice, "doc_nope", "tenant", tenant_admin=False)
    assert info.value.code == ErrorCode.VALIDATION_ERROR

    # The tenant's admin takes a shared document back; then it is the owner's alone, and the admin
    # no longer sees it, so cannot share it again either.
    await parts.documents.set_visibility(parts.bob, doc.id, "private", tenant_admin=True)
    assert not await found_by(parts, parts.bob, doc.id)
    with pytest.raises(AppError) as info:
        await parts.documents.set_visibility(parts.bob, doc.id, "tenant", tenant_admin=True)
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_a_share_landing_while_a_batch_is_written_reaches_its_points(parts):
    store = await parts.resources.store()
    middle = await parts.upload(parts.alice, "shared mid-batch")
    last = await parts.upload(parts.alice, "shared mid-last-batch")
    await parts.indexer.claim([middle.id, last.id], time_limit_seconds=60, max_attempts=3, takeover=False)

    write_after(store, lambda: parts.documents.set_visibility(parts.alice, middle.id, "tenant", tenant_admin=False))
    await parts.indexer.upsert(parts.batch(middle, [BADGES]))
    assert await visibilities(parts, middle.id, 1) == {"tenant"}

    store.upsert = type(store).upsert.__get__(store)
    write_after(store, lambda: parts.documents.set_visibility(parts.alice, last.id, "tenant", tenant_admin=False))
    _, finished = await parts.indexer.upsert(parts.batch(last, [BADGES], end=AttemptEnd(success=True, chunk_count=1)))
    assert finished.visibility == "tenant" and await visibilities(parts, last.id, 1) == {"tenant"}
    assert await found_by(parts, parts.bob, last.id)


async def test_a_share_landing_while_documents_are_indexed_together_reaches_their_points(parts):
    store = await parts.resources.store()
    docs = [await parts.upload(parts.alice, name) for name in ("one", "two")]
    await parts.indexer.claim([d.id for d in docs], time_limit_seconds=60, max_attempts=3, takeover=False)

    async def share_both():
        for doc in docs:
            await parts.documents.set_visibility(parts.alice, doc.id, "tenant", tenant_admin=False)

    write_after(store, share_both)
    await parts.indexer.index_documents([parts.batch(d, [BADGES], end=AttemptEnd(success=True, chunk_count=1)) for d in docs])
    assert [await visibilities(parts, d.id, 1) for d in docs] == [{"tenant"}, {"tenant"}]


async def test_taking_a_document_back_holds_even_when_its_points_cannot_be_written(parts):
    """The registry commits `private` first; the point write then fails (or the caller's deadline
    cuts it off). The call fails, and colleagues no longer find the document all the same."""
    doc = await parts.index(await parts.upload(parts.alice, "badges", visibility="tenant"), [BADGES])
    # Bob has a document of his own, so his search does not stop at "nothing to search".
    await parts.index(await parts.upload(parts.bob, "own"), ["Reception keeps the spare visitor badges."])
    assert await found_by(parts, parts.bob, doc.id)
    store = await parts.resources.store()
    real = store.set_visibility

    async def broken(document_id, visibility):
        raise ConnectionError("qdrant unavailable")

    store.set_visibility = broken
    with pytest.raises(ConnectionError):
        await parts.documents.set_visibility(parts.alice, doc.id, "private", tenant_admin=False)
    assert await visibilities(parts, doc.id, 1) == {"tenant"}  # the points still say shared
    assert not await found_by(parts, parts.bob, doc.id)
    assert await found_by(parts, parts.alice, doc.id)

    # Repeating the call once the store is back brings the points in line.
    store.set_visibility = real
    await parts.documents.set_visibility(parts.alice, doc.id, "private", tenant_admin=False)
    assert await visibilities(parts, doc.id, 1) == {"private"}
    assert not await found_by(parts, parts.bob, doc.id)
