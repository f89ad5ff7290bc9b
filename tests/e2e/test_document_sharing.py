"""Sharing a document with the tenant after upload (PATCH /api/v1/documents/{id}): colleagues find
its passages in search as soon as the call returns, and lose them as soon as it is taken back;
only the owner or a tenant admin may change it; every refusal is one JSON error shape; each
change and each refusal is in the audit log."""

from __future__ import annotations

import uuid

import pytest

from e2e_support import add_colleague, auth, register_and_login, upload, wait_for_document

pytestmark = pytest.mark.e2e


def finds(http, user, document_id: str, query: str) -> bool:
    reply = http.post("/api/v1/search", headers=auth(user), json={"query": query, "top_k": 10})
    assert reply.status_code == 200, reply.text
    return any(hit["chunk"]["document_id"] == document_id for hit in reply.json()["hits"])


def share(http, user, document_id: str, body) -> object:
    return http.patch(f"/api/v1/documents/{document_id}", headers=auth(user), json=body)


def refused(reply, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"} and body["error"]["code"] == code


def indexed(http, user, text: str) -> str:
    reply = upload(http, user, f"{uuid.uuid4().hex[:8]}.md", text.encode())
    assert reply.status_code == 202, reply.text
    document_id = reply.json()["documents"][0]["id"]
    assert wait_for_document(http, user, document_id)["status"] == "indexed"
    return document_id


def test_colleagues_find_a_document_only_while_it_is_shared(http, alice, bob):
    word = f"quokka{uuid.uuid4().hex[:6]}"
    query = f"How often does the {word} protocol rotate badges?"
    document_id = indexed(http, alice, f"# Badges\n\nThe {word} protocol rotates every visitor badge every seventeen days.")
    stranger = register_and_login(http)  # another organisation
    assert finds(http, alice, document_id, query) and not finds(http, bob, document_id, query)

    shared = share(http, alice, document_id, {"shared": True})
    assert shared.status_code == 200, shared.text
    assert (shared.json()["id"], shared.json()["visibility"], shared.json()["owned"]) == (document_id, "tenant", True)
    assert finds(http, bob, document_id, query)  # at once: no waiting
    seen = http.get(f"/api/v1/documents/{document_id}", headers=auth(bob)).json()
    assert (seen["visibility"], seen["owned"]) == ("tenant", False)
    assert not finds(http, stranger, document_id, query)

    taken_back = share(http, alice, document_id, {"shared": False})
    assert taken_back.status_code == 200 and taken_back.json()["visibility"] == "private"
    assert not finds(http, bob, document_id, query)
    refused(http.get(f"/api/v1/documents/{document_id}", headers=auth(bob)), 404, "NOT_FOUND")
    assert finds(http, alice, document_id, query)


def test_only_the_owner_or_a_tenant_admin_changes_who_reads_a_document(http, alice, bob):
    viewer = add_colleague(http, alice, role="viewer")
    stranger = register_and_login(http)
    word = f"wombat{uuid.uuid4().hex[:6]}"
    query = f"What does the {word} rule say about parking?"
    bobs = indexed(http, bob, f"# Parking\n\nThe {word} rule keeps the north car park for visitors on Fridays.")
    refused(share(http, alice, bobs, {"shared": True}), 404, "NOT_FOUND")  # an admin never reaches a private document
    assert share(http, bob, bobs, {"shared": True}).status_code == 200

    refused(share(http, viewer, bobs, {"shared": False}), 403, "PERMISSION_DENIED")  # viewers share nothing
    refused(share(http, stranger, bobs, {"shared": False}), 404, "NOT_FOUND")
    alices = indexed(http, alice, f"# Lunch\n\nThe {word} canteen opens at noon.")
    assert share(http, alice, alices, {"shared": True}).status_code == 200
    refused(share(http, bob, alices, {"shared": False}), 403, "PERMISSION_DENIED")  # a colleague's shared document
    assert finds(http, viewer, alices, f"When does the {word} canteen open?")

    # The tenant's admin takes a member's shared document back (and then no longer sees it).
    assert finds(http, viewer, bobs, query)
    taken = share(http, alice, bobs, {"shared": False})
    assert taken.status_code == 200 and (taken.json()["visibility"], taken.json()["owned"]) == ("private", False)
    assert not finds(http, viewer, bobs, query) and not finds(http, alice, bobs, query) and finds(http, bob, bobs, query)

    refused(share(http, alice, "doc_" + "0" * 32, {"shared": True}), 404, "NOT_FOUND")
    refused(share(http, alice, "not-a-document", {"shared": True}), 400, "VALIDATION_ERROR")
    for body in ({}, {"shared": "yes"}, {"shared": True, "visibility": "tenant"}, {"shared": None}):
        refused(share(http, alice, alices, body), 400, "VALIDATION_ERROR")

    audit = http.get("/api/v1/admin/audit", headers=auth(alice), params={"action": "document.share", "limit": 100}).json()["events"]
    outcomes = {(e["target_id"], e["outcome"], e["details"].get("shared")) for e in audit}
    # Refusals by the rag service are audited too (the admin probing a private one, a colleague on a shared one).
    assert {(bobs, "success", True), (bobs, "failure", True), (alices, "failure", False), (bobs, "success", False)} <= outcomes
