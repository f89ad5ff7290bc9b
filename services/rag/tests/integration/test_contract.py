"""The rag service's contract on an in-process server with the real embedding model, against
both vector backends: Qdrant Edge (embedded default) and qdrant-client's local mode (the code
path a Qdrant server uses). Access rules, idempotent indexing, deletion, the stale reaper."""

import asyncio
import hashlib
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatbot.common.v1 import common_pb2
from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.embedding import EmbeddingSettings, get_embedder
from chatbot_common.grpc_server import start_grpc
from chatbot_common.ids import new_id
from rag import server as rag_server
from rag.settings import RagSettings

pytestmark = pytest.mark.contract

ALICE = common_pb2.Caller(user_id="usr_alice", tenant_id="acme")
BOB = common_pb2.Caller(user_id="usr_bob", tenant_id="acme")  # same tenant as Alice
EVE = common_pb2.Caller(user_id="usr_eve", tenant_id="other")

PASSAGES = [
    ("Travel > Hotels", "The nightly hotel limit is 180 EUR in Berlin and 250 EUR in London."),
    ("Travel > Flights", "Economy class is required for flights shorter than six hours; longer trips may use premium economy."),
    ("Security > Passwords", "Passwords must have at least fourteen characters and are never reused."),
]


@pytest.fixture(params=["edge", "qdrant-local"])
async def rag(request, tmp_path):
    settings = RagSettings(grpc_port=0, var_dir=tmp_path, qdrant_url=":memory:" if request.param == "qdrant-local" else "",
                           optimize_after_points=1, optimize_idle_seconds=0)
    await asyncio.to_thread(rag_server.migrate, settings)
    running = await start_grpc(rag_server.build_service(settings, EmbeddingSettings()), settings, readiness_interval=0.05)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(600):
        reply = await health.Check(health_pb2.HealthCheckRequest(service="chatbot.rag.v1.RagService"), timeout=2)
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.05)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    yield rag_pb2_grpc.RagServiceStub(channel)
    await channel.close()
    await running.stop(0)


async def create(stub, caller, content: bytes, visibility="private", collection="default") -> pb.Document:
    reply = await stub.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
        caller=caller, filename="policy.md", content_type="text/markdown", size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(), blob_key=new_id("doc"), visibility=visibility, collection=collection)]),
        timeout=5)
    return reply.results[0].document


async def claim(stub, document_id: str, takeover: bool = False, max_attempts: int = 3) -> pb.Claim:
    reply = await stub.StartProcessingMany(pb.StartProcessingManyRequest(
        document_ids=[document_id], time_limit_seconds=60, max_attempts=max_attempts, takeover=takeover), timeout=5)
    return reply.claims[0]


def chunks_for(passages) -> list[pb.Chunk]:
    embedder = get_embedder(EmbeddingSettings())
    vectors = embedder.encode([text for _, text in passages])
    return [pb.Chunk(chunk_index=i, text=text, section=section, dense=vec.tolist())
            for i, ((section, text), vec) in enumerate(zip(passages, vectors, strict=True))]


async def index(stub, doc: pb.Document, passages=PASSAGES) -> pb.Document:
    """As the worker indexes a document: claimed, then one batch that finishes it."""
    claimed = await claim(stub, doc.id)
    assert claimed.proceed, claimed.reason
    model_id = get_embedder(EmbeddingSettings()).model_id
    reply = await stub.UpsertChunks(pb.UpsertChunksRequest(
        document_id=doc.id, embedding_model=model_id, chunks=chunks_for(passages),
        finish=pb.FinishDocumentRequest(success=True, chunk_count=len(passages))), timeout=30)
    return reply.document


async def search(stub, caller, query, **kw) -> pb.SearchResponse:
    return await stub.Search(pb.SearchRequest(caller=caller, query=query, top_k=5, **kw), timeout=30)


