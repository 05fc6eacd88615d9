"""Text → AST. Lark parses with the grammar in ``grammar/lql.lark``; one Transformer turns its
tree into `engine.lang.nodes`. The Lark tree and Lark's exceptions never leave this module:
`_translated` turns syntax errors into `ConfigError` diagnostics with the position of the
offending character.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import lark
from lark import Token, Transformer, v_args

from engine.errors import ConfigError, Diagnostic, RuntimeFailure, Source
from engine.lang import nodes as n
from engine.lang import tables
from engine.lang.values import INT64_MAX
from engine.resources import data_path

MAX_DEPTH = 64
"""Deepest nesting accepted: far beyond any real rule, well within what Python compiles."""


def grammar_path() -> Path:
    """The grammar inside an installed wheel, else the checkout's top-level ``grammar/``."""
    return data_path("grammar/lql.lark")


def _keyword_of_line(tok: Token, kind: str) -> Token:
    """The keyword of a LINE_AND / LINE_OR token, placed where it is written (the token
    starts at the line break before it)."""
    text = str(tok)
    keyword = text.lstrip()
    skipped = len(text) - len(keyword)
    breaks = text.count("\n", 0, skipped)
    column = skipped - text.rfind("\n", 0, skipped)
    start = (tok.start_pos or 0) + skipped
    return Token(kind, keyword, start, (tok.line or 1) + breaks, column, tok.end_line,
                 tok.end_column, tok.end_pos)


class _LineKeywords(lark.lark.PostLex):
    """A line starting with `AND (` or `OR (` begins a new term directly inside a FilterQL
    `AND (…)` / `OR (…)` list, as in LQL; anywhere else it continues the expression above it.

    The grammar cannot tell the two apart (its states are shared), the brackets around the
    token can: this keeps a stack of them and turns the line keyword into the plain one
    unless the innermost bracket opens a term list.
    """

    always_accept = ("LINE_AND", "LINE_OR")
    _PLAIN: ClassVar[dict[str, str]] = {"LINE_AND": "AND", "LINE_OR": "OR"}
    _OPENS_TERMS = frozenset({"AND", "OR", "LINE_AND", "LINE_OR"})

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        brackets: list[bool] = []  # True: a term list
        previous = ""
        for tok in stream:
            kind = tok.type
            if kind in self._PLAIN:
                in_terms = bool(brackets) and brackets[-1]
                tok = _keyword_of_line(tok, kind if in_terms else self._PLAIN[kind])
            elif kind in ("LPAR", "LSQB"):
                brackets.append(kind == "LPAR" and previous in self._OPENS_TERMS)
            elif kind in ("RPAR", "RSQB") and brackets:
                brackets.pop()
            previous = tok.type
            yield tok


def build_parser(grammar: str) -> lark.Lark:
    """The LALR parser of `grammar`, analysed from scratch (about half a second)."""
    return lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=["expression", "statements"],
        propagate_positions=True,
        maybe_placeholders=False,
        postlex=_LineKeywords(),
    )


# Options given when the parser is made from its tables, never stored in them: the post-lexer
# is an object of this module.
_GIVEN = frozenset({"postlex"})


def parser_tables(parser: lark.Lark) -> dict[str, Any]:
    """`parser` as plain data, as `engine.lang.tables` ships it."""
    data, memo = parser.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in _GIVEN}
    return {"data": data, "memo": memo}


def parser_from_tables(serialised: dict[str, Any]) -> lark.Lark:
    parser: lark.Lark = lark.Lark.__new__(lark.Lark)._load(serialised, postlex=_LineKeywords())
    return parser


@functools.cache
def _lark() -> lark.Lark:
    """The parser, from the tables shipped beside the grammar when they fit it and this Lark
    (`engine.lang.tables`), else analysed from the grammar."""
    grammar = grammar_path().read_text(encoding="utf-8")
    shipped = tables.read(grammar, lark.__version__)
    if shipped is not None:
        try:
            return parser_from_tables(shipped)
        except Exception:  # noqa: S110 -- tables this Lark cannot read: analyse instead
            pass
    return build_parser(grammar)


