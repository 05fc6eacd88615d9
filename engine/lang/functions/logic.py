"""Logic and comparison functions; they share the operators' rules in `engine.lang.runtime`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.lang import runtime
from engine.lang.emit import NEVER_EMPTY, Code, Writer
from engine.lang.registry import function
from engine.lang.types import Type
from engine.lang.values import Value, to_bool, to_date, to_float

GROUP = "logic"


def _plain_string(value: Any) -> bool:
    """A string constant that no coercion reads as a number, bool or date: ``==`` suffices."""
    if not isinstance(value, str) or not value:
        return False
    if to_float(value) is not None or to_bool(value) is not None:
        return False
    return to_date(value, 0) is None


def _inline_eq(args: Sequence[str], consts: Sequence[Any]) -> str | None:
    # `eq(x, "email")`: every coercion of x against a plain word is plain string equality.
    if len(args) == 2 and _plain_string(consts[1]):
        return f"({args[0]} == {args[1]})"
    return None


def _inline_ne(args: Sequence[str], consts: Sequence[Any]) -> str | None:
    if len(args) == 2 and _plain_string(consts[1]):
        return f"({args[0]} != {args[1]})"
    return None


def _inline_exists(args: Sequence[str], consts: Sequence[Any]) -> str | None:
    return f"({args[0]} is not None and {args[0]} != '')"


@function(
    "eq",
    "(a: any, b: any) -> bool",
    group=GROUP,
    nulls="handle",
    context="time",
    safe=True,
    inline=_inline_eq,
    operator="=",
    equality=True,
    total=True,
    doc="Equality, with b coerced to a's type; false when either side is missing.",
    examples=[('eq(4, "4")', "true"), ('eq("a", "b")', "false")],
)
def eq(ts: int, a: Value, b: Value) -> bool:
    return runtime.eq(a, b, ts)


@function(
    "ne",
    "(a: any, b: any) -> bool",
    group=GROUP,
    nulls="handle",
    context="time",
    safe=True,
    inline=_inline_ne,
    operator="!=",
    total=True,
    doc="Not equal; true when a side is missing.",
    examples=[("ne(5, 6)", "true"), ("ne(missing_field, 1)", "true")],
)
def ne(ts: int, a: Value, b: Value) -> bool:
    return runtime.ne(a, b, ts)


def _ordering(name: str, op: Any, doc: str, example: tuple[str, str]) -> None:
    def impl(ts: int, a: Value, b: Value) -> bool | None:
        if runtime.compare(a, b, ts) is None and not isinstance(a, list):
            return None
        return bool(op(a, b, ts))

    function(
        name,
        "(a: any, b: any) -> bool",
        group=GROUP,
        context="time",
        safe=True,
        doc=doc,
        examples=[example],
    )(impl)


_ordering(
    "gt",
    runtime.gt,
    "a > b, with b coerced to a's type; missing when they don't compare.",
    ('gt(5, "3")', "true"),
)
_ordering("ge", runtime.ge, "a >= b, with b coerced to a's type.", ("ge(3, 3)", "true"))
_ordering("lt", runtime.lt, "a < b, with b coerced to a's type.", ('lt(5, "3")', "false"))
_ordering("le", runtime.le, "a <= b, with b coerced to a's type.", ("le(2, 3)", "true"))


@function(
    "not",
    "(x: any) -> bool",
    group=GROUP,
    nulls="handle",
    safe=True,
    total=True,
    doc="True unless x is exactly true: the same rule as the NOT operator, `if` and `where`.",
    examples=[("not(eq(5, 6))", "true"), ("not(missing_field)", "true"), ("not(true)", "false")],
)
def not_(x: Value) -> bool:
    return x is not True


@function(
    "exists",
    "(x: any) -> bool",
    group=GROUP,
    nulls="handle",
    safe=True,
    inline=_inline_exists,
    total=True,
    doc='True unless the value is missing or ""; 0 and false exist.',
    examples=[("exists(0)", "true"), ('exists("")', "false")],
)
def exists(x: Value) -> bool:
    return runtime.exists(x)


def _present(v: Value) -> bool:
    return v is not None and v != ""


@function(
    "any",
    "(value: any, *more: any) -> bool",
    group=GROUP,
    nulls="handle",
    safe=True,
    total=True,
    doc='True when at least one argument is present (not missing, not "").',
    examples=[('any(missing_field, "x")', "true"), ("any(missing_field)", "false")],
)
def any_(*values: Value) -> bool:
    return any(_present(v) for v in values)


@function(
    "all",
    "(value: any, *more: any) -> bool",
    group=GROUP,
    nulls="handle",
    safe=True,
    total=True,
    doc="True when every argument is present, none is false and no number is below zero.",
    examples=[('all("a", true)', "true"), ('all("a", false)', "false"), ("all(1, -1)", "false")],
)
def all_(*values: Value) -> bool:
    return bool(values) and all(_truish(v) for v in values)


def _truish(v: Value) -> bool:
    """LQL's `all` reads a number below zero as false, as it reads `false` (a number's whole
    part, so -0.5 counts as 0)."""
    if v.__class__ is int or v.__class__ is float:
        return v > -1  # a NaN is no number at all: false
    return _present(v) and v is not False


# `oneof` with more arguments than this is a plain call: unrolled, each argument nests one
# conditional deeper, and Python's compiler gives up (RecursionError) in the thousands.
_UNROLL_MAX = 64


def _emit_oneof(w: Writer, args: Sequence[Code], rtype: Type) -> Code | None:
    """``oneof(a, b, …)`` as one conditional: the first argument present (not missing, not
    ""). Later arguments are then not evaluated, so only safe arguments are unrolled."""
    if len(args) > _UNROLL_MAX or not all(a.safe for a in args):
        return None
    text = "None"
    nullable = True
    tested = False
    chosen: Code | None = None  # the argument that is the whole answer, when one is
    for a in reversed(args):
        if a.is_const and (a.const is None or a.const == ""):
            continue
        if a.is_const or (not a.nullable and a.type in NEVER_EMPTY):
            text, nullable, tested, chosen = a.text, False, False, a
            continue
        first, rest = w.atomize(a)
        text = f"{rest} if {first} is not None and {rest} != '' else {text}"
        tested, chosen = True, None
    if not tested:  # a constant stays a constant: Python rejects `is` tests on literals
        return chosen if chosen is not None else w.const(None)
    return Code(f"({text})", rtype, nullable)


@function(
    "oneof",
    "(value: any, *more: any) -> any",
    group=GROUP,
    nulls="handle",
    safe=True,
    emit=_emit_oneof,
    doc='The first argument that is neither missing nor "".',
    examples=[('oneof(missing_field, "", "x")', '"x"')],
)
def oneof(*values: Value) -> Value:
    for v in values:
        if v is not None and v != "":
            return v
    return None
