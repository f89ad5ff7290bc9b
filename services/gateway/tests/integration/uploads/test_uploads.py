"""An upload's life over a real gRPC hop (a stand-in registry speaking the rag contract, its
errors carried by the fleet's interceptor and MappedStub), a real blob store and the real
ingestion queue (kombu's filesystem broker, or a broker that is down): stored, registered,
enqueued and audited, or undone so that no blob is left without a record, nor a record
without a task."""

from __future__ import annotations

import time

import grpc
import pytest
from kombu import Connection
from sqlalchemy import select

from chatbot.rag.v1 import rag_pb2 as pb
from chatbot.rag.v1 import rag_pb2_grpc
from chatbot_common.blobstore import open_blob_store
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.grpc_errors import AppErrorInterceptor, MappedStub
from chatbot_common.tasks import QUEUE, broker_config
from gateway.identity import roles, users
from gateway.models import AuditEvent
from gateway.security import Principal
from gateway.settings import GatewaySettings
from gateway.uploads import events
from gateway.uploads.files import Uploads
from gateway.uploads.queue import IngestQueue

pytestmark = pytest.mark.contract

MD = b"# Travel\n\nHotels up to 180 EUR a night."
TXT = b"Passwords have fourteen characters at least."


class Registry(rag_pb2_grpc.RagServiceServicer):
    """The rag service's registry as its contract describes it: a duplicate is the same owner's
    same content; only the owner deletes; the caller removes the blob."""

    def __init__(self) -> None:
        self.documents: dict[str, pb.Document] = {}
        self.refuse: dict[str, AppError] = {}  # by filename
        self.calls: list[list[str]] = []

    async def CreateDocuments(self, request, context):
        self.calls.append([d.filename for d in request.documents])
        for d in request.documents:
            if d.filename in self.refuse:
                raise self.refuse[d.filename]
        results = []
        for d in request.documents:
            same = [doc for doc in self.documents.values() if doc.owner_id == d.caller.user_id and doc.sha256 == d.sha256]
            if same:
                results.append(pb.CreateDocumentResponse(document=same[0], created=False))
                continue
            doc = pb.Document(id=d.blob_key, owner_id=d.caller.user_id, tenant_id=d.caller.tenant_id, filename=d.filename,
                              title=d.title, content_type=d.content_type, size_bytes=d.size_bytes, sha256=d.sha256,
                              blob_key=d.blob_key, collection=d.collection, visibility=d.visibility,
                              status=pb.DOCUMENT_STATUS_QUEUED)
            self.documents[doc.id] = doc
            results.append(pb.CreateDocumentResponse(document=doc, created=True))
        return pb.CreateDocumentsResponse(results=results)

    async def DeleteDocument(self, request, context):
        doc = self.documents.get(request.document_id)
        if doc is None:
            raise AppError(ErrorCode.NOT_FOUND, "document not found")
        if doc.owner_id != request.caller.user_id:
            raise AppError(ErrorCode.PERMISSION_DENIED, "only the owner deletes a document")
        del self.documents[doc.id]
        return pb.DeleteDocumentResponse(blob_key=doc.blob_key)


class Rag:
    def __init__(self, stub) -> None:
        self.rag = stub


@pytest.fixture
async def registry():
    servicer = Registry()
    server = grpc.aio.server(interceptors=[AppErrorInterceptor()])
    rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    servicer.downstream = Rag(MappedStub(rag_pb2_grpc.RagServiceStub(channel), "rag"))
    yield servicer
    await channel.close()
    await server.stop(None)


@pytest.fixture
def blobs(tmp_path):
    return open_blob_store(tmp_path / "blobs")


def _uploads(registry, blobs, sessions, tmp_path, broker_url: str = "") -> Uploads:
    queue = IngestQueue(GatewaySettings(var_dir=tmp_path / "var", broker_url=broker_url))
    return Uploads(registry.downstream, blobs, queue, sessions, call_timeout=5)


def _tasks(tmp_path) -> list[tuple[str, dict]]:
    """What the worker would receive, taken off the filesystem broker."""
    config = broker_config("", tmp_path / "var", visibility_timeout=60)
    found = []
    with Connection(config["broker_url"], transport_options=config["broker_transport_options"]) as connection:
        queue = connection.SimpleQueue(QUEUE)
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                break
            args, kwargs, _ = message.payload
            found.append((message.headers["task"], kwargs))
            message.ack()
        queue.close()
    return found


