"""The calculator: a small AST evaluator (never `eval`), bounded in time and size."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.base import Risk, ToolContext, tool

Number = int | float
MAX_INT_BITS = 10_000  # about 3000 decimal digits: big enough for people, cheap for us
MAX_FACTORIAL = 1000
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
# x multiplication sign, division sign, minus sign, middle dot: as people paste them
_TYPOGRAPHY = str.maketrans({"\u00d7": "*", "\u00f7": "/", "\u2212": "-", "\u00b7": "*"})


def _too_big() -> ToolArgumentError:
    return ToolArgumentError(f"the result would be too large (over {MAX_INT_BITS} bits)")


def _multiply(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise _too_big()
    return a * b


def _power(base: Number, exponent: Number) -> Number:
    whole = isinstance(base, int) and isinstance(exponent, int)
    # Estimate before computing: 9**9**9 would otherwise run for hours.
    if whole and exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise _too_big()
    result: Number = base**exponent
    if isinstance(result, complex):
        raise ToolArgumentError("the result is a complex number, which is not supported")
    return result


def _factorial(n: Number) -> int:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or n < 0:
        raise ToolArgumentError("factorial needs a non-negative whole number")
    if n > MAX_FACTORIAL:
        raise ToolArgumentError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(n)


def _round(x: Number, digits: int = 0) -> Number:
    if not isinstance(digits, int) or abs(digits) > 100:
        raise ToolArgumentError("round's digits must be a whole number between -100 and 100")
    return round(x, digits)


def _checked_ints(function: Callable[..., int]) -> Callable[..., int]:
    def call(*args: Number) -> int:
        if not all(isinstance(a, int) for a in args):
            raise ToolArgumentError(f"{function.__name__} needs whole numbers")
        if sum(a.bit_length() for a in args if isinstance(a, int)) > MAX_INT_BITS:
            raise _too_big()
        return function(*args)

    return call


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "exp": math.exp,
    "log": math.log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "hypot": math.hypot,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": _factorial,
    "gcd": _checked_ints(math.gcd),
    "lcm": _checked_ints(math.lcm),
    "pow": _power,
}


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely; ToolArgumentError says what is wrong."""
    source = expression.translate(_TYPOGRAPHY).strip()
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolArgumentError(f"cannot parse {expression!r} as arithmetic") from None
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ToolArgumentError("division by zero") from None
    except OverflowError:
        raise _too_big() from None
    except RecursionError:
        raise ToolArgumentError("the expression is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise ToolArgumentError(f"cannot compute {expression!r}: {exc}") from None


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolArgumentError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow | ast.BitXor):  # `^` as people write powers
            return _power(left, right)
        if isinstance(node.op, ast.Mult):
            return _multiply(left, right)
        if type(node.op) in _BINARY:
            return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = _FUNCTIONS.get(node.func.id)
        if function is not None and len(node.args) <= 8:
            return function(*(_eval(arg) for arg in node.args))
        raise ToolArgumentError(
            f"unknown function {node.func.id!r}; available: {', '.join(sorted(_FUNCTIONS))}"
        )
    raise ToolArgumentError(
        f"unsupported syntax ({type(node).__name__}); use numbers, + - * / // % ** "
        "and functions such as sqrt()"
    )


def format_number(value: Number) -> str:
    """Integers exactly, floats with 15 significant digits."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return format(value, ".15g")


@tool(category="utility", risk=Risk.SAFE)
async def calculate(
    ctx: ToolContext,
    expression: Annotated[
        str,
        Field(
            min_length=1,
            max_length=500,
            description="Arithmetic such as '2 * (3 + 4) ** 2' or 'sqrt(2) / 3'",
        ),
    ],
) -> str:
    """Evaluate an arithmetic expression: + - * / // % ** (or ^), parentheses, math functions."""
    return format_number(evaluate(expression))
