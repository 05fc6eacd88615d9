"""Config files → `Settings`: reads the top-level file and every file it names (docs/config.md).

Each file is read by `engine.config.yamlfile` (safe YAML, positions, ``${VAR}``), `--set`
overrides are applied to the top-level file, each file is checked against its JSON Schema, and
the model (`engine.config.model`) is built from whatever is well-formed: the settings sections
and items by `_build`, from the keys their fields declare; streams, mappings, audiences and
tests by hand, since every expression becomes an `Expr` or `FieldSpec` whose `Source` maps each
character back to the YAML file.

`read_settings` returns the settings together with every problem found (so `engine validate` can
go on to the checks of `engine.config.checks` and report everything at once); `load_settings`
raises one `ConfigError` holding them all.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from engine.config.model import (
    AudienceSpec,
    AuthorizationSpec,
    ConfigKey,
    ExportSpec,
    Expr,
    IdentitySpec,
    ImportSpec,
    Located,
    MappingField,
    MappingSpec,
    PipelineSpec,
    ServerSpec,
    Settings,
    StorageSpec,
    StreamSpec,
    TestCase,
    TransportSpec,
    config_keys,
)
from engine.config.schema import SchemaName, name_problem, schema, validate
from engine.config.yamlfile import MAX_FILE_BYTES, Path_, YamlFile, read_yaml
from engine.errors import ConfigError, Diagnostic, Source
from engine.lang import nodes as n
from engine.lang.compiler import FieldSpec, default_kind, select_fields
from engine.lang.parser import parse_expression, parse_statements

MAX_FILES = 1000
# An LQL file starts (after comments) with a statement; anything else is another kind of file.
_LQL_START = re.compile(r"(?:\s|--[^\n]*|/\*.*?\*/)*(?:select|filter)\b",
                        re.IGNORECASE | re.DOTALL)
_S = TypeVar("_S", bound=Hashable)  # a settings dataclass (`config_keys` caches by class)
_I = TypeVar("_I", ImportSpec, ExportSpec)
ALLOW_PATHS_ENV = "ENGINE_ALLOW_PATHS"
"""More folders a config may name files in (os.pathsep-separated), as ``--allow-path`` does."""


def load_settings(path: str | Path, *, overrides: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None,
                  allow_paths: Iterable[str | Path] = ()) -> Settings:
    """Read a config file and every file it references; raise `ConfigError` listing every
    problem (YAML syntax, schema, interpolation) in every file."""
    settings, problems = read_settings(path, overrides=overrides, environ=environ,
                                       allow_paths=allow_paths)
    if any(d.severity == "error" for d in problems):
        raise ConfigError(problems)
    return settings


def read_settings(path: str | Path, *, overrides: Mapping[str, str] | None = None,
                  environ: Mapping[str, str] | None = None,
                  extra_files: Iterable[str | Path] = (),
                  allow_paths: Iterable[str | Path] = ()) -> tuple[Settings, list[Diagnostic]]:
    """The settings, as far as they could be built, and every problem found on the way.

    `extra_files` are more mapping files (relative to the working directory), read as if the
    config listed them: what ``engine validate PATHS…`` checks. A file the config names must
    lie in the config's folder or in one of `allow_paths` (and of ``$ENGINE_ALLOW_PATHS``), so
    a config from a pull request cannot make CI read ``/etc/shadow`` (docs/config.md, "Files").
    """
    env = os.environ if environ is None else environ
    allowed = [*allow_paths, *(p for p in env.get(ALLOW_PATHS_ENV, "").split(os.pathsep) if p)]
    roots = tuple(Path(p).resolve() for p in [Path(path).parent, *allowed])
    reader = _Reader(env, roots)
    name = str(path)
    main = reader.read(Path(path), name, None)
    if main is not None:
        _apply_overrides(main, overrides or {})
        validate(main, "config")
        _hide_if_foreign(main, "config")
        reader.collect_main(main)
        for extra in extra_files:
            reader.include(Path(extra), str(extra), None, "mapping")
    settings = Settings(
        path=name,
        version=main.data.get("version", 1) if main and isinstance(main.data, dict) else 1,
        storage=reader.storage, transport=reader.transport, server=reader.server,
        identity=reader.identity, pipeline=reader.pipeline,
        authorizations=tuple(reader.authorizations), imports=tuple(reader.imports),
        streams=tuple(reader.streams), mappings=tuple(reader.mappings),
        audiences=tuple(reader.audiences), exports=tuple(reader.exports),
        tests=tuple(reader.tests), files=tuple(reader.files),
    )
    return settings, reader.problems()


# --- overrides ------------------------------------------------------------------------------


def _apply_overrides(doc: YamlFile, overrides: Mapping[str, str]) -> None:
    """``--set dotted.key=value``: the value is read as a YAML scalar and put at the key."""
    if not isinstance(doc.data, dict):
        return
    for key, raw in overrides.items():
        line = f"{key}={raw}"
        source = Source("--set", line)
        whole = Located(source, 0, len(line))
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if value is None and raw.strip() not in ("null", "~"):
            value = raw
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.split(".")]
        if not key or any(p == "" for p in parts):
            doc.error(whole, "C008", f"`--set {line}`: not a dotted key",
                      "write --set section.key=value, e.g. --set storage.path=/tmp/x.db")
            continue
        target: Any = doc.data
        ok = True
        for i, part in enumerate(parts[:-1]):
            if isinstance(target, dict) and isinstance(part, str):
                target = target.setdefault(part, {} if not isinstance(parts[i + 1], int) else [])
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                ok = False
                break
        last = parts[-1]
        in_dict = isinstance(target, dict) and isinstance(last, str)
        in_list = isinstance(target, list) and isinstance(last, int) and last < len(target)
        settable = ok and (in_dict or in_list)
        if settable:
            target[last] = value
        else:
            doc.error(whole, "C008", f"`--set {line}`: `{key}` does not name a place in the config")
            continue
        where: Path_ = tuple(parts)
        doc.places[where] = Located(source, len(key) + 1, len(line))
        doc.key_places[where] = Located(source, 0, len(key))
        if isinstance(value, str):
            doc.scalars[where] = Source("--set", value, file_lines=(line,),
                                        line_origins=((1, len(key) + 2),))


# --- reading files -------------------------------------------------------------------------


@dataclass
class _Reader:
    environ: Mapping[str, str]
    roots: tuple[Path, ...]  # the folders a config may name files in
    docs: list[YamlFile] = field(default_factory=list)
    extra: list[Diagnostic] = field(default_factory=list)
    seen: set[Path] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)  # file name -> its directory
    storage: StorageSpec = field(default_factory=StorageSpec)
    transport: TransportSpec = field(default_factory=TransportSpec)
    server: ServerSpec = field(default_factory=ServerSpec)
    identity: IdentitySpec = field(default_factory=IdentitySpec)
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)
    authorizations: list[AuthorizationSpec] = field(default_factory=list)
    imports: list[ImportSpec] = field(default_factory=list)
    streams: list[StreamSpec] = field(default_factory=list)
    mappings: list[MappingSpec] = field(default_factory=list)
    audiences: list[AudienceSpec] = field(default_factory=list)
    exports: list[ExportSpec] = field(default_factory=list)
    tests: list[TestCase] = field(default_factory=list)

    def problems(self) -> list[Diagnostic]:
        found = [d for doc in self.docs for d in doc.diagnostics] + self.extra
        unique = {(d.file, d.line, d.column, d.end_line, d.end_column, d.code, d.message): d
              for d in found}
        return list(unique.values())

    def refuse(self, referrer: Located | None, name: str, code: str, message: str,
               hint: str | None = None) -> None:
        where = referrer or Located(Source(name, ""), 0, 0)
        self.extra.append(Diagnostic(where.source, where.start, where.end, code, message, hint))

    def text_of(self, path: Path, name: str, referrer: Located | None) -> str | None:
        """The text of a config file, or None with a diagnostic at `referrer` (where the file
        is named; the file itself when it is the config).

        A named file must resolve (symlinks and ``..`` followed) into one of the allowed
        folders, and must be a regular file: a device (``/dev/zero``) or a FIFO would hang the
        read, so the type is checked before opening and again on the open descriptor (opened
        non-blocking, so a FIFO swapped in between cannot block). At most `MAX_FILE_BYTES` are
        read.
        """
        if referrer is not None:
            real = path.resolve()
            if not any(real.is_relative_to(root) for root in self.roots):
                self.refuse(referrer, name, "C026",
                            f"`{name}` is outside the config's folder",
                            f"a config names files in its own folder; allow another with "
                            f"--allow-path DIR or {ALLOW_PATHS_ENV}")
                return None
        try:
            if not stat.S_ISREG(path.stat().st_mode):
                self.refuse(referrer, name, "C007", f"cannot read `{name}`: not a regular file")
                return None
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    self.refuse(referrer, name, "C007",
                                f"cannot read `{name}`: not a regular file")
                    return None
                data = f.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                self.refuse(referrer, name, "C025",
                            f"`{name}` is larger than {MAX_FILE_BYTES} bytes",
                            "a config file is YAML or LQL of a few kilobytes")
                return None
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.refuse(referrer, name, "C007", f"cannot read `{name}`: {reason}")
            return None

    def read(self, path: Path, name: str, referrer: Located | None) -> YamlFile | None:
        text = self.text_of(path, name, referrer)
        if text is None:
            return None
        self.seen.add(path.resolve())
        self.files.append(name)
        self.folders[name] = path.parent
        doc = read_yaml(name, text, self.environ)
        self.docs.append(doc)
        return doc

    def include(self, path: Path, name: str, referrer: Located | None,
                schema: SchemaName) -> None:
        """Read a file named by `mappings:`, `audiences:` or `exports:` (once, however often
        it is named)."""
        if path.resolve() in self.seen or len(self.files) >= MAX_FILES:
            return
        if path.suffix == ".lql":
            self.read_lql(path, name, referrer)
            return
        doc = self.read(path, name, referrer)
        if doc is None:
            return
        validate(doc, schema)
        _hide_if_foreign(doc, schema)
        if isinstance(doc.data, dict):
            self.collect_sections(doc)

    def read_lql(self, path: Path, name: str, referrer: Located | None) -> None:
        text = self.text_of(path, name, referrer)
        if text is None:
            return
        self.seen.add(path.resolve())
        self.files.append(name)
        self.folders[name] = path.parent
        source = Source(name, text)
        try:
            statements = parse_statements(source)
        except ConfigError as exc:  # never quote it; nor repeat it when it is not LQL at all
            lql = _LQL_START.match(text) is not None
            self.extra += [_unquoted(d, None if lql else
                                     f"`{name}` is not a config file: it is not LQL",
                                     "an .lql file holds SELECT and FILTER statements")
                           for d in exc.diagnostics]
            return
        for stmt in statements:
            at = Located(source, stmt.span.start, stmt.span.end)
            self.check_names(stmt, path.stem, at)
            if isinstance(stmt, n.Select):
                try:
                    specs = select_fields(stmt, source)
                except ConfigError as exc:
                    self.extra += exc.diagnostics
                    continue
                mfields = tuple(MappingField(spec=s, at=at) for s in specs)
                self.mappings.append(MappingSpec(
                    name=stmt.alias or path.stem, stream=stmt.stream or "",
                    into=stmt.into or "user", by=stmt.by, fields=mfields, at=at))
            else:
                span = stmt.expr.span
                sub = _slice_source(source, span.start, span.end)
                self.audiences.append(AudienceSpec(name=stmt.alias or path.stem,
                                                   filter=Expr(sub.text, sub), at=at))

    def check_names(self, stmt: n.Statement, stem: str, at: Located) -> None:
        """The names an LQL statement gives, held to the YAML form's rule (`name_problem`)."""
        names: list[tuple[str, Located]] = [(stmt.alias or stem, at)]
        if isinstance(stmt, n.Select):
            names += [(name, at) for name in (stmt.stream, *stmt.by) if name]
            names += [(col.field, Located(at.source, col.span.start, col.span.end))
                      for col in stmt.columns if col.field]
        for name, where in names:
            problem = name_problem(name)
            if problem is not None:
                self.extra.append(Diagnostic(where.source, where.start, where.end, "C004",
                                             *problem))

    def collect_main(self, doc: YamlFile) -> None:
        data = doc.data if isinstance(doc.data, dict) else {}
        self.storage = _build(StorageSpec, data.get("storage"))
        self.transport = _build(TransportSpec, data.get("transport"))
        self.server = _build(ServerSpec, data.get("server"))
        self.identity = _build(IdentitySpec, data.get("identity"))
        self.pipeline = _build(PipelineSpec, data.get("pipeline"))
        auths = data.get("authorizations")
        for label, body in (auths.items() if isinstance(auths, dict) else ()):
            if isinstance(body, dict):
                self.authorizations.append(_authorization(doc, label, body))
        for i, item in enumerate(_list(data.get("imports"))):
            spec = _item(ImportSpec, doc, ("imports", i), item)
            if spec is not None:
                self.imports.append(spec)
        self.collect_sections(doc)

    def collect_sections(self, doc: YamlFile) -> None:
        """Streams, mappings, audiences, exports and tests of one file; a string item of
        `mappings`, `audiences` or `exports` names another file, relative to this one."""
        data = doc.data if isinstance(doc.data, dict) else {}
        for i, item in enumerate(_list(data.get("streams"))):
            stream = _stream(doc, ("streams", i), item)
            if stream is not None:
                self.streams.append(stream)
        builders = (("mappings", _mapping, self.mappings), ("audiences", _audience, self.audiences),
                    ("exports", _export, self.exports))
        for section, build, into in builders:
            for i, item in enumerate(_list(data.get(section))):
                if isinstance(item, str):
                    ref = Path(item)
                    fs_path = ref if ref.is_absolute() else self.folders[doc.name] / ref
                    shown = item if ref.is_absolute() else os.path.normpath(
                        os.path.join(os.path.dirname(doc.name), item))
                    self.include(fs_path, shown, doc.at((section, i)), "mapping")
                else:
                    spec = build(doc, (section, i), item)
                    if spec is not None:
                        into.append(spec)  # type: ignore[arg-type]
        for i, item in enumerate(_list(data.get("tests"))):
            case = _test(doc, ("tests", i), item)
            if case is not None:
                self.tests.append(case)


