"""schemathesis against the gateway's own OpenAPI document, on the real fleet: generated
requests (valid and invalid) for every operation, authenticated as a tenant admin's API key with
every scope. No answer may be a 5xx, and an operation that declares authentication must refuse
the same request without it or with a wrong credential (schemathesis' `ignored_auth`)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import ignored_auth, not_a_server_error

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
# Generation goes to the fast fake provider, never to the embedded model with a random max_tokens.
FAKE_MODEL = "fake:fake-model"


@pytest.fixture(scope="module")
def admin_key(http) -> str:
    tag = uuid.uuid4().hex[:8]
    email = f"fuzz-{tag}@example.com"
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD, "organization": f"F {tag}"}).status_code == 201
    token = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
    key = http.post("/api/v1/admin/api-keys", headers={"Authorization": f"Bearer {token}"},
                    json={"name": "fuzz", "scopes": ["chat", "documents:read", "documents:write", "admin"]})
    assert key.status_code == 201, key.text
    return key.json()["key"]


def operations(url: str) -> list:
    loaded = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


def fuzz(operation, mode: GenerationMode, url: str, headers: dict, examples: int) -> int:
    """Runs generated cases of one operation; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case) -> None:
        nonlocal sent
        if isinstance(case.body, dict) and ("message" in case.body or "messages" in case.body):
            case.body["model"] = FAKE_MODEL
            for name in ("max_tokens", "max_completion_tokens"):
                if isinstance(case.body.get(name), int):
                    case.body[name] = min(case.body[name], 16)
        sent += 1
        case.call_and_validate(base_url=url, headers=headers, timeout=60, checks=[not_a_server_error, ignored_auth])

    try:
        run()
    except Unsatisfiable:  # negative mode for an operation with no parameter and no body: nothing to break
        assert mode is GenerationMode.NEGATIVE and sent == 0
    return sent


def test_generated_requests_never_get_a_5xx_or_bypass_auth(fleet, admin_key):
    headers = {"Authorization": f"Bearer {admin_key}"}
    sent: Counter = Counter()
    for operation in operations(fleet.url):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent[operation.label] += fuzz(operation, mode, fleet.url, headers, 25)
    print(f"schemathesis: {sum(sent.values())} cases over {len(sent)} operations")
    assert sum(sent.values()) >= 1000, sent
