import time

import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from rag.indexing import AttemptEnd, Batch, ChunkIn, Timings, add_write_time, check_batch, chunk_points
from rag.models import Document
from rag.registry import DELETING, FAILED, INDEXED
from rag.sparse import SparseEncoder
from rag.store import point_id

ALICE_ID, BOB_ID = "usr_alice", "usr_bob"


def a_document(**overrides) -> Document:
    values = dict(id=new_id("doc"), owner_id=ALICE_ID, tenant_id="acme", visibility="tenant", collection="handbook",
                  title="Travel policy", sha256="0" * 64, blob_key="k", attempts=1)
    return Document(**{**values, **overrides})


def test_a_points_access_fields_come_from_the_registrys_record_not_from_the_caller():
    doc = a_document()
    chunks = [ChunkIn(0, "Hotels in Berlin cost up to 180 EUR.", [0.1] * 4, section="Hotels", page=2, char_start=0, char_end=36),
              ChunkIn(1, "Flights are economy.", [0.2] * 4, title="Own title")]
    first, second = chunk_points(doc, chunks, SparseEncoder(), "model-a")
    assert first.payload == {
        "document_id": doc.id, "chunk_id": first.id, "chunk_index": 0, "text": "Hotels in Berlin cost up to 180 EUR.",
        "title": "Travel policy", "section": "Hotels", "page": 2, "char_start": 0, "char_end": 36,
        "owner_id": ALICE_ID, "tenant_id": "acme", "visibility": "tenant", "collection": "handbook", "embedding_model": "model-a"}
    assert second.payload["title"] == "Own title"  # a chunk's own title wins over the document's
    assert first.dense == [0.1] * 4 and isinstance(first.dense, list)


def test_point_ids_are_derived_from_document_and_chunk_so_a_redelivery_overwrites():
    doc = a_document()
    chunk = ChunkIn(7, "text", [0.0])
    [again] = chunk_points(doc, [chunk], SparseEncoder(), "m")
    [once] = chunk_points(doc, [chunk], SparseEncoder(), "m")
    assert again.id == once.id == point_id(doc.id, 7)
    assert point_id(doc.id, 8) != once.id and point_id(new_id("doc"), 7) != once.id


def test_the_keyword_vector_is_computed_from_the_text_unless_the_worker_sent_one():
    """Computed from the text with where it sits: the chunk's title (else the document's) and section."""
    encoder = SparseEncoder()
    doc = a_document()
    [computed] = chunk_points(doc, [ChunkIn(0, "Hotel hotels HOTEL and London", [0.0], section="Europe > Cities")], encoder, "m")
    expected = encoder.document("Hotel hotels HOTEL and London", ("Travel policy", "Europe > Cities"))
    assert (computed.sparse_indices, computed.sparse_values) == expected
    assert expected != encoder.document("Hotel hotels HOTEL and London")
    [sent] = chunk_points(doc, [ChunkIn(0, "Hotel", [0.0], sparse_indices=[5, 9], sparse_values=[0.5, 1.5])], encoder, "m")
    assert (sent.sparse_indices, sent.sparse_values) == ([5, 9], [0.5, 1.5])


def test_sparse_encoding_stems_drops_stop_words_and_weighs_queries_evenly():
    encoder = SparseEncoder()
    indices, values = encoder.document("The hotels and the hotel limits in London")
    assert len(indices) == 3  # hotel(s), limit(s), london; "the", "and", "in" are stop words
    by_term = dict(zip(indices, values, strict=True))
    query_indices, query_values = encoder.query("hotel limit")
    assert set(query_indices) < set(indices) and query_values == [1.0, 1.0]
    hotel = next(i for i in query_indices if i != encoder.query("limit")[0][0])
    assert by_term[hotel] > by_term[encoder.query("london")[0][0]]  # said twice, weighs more
    assert encoder.document("") == ([], [])