# What a diagnostic about a file that is not a config says instead of its own message.
# (The limits' own messages, C023-C025, quote nothing and stay.)
_FOREIGN = {"C001": "it is not YAML", "C002": "it has keys a config does not have",
            "C004": "it is not a mapping of config keys", "C005": "it repeats a key",
            "C006": "it names variables"}


def _hide_if_foreign(doc: YamlFile, schema_name: SchemaName) -> None:
    """A file that is not YAML, whose top is not a mapping, or none of whose top keys a config
    has, is not a config at all (a symlink to a key file, ``/etc/shadow``): its diagnostics
    keep their place and code but neither quote its lines nor repeat its keys or values."""
    data = doc.data
    known = schema(schema_name).get("properties", {})
    if isinstance(data, dict) and (not data or any(k in known for k in data)) and not any(
            d.code == "C001" for d in doc.diagnostics):
        return
    doc.diagnostics = [_unquoted(d, None if d.code not in _FOREIGN else
                                 f"`{doc.name}` is not a config file: {_FOREIGN[d.code]}")
                       for d in doc.diagnostics]


def _unquoted(d: Diagnostic, message: str | None = None, hint: str | None = None
              ) -> Diagnostic:
    """`d` without its source line and, given `message`, with that message and `hint`."""
    d = dataclasses.replace(d, source=dataclasses.replace(d.source, excerpt=False))
    return d if message is None else dataclasses.replace(d, message=message, hint=hint)


