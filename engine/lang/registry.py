"""The function registry: one table that drives checking, code generation and docs.

Every function of the language is one `Function` entry, declared next to its implementation with
the `function` decorator. The checker reads signatures and the aggregate metadata, the code
generator reads `nulls`, `context`, `safe` and the emit hooks (`inline`, `emit`, the aggregate's
`contribution` and `value`), and ``docs/functions.md`` is rendered from the same entries, so the
three can never disagree. The code generator never names a function: what is special about one
is declared here, in its entry (docs/language.md, "Adding a function").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.lang.emit import Code, Lines, Writer
from engine.lang.types import Signature, Type, parse_signature
from engine.lang.values import EvalFailure, Value

Nulls = Literal["propagate", "handle"]
Context = Literal["time", "event"] | None
# Given the Python source of each argument (already atoms or constants), return an inline
# expression or None to fall back to a call. Used only for functions whose cost is the call.
Inliner = Callable[[Sequence[str], Sequence[Any]], str | None]
# Given an argument's position and its value when the config writes it as a constant, why the
# function cannot take it (or None). Runs when the config loads, so a constant the function
# would refuse on every event is a diagnostic instead; it may also prepare the constant (compile
# a pattern into its cache) so the first event does not pay for it.
ConstantCheck = Callable[[int, Any], str | None]
# Given the code generator and the code of every argument (after constant folding) and the
# call's static type, the whole call as generated code, or None for an ordinary call. For a
# function whose fast form needs more than a template (`oneof` evaluates its arguments lazily).
Emitter = Callable[[Writer, Sequence[Code], Type], Code | None]
# Given the code generator, the local holding the argument, the argument's code and the output
# key (already `repr()`), the statements that write one event's contribution into ``out[key]``.
ContributionWriter = Callable[[Writer, str, Code, str], Lines]
# Given the code generator and the argument atomized (the text to evaluate once, the name to
# reuse), the contribution as one expression (what `engine eval` shows for an aggregate).
ValueWriter = Callable[[Writer, str, str], str]


@dataclass(frozen=True)
class Aggregate:
    """What an aggregate declares beyond its signature.

    `field_types`: the declared field types it may fill (E105 otherwise). `kind`: the field
    type of an LQL column that gives no ``KIND``. `contribution` and `value`: emit hooks; without
    them the code generator calls the implementation on a present argument and writes what it
    answers when that is not missing. `max_args`: a call with more arguments is no aggregate
    but an ordinary function of one event (qlbridge's `sum(1, 2)` adds its arguments).
    """

    field_types: frozenset[str]
    kind: str
    contribution: ContributionWriter | None = None
    value: ValueWriter | None = None
    max_args: int = 1


@dataclass(frozen=True)
class Function:
    """One function of the language.

    `nulls="propagate"`: when a required argument is missing the result is missing and the
    implementation is not called (the missing-value rule lives here, not in every function).
    `context="time"`: the implementation receives the event time in epoch ms first;
    `"event"`: it receives the whole event first. `safe`: it never raises, so the code
    generator may compute it early and share it between fields. `total`: it always answers
    (never missing), so generated code skips the presence test on its result.
    `check_constant`: the checker hands it each constant argument (E109 when it objects).
    `inline` and `emit`: emit hooks, see their types above. `operator`: the comparison operator
    the function spells (the code generator writes the operator with the function's `inline`).
    `equality`: its inline form is true exactly when argument 0 equals the constant argument 1,
    so consecutive tests of one value may chain with ``elif``. `keeps_type`: the result has the
    static type of argument 0 when that is a scalar. `aggregate`: set for aggregates only.
    `volatile`: its answer differs from call to call (`uuid`), so it is never computed at compile
    time, and `engine validate` warns where a mapping uses it: a replay will not give the values
    back (docs/language.md).
    """

    name: str
    signature: Signature
    impl: Callable[..., Value]
    doc: str
    group: str
    aggregate: Aggregate | None = None
    nulls: Nulls = "propagate"
    context: Context = None
    safe: bool = False
    total: bool = False
    inline: Inliner | None = None
    emit: Emitter | None = None
    operator: str | None = None
    equality: bool = False
    keeps_type: bool = False
    check_constant: ConstantCheck | None = None
    volatile: bool = False
    aliases: tuple[str, ...] = ()
    examples: tuple[tuple[str, str], ...] = field(default=())

    def aggregate_for(self, count: int) -> Aggregate | None:
        """The aggregate a call with `count` arguments is, or None when it is an ordinary call
        (a function that is no aggregate, or `sum(a, b)`)."""
        agg = self.aggregate
        return agg if agg is not None and count <= agg.max_args else None

    def call(
        self, args: Sequence[Value], *, ts: int = 0, event: dict[str, Any] | None = None
    ) -> Value:
        """Apply the function the way generated code does (for tests, docs and references)."""
        if self.nulls == "propagate" and any(a is None for a in args[: self.signature.min_args]):
            return None
        lead: tuple[Any, ...] = ()
        if self.context == "time":
            lead = (ts,)
        elif self.context == "event":
            lead = (event or {},)
        try:
            return self.impl(*lead, *args)
        except EvalFailure:
            return None


FUNCTIONS: dict[str, Function] = {}
OPERATORS: dict[str, Function] = {}  # comparison operator -> the function it spells

# Every documented example is evaluated against this event at this time (epoch ms,
# 2014-04-07T16:58:55Z); docs/functions.md says so and a test holds each example to its result.
EXAMPLE_EVENT: dict[str, Any] = {"score_amount": "22", "tag_name": "bob"}
EXAMPLE_TIME_MS = 1396889935000


def function(
    name: str,
    signature: str,
    *,
    doc: str,
    group: str,
    aliases: Sequence[str] = (),
    aggregate: Aggregate | None = None,
    nulls: Nulls = "propagate",
    context: Context = None,
    safe: bool = False,
    total: bool = False,
    inline: Inliner | None = None,
    emit: Emitter | None = None,
    operator: str | None = None,
    equality: bool = False,
    keeps_type: bool = False,
    check_constant: ConstantCheck | None = None,
    volatile: bool = False,
    examples: Sequence[tuple[str, str]] = (),
) -> Callable[[Callable[..., Value]], Callable[..., Value]]:
    """Register the decorated implementation under `name` (and `aliases`)."""

    def register(impl: Callable[..., Value]) -> Callable[..., Value]:
        entry = Function(
            name=name,
            signature=parse_signature(signature),
            impl=impl,
            doc=doc,
            group=group,
            aggregate=aggregate,
            nulls=nulls,
            context=context,
            safe=safe,
            total=total,
            inline=inline,
            emit=emit,
            operator=operator,
            equality=equality,
            keeps_type=keeps_type,
            check_constant=check_constant,
            volatile=volatile,
            aliases=tuple(aliases),
            examples=tuple(examples),
        )
        for key in (name, *aliases):
            if key in FUNCTIONS:
                raise ValueError(f"function {key!r} registered twice")
            FUNCTIONS[key] = entry
        if operator is not None:
            if operator in OPERATORS:
                raise ValueError(f"operator {operator!r} registered twice")
            OPERATORS[operator] = entry
        return impl

    return register


def lookup(name: str) -> Function | None:
    return FUNCTIONS.get(name.lower())


def for_operator(op: str) -> Function | None:
    """The function a comparison operator spells (``=`` is `eq`), if one declares it."""
    return OPERATORS.get(op)
