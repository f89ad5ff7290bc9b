"""The calculator tool: arithmetic evaluated by walking Python's `ast` with an allow-list of
nodes, never `eval`. Numbers, + - * / // % **, unary signs, parentheses, a few math functions
and constants; limits on the expression's length and depth and on the size of every number
(an exponent or a factorial that would make a huge integer is refused before it is computed).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools.base import ToolContext, ToolError, ToolResult

MAX_EXPRESSION_CHARS = 500
MAX_DEPTH = 30
MAX_NODES = 300
# Integers stay within about 10^308 (a float's range); floats must be finite.
MAX_INT_BITS = 1024
MAX_FACTORIAL = 170

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: float) -> int:
    if isinstance(n, float):
        if not n.is_integer():
            raise ToolError("factorial takes a whole number")
        n = int(n)
    if n < 0 or n > MAX_FACTORIAL:
        raise ToolError(f"factorial takes a whole number from 0 to {MAX_FACTORIAL}")
    return math.factorial(n)


def _round(x: float, digits: float = 0) -> float:
    if isinstance(digits, float) and not digits.is_integer() or abs(digits) > 100:
        raise ToolError("round takes a whole number of digits, at most 100")
    return round(x, int(digits))


# name -> (function, smallest and largest number of arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "abs": (abs, 1, 1), "round": (_round, 1, 2), "min": (min, 2, 20), "max": (max, 2, 20),
    "sqrt": (math.sqrt, 1, 1), "exp": (math.exp, 1, 1), "ln": (math.log, 1, 1), "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1), "log2": (math.log2, 1, 1),
    "sin": (math.sin, 1, 1), "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1), "acos": (math.acos, 1, 1), "atan": (math.atan, 1, 1), "atan2": (math.atan2, 2, 2),
    "degrees": (math.degrees, 1, 1), "radians": (math.radians, 1, 1), "hypot": (math.hypot, 2, 2),
    "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1), "factorial": (_factorial, 1, 1),
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_SYMBOL = {ast.BitXor: "^ (use ** for powers)", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>",
           ast.MatMult: "@"}


def _checked(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError("a number in the calculation is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is too large or undefined")
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # Refused before computing: 9**9**9 would take minutes and gigabytes.
        if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
            raise ToolError("a number in the calculation is too large")
    if base == 0 and exponent < 0:
        raise ToolError("division by zero")
    try:
        return base ** exponent
    except OverflowError:
        raise ToolError("the result is too large") from None


class _Evaluator:
    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST, depth: int = 0) -> int | float:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise ToolError("the expression is too complex")
        if isinstance(node, ast.Expression):
            return self.eval(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ToolError(f"only numbers are allowed, not {node.value!r}"[:120])
            return _checked(node.value)
        if isinstance(node, ast.Name):
            if node.id not in CONSTANTS:
                raise ToolError(f"unknown name {node.id!r}; constants are {', '.join(CONSTANTS)}")
            return CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _checked(_UNARY[type(node.op)](self.eval(node.operand, depth + 1)))
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ToolError(f"operator {_SYMBOL.get(type(node.op), type(node.op).__name__)} is not allowed")
            left, right = self.eval(node.left, depth + 1), self.eval(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                return _checked(_power(left, right))
            if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
                raise ToolError("division by zero")
            try:
                return _checked(_BINARY[type(node.op)](left, right))
            except OverflowError:
                raise ToolError("the result is too large") from None
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = node.func.id if isinstance(node.func, ast.Name) else "this call"
                raise ToolError(f"unknown function {name!r}; functions are {', '.join(FUNCTIONS)}"[:400])
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                raise ToolError("functions take plain arguments only")
            function, least, most = FUNCTIONS[node.func.id]
            if not least <= len(node.args) <= most:
                raise ToolError(f"{node.func.id} takes {least}" + (f" to {most}" if most != least else "") + " argument(s)")
            args = [self.eval(a, depth + 1) for a in node.args]
            try:
                return _checked(function(*args))
            except (ValueError, ZeroDivisionError):
                raise ToolError(f"{node.func.id} is not defined for these arguments") from None
            except OverflowError:
                raise ToolError("the result is too large") from None
        if isinstance(node, ast.Tuple):
            raise ToolError("write numbers without thousands separators (1000, not 1,000), one expression")
        if isinstance(node, ast.Compare):
            raise ToolError("comparisons are not allowed: write an arithmetic expression")
        raise ToolError(f"{type(node).__name__} is not allowed: write an arithmetic expression")


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression; ToolError saying what is wrong otherwise."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is too long (at most {MAX_EXPRESSION_CHARS} characters)")
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-")
    if not text:
        raise ToolError("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"the expression is not valid arithmetic ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ToolError("the expression is too complex") from None
    try:
        return _Evaluator().eval(tree)
    except RecursionError:
        raise ToolError("the expression is too complex") from None


def _formatted(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


class Calculator:
    """A tool: evaluates one arithmetic expression exactly (integers) or in double precision."""

    spec = ToolSpec(
        name="calculator",
        description="Evaluate an arithmetic expression and return its value. Supports numbers, + - * / // % ** and "
                    "parentheses, the constants pi, e, tau and the functions " + ", ".join(FUNCTIONS) + ". "
                    "Use it for any calculation instead of computing in your head.",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_CHARS,
                                          "description": "e.g. (1200 * 0.19) + sqrt(16)"}},
            "required": ["expression"],
            "additionalProperties": False,
        },
    )
    sensitive = False

    def __init__(self, timeout: float = 2.0, sensitive: bool = False) -> None:
        self.timeout = timeout
        self.sensitive = sensitive

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        value = evaluate(arguments["expression"])
        return ToolResult(content=_formatted(value), data={"result": value})
