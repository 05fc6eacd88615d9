"""A small tree-walking interpreter of the expression language, for tests only.

It states the language's semantics directly on the AST, with none of the code generator's
tricks (inlining, shared sub-expressions, nested guards), so property tests can hold the compiled
code to it.
"""

from __future__ import annotations

from typing import Any

from engine.lang import nodes as n
from engine.lang import runtime
from engine.lang.functions import lookup


class _Fail(Exception):
    pass


def _call(node: n.Call, ev: dict[str, Any], ts: int) -> Any:
    fn = lookup(node.name)
    assert fn is not None
    args = [_eval(a, ev, ts) for a in node.args]
    if fn.nulls == "propagate" and any(a is None for a in args[: fn.signature.min_args]):
        return None
    lead: tuple[Any, ...] = (ts,) if fn.context == "time" else (ev,) if fn.context == "event" \
        else ()
    try:
        return fn.impl(*lead, *args)
    except Exception as exc:
        raise _Fail from exc


def _eval(node: n.Expr, ev: dict[str, Any], ts: int) -> Any:
    match node:
        case n.Literal(value=v):
            return v
        case n.ListLiteral(items=items):
            return [_eval(i, ev, ts) for i in items]
        case n.Identifier(name="_ts", quoted=False):
            return runtime.event_date(ts)
        case n.Identifier(steps=steps) if steps:
            value: Any = ev
            for step in steps:
                value = value.get(step) if isinstance(value, dict) else None
            return value
        case n.Identifier(name=name, quoted=quoted):
            if quoted or "." not in name:
                return ev.get(name)
            return runtime.read_path(ev, name, tuple(name.split(".")))
        case n.Call():
            return _call(node, ev, ts)
        case n.Unary(op="not", operand=o):
            return _eval(o, ev, ts) is not True
        case n.Unary(operand=o):
            try:
                return runtime.negate(_eval(o, ev, ts))
            except Exception as exc:
                raise _Fail from exc
        case n.Binary(op="and", left=a, right=b):
            return _eval(a, ev, ts) is True and _eval(b, ev, ts) is True
        case n.Binary(op="or", left=a, right=b):
            return _eval(a, ev, ts) is True or _eval(b, ev, ts) is True
        case n.Binary(op=op, left=a, right=b) if op in "+-*/%":
            try:
                return runtime.arith(op, _eval(a, ev, ts), _eval(b, ev, ts))
            except Exception as exc:
                raise _Fail from exc
        case n.Binary(op=op, left=a, right=b):
            x, y = _eval(a, ev, ts), _eval(b, ev, ts)
            return {"=": runtime.eq, "!=": runtime.ne, "<": runtime.lt, "<=": runtime.le,
                    ">": runtime.gt, ">=": runtime.ge}[op](x, y, ts)
        case n.Membership(op=op, left=a, right=b, negated=neg):
            x, y = _eval(a, ev, ts), _eval(b, ev, ts)
            if op in ("in", "intersects"):
                result = runtime.in_(x, y, ts)
            elif op == "contains":
                result = runtime.contains(x, y)
            else:
                result = runtime.like(x, y)
            return not result if neg else result
        case n.Between(value=v, low=lo, high=hi, negated=neg):
            result = runtime.between(_eval(v, ev, ts), _eval(lo, ev, ts), _eval(hi, ev, ts), ts)
            return not result if neg else result
        case n.IsNull(value=v, negated=neg):
            x = _eval(v, ev, ts)
            missing = x is None or x == ""
            return not missing if neg else missing
        case n.Conditional(then=t, condition=c, otherwise=o):
            return _eval(t, ev, ts) if _eval(c, ev, ts) is True else _eval(o, ev, ts)
        case n.BoolList(op="and", terms=terms):
            return all(_eval(t, ev, ts) is True for t in terms)
        case n.BoolList(terms=terms):
            return any(_eval(t, ev, ts) is True for t in terms)
        case n.MatchAll():
            return True
    raise TypeError(type(node).__name__)


def evaluate(node: n.Expr, event: dict[str, Any], ts: int) -> Any:
    """The value of `node` for `event` at `ts`; a failure anywhere gives missing."""
    try:
        if isinstance(node, n.Call):
            fn = lookup(node.name)
            if fn is not None and fn.aggregate:
                x = _eval(node.args[0], event, ts)
                if fn.name == "count":
                    return 1 if x is not None and x != "" else None
                return None if x is None else fn.impl(x)
        return _eval(node, event, ts)
    except _Fail:
        return None