def _span_of(item: Any) -> n.Span:
    if isinstance(item, Token):
        return n.Span(
            item.start_pos or 0,
            item.end_pos or 0,
            item.line or 1,
            item.column or 1,
            item.end_line or 1,
            item.end_column or 1,
        )
    if isinstance(item, n.Node):
        return item.span
    if isinstance(item, n.Span):
        return item
    meta = item
    return n.Span(
        meta.start_pos, meta.end_pos, meta.line, meta.column, meta.end_line, meta.end_column
    )


_STEP = re.compile(r"`([^`]*)`|([^.`]+)")


def _path_steps(text: str) -> list[tuple[str, bool]]:
    """The steps of a name as written: each with whether it was backquoted."""
    return [(quoted if plain is None or plain == "" else plain, plain == "" or plain is None)
            for quoted, plain in ((m.group(1), m.group(2)) for m in _STEP.finditer(text))]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0",
            '"': '"', "'": "'", "\\": "\\", "/": "/"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


_SURROGATE = re.compile("[\ud800-\udfff]")


class LoneSurrogate(ValueError):
    """A string that no UTF-8 text can hold: it could be neither printed nor stored."""


def unescape(body: str) -> str:
    """Backslash escapes of a quoted string: \\n \\t \\" \\\\ \\uXXXX and the like.

    Any other backslash is kept with the character after it, as qlbridge keeps the text between
    the quotes: ``"\\*bc"`` reaches `LIKE` as an escaped star and ``"\\d+"`` a regex as a digit
    class, where dropping the backslash would change what the pattern means.

    A ``\\uD83D\\uDE00`` pair is the one character it encodes, as in JSON; half of a pair alone
    raises `LoneSurrogate`.
    """
    if "\\" not in body:
        text = body
    else:
        def repl(m: re.Match[str]) -> str:
            esc = m.group(1)
            if esc[0] == "u" and len(esc) == 5:
                return chr(int(esc[1:], 16))
            return _ESCAPES.get(esc, m.group(0))

        text = _ESCAPE.sub(repl, body)
    if _SURROGATE.search(text) is None:
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise LoneSurrogate(body) from None


