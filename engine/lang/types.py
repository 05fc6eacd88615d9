"""Static value types of the expression language and the signature mini-language.

The checker reasons about these types; the registry declares every function's signature as a
short string (``"(url: string) -> string"``) so one table drives checking, docs and code
generation.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Type(enum.Enum):
    """A value type. ``ANY`` is what an event field has before it is read."""

    STRING = "string"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    LIST = "list"
    MAP = "map"
    ANY = "any"

    def __str__(self) -> str:
        return self.value


SCALARS = frozenset({Type.STRING, Type.INT, Type.NUMBER, Type.BOOL, Type.DATE})

# The types a profile field may declare (docs/pipeline.md): what mapping fields and the
# aggregates that fill them are checked against.
SCALAR_FIELD_TYPES = {
    "string": Type.STRING,
    "int": Type.INT,
    "number": Type.NUMBER,
    "bool": Type.BOOL,
    "date": Type.DATE,
}
LIST_FIELD_TYPES = frozenset({"[]string", "[]time", "ts[]string"})
MAP_FIELD_TYPES = frozenset({
    "map[string]int", "map[string]intsum", "map[string]number", "map[string]string",
    "map[string]bool", "map[string]time",
})
FIELD_TYPES = frozenset(SCALAR_FIELD_TYPES) | LIST_FIELD_TYPES | MAP_FIELD_TYPES

# What a literal of type `key` may be coerced into at run time (strings parse as anything scalar).
_COERCIBLE: dict[Type, frozenset[Type]] = {
    Type.STRING: frozenset({Type.STRING, Type.INT, Type.NUMBER, Type.BOOL, Type.DATE, Type.LIST}),
    Type.INT: frozenset({Type.INT, Type.NUMBER, Type.STRING, Type.BOOL, Type.DATE}),
    Type.NUMBER: frozenset({Type.NUMBER, Type.INT, Type.STRING, Type.DATE}),
    Type.BOOL: frozenset({Type.BOOL, Type.STRING, Type.INT, Type.NUMBER}),
    Type.DATE: frozenset({Type.DATE, Type.STRING, Type.INT, Type.NUMBER}),
    Type.LIST: frozenset({Type.LIST, Type.STRING}),
    Type.MAP: frozenset({Type.MAP}),
}


def accepts(wanted: frozenset[Type], got: Type) -> bool:
    """Whether a value of type `got` can be passed where `wanted` is declared."""
    if Type.ANY in wanted or got is Type.ANY:
        return True
    return bool(wanted & _COERCIBLE[got])


@dataclass(frozen=True)
class Param:
    name: str
    types: frozenset[Type]
    optional: bool = False

    def render(self) -> str:
        types = "|".join(sorted(t.value for t in self.types))
        return f"{self.name}{'?' if self.optional else ''}: {types}"


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    variadic: Param | None
    returns: Type

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional)

    @property
    def max_args(self) -> int | None:
        return None if self.variadic else len(self.params)

    def param_for(self, index: int) -> Param | None:
        if index < len(self.params):
            return self.params[index]
        return self.variadic

    def arity_text(self) -> str:
        lo, hi = self.min_args, self.max_args
        if hi is None:
            return f"at least {lo}"
        if lo == hi:
            return f"exactly {lo}"
        return f"{lo} to {hi}"

    def render(self) -> str:
        parts = [p.render() for p in self.params]
        if self.variadic:
            parts.append("*" + self.variadic.render())
        return f"({', '.join(parts)}) -> {self.returns.value}"


_PARAM = re.compile(r"^(\*)?([a-z_][a-z0-9_]*)(\?)?\s*:\s*([a-z|]+)$")


def parse_signature(text: str) -> Signature:
    """Parse ``"(a: string, b?: int, *rest: any) -> bool"``; raise ValueError on a typo."""
    m = re.fullmatch(r"\((.*)\)\s*->\s*([a-z]+)", text.strip())
    if not m:
        raise ValueError(f"bad signature {text!r}")
    params: list[Param] = []
    variadic: Param | None = None
    body = m.group(1).strip()
    for raw in [p.strip() for p in body.split(",")] if body else []:
        pm = _PARAM.match(raw)
        if not pm:
            raise ValueError(f"bad parameter {raw!r} in {text!r}")
        star, name, opt, types = pm.groups()
        param = Param(name, frozenset(Type(t) for t in types.split("|")), bool(opt))
        if star:
            variadic = param
        else:
            params.append(param)
    return Signature(tuple(params), variadic, Type(m.group(2)))
