"""The registry is the single source: docs are generated from it and its examples hold."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from engine.lang import docs
from engine.lang.functions import FUNCTIONS
from engine.lang.registry import EXAMPLE_EVENT, EXAMPLE_TIME_MS
from engine.lang.values import ms_to_date
from engine.output import to_json
from tests.helpers import EXAMPLE_AT, evaluate

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2014, 4, 7, 16, 58, 55, tzinfo=UTC)
assert ms_to_date(EXAMPLE_TIME_MS) == AT == EXAMPLE_AT

REQUIRED = [
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "not",
    "exists",
    "any",
    "all",
    "oneof",
    "contains",
    "hasprefix",
    "hassuffix",
    "tolower",
    "toupper",
    "string.lowercase",
    "string.uppercase",
    "string.titlecase",
    "split",
    "strip",
    "replace",
    "join",
    "string.index",
    "string.substr",
    "len",
    "toint",
    "tonumber",
    "tobool",
    "tostring",
    "unsign",
    "map",
    "match",
    "mapkeys",
    "mapvalues",
    "array.index",
    "array.slice",
    "filter",
    "filtermatch",
    "email",
    "emailname",
    "emaildomain",
    "host",
    "domain",
    "path",
    "qs",
    "qs2",
    "urldecode",
    "urlmain",
    "urlminusqs",
    "url.matchqs",
    "hash",
    "hash.sip",
    "hash.md5",
    "hash.sha1",
    "hash.sha256",
    "hash.sha512",
    "encoding.b64encode",
    "encoding.b64decode",
    "now",
    "epochms",
    "todate",
    "todatein",
    "totimestamp",
    "yy",
    "mm",
    "yymm",
    "dayofweek",
    "hourofday",
    "hourofweek",
    "seconds",
    "extract",
    "regex.match",
    "phone.e164",
    "count",
    "sum",
    "min",
    "max",
    "set",
    "valuect",
    # the rest of qlbridge's builtins registry (docs/language.md, "Differences from Lytics LQL")
    "avg",
    "cast",
    "char_length",
    "domains",
    "hosts",
    "ipfilter",
    "json.jmespath",
    "mapinvert",
    "maptime",
    "pow",
    "sqrt",
    "unixtrunc",
    "useragent",
    "useragent.map",
    "uuid",
]

EXAMPLES = [
    (fn.name, e, r)
    for fn in {f.name: f for f in FUNCTIONS.values()}.values()
    for e, r in fn.examples
]


def test_every_required_function_is_registered() -> None:
    missing = [name for name in REQUIRED if name not in FUNCTIONS]
    assert missing == []


def test_aggregates_are_flagged() -> None:
    flagged = sorted(f.name for f in FUNCTIONS.values() if f.aggregate)
    assert flagged == ["count", "max", "min", "set", "sum", "valuect"]


# The stages that must ask the registry about a function instead of naming it.
ASKING_MODULES = [*sorted((ROOT / "engine" / "lang" / "codegen").glob("*.py")),
                  ROOT / "engine" / "lang" / "checker.py", ROOT / "engine" / "lang" / "compiler.py"]


def _names_a_function(node: ast.AST) -> bool:
    """`lookup("eq")`, `fn.name == "count"`, `name in ("set", "valuect")`, or a table keyed by
    function names."""
    def strings(n: ast.AST) -> list[str]:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return [n.value]
        if isinstance(n, ast.Tuple | ast.List | ast.Set):
            return [s for e in n.elts for s in strings(e)]
        return []

    if isinstance(node, ast.Call) and node.args:
        return any(s in FUNCTIONS for s in strings(node.args[0]))
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        names = any((isinstance(s, ast.Attribute) and s.attr == "name")
                    or (isinstance(s, ast.Name) and s.id == "name") for s in sides)
        return names and any(s in FUNCTIONS for side in sides for s in strings(side))
    if isinstance(node, ast.Dict):
        keys = [k for key in node.keys if key is not None for k in strings(key)]
        return len(keys) > 1 and all(k in FUNCTIONS for k in keys)
    return False


@pytest.mark.parametrize("path", ASKING_MODULES, ids=lambda p: p.name)
def test_code_generator_and_checker_never_name_a_function(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
             if _names_a_function(node) and hasattr(node, "lineno")]
    assert found == [], "declare it in the function's registry entry (docs/language.md)"


def test_the_guard_sees_a_named_function() -> None:
    for text in ('lookup("eq")', 'fn.name == "oneof"', 'name in ("set", "valuect")',
                 '{"count": 1, "sum": 2}'):
        assert any(_names_a_function(node) for node in ast.walk(ast.parse(text))), text
    assert not any(_names_a_function(node) for node in ast.walk(ast.parse('op == "and"')))


def test_every_function_has_one_line_of_doc_and_one_to_three_examples() -> None:
    for fn in FUNCTIONS.values():
        assert fn.doc.strip() and "\n" not in fn.doc, fn.name
        assert 1 <= len(fn.examples) <= 3, fn.name


def test_functions_md_is_current() -> None:
    committed = (ROOT / "docs" / "functions.md").read_text(encoding="utf-8")
    assert committed == docs.render(), "run `make docs` and commit docs/functions.md"


@pytest.mark.parametrize(
    ("name", "expr", "result"), EXAMPLES, ids=[f"{n}:{e}" for n, e, _ in EXAMPLES]
)
def test_documented_example_holds(name: str, expr: str, result: str) -> None:
    value = evaluate(expr, EXAMPLE_EVENT)
    assert orjson.loads(to_json(value)) == orjson.loads(result)
