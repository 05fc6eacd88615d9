"""The function registry: one table that drives checking, code generation and docs.

Every function of the language is one `Function` entry, declared next to its implementation with
the `function` decorator. The checker reads signatures and the aggregate flag, the code generator
reads `nulls`, `context`, `safe` and `inline`, and ``docs/functions.md`` is rendered from the
same entries, so the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.lang.types import Signature, parse_signature
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
    """

    name: str
    signature: Signature
    impl: Callable[..., Value]
    doc: str
    group: str
    aggregate: bool = False
    nulls: Nulls = "propagate"
    context: Context = None
    safe: bool = False
    total: bool = False
    inline: Inliner | None = None
    check_constant: ConstantCheck | None = None
    aliases: tuple[str, ...] = ()
    examples: tuple[tuple[str, str], ...] = field(default=())

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
    aggregate: bool = False,
    nulls: Nulls = "propagate",
    context: Context = None,
    safe: bool = False,
    total: bool = False,
    inline: Inliner | None = None,
    check_constant: ConstantCheck | None = None,
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
            check_constant=check_constant,
            aliases=tuple(aliases),
            examples=tuple(examples),
        )
        for key in (name, *aliases):
            if key in FUNCTIONS:
                raise ValueError(f"function {key!r} registered twice")
            FUNCTIONS[key] = entry
        return impl

    return register


def lookup(name: str) -> Function | None:
    return FUNCTIONS.get(name.lower())
