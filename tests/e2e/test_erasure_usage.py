"""Erasure keeps the organisation's usage, anonymised, over HTTP against the real fleet: a member
chats, the admin reads the usage report, the member is erased (by the admin, or by themself),
and the report is the same to the token while the member's id, e-mail and messages are found
neither in it nor in the conversation service's tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
FAKE = {"model": "fake:fake-model", "use_rag": False}


def sign_in(http, email: str) -> dict[str, str]:
    reply = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def organisation(http) -> tuple[dict, dict, str, str]:
    """(admin headers, member headers, member id, member e-mail) of a new organisation."""
    tag = uuid.uuid4().hex[:8]
    admin_email, email = f"usage-admin-{tag}@example.com", f"usage-member-{tag}@example.com"
    assert http.post("/api/v1/auth/register", json={"email": admin_email, "password": PASSWORD, "organization": f"Usage {tag}"}).status_code == 201
    admin = sign_in(http, admin_email)
    member = http.post("/api/v1/admin/users", headers=admin, json={"email": email, "password": PASSWORD})
    assert member.status_code == 201, member.text
    return admin, sign_in(http, email), member.json()["id"], email


def chat(http, user: dict, message: str, conversation_id: str | None = None) -> dict:
    body = {"message": message, **FAKE, **({"conversation_id": conversation_id} if conversation_id else {})}
    reply = http.post("/api/v1/chat", headers=user, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def report(http, admin: dict, window: dict) -> dict:
    reply = http.get("/api/v1/admin/usage", headers=admin, params=window)
    assert reply.status_code == 200, reply.text
    return reply.json()


def conversation_tables_text(fleet) -> str:
    """Every value of every table the conversation service owns, as one text."""
    url = fleet.env.get("CONVERSATION_DATABASE_URL") or f"sqlite:///{fleet.var_dir / 'conversation.db'}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return " ".join(str(value) for table in ("conversations", "messages", "usage_ledger")
                            for row in conn.execute(sa.text(f"SELECT * FROM {table}")) for value in row)
    finally:
        engine.dispose()


@pytest.mark.parametrize("erased_by", ["admin", "self"])
def test_erasure_leaves_the_organisations_usage_totals_unchanged(http, fleet, erased_by):
    admin, member, member_id, email = organisation(http)
    # Days around today: a run that crosses midnight still reads the same window twice.
    today = datetime.now(UTC).date()
    window = {"since": (today - timedelta(days=1)).isoformat(), "until": (today + timedelta(days=1)).isoformat()}
    secret = f"okapi-{uuid.uuid4().hex[:8]}"
    replies = [chat(http, member, f"first question about the {secret}")]
    replies.append(chat(http, member, f"a follow-up on the {secret}", replies[0]["conversation_id"]))
    replies.append(chat(http, admin, "the admin's own question"))

    before = report(http, admin, window)
    assert before["totals"] == {
        "turns": 3,
        "prompt_tokens": sum(r["tokens_used"]["prompt"] for r in replies),
        "completion_tokens": sum(r["tokens_used"]["completion"] for r in replies),
        "total_tokens": sum(r["tokens_used"]["total"] for r in replies),
        # the fake provider has no price: its turns are counted as unpriced, never as free
        "cost": None, "unpriced_turns": 3, "cached_prompt_tokens": 0, "cache_hits": 0,
    }
    assert before["totals"]["total_tokens"] > 0
    assert {(d["provider"], d["model"]) for d in before["days"]} == {(replies[0]["provider"], replies[0]["model"])}
    # Only admins read it; another organisation's admin sees none of it.
    assert http.get("/api/v1/admin/usage", headers=member, params=window).status_code == 403
    stranger, *_ = organisation(http)
    assert report(http, stranger, window)["totals"]["turns"] == 0

    if erased_by == "admin":
        erased = http.delete(f"/api/v1/admin/users/{member_id}", headers=admin)
    else:
        erased = http.request("DELETE", "/api/v1/me", headers=member, json={"password": PASSWORD})
    assert erased.status_code == 200, erased.text
    assert erased.json()["removed"]["conversation"] == {"conversations": 1, "messages": 4, "memory_facts": 0}
    # One ledger row per UTC day (two if the chats crossed midnight).
    assert erased.json()["removed"]["usage_ledger"]["records_anonymised"] in (1, 2)

    after = report(http, admin, window)
    assert after["totals"] == before["totals"] and after["days"] == before["days"]
    # The person is gone from the report and from the service's tables; their usage is not.
    for trace in (member_id, email, secret):
        assert trace not in str(after)
        assert trace not in conversation_tables_text(fleet)
    assert http.get(f"/api/v1/conversations/{replies[0]['conversation_id']}", headers=admin).status_code == 404


def test_the_usage_report_validates_its_window(http):
    admin, *_ = organisation(http)
    assert http.get("/api/v1/admin/usage", headers=admin, params={"since": "2026-02-01", "until": "2026-01-01"}).status_code == 400
    assert http.get("/api/v1/admin/usage", headers=admin, params={"since": "2024-01-01", "until": "2026-01-01"}).status_code == 400
    bad = http.get("/api/v1/admin/usage", headers=admin, params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    default = report(http, admin, {})
    assert (datetime.fromisoformat(default["until"]) - datetime.fromisoformat(default["since"])).days == 29