_NEGATED_OPS = {
    "NOT_IN": "in",
    "NOT_INTERSECTS": "intersects",
    "NOT_CONTAINS": "contains",
    "NOT_LIKE": "like",
}
_COMPARE = {"==": "=", "=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """Lark tree → our nodes. Each method gets the rule's meta (positions) and children."""

    # ---- literals and names
    def string(self, meta: Any, ch: list[Token]) -> n.Literal:
        try:
            return n.Literal(_span_of(meta), unescape(ch[0][1:-1]))
        except LoneSurrogate:
            raise _Misplaced(meta, "this string holds half of a UTF-16 surrogate pair "
                                   "(\\uD800-\\uDFFF alone), which no text can hold",
                             "E004") from None

    def int_lit(self, meta: Any, ch: list[Token]) -> n.Literal:
        text = str(ch[0])
        if len(text) > 19 or int(text) > INT64_MAX:
            raise _Misplaced(meta, f"integer {text[:20]}{'…' if len(text) > 20 else ''} is "
                                   "out of range (64-bit)")
        return n.Literal(_span_of(meta), int(text))

    def float_lit(self, meta: Any, ch: list[Token]) -> n.Literal:
        value = float(ch[0])
        if not math.isfinite(value):
            raise _Misplaced(meta, f"number {str(ch[0])[:20]} is out of range")
        return n.Literal(_span_of(meta), value)

    def true_lit(self, meta: Any, ch: list[Token]) -> n.Literal:
        return n.Literal(_span_of(meta), True)

    def false_lit(self, meta: Any, ch: list[Token]) -> n.Literal:
        return n.Literal(_span_of(meta), False)

    def null_lit(self, meta: Any, ch: list[Token]) -> n.Literal:
        return n.Literal(_span_of(meta), None)

    def list_lit(self, meta: Any, ch: list[n.Expr]) -> n.ListLiteral:
        return n.ListLiteral(_span_of(meta), tuple(ch))

    def paren_list(self, meta: Any, ch: list[n.Expr]) -> n.ListLiteral:
        return n.ListLiteral(_span_of(meta), tuple(ch))

    def ident(self, meta: Any, ch: list[Token]) -> n.Identifier:
        span = _span_of(meta)
        steps = _path_steps(str(ch[0]))
        if len(steps) == 1 and steps[0][1]:
            return n.Identifier(span, steps[0][0], quoted=True)
        if not any(quoted for _, quoted in steps):
            return n.Identifier(span, str(ch[0]))
        names = tuple(step for step, _ in steps)
        if not any("." in step for step in names):  # the same path as written without quotes
            return n.Identifier(span, ".".join(names))
        return n.Identifier(span, ".".join(names), steps=names)

    def ident_name(self, meta: Any, ch: list[Token]) -> str:
        tok = ch[0]
        steps = _path_steps(str(tok))
        if len(steps) > 1 and any(quoted for _, quoted in steps):
            raise _Misplaced(meta, "a name here is one key: a path of quoted steps "
                                   "belongs in an expression")
        return tok[1:-1] if tok.type == "QUOTED_NAME" else str(tok)

    def call(self, meta: Any, ch: list[Any]) -> n.Call:
        name_tok = ch[0]
        return n.Call(_span_of(meta), str(name_tok).lower(), tuple(ch[1:]), _span_of(name_tok))

    def cast_call(self, meta: Any, ch: list[Any]) -> n.Call:
        """`CAST(x AS type)` is the call `cast(x, "type")`: one node, printed the call way."""
        name_tok, value, _, type_tok = ch
        if str(name_tok).lower() != "cast":
            raise _Misplaced(type_tok, f"`AS type` belongs to `CAST(x AS type)`, not to "
                             f"`{name_tok}(…)`")
        type_name = n.Literal(_span_of(type_tok), str(type_tok).lower())
        return n.Call(_span_of(meta), "cast", (value, type_name), _span_of(name_tok))

    # ---- operators
    def neg(self, meta: Any, ch: list[Any]) -> n.Expr:
        operand = ch[1]
        span = _span_of(meta)
        if isinstance(operand, n.Literal) and type(operand.value) in (int, float):
            return n.Literal(span, -operand.value)  # type: ignore[operator]
        return n.Unary(span, "neg", operand)

    def arith(self, meta: Any, ch: list[Any]) -> n.Binary:
        return n.Binary(_span_of(meta), str(ch[1]), ch[0], ch[2])

    def compare(self, meta: Any, ch: list[Any]) -> n.Binary:
        return n.Binary(_span_of(meta), _COMPARE[str(ch[1])], ch[0], ch[2])

    def and_op(self, meta: Any, ch: list[Any]) -> n.Binary:
        return n.Binary(_span_of(meta), "and", ch[0], ch[2])

    def or_op(self, meta: Any, ch: list[Any]) -> n.Binary:
        return n.Binary(_span_of(meta), "or", ch[0], ch[2])

    def not_op(self, meta: Any, ch: list[Any]) -> n.Unary:
        return n.Unary(_span_of(meta), "not", ch[1])

    def _membership(self, meta: Any, ch: list[Any], op: str) -> n.Membership:
        negated = ch[1].type in _NEGATED_OPS
        return n.Membership(_span_of(meta), op, ch[0], ch[2], negated)

    def in_op(self, meta: Any, ch: list[Any]) -> n.Membership:
        return self._membership(meta, ch, "in")

    def intersects_op(self, meta: Any, ch: list[Any]) -> n.Membership:
        return self._membership(meta, ch, "intersects")

    def contains_op(self, meta: Any, ch: list[Any]) -> n.Membership:
        return self._membership(meta, ch, "contains")

    def like_op(self, meta: Any, ch: list[Any]) -> n.Membership:
        return self._membership(meta, ch, "like")

    def between_op(self, meta: Any, ch: list[Any]) -> n.Between:
        return n.Between(_span_of(meta), ch[0], ch[2], ch[4], ch[1].type == "NOT_BETWEEN")

    def is_null(self, meta: Any, ch: list[Any]) -> n.IsNull:
        return n.IsNull(_span_of(meta), ch[0], negated=False)

    def is_not_null(self, meta: Any, ch: list[Any]) -> n.IsNull:
        return n.IsNull(_span_of(meta), ch[0], negated=True)

    def exists_op(self, meta: Any, ch: list[Any]) -> n.Call:
        return n.Call(_span_of(meta), "exists", (ch[1],), _span_of(ch[0]))

    def conditional(self, meta: Any, ch: list[Any]) -> n.Conditional:
        return n.Conditional(_span_of(meta), ch[0], ch[2], ch[4])

    def terms(self, meta: Any, ch: list[n.Expr]) -> tuple[n.Expr, ...]:
        return tuple(ch)

    def bool_list(self, meta: Any, ch: list[Any]) -> n.BoolList:
        terms = ch[1] if len(ch) > 1 else ()
        op = "and" if ch[0].type in ("AND", "LINE_AND") else "or"
        span = _span_of(meta)
        return n.BoolList(span, op, terms)

    def include(self, meta: Any, ch: list[Any]) -> n.Include:
        return n.Include(_span_of(meta), ch[1])


    def expression(self, meta: Any, ch: list[n.Expr]) -> n.Expr:
        return ch[0]

    # ---- statements
    def _clause(self, meta: Any, ch: list[Any]) -> tuple[str, Any, n.Span]:
        value = ch[1] if len(ch) > 1 else None
        return (ch[0].type.lower(), value, _span_of(meta))

    as_clause = if_clause = mergeop_clause = _clause
    from_clause = into_clause = where_clause = alias_clause = _clause

    def kind_clause(self, meta: Any, ch: list[Any]) -> tuple[str, Any, n.Span]:
        return ("kind", str(ch[1]).lower(), _span_of(meta))

    def shortdesc_clause(self, meta: Any, ch: list[Any]) -> tuple[str, Any, n.Span]:
        return ("shortdesc", ch[1].value, _span_of(meta))

    def longdesc_clause(self, meta: Any, ch: list[Any]) -> tuple[str, Any, n.Span]:
        return ("longdesc", ch[1].value, _span_of(meta))

    def by_clause(self, meta: Any, ch: list[Any]) -> tuple[str, Any, n.Span]:
        return ("by", tuple(c for c in ch[1:] if isinstance(c, str) and not isinstance(c, Token)),
                _span_of(meta))

    def _clauses(self, items: list[tuple[str, Any, n.Span]], allowed: set[str]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value, span in items:
            if key not in allowed:
                raise _Misplaced(span, f"`{key.upper()}` is not allowed here")
            if key in seen:
                raise _Misplaced(span, f"`{key.upper()}` given twice")
            seen[key] = str(value.value if isinstance(value, n.Literal) else value) \
                if key in ("mergeop",) else value
        return seen

    def column(self, meta: Any, ch: list[Any]) -> n.Column:
        c = self._clauses(ch[1:], {"as", "if", "kind", "mergeop", "shortdesc", "longdesc"})
        return n.Column(
            _span_of(meta), ch[0], c.get("as"), c.get("if"), c.get("kind"),
            c.get("mergeop", "").lower() or None, c.get("shortdesc"), c.get("longdesc"),
        )

    def column_conditional(self, meta: Any, ch: list[Any]) -> n.Column:
        expr = n.Conditional(_span_of(ch[0]).cover(_span_of(ch[4])), ch[0], ch[2], ch[4])
        return self.column(meta, [expr, *ch[6:]])

    def select_stmt(self, meta: Any, ch: list[Any]) -> n.Select:
        columns = tuple(c for c in ch[1:] if isinstance(c, n.Column))
        c = self._clauses([x for x in ch[1:] if isinstance(x, tuple)],
                          {"from", "into", "by", "where", "alias"})
        span = _span_of(meta)
        for required in ("from", "into", "by"):
            if required not in c:
                raise _Misplaced(span, f"SELECT needs a `{required.upper()}` clause")
        return n.Select(span, columns, c["from"], c["into"], c["by"], c.get("where"),
                        c.get("alias"))

    def filter_stmt(self, meta: Any, ch: list[Any]) -> n.Filter:
        c = self._clauses(list(ch[2:]), {"from", "alias"})
        expr = ch[1] if isinstance(ch[1], n.Expr) else n.MatchAll(_span_of(ch[1]))
        return n.Filter(_span_of(meta), expr, c.get("from"), c.get("alias"))

    def statements(self, meta: Any, ch: list[Any]) -> list[n.Statement]:
        return list(ch)


class _Misplaced(Exception):
    def __init__(self, where: Any, message: str, code: str = "E001") -> None:
        self.span = _span_of(where)
        self.message = message
        self.code = code


_FRIENDLY = {
    "RPAR": "`)`", "LPAR": "`(`", "RSQB": "`]`", "LSQB": "`[`", "COMMA": "`,`",
    "NAME": "a name", "QUOTED_NAME": "a `quoted name`", "DQ_STRING": "a string",
    "SQ_STRING": "a string", "INT": "a number", "FLOAT": "a number", "COMPARE": "a comparison",
    "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "PERCENT": "`%`",
    "SEMICOLON": "`;`",
    "KIND_TYPE": "a field type", "$END": "the end of the text",
}


_STARTS_EXPRESSION = {"NAME", "INT", "DQ_STRING", "LPAR"}
_CLOSERS = {"RPAR": "`)`", "RSQB": "`]`", "COMMA": "`,`"}


def _describe_expected(expected: set[str]) -> str:
    if {"AS", "RPAR", "COMMA"} <= expected:
        # Inside a call's parentheses `AS` only belongs to `CAST(x AS type)`: offering it after
        # the argument of every other call would mislead.
        expected = expected - {"AS"}
    if expected >= _STARTS_EXPRESSION:
        extra = [name for tok, name in _CLOSERS.items() if tok in expected]
        return "an expression" + "".join(f" or {x}" for x in extra)
    names = sorted({_FRIENDLY.get(t, f"`{t.lower().replace('_', ' ')}`") for t in expected})
    if len(names) > 6:
        closers = [name for tok, name in _CLOSERS.items() if tok in expected]
        if "$END" in expected:
            closers.append("the end of the text")
        return "an operator" + "".join(f" or {x}" for x in closers)
    return " or ".join(names)


def _depth_error(tree: lark.Tree[Token], source: Source) -> Diagnostic | None:
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, lark.Tree):
            continue
        if depth > MAX_DEPTH:
            start = node.meta.start_pos if not node.meta.empty else 0
            end = node.meta.end_pos if not node.meta.empty else start + 1
            return Diagnostic(source, start, end, "E003",
                              f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in node.children)
    return None


def _syntax_error(exc: lark.exceptions.UnexpectedInput, source: Source) -> Diagnostic:
    text = source.text
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            pos = len(text)
            expected = _describe_expected(exc.expected)
            return Diagnostic(source, pos, pos + 1, "E001",
                              f"unexpected end of text; expected {expected}")
        start = tok.start_pos or 0
        shown = str(tok) if len(str(tok)) <= 40 else str(tok)[:37] + "…"
        return Diagnostic(source, start, tok.end_pos or start + 1, "E001",
                          f"unexpected `{shown}`; expected {_describe_expected(exc.expected)}")
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        if ch in "\"'`":
            return Diagnostic(source, pos, pos + 1, "E002", "unterminated quoted text")
        return Diagnostic(source, pos, pos + 1, "E001", f"unexpected character {ch!r}")
    pos = len(text)
    return Diagnostic(source, max(pos - 1, 0), pos, "E001", "unexpected end of text")


def _translated(exc: lark.exceptions.LarkError, source: Source) -> Exception:
    """The one place Lark's exceptions become the engine's.

    Input Lark cannot parse, or that our transformer refuses (`_Misplaced`), is a `ConfigError`
    with its diagnostic. Anything else is a fault of the parser, not of the text: the original
    exception of a transformer method, or a `RuntimeFailure`, never Lark's own class.
    """
    if isinstance(exc, lark.exceptions.UnexpectedInput):
        return ConfigError([_syntax_error(exc, source)])
    if isinstance(exc, lark.exceptions.VisitError):
        if isinstance(exc.orig_exc, _Misplaced):
            m = exc.orig_exc
            return ConfigError([Diagnostic(source, m.span.start, m.span.end, m.code, m.message)])
        return exc.orig_exc
    return RuntimeFailure(f"the expression parser failed: {exc}")


def _parse(source: Source, start: str) -> Any:
    try:
        tree = _lark().parse(source.text, start=start)
        too_deep = _depth_error(tree, source)
        if too_deep:
            raise ConfigError([too_deep])
        return _ToAst().transform(tree)
    except lark.exceptions.LarkError as exc:
        raise _translated(exc, source) from exc


def parse_expression(text: str | Source, name: str = "<expr>") -> n.Expr:
    """Parse one expression (transform, mapping expression, condition or filter)."""
    source = text if isinstance(text, Source) else Source(name, text)
    if not source.text.strip():
        raise ConfigError([Diagnostic(source, 0, len(source.text), "E001", "empty expression")])
    result: n.Expr = _parse(source, "expression")
    return result


def parse_statements(text: str | Source, name: str = "<lql>") -> list[n.Statement]:
    """Parse a ``.lql`` file: SELECT mapping statements and FILTER audience statements."""
    source = text if isinstance(text, Source) else Source(name, text)
    result: list[n.Statement] = _parse(source, "statements")
    return result


_FILTER_STATEMENT = re.compile(r"(?i)\s*filter\s")


def parse_filter(text: str | Source, name: str = "<filter>") -> n.Expr:
    """Parse an audience filter: an expression, or a FilterQL statement
    (``FILTER AND (…) [FROM user] [ALIAS name]``), whose condition it is."""
    source = text if isinstance(text, Source) else Source(name, text)
    if not _FILTER_STATEMENT.match(source.text):  # `filter(…)` is the function
        return parse_expression(source)
    statements = parse_statements(source)
    if len(statements) != 1 or not isinstance(statements[0], n.Filter):
        raise ConfigError([Diagnostic(source, 0, len(source.text), "E001",
                                      "an audience filter holds one FILTER statement")])
    return statements[0].expr


def main() -> None:
    """`make docs`: analyse the grammar and write its tables beside it (`engine.lang.tables`),
    unless the file there already fits the grammar and this Lark: the same analysis does not
    always give the same bytes, and the file should change only when the grammar does."""
    grammar = grammar_path().read_text(encoding="utf-8")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else tables.tables_path()
    if tables.read(grammar, lark.__version__, target) is None:
        serialised = parser_tables(build_parser(grammar))
        target.write_bytes(tables.render(serialised, grammar, lark.__version__))


if __name__ == "__main__":
    main()