def test_a_batch_is_refused_for_another_embedder_a_wrong_size_or_ending_what_it_may_not():
    def refused(batch: Batch) -> str:
        with pytest.raises(AppError) as info:
            check_batch(batch, "model-a", 3)
        assert info.value.code == ErrorCode.VALIDATION_ERROR
        return info.value.message

    doc_id = new_id("doc")
    chunk = ChunkIn(0, "x", [0.0, 0.0, 0.0])
    assert "'model-b'" in refused(Batch(doc_id, "model-b", [chunk]))
    assert refused(Batch(doc_id, "model-a", [ChunkIn(0, "x", [0.0])])) == "dense vector has the wrong size"
    assert "own document" in refused(Batch(doc_id, "model-a", [chunk], AttemptEnd(success=True, document_id=new_id("doc"))))
    assert "successfully" in refused(Batch(doc_id, "model-a", [chunk], AttemptEnd(success=False)))
    check_batch(Batch(doc_id, "model-a", [chunk], AttemptEnd(success=True, document_id=doc_id)), "model-a", 3)


def test_the_write_time_is_added_to_what_the_worker_measured():
    end = AttemptEnd(success=True, timings=Timings(embed_ms=40, index_ms=5, total_ms=60))
    add_write_time(end, time.perf_counter() - 0.25)
    assert end.timings.index_ms >= 255 and end.timings.total_ms - 60 == end.timings.index_ms - 5
    assert end.timings.embed_ms == 40


async def test_the_last_batch_ends_the_attempt_and_the_points_carry_the_owner(parts):
    doc = await parts.upload(parts.alice, "travel")
    finished = await parts.index(doc, ["Hotels in Berlin cost 180 EUR.", "Flights are economy."])
    assert (finished.status, finished.chunk_count, finished.embedding_model) == (INDEXED, 2, parts.embedder.model_id)
    store = await parts.resources.store()
    assert await store.count(doc.id) == 2
    payload = await store.get(point_id(doc.id, 1))
    assert (payload["owner_id"], payload["tenant_id"], payload["text"]) == (parts.alice.user_id, "acme", "Flights are economy.")


def write_after(store, before):
    """The store's next writes land only after `before` ran: a delete overtaking a write in flight."""
    real = store.upsert

    async def upsert(points):
        await before()
        await real(points)

    store.upsert = upsert


async def test_a_batch_whose_document_was_deleted_while_it_was_written_takes_its_points_back(parts):
    doc = await parts.upload(parts.alice, "deleted mid-batch")
    await parts.indexer.claim([doc.id], time_limit_seconds=60, max_attempts=3, takeover=False)
    store = await parts.resources.store()
    write_after(store, lambda: parts.documents.delete(parts.alice, doc.id))
    with pytest.raises(AppError) as info:
        await parts.indexer.upsert(parts.batch(doc, ["a passage written after the delete removed the vectors"]))
    assert info.value.code == ErrorCode.NOT_FOUND and info.value.message == "document deleted during indexing"
    assert await store.count(doc.id) == 0


async def test_a_last_batch_racing_a_delete_leaves_no_points_whether_the_record_is_tombstoned_or_gone(parts):
    store = await parts.resources.store()
    end = AttemptEnd(success=True, chunk_count=1)
    tombstoned = await parts.upload(parts.alice, "tombstoned mid-batch")
    gone = await parts.upload(parts.alice, "removed mid-batch")
    await parts.indexer.claim([tombstoned.id, gone.id], time_limit_seconds=60, max_attempts=3, takeover=False)

    # The delete has marked the record and not yet removed the vectors: the finish leaves the record alone.
    write_after(store, lambda: parts.registry.mark_deleting(tombstoned.id, parts.alice.user_id))
    _, finished = await parts.indexer.upsert(parts.batch(tombstoned, ["x"], end=end))
    assert finished.status == DELETING and await store.count(tombstoned.id) == 0

    # The delete finished entirely before the write landed.
    write_after(store, lambda: parts.documents.delete(parts.alice, gone.id))
    with pytest.raises(AppError) as info:
        await parts.indexer.upsert(parts.batch(gone, ["x"], end=AttemptEnd(success=True, chunk_count=1)))
    assert info.value.code == ErrorCode.NOT_FOUND
    assert await store.count(gone.id) == 0


