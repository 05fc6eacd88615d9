"""Helpers shared by the test modules, so that no test file keeps its own copy.

Functions of the language are called two ways: `call` applies one registry entry to Python
values (the missing-value rule and failure handling included, as generated code applies them),
and `evaluate` runs expression text through the engine's own parser, checker and code generator,
which is how a documented example must hold.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import Config, load_config
from engine.lang.compiler import compile_expression
from engine.lang.functions import FUNCTIONS
from engine.lang.registry import EXAMPLE_TIME_MS
from engine.lang.values import ms_to_date
from tests.server.conftest import ENGINE, FIXTURES

# The event time of every documented example (2014-04-07T16:58:55Z).
EXAMPLE_AT = ms_to_date(EXAMPLE_TIME_MS)


def call(name: str, *args: Any, ts: int = EXAMPLE_TIME_MS,
         event: dict[str, Any] | None = None) -> Any:
    """Registry function `name` applied to `args` at event time `ts` (epoch ms)."""
    return FUNCTIONS[name].call(list(args), ts=ts, event=event)


def assert_documented(name: str, signature: str) -> Any:
    """Checks that registry function `name` has `signature`, a doc line and examples, and is not
    an aggregate; returns it for the checks a test adds of its own."""
    fn = FUNCTIONS[name]
    assert fn.signature.render() == signature
    assert fn.doc and fn.examples and not fn.aggregate
    return fn


def evaluate(text: str, event: Mapping[str, Any] | None = None, *,
             at: datetime = EXAMPLE_AT) -> Any:
    """The value of expression `text` for `event` at `at`, compiled as a config compiles it."""
    return compile_expression(text).evaluate(event or {}, event_time=at)


def mapping_config(folder: Path, mapping: str, *, extra: str = "",
                   name: str = "visits.yaml") -> Config:
    """A config in `folder` whose one mapping file `name` holds `mapping`; `extra` is YAML
    appended to the config (more top-level keys)."""
    (folder / name).write_text(mapping)
    (folder / "config.yaml").write_text(
        f"version: 1\nstorage: {{path: {folder / 'engine.db'}}}\n"
        f"mappings: [{name}]\n{extra}")
    return load_config(folder / "config.yaml")


def webhook(event_id: str, timestamp: int | None = None) -> dict[str, Any]:
    """The fixture Customer.io `email_opened` webhook under another id (and event time)."""
    doc: dict[str, Any] = json.loads((FIXTURES / "email_opened.json").read_bytes())
    doc["event_id"] = event_id
    if timestamp is not None:
        doc["timestamp"] = timestamp
    return doc


def dead_letters(config: Path) -> list[dict[str, Any]]:
    """The dead letters of `config`'s store, as `engine errors --format json` lists them."""
    out = subprocess.run([str(ENGINE), "errors", "--format", "json", "--config", str(config)],
                         capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]
