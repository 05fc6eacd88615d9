"""The parser's tables shipped beside the grammar (engine/lang/tables.py): made from the grammar
as it is, used when they fit, refused when they could do anything but describe a parser."""

from __future__ import annotations

import pickle
from pathlib import Path

import lark  # the version only
import pytest

from engine.lang import parser, tables

GRAMMAR = parser.grammar_path().read_text(encoding="utf-8")
ROOT = Path(__file__).resolve().parents[2]


def _recorded() -> dict[str, object]:
    shipped = tables.recorded()
    assert shipped is not None
    return shipped


def test_the_shipped_tables_are_made_from_the_grammar_as_it_is() -> None:
    assert _recorded()["grammar_sha256"] == tables.grammar_digest(GRAMMAR), (
        "grammar/lql.lark changed: run `make docs` and commit grammar/lql.tables")


def test_the_parser_comes_from_the_tables_when_this_lark_made_them() -> None:
    from_tables = parser._lark().source_path == "<deserialized>"
    assert from_tables == (_recorded()["lark"] == lark.__version__)


def _tokens(tree: lark.Tree) -> list[tuple[str, str, int | None, int | None]]:
    return [(t.type, str(t), t.start_pos, t.end_pos) for t in tree.scan_values(
        lambda v: isinstance(v, lark.Token))]


@pytest.mark.parametrize("path", sorted((ROOT / "mappings").glob("*.lql")), ids=lambda p: p.name)
def test_a_parser_from_tables_parses_as_one_analysed_from_the_grammar(path: Path) -> None:
    made = tables.read(GRAMMAR, lark.__version__)
    if made is None:  # made by another Lark version: the tables of this one, as `make docs`
        made = parser.parser_tables(parser.build_parser(GRAMMAR))
    loaded = parser.parser_from_tables(made)
    built = parser.build_parser(GRAMMAR)
    text = path.read_text(encoding="utf-8")
    assert loaded.parse(text, start="statements") == built.parse(text, start="statements")
    assert _tokens(loaded.parse(text, start="statements")) == _tokens(
        built.parse(text, start="statements"))


def test_tables_of_another_grammar_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / "lql.tables"
    path.write_bytes(tables.tables_path().read_bytes())
    assert tables.read(GRAMMAR + "\n// changed", lark.__version__, path) is None


class _Planted:
    """What a hostile file could name: unpickling it would call this."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("planted code ran",))


def test_tables_that_name_any_class_or_function_are_refused_unrun(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lql.tables"
    path.write_bytes(pickle.dumps({"grammar_sha256": tables.grammar_digest(GRAMMAR),
                                   "lark": lark.__version__, "parser": _Planted()}))
    assert tables.read(GRAMMAR, lark.__version__, path) is None
    assert "planted" not in capsys.readouterr().out


def test_a_missing_or_broken_file_means_analysing_the_grammar(tmp_path: Path) -> None:
    assert tables.read(GRAMMAR, lark.__version__, tmp_path / "none") is None
    (tmp_path / "broken").write_bytes(b"not a pickle")
    assert tables.read(GRAMMAR, lark.__version__, tmp_path / "broken") is None
