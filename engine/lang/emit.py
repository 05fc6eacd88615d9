"""What the code generator shares with the registry's emit hooks.

A function whose fast form is more than a text template declares an emit hook in its registry
entry (`engine.lang.registry.Function`). The hook receives a `Writer` (the code generator's
services: temporaries, bound constants, atomized arguments) and the `Code` of its arguments, and
answers with generated text. This module holds those two shapes, so that the function library
depends on them and never on the code generator itself (docs/language.md, "Adding a function").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.lang.types import Type

# Types whose values are never "" (a value that is not missing is present).
NEVER_EMPTY = (Type.INT, Type.NUMBER, Type.BOOL, Type.DATE)

# Statements of generated code, each with its indentation relative to the first.
Lines = list[tuple[int, str]]


@dataclass(frozen=True)
class Code:
    """Python text computing one value, and what the generator knows about that value."""

    text: str
    type: Type = Type.ANY
    nullable: bool = True
    strict_bool: bool = False  # always exactly True or False
    safe: bool = True  # cannot raise
    atom: bool = False  # a local name or a constant: may be repeated freely
    const: Any = dataclasses.field(default=None)
    is_const: bool = False
    eq_test: tuple[str, Any] | None = None  # (atom, plain constant) for elif chains


TRUE = Code("True", Type.BOOL, False, True, True, True, True, True)


class Writer(Protocol):
    """The code generator's services an emit hook may use."""

    def fresh(self, prefix: str) -> str:
        """A new local name (from a counter: user text never names a Python variable)."""
        ...

    def const(self, value: Any) -> Code:
        """A constant: its ``repr()`` when plain, else a name bound to it."""
        ...

    def atomize(self, code: Code) -> tuple[str, str]:
        """The text to evaluate once (binding a temporary) and the name to reuse after."""
        ...

    def fn_name(self, name: str, impl: Callable[..., Any]) -> str:
        """The name generated code calls `impl` by."""
        ...


def present(var: str, code: Code) -> str:
    """The test that a field's value writes something (not missing, "", [] or {})."""
    if not code.nullable and code.type in NEVER_EMPTY:
        return ""
    if code.type in NEVER_EMPTY:
        return f"{var} is not None"
    if code.type in (Type.STRING, Type.LIST, Type.MAP):
        return var
    return f"{var} is not None and {var} != '' and {var} != [] and {var} != {{}}"
