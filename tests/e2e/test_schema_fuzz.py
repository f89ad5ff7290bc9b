"""schemathesis against the gateway's own OpenAPI document, on the real fleet: generated
requests (valid and invalid) for every operation, authenticated as a tenant admin's API key with
every scope. No answer may be a 5xx, and an operation that declares authentication must refuse
the same request without it or with a wrong credential (schemathesis' `ignored_auth`)."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import ignored_auth, not_a_server_error

from e2e_support import every_scope_key, register_org_admin

pytestmark = pytest.mark.e2e
# Generation goes to the fast fake provider, never to the embedded model with a random max_tokens.
FAKE_MODEL = "fake:fake-model"


@pytest.fixture(scope="module")
def admin_key(http) -> str:
    return every_scope_key(http, register_org_admin(http, "fuzz"), "fuzz")


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
