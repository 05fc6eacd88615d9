"""The console's playground: an expression, or the loaded config's mappings, against one
event, compiled by the same compiler as the config and never written anywhere
(docs/console.md)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.errors import ConfigError, Diagnostic, EngineError
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.compiler import compile_expression
from engine.program import Config, load_config

# The sample webhooks of a checkout; the daemon runs from one in development.
FIXTURES = Path("tests/fixtures/customerio")
MAX_EVENT_BYTES = 65_536
MAX_MAPPING_BYTES = 200_000
# The config a pasted mapping file is compiled under: nothing but that file.
PASTED_CONFIG = "version: 1\nmappings: [mapping.yaml]\n"


def fixtures() -> dict[str, Path]:
    """The sample events the playground offers, by file name."""
    if not FIXTURES.is_dir():
        return {}
    return {p.name: p for p in sorted(FIXTURES.glob("*.json"))}


def shown(diagnostic: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the page shows it: code, message, hint, the line and a caret."""
    line, col = diagnostic.line, diagnostic.column
    text = diagnostic.source.line_text(line)
    width = diagnostic.end_column - col if diagnostic.end_line == line else 1
    width = max(1, min(width, len(text) - col + 1)) if text else 1
    return {
        "code": diagnostic.code,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
        "line": line,
        "column": col,
        "text": text,
        "caret": " " * (col - 1) + "^" * width,
    }


@dataclass
class Outcome:
    """What one playground run shows."""

    value: str | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # the event could not be read, or evaluation ran out of time
    dry_run: dict[str, Any] | None = None
    code: str = ""
    stream: str | None = None  # the stream a pasted mapping file's run started from


def read_event(pasted: str, fixture: str) -> Any:
    """The pasted JSON event, else the picked fixture; `EngineError` saying why not."""
    if pasted.strip():
        if len(pasted) > MAX_EVENT_BYTES:
            raise EngineError(f"the event is over {MAX_EVENT_BYTES} bytes")
        try:
            return orjson.loads(pasted)
        except orjson.JSONDecodeError as exc:
            raise EngineError(f"the event is not JSON: {exc}") from exc
    path = fixtures().get(fixture)
    if path is None:
        return {}
    return orjson.loads(path.read_bytes())


def run_expression(text: str, event: Any) -> Outcome:
    outcome = Outcome()
    try:
        compiled = compile_expression(text)
    except ConfigError as exc:
        outcome.diagnostics = [shown(d) for d in exc.diagnostics]
        return outcome
    outcome.code = compiled.code
    if not isinstance(event, dict):
        outcome.problem = "the event must be a JSON object"
        return outcome
    try:
        with budget.limit(budget.DEFAULT_BUDGET_MS):
            value = compiled.evaluate(event, event_time=None)
    except BudgetExceeded as exc:
        outcome.problem = exc.reason
        return outcome
    outcome.value = orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode()
    return outcome


def run_stream(config: Config, stream: str, event: Any, now_ms: int) -> Outcome:
    """The field updates each mapping row of the loaded config makes for the event."""
    outcome = Outcome()
    try:
        outcome.code = config.generated_code(stream)
        outcome.dry_run = config.dry_run(stream, event, now_ms)
    except BudgetExceeded as exc:
        outcome.problem = exc.reason
    except EngineError as exc:
        outcome.problem = str(exc)
    return outcome


def as_json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def run_mapping(text: str, stream: str, event: Any, now_ms: int) -> Outcome:
    """A pasted mapping file (its streams and mappings), compiled on its own as the only file
    of a scratch config in a private temporary folder that is removed at once: the field
    updates each of its rows makes for the event, from `stream` when the file defines it,
    else from its first stream. No environment variable is interpolated into it, and it can
    name no file but itself."""
    if len(text) > MAX_MAPPING_BYTES:
        return Outcome(problem=f"the mapping file is over {MAX_MAPPING_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="engine-playground-") as folder:
        (Path(folder) / "mapping.yaml").write_text(text, encoding="utf-8")
        (Path(folder) / "config.yaml").write_text(PASTED_CONFIG, encoding="utf-8")
        try:
            config = load_config(Path(folder) / "config.yaml", environ={})
        except ConfigError as exc:
            return Outcome(diagnostics=[shown(d) for d in exc.diagnostics])
    streams = [s for s in config.pipeline.streams if not s.startswith("_")]
    if not streams:
        return Outcome(problem="the mapping file defines no stream")
    chosen = stream if stream in streams else streams[0]
    outcome = run_stream(config, chosen, event, now_ms)
    outcome.stream = chosen
    return outcome