async def test_index_search_and_access_rules(rag):
    doc = await create(rag, ALICE, b"alice's travel policy")
    assert doc.status == pb.DOCUMENT_STATUS_QUEUED
    again = (await rag.CreateDocuments(pb.CreateDocumentsRequest(documents=[pb.CreateDocumentRequest(
        caller=ALICE, filename="copy.md", sha256=hashlib.sha256(b"alice's travel policy").hexdigest(), blob_key=new_id("doc"))]),
        timeout=5)).results[0]
    assert not again.created and again.document.id == doc.id  # same owner, same bytes: the same document

    done = await index(rag, doc)
    assert done.status == pb.DOCUMENT_STATUS_INDEXED and done.chunk_count == 3 and done.embedding_model

    reply = await search(rag, ALICE, "How much can I spend on a hotel in London?")
    assert reply.searchable_documents == 1
    assert reply.hits and reply.hits[0].chunk.section == "Travel > Hotels" and reply.hits[0].chunk.document_id == doc.id
    assert 0 < reply.hits[0].score <= 1 and "250 EUR" in reply.hits[0].snippet

    # Private: Bob (same tenant) and Eve (other tenant) see nothing, by any route.
    for other in (BOB, EVE):
        assert not (await search(rag, other, "hotel limit in London")).hits
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.GetDocument(pb.GetDocumentRequest(caller=other, document_id=doc.id), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.GetChunk(pb.GetChunkRequest(caller=other, document_id=doc.id, chunk_id=reply.hits[0].chunk.chunk_id), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        listed = await rag.ListDocuments(pb.ListDocumentsRequest(caller=other), timeout=5)
        assert not listed.documents
    chunk = await rag.GetChunk(pb.GetChunkRequest(caller=ALICE, document_id=doc.id, chunk_id=reply.hits[0].chunk.chunk_id), timeout=5)
    assert chunk.text == PASSAGES[0][1]

    # Shared with the tenant: Bob reads it, Eve still does not, and only Alice may delete it.
    shared = await index(rag, await create(rag, ALICE, b"shared security policy", visibility="tenant"),
                         [("Security > Badges", "Visitor badges must be returned to reception by 18:00.")])
    bob_hits = (await search(rag, BOB, "When do visitors return their badges?")).hits
    assert [h.chunk.document_id for h in bob_hits] == [shared.id]
    assert not (await search(rag, EVE, "When do visitors return their badges?")).hits
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rag.DeleteDocument(pb.DeleteDocumentRequest(caller=BOB, document_id=shared.id), timeout=5)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_redelivery_does_not_duplicate_and_delete_removes_everything(rag):
    doc = await index(rag, await create(rag, ALICE, b"policy v1"))
    # The same task again (a redelivery): refused while indexed; forced through, same point ids.
    again = await claim(rag, doc.id)
    assert not again.proceed and again.reason == "already indexed"
    model_id = get_embedder(EmbeddingSettings()).model_id
    await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=chunks_for(PASSAGES)), timeout=30)
    hits = (await search(rag, ALICE, "hotel limit London")).hits
    assert len({h.chunk.chunk_id for h in hits}) == len(hits) <= 3

    with pytest.raises(grpc.aio.AioRpcError) as info:  # another embedder's vectors are refused
        await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model="other-model:torch",
                                                      chunks=chunks_for(PASSAGES[:1])), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    deleted = await rag.DeleteDocument(pb.DeleteDocumentRequest(caller=ALICE, document_id=doc.id), timeout=30)
    assert deleted.deleted_points == 3 and deleted.blob_key == doc.blob_key
    reply = await search(rag, ALICE, "hotel limit London")
    assert not reply.hits and reply.searchable_documents == 0
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rag.GetDocument(pb.GetDocumentRequest(caller=ALICE, document_id=doc.id), timeout=5)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # A worker still holding the deleted document cannot bring its vectors back.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=chunks_for(PASSAGES)), timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stale_processing_is_reaped_once(rag):
    doc = await create(rag, ALICE, b"a document whose worker died")
    claimed_at = time.time()
    assert (await claim(rag, doc.id)).proceed
    second = await claim(rag, doc.id)
    assert not second.proceed and second.reason == "in progress elsewhere"
    assert not (await rag.ReapStale(pb.ReapStaleRequest(time_limit_seconds=60, max_attempts=3), timeout=5)).requeue_document_ids
    # With a one-second limit the claim is reaped as soon as it is older than that, not before.
    deadline = time.monotonic() + 30
    while not (first := await rag.ReapStale(pb.ReapStaleRequest(time_limit_seconds=1, max_attempts=3), timeout=5)).requeue_document_ids:
        assert time.monotonic() < deadline, "a claim past its time limit was never reaped"
        await asyncio.sleep(0.05)
    assert time.time() - claimed_at >= 1
    again = await rag.ReapStale(pb.ReapStaleRequest(time_limit_seconds=1, max_attempts=3), timeout=5)
    assert list(first.requeue_document_ids) == [doc.id] and not again.requeue_document_ids
    got = await rag.GetDocument(pb.GetDocumentRequest(caller=ALICE, document_id=doc.id), timeout=5)
    assert got.status == pb.DOCUMENT_STATUS_QUEUED and got.attempts == 1
    # A broker redelivery (its consumer died) takes over at once, without waiting for the limit.
    assert (await claim(rag, doc.id)).proceed
    takeover = await claim(rag, doc.id, takeover=True)
    assert takeover.proceed and takeover.document.attempts == 3
    # The worker's configured attempts decide: with three made, a fourth claim fails the document.
    out = await claim(rag, doc.id, takeover=True)
    assert not out.proceed and out.reason == "out of attempts" and out.document.status == pb.DOCUMENT_STATUS_FAILED


