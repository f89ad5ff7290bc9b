"""The embedded model's grammars: a schema whose bounds the converter would write out millions
of times is refused before the grammar is built (it was built on the event loop, 17 bytes per
item: 10^6 items made 17 MB in 0.13 s), and ordinary bounds still make a grammar."""

from __future__ import annotations

import pytest

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import GenParams, ProviderError, ResponseFormat, ToolSpec
from llm_orchestrator.providers.constrained import MAX_REPETITIONS, constraint, gbnf


def items(n: int) -> dict:
    array = {"type": "array", "items": {"type": "string"}, "minItems": n}
    return {"type": "object", "properties": {"a": array}, "required": ["a"]}


def test_a_huge_repetition_bound_is_refused_as_the_callers_error():
    for schema in (items(2_000_000), {"type": "object", "properties": {"s": {"type": "string", "maxLength": 2_000_000}}},
                   {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": MAX_REPETITIONS + 1}]}):
        with pytest.raises(ProviderError) as refused:
            gbnf(schema)
        assert refused.value.kind is ProviderErrorKind.INVALID_REQUEST


def test_a_tools_parameters_are_checked_too():
    tool = ToolSpec("t", "d", items(2_000_000))
    with pytest.raises(ProviderError):
        constraint(GenParams(tools=(tool,), tool_choice="required"))


def test_ordinary_bounds_make_a_grammar():
    assert "root ::=" in gbnf(items(3))
    assert "root ::=" in gbnf({"type": "object", "properties": {"s": {"type": "string", "maxLength": 2000}}})


def test_a_response_formats_schema_is_checked_too():
    with pytest.raises(ProviderError):
        constraint(GenParams(response_format=ResponseFormat("json_schema", items(2_000_000), "big")))