def _slice_source(source: Source, start: int, end: int) -> Source:
    """The part `start:end` of `source`, still pointing into the same file."""
    origins = tuple(source.location(i) for i in range(start, end + 1))
    return Source(source.name, source.text[start:end], char_origins=origins,
                  file_lines=tuple(source.text.split("\n")))


# --- building the model ----------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _build(section: type[_S], item: Any, **given: Any) -> _S:
    """A settings section or item from its declared keys (`config_keys`), `given` besides.

    A value of the wrong type or out of range, which the schema reports, leaves its key at its
    default, so the checks still see the rest; but a required key (a name, a provider) keeps
    what was written, as text, for the checks to quote."""
    data = item if isinstance(item, dict) else {}
    values = {}
    for k in config_keys(section):
        if k.field not in given:
            value: Any = data
            for part in k.path:
                value = value.get(part) if isinstance(value, dict) else None
            values[k.field] = _value(k, value)
    return section(**values, **given)


def _value(k: ConfigKey, value: Any) -> Any:
    if k.required:
        return str(value or "")
    default = k.default
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if k.type == "str":
        return value if isinstance(value, str) else str(value) if number else default
    if k.type == "str | None":
        return value if isinstance(value, str) else default
    if k.type == "bool":
        return value if isinstance(value, bool) else default
    if k.type == "tuple[str, ...]":
        return tuple(str(v) for v in value) if isinstance(value, list) else default
    if not number or (k.type == "int" and not isinstance(value, int)):
        return default
    low, high = k.schema.get("minimum"), k.schema.get("maximum")
    above = k.schema.get("exclusiveMinimum")
    if (low is not None and value < low) or (high is not None and value > high) or (
            above is not None and value <= above):
        return default
    return float(value) if k.type == "float" else value


