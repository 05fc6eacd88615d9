"""One YAML file read into plain data that remembers where every value was written.

The file is composed with a safe loader (no object construction from tags), every string scalar
is interpolated (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$${`` for a literal
``${``), and the data comes out as plain dicts, lists and scalars - what the JSON Schema and the
model builders read - next to tables keyed by the path of each value (``("mappings", 0,
"fields", 3, "expr")``): where its node is, where its key is, and a `Source` for each scalar that
maps every character of the value back to the file. Problems (YAML syntax, duplicate keys,
unset variables) are collected as diagnostics; nothing here raises for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from engine.config.model import Located
from engine.config.yamlpos import scalar_offsets
from engine.errors import Diagnostic, Source

Path_ = tuple[str | int, ...]

MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_SCALAR_CHARS = 100_000
"""What one config file may hold: nesting depth and node count as the data comes out (aliases
and ``<<`` merges expanded), the file's size in bytes and one value's length in characters.
The stock config is far below each (docs/config.md, "Limits"); a file past one is refused while
it is read, before its cost (recursion, an alias bomb's expansion, per-character positions of a
huge value) is paid."""

_YAML = "tag:yaml.org,2002:"
_CONSTRUCT = SafeConstructor()
_RESOLVER = Resolver()
_PLAIN_TAGS = frozenset({"str", "int", "float", "bool", "null", "timestamp", "map", "seq"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


class LimitExceeded(Exception):
    """A file past one of the limits above, at the node where it was found."""

    def __init__(self, code: str, index: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.index = index
        self.message = message


class _Composer(yaml.SafeLoader):
    """PyYAML's safe loader, used only to compose nodes (which keep their marks).

    Composing is where the limits are enforced: each node's expanded size and depth (an alias
    stands for everything under its anchor) are known as soon as the node is built, from its
    children's, so a bomb is refused after reading its text once, before anything is expanded.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) expanded

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        at = event.start_mark.index
        if self.depth >= MAX_DEPTH:
            raise LimitExceeded("C023", at,
                                f"YAML: the document is nested too deeply (over {MAX_DEPTH} "
                                "levels)")
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            raise LimitExceeded("C025", at,
                                f"YAML: a value of {len(event.value)} characters (at most "
                                f"{MAX_SCALAR_CHARS})")
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if node is None:
            return None
        if isinstance(event, yaml.AliasEvent):
            size, depth = self.expanded[id(node)]
        else:
            size, depth = 1, 1
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            for child in children:
                child_size, child_depth = self.expanded[id(child)]
                size += child_size
                depth = max(depth, child_depth + 1)
            self.expanded[id(node)] = (size, depth)
        if size > MAX_NODES:
            raise LimitExceeded("C024", at,
                                f"YAML: the document holds more than {MAX_NODES} values "
                                "(each alias counted as all it stands for)")
        if depth + self.depth > MAX_DEPTH:
            raise LimitExceeded("C023", at,
                                f"YAML: the document is nested too deeply (over {MAX_DEPTH} "
                                "levels, each alias counted as all it stands for)")
        return node


@dataclass
class YamlFile:
    """A file's data plus where each part of it sits; see the module docstring."""

    name: str
    text: str
    source: Source
    data: Any = None
    places: dict[Path_, Located] = field(default_factory=dict)
    key_places: dict[Path_, Located] = field(default_factory=dict)
    scalars: dict[Path_, Source] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))

    def at(self, path: Path_) -> Located:
        """Where the value at `path` is; the nearest enclosing node when it has no node."""
        for i in range(len(path), -1, -1):
            found = self.places.get(path[:i])
            if found is not None:
                return found
        return Located(self.source, 0, 0)

    def key_at(self, path: Path_) -> Located:
        """Where the key of the entry at `path` is (the value's place for list items)."""
        return self.key_places.get(path) or self.at(path)

    def error(self, where: Located, code: str, message: str, hint: str | None = None,
              severity: str = "error") -> None:
        self.diagnostics.append(Diagnostic(where.source, where.start, where.end, code, message,
                                           hint, "warning" if severity == "warning" else "error"))


def read_yaml(name: str, text: str, environ: Mapping[str, str]) -> YamlFile:
    """Compose `text` (the contents of file `name`) and convert it; problems land in
    `.diagnostics`."""
    text = text.removeprefix("\ufeff")
    doc = YamlFile(name, text, Source(name, text))
    loader = _Composer(text)
    try:
        node = loader.get_single_node()
    except LimitExceeded as exc:
        doc.error(Located(doc.source, exc.index, exc.index + 1), exc.code, exc.message)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        index = mark.index if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        hint = exc.context if exc.problem and exc.context else None
        doc.error(Located(doc.source, index, index + 1), "C001", f"YAML: {problem}", hint)
        return doc
    except yaml.YAMLError as exc:  # reader errors: control characters, bad encoding
        position = getattr(exc, "position", 0)
        doc.error(Located(doc.source, position, position + 1), "C001", f"YAML: {exc}")
        return doc
    finally:
        loader.dispose()
    if node is not None:
        _Converter(doc, loader, environ).run(node)
    return doc