@pytest.fixture
async def ada(sessions, passwords, origin) -> Principal:
    async with sessions() as session:
        user = await users.register(session, passwords, email="ada@acme.example", password="correct horse battery",
                                    organization="Acme", open_signup=True, min_length=8, request=origin)
    return Principal(user.id, user.tenant_id, "member", roles.role_permissions("member"))


async def _audited(sessions, action: str) -> list[tuple]:
    async with sessions() as session:
        rows = (await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))).all()
    return [(e.target_id, e.outcome, e.details) for e in rows]


async def test_an_upload_is_stored_registered_enqueued_and_audited_and_a_duplicate_keeps_no_second_blob(
        registry, blobs, sessions, tmp_path, ada, origin):
    uploads = _uploads(registry, blobs, sessions, tmp_path)
    first = await uploads.upload(ada, [("travel.md", MD, "text/markdown"), ("pw.txt", TXT, "text/plain")], collection="handbook",
                                 visibility="private", request=origin, request_id="req-1")
    again = await uploads.upload(ada, [("copy.md", MD, "text/markdown")], collection="handbook", visibility="private",
                                 request=origin, request_id="req-2")

    ids = [r.document.id for r in first]
    assert [r.created for r in first] == [True, True] and ids[0].startswith("doc_")
    assert (again[0].document.id, again[0].created) == (ids[0], False)
    assert [blobs.get(i) for i in ids] == [MD, TXT]
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == sorted(ids)  # no blob for the copy
    assert registry.documents[ids[0]].title == "travel"
    assert _tasks(tmp_path) == [("ingest.documents", {"document_ids": ids, "request_id": "req-1"})]  # the copy is not ingested again
    assert await _audited(sessions, "document.upload") == [
        (ids[0], "success", {"duplicate": False, "visibility": "private", "collection": "handbook", "files_in_upload": 2}),
        (ids[1], "success", {"duplicate": False, "visibility": "private", "collection": "handbook", "files_in_upload": 2}),
        (ids[0], "success", {"duplicate": True, "visibility": "private", "collection": "handbook", "files_in_upload": 1}),
    ]


async def test_a_refused_registration_leaves_no_blob(registry, blobs, sessions, tmp_path, ada, origin):
    registry.refuse["pw.txt"] = AppError(ErrorCode.CONFLICT, "an earlier copy is still being deleted")
    uploads = _uploads(registry, blobs, sessions, tmp_path)
    with pytest.raises(AppError) as refused:
        await uploads.upload(ada, [("travel.md", MD, "text/markdown"), ("pw.txt", TXT, "text/plain")], collection="default",
                             visibility="private", request=origin, request_id="r")
    assert (refused.value.code, refused.value.message) == (ErrorCode.CONFLICT, "an earlier copy is still being deleted")
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert registry.documents == {} and _tasks(tmp_path) == []


async def test_a_blob_store_that_cannot_write_refuses_before_anything_is_registered(registry, sessions, tmp_path, ada, origin):
    root = tmp_path / "blobs"
    blobs = open_blob_store(root)
    root.rmdir()
    root.write_text("")  # the store's folder is gone: every write fails
    uploads = _uploads(registry, blobs, sessions, tmp_path)
    with pytest.raises(AppError) as refused:
        await uploads.upload(ada, [("travel.md", MD, "text/markdown")], collection="default", visibility="private",
                             request=origin, request_id="r")
    assert refused.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert registry.calls == []


async def test_a_queue_that_is_down_takes_the_new_documents_back(registry, blobs, sessions, tmp_path, ada, origin):
    uploads = _uploads(registry, blobs, sessions, tmp_path)
    kept = await uploads.upload(ada, [("travel.md", MD, "text/markdown")], collection="default", visibility="private",
                                request=origin, request_id="r")
    down = _uploads(registry, blobs, sessions, tmp_path, broker_url="redis://127.0.0.1:1/0")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(AppError) as refused:
        await down.upload(ada, [("pw.txt", TXT, "text/plain"), ("again.md", MD, "text/markdown")], collection="default",
                          visibility="private", request=origin, request_id="r")
    assert refused.value.to_body()["error"]["message"] == "the ingestion queue is unavailable; try again"
    assert time.monotonic() - started < 30
    # The new one is gone from the registry and the blob store; the duplicate's first copy stays.
    assert list(registry.documents) == [kept[0].document.id]
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == [kept[0].document.id]
    assert await _audited(sessions, "document.upload") == [
        (kept[0].document.id, "success", {"duplicate": False, "visibility": "private", "collection": "default", "files_in_upload": 1})]