def _places(doc: YamlFile, path: Path_, item: dict[str, Any]) -> dict[str, Located]:
    """Where each value of `item` (and each element of its list values, each value of its
    mapping values: ``batch.max_items``) is written."""
    places: dict[str, Located] = {}
    for key, value in item.items():
        places[key] = doc.at((*path, key))
        if isinstance(value, list):
            for i in range(len(value)):
                places[f"{key}.{i}"] = doc.at((*path, key, i))
        elif isinstance(value, dict):
            for sub in value:
                if isinstance(sub, str):
                    places[f"{key}.{sub}"] = doc.at((*path, key, sub))
    return places


def _expr(doc: YamlFile, path: Path_, value: Any) -> Expr | None:
    if value is None or isinstance(value, dict | list):
        return None
    source = doc.scalars.get(path)
    if source is None:
        at = doc.at(path)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        source = Source(at.source.name, text, file_lines=doc.lines,
                        char_origins=(at.source.location(at.start),) * (len(text) + 1))
    return Expr(source.text, source)


def _name(item: Any, key: str = "name") -> str | None:
    if not isinstance(item, dict):
        return None
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def _stream(doc: YamlFile, path: Path_, item: Any) -> StreamSpec | None:
    name = _name(item)
    if name is None:
        return None
    fields = item.get("fields") if isinstance(item.get("fields"), dict) else {}
    specs = []
    for out, _value in fields.items():
        e = _expr(doc, (*path, "fields", out), _value)
        if e is not None:
            specs.append(FieldSpec(out, e.text, type=None, expr_source=e.source))
    places = _places(doc, path, item)
    for out in fields:
        places[f"fields.{out}"] = doc.key_at((*path, "fields", out))
    from_ = item.get("from")
    return StreamSpec(
        name=name, at=doc.at(path),
        timestamp=_expr(doc, (*path, "timestamp"), item.get("timestamp")),
        id=_expr(doc, (*path, "id"), item.get("id")),
        from_=from_ if isinstance(from_, str) else None,
        where=_expr(doc, (*path, "where"), item.get("where")),
        fields=tuple(specs), places=places)