async def test_bad_requests_are_invalid_argument(rag):
    for request in (
        pb.SearchRequest(caller=ALICE, query="   "),
        pb.SearchRequest(caller=ALICE, query="x", top_k=1000),
        pb.SearchRequest(caller=ALICE, query="x", document_ids=["../etc"]),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.Search(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rag.GetChunk(pb.GetChunkRequest(caller=ALICE, document_id=new_id("doc"), chunk_id="not-a-uuid"), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await rag.Search(pb.SearchRequest(query="no caller"), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as info:  # the reaper sends the worker's limits
        await rag.ReapStale(pb.ReapStaleRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_configured_cross_encoder_reorders_the_hits(tmp_path):
    """The reranker runs when a model path is configured. No trained cross-encoder ships in a
    PyPI package here, so the test builds one (untrained head) from the embedding model's
    weights: what is checked is that its scores order the hits, not their quality."""
    from sentence_transformers import CrossEncoder

    from chatbot_common.embedding import default_model_path

    model_dir = tmp_path / "cross-encoder"
    CrossEncoder(str(default_model_path()), num_labels=1, device="cpu", local_files_only=True).save(str(model_dir))
    settings = RagSettings(grpc_port=0, var_dir=tmp_path, reranker_model_path=str(model_dir), score_threshold=-1.0)
    await asyncio.to_thread(rag_server.migrate, settings)
    running = await start_grpc(rag_server.build_service(settings, EmbeddingSettings()), settings, readiness_interval=0.05)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(600):
                if (await health.Check(health_pb2.HealthCheckRequest(), timeout=2)).status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            stub = rag_pb2_grpc.RagServiceStub(channel)
            await index(stub, await create(stub, ALICE, b"rerank me"))
            question = "hotel limit in London"
            hits = (await search(stub, ALICE, question)).hits
    finally:
        await running.stop(0)
    assert len(hits) == 3
    expected = CrossEncoder(str(model_dir), device="cpu", local_files_only=True).predict([(question, h.chunk.text) for h in hits])
    assert [round(h.rank_score, 4) for h in hits] == [round(float(s), 4) for s in expected]
    assert [h.rank_score for h in hits] == sorted((h.rank_score for h in hits), reverse=True)


async def test_the_last_batch_finishes_the_document_in_the_same_call(rag):
    doc = await create(rag, ALICE, b"a document indexed in two batches")
    assert (await claim(rag, doc.id)).proceed
    model_id = get_embedder(EmbeddingSettings()).model_id
    chunks = chunks_for(PASSAGES)
    first = await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=chunks[:2]), timeout=30)
    assert first.upserted == 2 and not first.HasField("document")
    finish = pb.FinishDocumentRequest(document_id=doc.id, success=True, chunk_count=3, page_count=1, title="Two batches",
                                      timings=pb.DocumentTimings(embed_ms=40, index_ms=5, total_ms=60))

    # A batch may finish only its own document, and only as a success.
    for wrong in (pb.FinishDocumentRequest(document_id=new_id("doc"), success=True, chunk_count=3),
                  pb.FinishDocumentRequest(document_id=doc.id, success=False, error="nope")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=chunks[2:],
                                                          finish=wrong), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    still = await rag.GetDocument(pb.GetDocumentRequest(caller=ALICE, document_id=doc.id), timeout=5)
    assert still.status == pb.DOCUMENT_STATUS_PROCESSING

    last = await rag.UpsertChunks(pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=chunks[2:],
                                                         finish=finish), timeout=30)
    assert last.upserted == 1 and last.document.id == doc.id
    assert last.document.status == pb.DOCUMENT_STATUS_INDEXED and last.document.chunk_count == 3
    assert last.document.title == "Two batches" and last.document.embedding_model == model_id
    # The rag service adds its own write time to what the worker measured before sending.
    assert last.document.timings.index_ms >= 5 and last.document.timings.total_ms >= 60
    assert last.document.timings.total_ms - 60 == last.document.timings.index_ms - 5
    hits = (await search(rag, ALICE, "Passwords must have how many characters?")).hits
    assert hits and hits[0].chunk.document_id == doc.id and hits[0].chunk.section == "Security > Passwords"


async def test_several_documents_are_claimed_and_indexed_in_one_call_each(rag):
    model_id = get_embedder(EmbeddingSettings()).model_id
    hotels, passwords, gone = (await create(rag, ALICE, b"hotels"), await create(rag, BOB, b"passwords"),
                               await create(rag, ALICE, b"deleted before indexing"))
    done = await create(rag, ALICE, b"already indexed")
    await index(rag, done, [("Facilities", "The cafeteria opens at eight and closes at three.")])
    missing = new_id("doc")

    claims = (await rag.StartProcessingMany(pb.StartProcessingManyRequest(
        document_ids=[hotels.id, passwords.id, gone.id, done.id, missing], time_limit_seconds=60, max_attempts=3), timeout=5)).claims
    assert [c.document.id for c in claims] == [hotels.id, passwords.id, gone.id, done.id, missing]
    assert [c.proceed for c in claims] == [True, True, True, False, False]
    assert claims[3].reason == "already indexed" and claims[4].reason == "deleted"
    assert claims[0].document.status == pb.DOCUMENT_STATUS_PROCESSING and claims[0].document.attempts == 1
    # A second delivery within the time limit is turned away, document by document.
    again = await claim(rag, hotels.id)
    assert not again.proceed and again.reason == "in progress elsewhere"

    await rag.DeleteDocument(pb.DeleteDocumentRequest(caller=ALICE, document_id=gone.id), timeout=30)
    chunks = chunks_for(PASSAGES)

    def item(doc, part, title):
        return pb.UpsertChunksRequest(document_id=doc.id, embedding_model=model_id, chunks=part, finish=pb.FinishDocumentRequest(
            document_id=doc.id, success=True, chunk_count=len(part), page_count=1, title=title,
            timings=pb.DocumentTimings(embed_ms=10, total_ms=20)))

    reply = await rag.IndexDocuments(pb.IndexDocumentsRequest(documents=[
        item(hotels, chunks[:2], "Travel"), item(passwords, chunks[2:], "Security"), item(gone, chunks[:1], "Gone")]), timeout=30)
    first, second, third = reply.results
    assert (first.document_id, first.upserted, first.document.status, first.document.chunk_count, first.document.title) == (
        hotels.id, 2, pb.DOCUMENT_STATUS_INDEXED, 2, "Travel")
    assert (second.document.status, second.document.chunk_count, second.document.owner_id) == (pb.DOCUMENT_STATUS_INDEXED, 1, "usr_bob")
    assert second.document.timings.total_ms >= 20 and second.document.embedding_model == model_id
    assert third.document_id == gone.id and not third.HasField("document") and "deleted" in third.error

    # Each document's points carry its own owner: Bob's passage is his, Alice's hers.
    alice = (await search(rag, ALICE, "What is the hotel limit in Berlin?")).hits
    assert alice and alice[0].chunk.document_id == hotels.id
    assert all(h.chunk.document_id != passwords.id for h in alice)
    bob = (await search(rag, BOB, "How many characters must a password have?")).hits
    assert bob and bob[0].chunk.document_id == passwords.id
    assert all(h.chunk.document_id != gone.id for h in alice)

    # Bad batches are refused whole, before anything is written.
    bad = [pb.IndexDocumentsRequest(),
           pb.IndexDocumentsRequest(documents=[item(hotels, chunks[:1], "x"), item(hotels, chunks[:1], "x")]),
           pb.IndexDocumentsRequest(documents=[pb.UpsertChunksRequest(document_id=hotels.id, embedding_model=model_id, chunks=chunks)]),
           pb.IndexDocumentsRequest(documents=[pb.UpsertChunksRequest(document_id=hotels.id, embedding_model="other:torch", chunks=chunks,
                                                                      finish=pb.FinishDocumentRequest(success=True, chunk_count=3))])]
    for request in bad:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.IndexDocuments(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for request in (pb.StartProcessingManyRequest(), pb.StartProcessingManyRequest(document_ids=["nope"]),
                    pb.StartProcessingManyRequest(document_ids=[hotels.id, hotels.id]),
                    # The worker's time limit and attempts are its configuration: never guessed here.
                    pb.StartProcessingManyRequest(document_ids=[passwords.id], time_limit_seconds=60),
                    pb.StartProcessingManyRequest(document_ids=[passwords.id], max_attempts=3)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.StartProcessingMany(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_upload_of_several_documents_is_recorded_in_one_call(rag):
    earlier = await create(rag, ALICE, b"already uploaded")

    def item(caller, content: bytes, name: str):
        return pb.CreateDocumentRequest(caller=caller, filename=name, content_type="text/plain", size_bytes=len(content),
                                        sha256=hashlib.sha256(content).hexdigest(), blob_key=new_id("doc"))

    fresh = [item(ALICE, b"first new file", "one.txt"), item(ALICE, b"second new file", "two.txt")]
    reply = await rag.CreateDocuments(pb.CreateDocumentsRequest(documents=fresh), timeout=5)
    assert [(r.created, r.document.id, r.document.status) for r in reply.results] == [
        (True, fresh[0].blob_key, pb.DOCUMENT_STATUS_QUEUED), (True, fresh[1].blob_key, pb.DOCUMENT_STATUS_QUEUED)]

    # Content already there, and the same content twice in one call, return the existing document.
    mixed = [item(ALICE, b"third new file", "three.txt"), item(ALICE, b"already uploaded", "again.txt"),
             item(ALICE, b"third new file", "three-again.txt"), item(BOB, b"already uploaded", "bobs.txt")]
    results = (await rag.CreateDocuments(pb.CreateDocumentsRequest(documents=mixed), timeout=5)).results
    assert [r.created for r in results] == [True, False, False, True]
    assert results[1].document.id == earlier.id and results[2].document.id == results[0].document.id
    assert results[3].document.owner_id == "usr_bob"  # another owner's copy is a document of its own
    listed = await rag.ListDocuments(pb.ListDocumentsRequest(caller=ALICE, owned_only=True), timeout=5)
    assert len(listed.documents) == 4

    for bad in (pb.CreateDocumentsRequest(), pb.CreateDocumentsRequest(documents=[item(ALICE, b"x", "x.txt"), pb.CreateDocumentRequest(
            caller=ALICE, filename="no-digest.txt", blob_key=new_id("doc"))])):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rag.CreateDocuments(bad, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A refused call records nothing, not even its valid documents.
    assert len((await rag.ListDocuments(pb.ListDocumentsRequest(caller=ALICE, owned_only=True), timeout=5)).documents) == 4


async def test_indexing_right_after_start_waits_for_the_model_instead_of_refusing(tmp_path):
    """The embedder loads in the background; a batch arriving first must not be judged against
    an unknown model id (it once got 'this collection uses ""')."""
    settings = RagSettings(grpc_port=0, var_dir=tmp_path)
    await asyncio.to_thread(rag_server.migrate, settings)
    running = await start_grpc(rag_server.build_service(settings, EmbeddingSettings()), settings, readiness_interval=0.05)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = rag_pb2_grpc.RagServiceStub(channel)
            model_id = get_embedder(EmbeddingSettings()).model_id
            chunk = pb.Chunk(chunk_index=0, text="x", dense=[0.0] * 384)
            finish = pb.FinishDocumentRequest(success=True, chunk_count=1)
            for call, request in ((stub.UpsertChunks, pb.UpsertChunksRequest(document_id=new_id("doc"), embedding_model=model_id, chunks=[chunk])),
                                  (stub.IndexDocuments, pb.IndexDocumentsRequest(documents=[pb.UpsertChunksRequest(
                                      document_id=new_id("doc"), embedding_model=model_id, chunks=[chunk], finish=finish)]))):
                try:
                    reply = await call(request, timeout=120)
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.NOT_FOUND, exc.details()  # the document does not exist
                else:
                    assert reply.results[0].error  # IndexDocuments reports the unknown document per item
    finally:
        await running.stop(0)
