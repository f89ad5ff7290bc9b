"""The knowledge base end to end over HTTP, with the real gateway, rag service and Celery
worker processes: uploads of every kind, grounded answers that cite the right document and
section, access rules on every document route, deletion, and files that must be refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from e2e_support import auth, register_and_login, stream_chat, upload, wait_for_document
from sample_docs import MAKERS

pytestmark = pytest.mark.e2e

# One document per kind, each on its own subject, so a question has exactly one source.
LIBRARY = {
    "pdf": ("Orbital Fleet Manual", [
        ("Docking clearance", ["Shuttles request docking clearance from Harbor Control on channel 7 at least ninety minutes before arrival."]),
        ("Fuel reserves", ["Every tug keeps a reserve of 340 kilograms of xenon propellant for emergency burns."]),
    ]),
    "docx": ("Greenhouse Operations", [
        ("Irrigation schedule", ["The tomato beds in greenhouse B are irrigated at 05:30 and 17:45 with 12 litres per bed."]),
        ("Pest control", ["Ladybird larvae are released every second Tuesday to control aphids on the pepper plants."]),
    ]),
    "html": ("Museum Visitor Guide", [
        ("Opening hours", ["The Kessler Museum of Clockwork opens at 10:00 and closes at 18:00 from Wednesday to Sunday."]),
        ("Guided tours", ["Guided tours of the astronomical clock gallery start every hour and last forty minutes."]),
    ]),
    "md": ("Bakery Recipes", [
        ("Rye sourdough", ["The rye sourdough proofs for fourteen hours at 24 degrees before baking at 250 degrees."]),
        ("Almond croissants", ["Almond croissants are filled with frangipane made from ground almonds, butter and rum."]),
    ]),
    "txt": ("Lighthouse Keeping", [
        ("Lamp maintenance", ["The Fresnel lens of the Cape Varden lighthouse is polished with chamois leather every Friday."]),
        ("Fog signals", ["In fog the horn sounds two blasts every thirty seconds, audible up to six nautical miles."]),
    ]),
}
QUESTIONS = [
    ("pdf", "Docking clearance", "On which channel do shuttles ask Harbor Control for docking clearance?"),
    ("docx", "Irrigation schedule", "At what times are the tomato beds in greenhouse B irrigated?"),
    ("html", "Opening hours", "When does the Kessler Museum of Clockwork open and close?"),
    ("md", "Rye sourdough", "How long does the rye sourdough proof?"),
    ("txt", "Fog signals", "How often does the lighthouse fog horn sound?"),
]


@pytest.fixture(scope="module")
def librarian(http):
    """One user whose five documents (one per kind) are uploaded and indexed once."""
    user = register_and_login(http)
    ids = {}
    for kind, (title, sections) in LIBRARY.items():
        reply = upload(http, user, f"{title.lower().replace(' ', '-')}.{kind}", MAKERS[kind](title, sections))
        assert reply.status_code == 202, reply.text
        ids[kind] = reply.json()["documents"][0]["id"]
    for kind, document_id in ids.items():
        doc = wait_for_document(http, user, document_id)
        assert doc["status"] == "indexed", (kind, doc)
        assert doc["chunk_count"] >= 2 and doc["timings"]["total_ms"] > 0
    return user, ids


@pytest.mark.parametrize(("kind", "section", "question"), QUESTIONS)
def test_grounded_answer_cites_the_right_document_and_section(http, librarian, kind, section, question):
    user, ids = librarian
    stream = stream_chat(http, user, {"message": question, "use_rag": True, "max_tokens": 24})
    names = [name for name, _ in stream]
    assert "citations" in names and names.index("citations") < names.index("token")  # sources before tokens
    citations = dict(stream)["citations"]["citations"]
    assert citations[0]["document_id"] == ids[kind], citations
    assert section in citations[0]["section"], citations
    assert citations[0]["number"] == 1 and citations[0]["snippet"] and 0 < citations[0]["score"] <= 1
    if kind == "pdf":
        assert citations[0]["page"] == 1
    complete = dict(stream)["complete"]
    assert complete["finish_reason"] in ("stop", "length") and complete["usage"]["completion"] > 0
    # The whole cited passage is readable, and the stored assistant message keeps the citations.
    chunk = http.get(f"/api/v1/documents/{ids[kind]}/chunks/{citations[0]['chunk_id']}", headers=auth(user))
    assert chunk.status_code == 200 and citations[0]["snippet"].strip(" …")[:40] in chunk.json()["text"]
    messages = http.get(f"/api/v1/conversations/{complete['conversation_id']}/messages", headers=auth(user)).json()["messages"]
    assert messages[-1]["citations"] == citations


def test_json_chat_and_search_return_the_sources(http, librarian):
    user, ids = librarian
    reply = http.post("/api/v1/chat", headers=auth(user), json={"message": "What propellant reserve does every tug keep?", "max_tokens": 16})
    assert reply.status_code == 200, reply.text
    assert reply.json()["citations"][0]["document_id"] == ids["pdf"]  # use_rag defaults on: the user has documents
    hits = http.post("/api/v1/search", headers=auth(user), json={"query": "ladybird larvae aphids"}).json()["hits"]
    assert hits[0]["chunk"]["document_id"] == ids["docx"] and "Pest control" in hits[0]["chunk"]["section"]


def test_nothing_relevant_is_said_not_invented(http, librarian):
    user, _ = librarian
    reply = http.post("/api/v1/chat", headers=auth(user), json={"message": "What is the boiling point of tungsten?", "use_rag": True})
    body = reply.json()
    assert reply.status_code == 200 and body["citations"] == []
    assert "could not find" in body["content"] and body["provider"] == "knowledge-base"


def test_other_users_never_reach_a_private_document(http, librarian, bob):
    user, ids = librarian
    doc_id = ids["md"]
    cited = http.post("/api/v1/search", headers=auth(user), json={"query": "rye sourdough proof"}).json()["hits"][0]["chunk"]["chunk_id"]
    for method, path in (("GET", f"/api/v1/documents/{doc_id}"), ("GET", f"/api/v1/documents/{doc_id}/chunks/{cited}"),
                         ("DELETE", f"/api/v1/documents/{doc_id}")):
        reply = http.request(method, path, headers=auth(bob))
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND", (method, path, reply.text)
    assert http.get("/api/v1/documents", headers=auth(bob)).json()["documents"] == []
    assert http.post("/api/v1/search", headers=auth(bob), json={"query": "rye sourdough proof"}).json()["hits"] == []
    answer = http.post("/api/v1/chat", headers=auth(bob), json={"message": "How long does the rye sourdough proof?", "use_rag": True}).json()
    assert answer["citations"] == []


def test_deleted_document_never_appears_again(http, fleet, alice):
    data = MAKERS["md"]("Moon Base Rules", [("Airlocks", ["Airlock C on the moon base is sealed every night at 22:00 sharp."])])
    doc_id = upload(http, alice, "moon.md", data).json()["documents"][0]["id"]
    assert wait_for_document(http, alice, doc_id)["status"] == "indexed"
    question = {"query": "When is airlock C sealed?"}
    assert http.post("/api/v1/search", headers=auth(alice), json=question).json()["hits"]
    blobs = list((fleet.var_dir / "blobs").rglob(doc_id))
    assert len(blobs) == 1
    assert http.delete(f"/api/v1/documents/{doc_id}", headers=auth(alice)).status_code == 204
    assert http.get(f"/api/v1/documents/{doc_id}", headers=auth(alice)).status_code == 404
    assert http.post("/api/v1/search", headers=auth(alice), json=question).json()["hits"] == []
    answer = http.post("/api/v1/chat", headers=auth(alice), json={"message": "When is airlock C sealed?", "use_rag": True}).json()
    assert answer["citations"] == []
    assert not blobs[0].exists()
    # Uploading the same bytes again makes a new document (the old one is gone for good).
    again = upload(http, alice, "moon.md", data).json()["documents"][0]
    assert again["id"] != doc_id and not again["duplicate"]


def test_duplicate_upload_returns_the_existing_document(http, alice):
    data = MAKERS["txt"]("Dup", [("Only", ["The duplicate detector compares sha256 digests of the bytes."])])
    first = upload(http, alice, "a.txt", data).json()["documents"][0]
    second = upload(http, alice, "b.txt", data).json()["documents"][0]
    assert not first["duplicate"] and second["duplicate"]
    assert second["id"] == first["id"] and second["filename"] == "a.txt"  # the existing document, as first named
    listed = http.get("/api/v1/documents", headers=auth(alice)).json()
    assert [d["id"] for d in listed["documents"]].count(first["id"]) == 1


def test_corrupted_pdf_fails_with_a_reason_and_the_worker_keeps_serving(http, alice):
    broken = MAKERS["pdf"]("Broken", [("Part", ["This PDF will be truncated in the middle of its objects."])])[:300]
    doc_id = upload(http, alice, "broken.pdf", broken).json()["documents"][0]["id"]
    doc = wait_for_document(http, alice, doc_id)
    assert doc["status"] == "failed" and "PDF" in doc["error"] and doc["chunk_count"] == 0
    good = upload(http, alice, "fine.txt", MAKERS["txt"]("Fine", [("Ok", ["The worker still indexes documents after a failure."])]))
    assert wait_for_document(http, alice, good.json()["documents"][0]["id"])["status"] == "indexed"
    failed = http.get("/api/v1/documents", params={"status": "failed"}, headers=auth(alice)).json()["documents"]
    assert [d["id"] for d in failed] == [doc_id]


def test_one_upload_of_many_files_is_ingested_together_and_each_ends_on_its_own(http, alice):
    """The files of one request travel as one task: small ones are embedded and indexed
    together, a large one in its own batches, a broken one fails alone."""
    planets = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
    large = MAKERS["md"]("Observatory Logbook", [
        (f"Night {n}", [f"On night {n} the telescope tracked {planets[n % 8]} for {n + 20} minutes; " + "seeing was steady. " * 40])
        for n in range(45)])
    files = [("files", ("greenhouse.txt", MAKERS["txt"]("Seed Vault", [("Storage", ["The seed vault keeps barley seeds at minus eighteen degrees."])]))),
             ("files", ("logbook.md", large)),
             ("files", ("broken.pdf", MAKERS["pdf"]("Broken", [("Part", ["Truncated in the middle of its objects."])])[:300])),
             ("files", ("notes.txt", MAKERS["txt"]("Ferry Notes", [("Timetable", ["The island ferry leaves the harbour at 06:40 on weekdays."])])))]
    reply = http.post("/api/v1/documents", headers=auth(alice), files=files)
    assert reply.status_code == 202, reply.text
    ids = [d["id"] for d in reply.json()["documents"]]
    seed, logbook, broken, ferry = (wait_for_document(http, alice, document_id) for document_id in ids)
    assert seed["status"] == "indexed" and ferry["status"] == "indexed" and seed["chunk_count"] >= 1
    assert logbook["status"] == "indexed" and logbook["chunk_count"] > 32, logbook  # more than one batch
    assert broken["status"] == "failed" and "PDF" in broken["error"]
    for doc in (seed, logbook, ferry):
        assert doc["timings"]["total_ms"] >= doc["timings"]["embed_ms"] > 0
    # Each document's passages are findable and point at it.
    for query, document_id in (("barley seeds vault temperature", ids[0]), ("island ferry harbour weekdays", ids[3]),
                               ("night 44 telescope tracked", ids[1])):
        hits = http.post("/api/v1/search", headers=auth(alice), json={"query": query, "document_ids": [document_id]}).json()["hits"]
        assert hits and hits[0]["chunk"]["document_id"] == document_id, (query, hits[:1])
    # Every passage of the large one is indexed, its last batch too: all of its 45 passages (each
    # found by its smaller pieces, which are the document's chunks), read back without a score
    # threshold (a lookup, no ranking involved).
    every = http.post("/api/v1/search", headers=auth(alice), json={
        "query": "observatory logbook", "document_ids": [ids[1]], "top_k": 50, "score_threshold": -1}).json()["hits"]
    assert len(every) == 45, [h["chunk"]["section"] for h in every]
    assert {h["chunk"]["section"].rsplit(" > ", 1)[-1] for h in every} == {f"Night {n}" for n in range(45)}
    assert all(0 <= h["chunk"]["chunk_index"] < logbook["chunk_count"] for h in every)
    # And a search of all the user's documents finds the last night among 45 near-identical ones
    # (the last batch's). Their dense order is noise that differs with the CPU's int8 kernels
    # (AVX2 and AVX-512 VNNI rank them differently), so it must be decided by what the words single
    # out: hybrid search fuses relative scores, under which near-duplicates tie on the dense side
    # and "44" (in the text and the section "Night 44"), "Jupiter" and the phrase decide.
    night = http.post("/api/v1/search", headers=auth(alice), json={"query": "On night 44 the telescope tracked Jupiter"}).json()["hits"]
    assert night and night[0]["chunk"]["section"].endswith("Night 44"), night[:1]


def test_malformed_ingestion_tasks_are_refused_and_the_worker_keeps_serving(http, fleet, alice):
    """Anyone who can publish to the broker can send any arguments: none may crash the worker
    or touch a document not named properly."""
    from chatbot_common.tasks import QUEUE, TASK_INGEST_DOCUMENT, TASK_INGEST_DOCUMENTS, create_celery

    good = upload(http, alice, "after-junk.txt", MAKERS["txt"]("Junk", [("Ok", ["Orchids in the atrium are watered on Sundays."])]))
    good_id = good.json()["documents"][0]["id"]
    app = create_celery("e2e-junk", "", fleet.var_dir)
    try:
        for name, kwargs in [(TASK_INGEST_DOCUMENTS, {"document_ids": "doc_not-a-list"}),
                             (TASK_INGEST_DOCUMENTS, {"document_ids": [None, 7, "../../etc/passwd", {"id": 1}]}),
                             (TASK_INGEST_DOCUMENTS, {"document_ids": [f"doc_{'0' * 32}"] * 150}),
                             (TASK_INGEST_DOCUMENTS, {}),
                             (TASK_INGEST_DOCUMENT, {"document_id": ["not", "a", "string"]}),
                             (TASK_INGEST_DOCUMENTS, {"document_ids": [good_id, good_id, "junk"]})]:
            app.send_task(name, kwargs=kwargs, queue=QUEUE)
    finally:
        app.close()
    doc = wait_for_document(http, alice, good_id)
    assert doc["status"] == "indexed" and doc["chunk_count"] == 1
    later = upload(http, alice, "later.txt", MAKERS["txt"]("Later", [("Ok", ["The atrium fountain is cleaned monthly."])]))
    assert wait_for_document(http, alice, later.json()["documents"][0]["id"])["status"] == "indexed"
    deadline = time.monotonic() + 30
    log = fleet.log_dir / "ingest-worker.log"
    while "malformed document ids" not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "malformed document ids" in log.read_text(errors="replace")
    assert "raised unexpected" not in log.read_text(errors="replace")  # no task crashed on its arguments


def _files_outside(root: Path, allowed: tuple[str, ...]) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not any(part in allowed for part in p.relative_to(root).parts)}


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("empty.txt", b"", 400, "VALIDATION_ERROR"),
    ("big.txt", b"a" * 1_000_001, 413, "PAYLOAD_TOO_LARGE"),
    ("invoice.pdf", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 415, "UNSUPPORTED_MEDIA_TYPE"),
])
def test_bad_files_are_refused_and_nothing_is_stored(http, fleet, alice, name, data, status, code):
    before = _files_outside(fleet.var_dir, ("logs", "broker", "qdrant-edge", "models"))
    reply = upload(http, alice, name, data)
    assert reply.status_code == status and reply.json()["error"]["code"] == code, reply.text
    created = _files_outside(fleet.var_dir, ("logs", "broker", "qdrant-edge", "models")) - before
    assert {p for p in created if ".db" not in p.name} == set()  # no blob, nothing anywhere else


def test_a_hostile_filename_is_never_a_path(http, fleet, alice):
    marker = f"travel-{time.time_ns()}"
    reply = upload(http, alice, f"../../../../tmp/{marker}", MAKERS["txt"]("Path", [("Safe", ["Filenames are display text only."])]))
    assert reply.status_code == 202, reply.text
    doc = reply.json()["documents"][0]
    assert doc["filename"] == marker
    assert not Path("/tmp", marker).exists() and not list(fleet.var_dir.parent.rglob(marker))
    stored = list((fleet.var_dir / "blobs").rglob(doc["id"]))
    assert len(stored) == 1 and wait_for_document(http, alice, doc["id"])["status"] == "indexed"


def test_request_without_files_or_with_bad_form_is_400(http, alice):
    assert http.post("/api/v1/documents", headers=auth(alice), data={"collection": "x"}).status_code == 400
    bad = http.post("/api/v1/documents", headers=auth(alice), files=[("files", ("a.txt", b"hello there"))], data={"visibility": "public"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    anonymous = http.post("/api/v1/documents", files=[("files", ("a.txt", b"hello there"))])
    assert anonymous.status_code == 401


def test_signed_upload_events_enqueue_files_from_the_ingest_directory(http, fleet):
    owner = register_and_login_as(http, fleet.env["GATEWAY_UPLOAD_EVENT_OWNER_EMAIL"])
    ingest_dir = Path(fleet.env["GATEWAY_INGEST_DIR"])
    (ingest_dir / "2026").mkdir(parents=True, exist_ok=True)
    ferry = MAKERS["md"]("Ferry", [("Timetable", ["The island ferry leaves the north pier at 07:15."])])
    (ingest_dir / "2026" / "ferry.md").write_bytes(ferry)
    (ingest_dir / "2026" / "ferry-copy.md").write_bytes(ferry)
    (ingest_dir / "2026" / "tides.txt").write_bytes(MAKERS["txt"]("Tides", [("Table", ["High tide at the north pier is at 11:20 today."])]))
    (ingest_dir / "2026" / "bikes.txt").write_bytes(MAKERS["txt"]("Bikes", [("Racks", ["Bicycle racks in the east courtyard are emptied every winter."])]))
    # Good and bad events interleaved; files of one collection and visibility are registered and
    # enqueued together, a change of visibility starts a new group; answers keep the events' order.
    events = [{"key": "2026/ferry.md", "size": 1}, {"key": "../outside.md"}, {"key": "2026/tides.txt"}, {"key": "missing.md"},
              {"key": "2026/bikes.txt", "visibility": "tenant"}, {"key": "2026/ferry-copy.md"}]
    body = json.dumps({"events": events}).encode()
    secret = fleet.env["GATEWAY_UPLOAD_EVENT_SECRET"].encode()

    def post(payload: bytes, timestamp: int, signature: str | None = None):
        sig = signature or "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
        return http.post("/api/v1/ingest/events", content=payload,
                         headers={"X-Signature": sig, "X-Timestamp": str(timestamp), "Content-Type": "application/json"})

    now = int(time.time())
    assert post(body, now, "sha256=" + "0" * 64).status_code == 401
    assert post(body, now - 3600).status_code == 401  # replayed too late
    reply = post(body, now)
    assert reply.status_code == 202, reply.text
    out = reply.json()
    assert out["accepted"] == 4 and out["rejected"] == 2
    assert [r["key"] for r in out["results"]] == [e["key"] for e in events]
    ferry_doc, outside, tides, missing, bikes, copy = out["results"]
    assert "outside" in outside["error"] or ".." in outside["error"]
    assert missing["error"] and not missing.get("document")
    assert copy["document"]["duplicate"] and copy["document"]["id"] == ferry_doc["document"]["id"]
    for result in (ferry_doc, tides, bikes):
        doc = wait_for_document(http, owner, result["document"]["id"])
        assert doc["status"] == "indexed", doc
    assert wait_for_document(http, owner, bikes["document"]["id"])["visibility"] == "tenant"


def register_and_login_as(http, email: str) -> dict[str, str]:
    http.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    tokens = http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_upload_folder_command_reports_progress_and_a_summary(http, fleet, alice, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_bytes(MAKERS["md"]("Alpha", [("One", ["The alpha folder document talks about kiwis."])]))
    (folder / "sub" / "b.txt").write_bytes(MAKERS["txt"]("Beta", [("Two", ["The beta folder document talks about plums."])]))
    (folder / "c.pdf").write_bytes(b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64)  # refused by content
    (folder / "ignored.bin").write_bytes(b"not a document")
    token = alice["Authorization"].split()[1]
    done = subprocess.run([sys.executable, "-m", "gateway.cli.upload", str(folder), "--url", fleet.url, "--token", token],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr  # one file refused
    assert "3 files: 2 accepted (0 already uploaded), 1 refused" in done.stdout
    assert "2 indexed" in done.stdout and "c.pdf" in done.stdout and "ELF" in done.stdout
    assert "uploading" in done.stderr and "100%" in done.stderr  # the progress bars
    titles = {d["filename"] for d in http.get("/api/v1/documents", headers=auth(alice)).json()["documents"]}
    assert {"a.md", "b.txt"} <= titles


def test_tenant_shared_documents_are_readable_by_colleagues_but_only_the_owner_deletes(http, alice, bob):
    data = MAKERS["md"]("Canteen", [("Menu", ["On Thursdays the canteen serves saffron risotto with peas."])])
    doc_id = upload(http, alice, "canteen.md", data, visibility="tenant", collection="facilities").json()["documents"][0]["id"]
    assert wait_for_document(http, alice, doc_id)["status"] == "indexed"
    seen = http.get(f"/api/v1/documents/{doc_id}", headers=auth(bob)).json()
    assert seen["visibility"] == "tenant" and seen["owned"] is False
    listed = http.get("/api/v1/documents", headers=auth(bob), params={"collection": "facilities", "q": "cante"}).json()
    assert [d["id"] for d in listed["documents"]] == [doc_id]
    assert http.get("/api/v1/documents", headers=auth(bob), params={"owned": "true", "collection": "facilities"}).json()["documents"] == []
    hits = http.post("/api/v1/search", headers=auth(bob), json={"query": "What does the canteen serve on Thursdays?"}).json()["hits"]
    assert hits and hits[0]["chunk"]["document_id"] == doc_id
    denied = http.delete(f"/api/v1/documents/{doc_id}", headers=auth(bob))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED"
    assert http.delete(f"/api/v1/documents/{doc_id}", headers=auth(alice)).status_code == 204