def _default_type(e: Expr) -> str:
    """The type of a field that names none: its aggregate's, else string (as LQL does)."""
    try:
        return default_kind(parse_expression(e.source))
    except ConfigError:
        return "string"


def _mapping_field(doc: YamlFile, path: Path_, item: Any) -> MappingField | None:
    name = _name(item, "field")
    if name is None:
        return None
    expr = _expr(doc, (*path, "expr"), item.get("expr"))
    if expr is None:
        return None
    guard = _expr(doc, (*path, "if"), item.get("if"))
    declared = item.get("type")
    ftype = declared if isinstance(declared, str) else _default_type(expr)
    merge = item.get("merge")
    capacity, keep_days = item.get("capacity"), item.get("keep_days")
    spec = FieldSpec(name, expr.text, None if guard is None else guard.text, ftype,
                     expr_source=expr.source, guard_source=None if guard is None else guard.source)
    return MappingField(
        spec=spec, merge=merge if isinstance(merge, str) else None,
        description=str(item.get("description") or ""),
        capacity=capacity if isinstance(capacity, int) else None,
        keep_days=keep_days if isinstance(keep_days, int) else None,
        at=doc.at(path), places=_places(doc, path, item))


def _mapping(doc: YamlFile, path: Path_, item: Any) -> MappingSpec | None:
    name = _name(item)
    if name is None:
        return None
    by = item.get("by")
    by_list = [by] if isinstance(by, str) else [b for b in _list(by) if isinstance(b, str)]
    places = _places(doc, path, item)
    if isinstance(by, str):
        places["by.0"] = doc.at((*path, "by"))
    fields = [_mapping_field(doc, (*path, "fields", i), f)
              for i, f in enumerate(_list(item.get("fields")))]
    stream = item.get("stream")
    return MappingSpec(name=name, stream=stream if isinstance(stream, str) else "",
                       into=str(item.get("into") or "user"), by=tuple(by_list),
                       fields=tuple(f for f in fields if f is not None),
                       at=doc.at(path), places=places)


