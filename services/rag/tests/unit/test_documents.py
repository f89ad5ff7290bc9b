import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from chatbot_common.paging import Page
from rag.documents import NewDocument, new_record
from rag.registry import ListFilter, Reader
from rag.retrieval import Question


def upload(owner: Reader, **overrides) -> NewDocument:
    values = dict(filename="notes.txt", title="", content_type="text/plain", size_bytes=3, sha256="a" * 64, blob_key=new_id("doc"))
    return NewDocument(owner, **{**values, **overrides})


def test_a_caller_without_identity_is_refused():
    with pytest.raises(AppError) as info:
        Reader("", "acme")
    assert info.value.code == ErrorCode.AUTHENTICATION_ERROR


def test_a_new_record_takes_its_owner_from_the_caller_and_fills_the_defaults():
    owner = Reader("usr_alice", "acme")
    item = upload(owner)
    record = new_record(item)
    assert (record.id, record.owner_id, record.tenant_id) == (item.blob_key, "usr_alice", "acme")
    assert (record.visibility, record.collection, record.title) == ("private", "default", "notes.txt")
    assert new_record(upload(owner, blob_key="not-an-id")).id == ""  # the registry gives it one


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(visibility="public"), "visibility must be private or tenant"),
    (dict(sha256="abc"), "sha256 and blob_key are required"),
    (dict(blob_key=""), "sha256 and blob_key are required"),
])
def test_a_new_record_is_refused_for_what_access_and_storage_depend_on(overrides, message):
    with pytest.raises(AppError) as info:
        new_record(upload(Reader("usr_alice", "acme"), **overrides))
    assert info.value.code == ErrorCode.VALIDATION_ERROR and info.value.message == message


async def test_an_upload_is_all_or_nothing_and_the_same_bytes_are_the_same_document(parts):
    earlier = await parts.upload(parts.alice, "same bytes")
    with pytest.raises(AppError):
        await parts.documents.register([upload(parts.alice, sha256="b" * 64), upload(parts.alice, visibility="public")])
    with pytest.raises(AppError) as info:
        await parts.documents.register([])
    assert info.value.message == "1 to 100 documents per call"
    listed, total = await parts.documents.list(parts.alice, ListFilter(owned_only=True), Page(limit=10, offset=0))
    assert total == 1 and [d.id for d in listed] == [earlier.id]

    [(again, created)] = await parts.documents.register([upload(parts.alice, sha256=earlier.sha256)])
    assert not created and again.id == earlier.id


async def test_only_the_owner_deletes_and_a_delete_takes_the_vectors_with_it(parts):
    doc = await parts.index(await parts.upload(parts.alice, "shared", visibility="tenant"), ["Badges go back to reception."])
    for caller, code in ((parts.bob, ErrorCode.PERMISSION_DENIED), (parts.eve, ErrorCode.NOT_FOUND)):
        with pytest.raises(AppError) as info:
            await parts.documents.delete(caller, doc.id)
        assert info.value.code == code
    assert (await parts.documents.get(parts.bob, doc.id)).id == doc.id  # shared with Alice's tenant
    with pytest.raises(AppError) as info:
        await parts.documents.get(parts.eve, doc.id)
    assert info.value.code == ErrorCode.NOT_FOUND

    assert await parts.documents.delete(parts.alice, doc.id) == (1, doc.blob_key)
    assert await (await parts.resources.store()).count(doc.id) == 0
    with pytest.raises(AppError) as info:
        await parts.documents.get(parts.alice, doc.id)
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_erasure_removes_everything_the_user_owns_and_forgets_cached_queries(parts):
    mine = [await parts.index(await parts.upload(parts.alice, f"mine {i}"), [f"Passage {i} about hotels."]) for i in range(2)]
    theirs = await parts.index(await parts.upload(parts.bob, "theirs"), ["Bob's passage about hotels."])
    assert (await parts.search.search(parts.alice, Question("hotels"))).passages
    assert {d.id for d in await parts.documents.owned(parts.alice)} == {d.id for d in mine}

    erased = await parts.documents.erase(parts.alice)
    assert (erased.documents, erased.points, sorted(erased.blob_keys)) == (2, 2, sorted(d.blob_key for d in mine))
    assert await parts.documents.owned(parts.alice) == []
    store = await parts.resources.store()
    assert await store.count() == 1 and await store.count(theirs.id) == 1
    assert (await parts.resources.retriever()).forget_queries() == 0  # the erasure already cleared them