async def test_documents_indexed_together_report_the_ones_deleted_before_or_during_the_write(parts):
    live, before, during = [await parts.upload(parts.alice, name) for name in ("live", "deleted before", "deleted during")]
    await parts.indexer.claim([live.id, before.id, during.id], time_limit_seconds=60, max_attempts=3, takeover=False)
    await parts.documents.delete(parts.alice, before.id)
    store = await parts.resources.store()
    write_after(store, lambda: parts.registry.mark_deleting(during.id, parts.alice.user_id))
    batches = [parts.batch(doc, ["one", "two"], end=AttemptEnd(success=True, chunk_count=2, title=f"T {i}"))
               for i, doc in enumerate((live, before, during))]
    first, second, third = await parts.indexer.index_documents(batches)
    assert (first.document_id, first.upserted, first.document.status, first.document.title) == (live.id, 2, INDEXED, "T 0")
    assert (second.document_id, second.document, second.error) == (before.id, None, "document not found or being deleted")
    assert (third.document_id, third.document) == (during.id, None)
    assert [await store.count(d.id) for d in (live, before, during)] == [2, 0, 0]


async def test_documents_indexed_together_must_each_be_whole_and_named_once(parts):
    doc = await parts.upload(parts.alice, "whole")
    for batches, message in (([], "1 to 100 documents per call"),
                             ([parts.batch(doc, ["x"])], "each document must be complete and carry its finish"),
                             ([parts.batch(doc, ["x"], end=AttemptEnd(success=True))] * 2, "a document is named twice")):
        with pytest.raises(AppError) as info:
            await parts.indexer.index_documents(batches)
        assert info.value.message == message


async def test_a_later_attempt_with_fewer_chunks_drops_the_earlier_attempts_extra_points(parts):
    doc = await parts.upload(parts.alice, "parsed differently the second time")
    claim = dict(time_limit_seconds=60, max_attempts=3, takeover=False)
    await parts.indexer.claim([doc.id], **claim)
    await parts.indexer.upsert(parts.batch(doc, ["one", "two", "three"]))
    failed = await parts.indexer.finish(doc.id, AttemptEnd(success=False, error="parser crashed", retrying=True))
    assert failed.status == "queued" and failed.error == "parser crashed"

    [again] = await parts.indexer.claim([doc.id], **claim)
    assert again.proceed and again.document.attempts == 2
    _, finished = await parts.indexer.upsert(parts.batch(doc, ["one", "two"], end=AttemptEnd(success=True, chunk_count=2)))
    store = await parts.resources.store()
    assert finished.chunk_count == 2 and await store.count(doc.id) == 2
    assert await store.get(point_id(doc.id, 2)) is None


async def test_claims_follow_the_workers_configured_attempts_and_time_limit(parts):
    doc = await parts.upload(parts.alice, "claimed")
    [first] = await parts.indexer.claim([doc.id], time_limit_seconds=60, max_attempts=1, takeover=False)
    assert first.proceed and first.document.attempts == 1
    [busy] = await parts.indexer.claim([doc.id], time_limit_seconds=60, max_attempts=1, takeover=False)
    assert (busy.proceed, busy.reason) == (False, "in progress elsewhere")
    [out] = await parts.indexer.claim([doc.id], time_limit_seconds=60, max_attempts=1, takeover=True)
    assert (out.proceed, out.reason, out.document.status) == (False, "out of attempts", FAILED)
    missing = new_id("doc")
    [unknown] = await parts.indexer.claim([missing], time_limit_seconds=60, max_attempts=1, takeover=False)
    assert (unknown.document_id, unknown.document, unknown.reason) == (missing, None, "deleted")
    for limits in (dict(time_limit_seconds=0, max_attempts=3), dict(time_limit_seconds=60, max_attempts=0)):
        with pytest.raises(AppError) as info:
            await parts.indexer.claim([doc.id], takeover=False, **limits)
        assert info.value.code == ErrorCode.VALIDATION_ERROR
        with pytest.raises(AppError):
            await parts.indexer.reap_stale(**limits)