def _audience(doc: YamlFile, path: Path_, item: Any) -> AudienceSpec | None:
    name = _name(item)
    filt = _expr(doc, (*path, "filter"), item.get("filter")) if name else None
    if name is None or filt is None:
        return None
    return AudienceSpec(name=name, filter=filt, description=str(item.get("description") or ""),
                        at=doc.at(path), places=_places(doc, path, item))


def _item(section: type[_I], doc: YamlFile, path: Path_, item: Any) -> _I | None:
    """An import or export: skipped without a name, as the checks could not refer to it."""
    name = _name(item)
    if name is None:
        return None
    return _build(section, item, name=name, at=doc.at(path), places=_places(doc, path, item))


def _export(doc: YamlFile, path: Path_, item: Any) -> ExportSpec | None:
    return _item(ExportSpec, doc, path, item)


def _authorization(doc: YamlFile, label: str, body: dict[str, Any]) -> AuthorizationSpec:
    path: Path_ = ("authorizations", label)
    places = _places(doc, path, body)
    places["name"] = doc.key_at(path)
    return _build(AuthorizationSpec, body, name=label, at=doc.key_at(path), places=places)


def _test(doc: YamlFile, path: Path_, item: Any) -> TestCase | None:
    name = _name(item)
    if name is None:
        return None
    headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
    expect = item.get("expect") if isinstance(item.get("expect"), dict) else {}
    return TestCase(
        name=name, stream=str(item.get("stream") or ""),
        events=tuple(e for e in _list(item.get("events")) if isinstance(e, dict)),
        headers={str(k): str(v) for k, v in headers.items()}, expect=dict(expect),
        at=doc.at(path), places=_places(doc, path, item))
