"""The calculator's evaluator: arithmetic right, everything else refused with a reason, and no
input can make it compute a huge number, recurse without bound or reach Python."""

import math

import pytest

from llm_orchestrator.tools.base import ToolContext, ToolError
from llm_orchestrator.tools.calculator import Calculator, evaluate
from llm_orchestrator.tools.running import run_tool

CTX = ToolContext(tenant_id="acme", user_id="usr_alice")


@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("7 // 2", 3),
    ("-7 % 3", 2),
    ("2 ** 10", 1024),
    ("2 ** -1", 0.5),
    ("-3 ** 2", -9),
    ("+4", 4),
    ("sqrt(16) + abs(-2)", 6.0),
    ("round(2.675, 2)", 2.67),
    ("max(3, 9, 4) - min(8, 2)", 7),
    ("log(8, 2)", 3.0),
    ("factorial(5)", 120),
    ("1200 × 0.19", 228.0),
    ("10 ÷ 4", 2.5),
    ("2 ** 1000 // 2 ** 999", 2),
])
def test_arithmetic(expression, value):
    assert evaluate(expression) == pytest.approx(value)


def test_constants_and_functions():
    assert evaluate("pi") == math.pi
    assert evaluate("cos(0) + e - e") == 1.0
    assert evaluate("atan2(1, 1) * 4") == pytest.approx(math.pi)


@pytest.mark.parametrize(("expression", "reason"), [
    ("__import__('os').system('id')", "unknown function"),
    ("().__class__.__bases__[0]", "not allowed"),
    ("x + 1", "unknown name 'x'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("'a' * 3", "only numbers"),
    ("True + 1", "only numbers"),
    ("1 if 2 else 3", "IfExp is not allowed"),
    ("[1, 2]", "List is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("1,000 + 5", "thousands separators"),
    ("2 ^ 3", "use ** for powers"),
    ("1 < 2", "comparisons"),
    ("1 / 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("sqrt(-1)", "not defined"),
    ("log(0)", "not defined"),
    ("(-8) ** (1/3)", "not a real number"),
    ("sqrt(x=4)", "plain arguments"),
    ("max(1)", "max takes 2 to 20"),
    ("1 +", "not valid arithmetic"),
    ("", "empty"),
    ("math.pi", "Attribute is not allowed"),
])
def test_refused_with_a_reason(expression, reason):
    with pytest.raises(ToolError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        evaluate(expression)


@pytest.mark.parametrize("expression", [
    "9 ** 9 ** 9",          # would take minutes and gigabytes
    "10 ** 400",
    "2 ** 1025",
    "(10 ** 300) * (10 ** 300)",
    "factorial(171)",
    "factorial(10 ** 6)",
    "1e308 * 10",
    "2.0 ** 5000",
    "exp(1000)",
    "10 ** 300 // 1e-300",
])
def test_huge_numbers_are_refused_not_computed(expression):
    with pytest.raises(ToolError, match="too large|from 0 to|undefined"):
        evaluate(expression)


def test_length_depth_and_size_limits():
    with pytest.raises(ToolError, match="too long"):
        evaluate("1+" * 300 + "1")
    with pytest.raises(ToolError, match="too complex"):
        evaluate("-" * 200 + "1")
    with pytest.raises(ToolError, match="too complex|nested"):
        evaluate("(" * 240 + "1" + ")" * 240)
    with pytest.raises(ToolError, match="too complex"):
        evaluate("+".join(["1"] * 240))


async def test_as_a_tool_through_validation():
    tool = Calculator()
    ok = await run_tool(tool, '{"expression": "(1200 * 0.19) + sqrt(16)"}', CTX)
    assert not ok.is_error and ok.content == "232" and ok.data == {"result": 232.0}
    bad = await run_tool(tool, '{"expression": "2 ** 99999"}', CTX)
    assert bad.is_error and "too large" in bad.content
    missing = await run_tool(tool, '{"expr": "1+1"}', CTX)
    assert missing.is_error and "'expression' is a required property" in missing.content