async def test_deleting_removes_the_file_and_a_refusal_is_audited(registry, blobs, sessions, tmp_path, ada, origin):
    uploads = _uploads(registry, blobs, sessions, tmp_path)
    [mine] = await uploads.upload(ada, [("travel.md", MD, "text/markdown")], collection="default", visibility="tenant",
                                  request=origin, request_id="r")
    doc_id = mine.document.id
    colleague = Principal("usr_" + "b" * 32, ada.tenant_id, "member", roles.role_permissions("member"))
    with pytest.raises(AppError) as refused:
        await uploads.delete(colleague, doc_id, origin)
    assert refused.value.code is ErrorCode.PERMISSION_DENIED and blobs.exists(doc_id)
    await uploads.delete(ada, doc_id, origin)
    assert not blobs.exists(doc_id) and registry.documents == {}
    assert await _audited(sessions, "document.delete") == [
        (doc_id, "failure", {"reason": "PERMISSION_DENIED"}), (doc_id, "success", {})]


async def test_storage_events_are_grouped_and_one_refused_file_does_not_refuse_the_rest(
        registry, blobs, sessions, tmp_path, ada, origin):
    root = tmp_path / "ingest"
    (root / "team").mkdir(parents=True)
    for name, data in (("a.md", MD), ("b.txt", TXT), ("c.md", b"# C\n\nthird"), ("d.md", b"# D\n\nfourth"), ("empty.md", b"")):
        (root / "team" / name).write_bytes(data)
    registry.refuse["c.md"] = AppError(ErrorCode.CONFLICT, "an earlier copy is still being deleted")
    objects = [events.StoredObject("team/a.md", "handbook", "private"), events.StoredObject("team/b.txt", "handbook", "private"),
               events.StoredObject("../escape.md", "handbook", "private"), events.StoredObject("team/empty.md", "handbook", "private"),
               events.StoredObject("team/c.md", "other", "private"), events.StoredObject("team/d.md", "other", "private")]
    outcomes = await events.ingest(_uploads(registry, blobs, sessions, tmp_path), sessions, owner_email="ADA@acme.example",
                                   root=root, max_bytes=1000, objects=objects, request_id="req-ev")

    assert [(o.key, o.registered is not None, o.error) for o in outcomes] == [
        ("team/a.md", True, None), ("team/b.txt", True, None), ("../escape.md", False, "key must be a relative path without '..'"),
        ("team/empty.md", False, "the file is empty"), ("team/c.md", False, "an earlier copy is still being deleted"),
        ("team/d.md", True, None)]
    # One registration per collection; the refused group again file by file.
    assert registry.calls == [["a.md", "b.txt"], ["c.md", "d.md"], ["c.md"], ["d.md"]]
    assert {d.collection for d in registry.documents.values()} == {"handbook", "other"}
    assert all(d.owner_id == ada.user_id for d in registry.documents.values())
    ids = {o.key: o.registered.document.id for o in outcomes if o.registered}
    assert _tasks(tmp_path) == [
        ("ingest.documents", {"document_ids": [ids["team/a.md"], ids["team/b.txt"]], "request_id": "req-ev"}),
        ("ingest.document", {"document_id": ids["team/d.md"], "request_id": "req-ev"})]


async def test_storage_events_need_their_owner(registry, blobs, sessions, tmp_path, origin):
    with pytest.raises(AppError) as refused:
        await events.ingest(_uploads(registry, blobs, sessions, tmp_path), sessions, owner_email="nobody@acme.example",
                            root=tmp_path, max_bytes=1000, objects=[events.StoredObject("a.md", "default", "private")],
                            request_id="r")
    assert refused.value.code is ErrorCode.SERVICE_UNAVAILABLE and registry.calls == []
