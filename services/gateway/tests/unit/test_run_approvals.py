"""A person's decision on a paused run: edited arguments the gateway cannot pass on are a 400."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chatbot_common.errors import AppError
from gateway.run_approvals import decide
from gateway.security import Principal


async def test_edited_arguments_nested_past_the_encoders_limit_are_a_400_not_a_500():
    """A 1 kB body nesting 300 objects passed the route's validation and failed orjson's encoder
    (a TypeError, a 500). It is refused before anything downstream is asked, so nothing else is
    needed here."""
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    principal = Principal("usr_1", "ten_1", "member")
    with pytest.raises(AppError) as refused:
        await decide(None, None, None, None, None, principal, "msg_1", "edit", deep, None,
                     request=SimpleNamespace(state=SimpleNamespace(request_id="req_1")), encode=None, on_guardrail=None)
    assert refused.value.spec.http_status == 400
    assert refused.value.details == {"field": "arguments"}