class _Converter:
    def __init__(self, doc: YamlFile, loader: _Composer, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.loader = loader
        self.environ = environ
        self.lines = doc.lines

    def run(self, node: yaml.Node) -> None:
        self.doc.data = self.convert(node, ())

    def located(self, node: yaml.Node) -> Located:
        return Located(self.doc.source, node.start_mark.index, node.end_mark.index)

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        """The plain data of `node`; the composer's limits bound how deep and how much."""
        self.doc.places[path] = self.located(node)
        if not isinstance(node, yaml.ScalarNode) and not self.plain_tag(node):
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node, path)

    def plain_tag(self, node: yaml.Node) -> bool:
        """Only YAML's own core types are read; any other tag (``!!python/…``) is refused."""
        if node.tag.removeprefix(_YAML) in _PLAIN_TAGS:
            return True
        self.doc.error(self.located(node), "C001", f"YAML: unsupported tag `{node.tag}`",
                       "only plain YAML values are read (safe loading)")
        return False

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        own = {id(k) for k, _ in node.value}
        try:
            self.loader.flatten_mapping(node)  # `<<: *anchor` merge keys
        except ConstructorError as exc:
            mark = exc.problem_mark
            at = mark.index if mark else node.start_mark.index
            self.doc.error(Located(self.doc.source, at, at + 1), "C001", f"YAML: {exc.problem}")
        out: dict[str, Any] = {}
        merged: set[str] = set()  # keys from `<<`, which the mapping's own keys override
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.doc.error(self.located(key_node), "C001",
                               "YAML: a key must be a plain value, not a list or mapping")
                continue
            key = key_node.value
            where = self.located(key_node)
            if key in merged:
                merged.discard(key)
            elif key in out:
                first = self.doc.key_places[(*path, key)]
                line = self.doc.source.location(first.start)[0]
                self.doc.error(where, "C005", f"duplicate key `{key}`",
                               f"it is first set on line {line}; YAML would keep only the last")
                continue
            if id(key_node) not in own:
                merged.add(key)
            self.doc.key_places[(*path, key)] = where
            out[key] = self.convert(value_node, (*path, key))
        return out

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        offsets = scalar_offsets(node, self.doc.text)
        if offsets is None:
            offsets = [node.start_mark.index] * (len(node.value) + 1)
        text, offsets = self.interpolate(node.value, offsets)
        origins = tuple(self.doc.source.location(o) for o in offsets)
        self.doc.scalars[path] = Source(self.doc.name, text, file_lines=self.lines,
                                        char_origins=origins)
        if not self.plain_tag(node):
            return text
        kind = node.tag.removeprefix(_YAML)
        if node.style is None and text != node.value:  # a plain scalar that was interpolated
            resolved: str = _RESOLVER.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, text, (True, False))
            kind = resolved.removeprefix(_YAML)
            if kind == "null":
                kind = "str"
        if kind in ("int", "float", "bool", "null"):
            probe = yaml.ScalarNode(_YAML + kind, text, node.start_mark, node.end_mark)
            return getattr(_CONSTRUCT, f"construct_yaml_{kind}")(probe)
        return text

    def interpolate(self, text: str, offsets: list[int]) -> tuple[str, list[int]]:
        """Replace ``${VAR}`` forms; each substituted character points at its ``$``."""
        if "$" not in text:
            return text, offsets
        out: list[str] = []
        where: list[int] = []
        i = 0
        while i < len(text):
            if text.startswith("$${", i):
                out += ["$", "{"]
                where += [offsets[i], offsets[i + 2]]
                i += 3
                continue
            if not text.startswith("${", i):
                out.append(text[i])
                where.append(offsets[i])
                i += 1
                continue
            m = _VAR.match(text, i)
            if m is None:
                close = text.find("}", i)
                stop = close + 1 if close >= 0 else len(text)
                self.doc.error(Located(self.doc.source, offsets[i], offsets[stop - 1] + 1),
                               "C006", f"`{text[i:stop]}` is not a variable reference",
                               "write ${NAME} or ${NAME:-default}; $${ stands for a literal ${")
                out.append(text[i])
                where.append(offsets[i])
                i += 1
                continue
            name, op, default = m.group(1), m.group(2), m.group(3)
            value = self.environ.get(name)
            span = Located(self.doc.source, offsets[m.start()], offsets[m.end() - 1] + 1)
            if (value is None or (op == ":-" and value == "")) and op is not None:
                out += list(default)
                where += offsets[m.start(3): m.end(3)]
            elif value is None:
                self.doc.error(span, "C006", f"environment variable `{name}` is not set",
                               f"set it, or give a default: ${{{name}:-default}}")
            else:
                out += list(value)
                where += [offsets[m.start()]] * len(value)
            i = m.end()
        where.append(offsets[-1])
        return "".join(out), where
