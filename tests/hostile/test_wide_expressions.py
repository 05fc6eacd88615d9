"""Expressions of hostile shape end in a diagnostic or a working mapping, never a traceback.

Found with `engine validate`: a 3000-argument `oneof(…)` and an `AND(…)` of 3000 terms ended in
RecursionError inside code generation, and a lone surrogate (`"\\uD800"`) passed validation only
to end `engine eval` and `engine map` in a traceback when the value was printed. Wide calls now
compile (a wide `oneof` is a plain call, deep shared conditions are tested flat); a lone
surrogate is E004 at its string; deep nesting is E003.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.server.conftest import ENGINE

WIDTH = 3000


def _config(directory: Path, fields: list[str]) -> Path:
    mapping = directory / "wide.yaml"
    mapping.write_text("streams:\n  - {name: s}\nmappings:\n  - name: m\n    stream: s\n"
                       "    into: user\n    by: [uid]\n    fields:\n"
                       "      - {field: uid, expr: uid, type: string}\n"
                       + "".join(f"      - {f}\n" for f in fields))
    config = directory / "config.yaml"
    config.write_text(f"version: 1\nstorage: {{backend: sqlite, path: {directory / 'e.db'}}}\n"
                      f"mappings: [{mapping}]\n")
    return config


def _engine(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENGINE), *args], capture_output=True, text=True, timeout=120)


def test_wide_calls_and_conditions_compile_and_map(tmp_path: Path) -> None:
    names = ", ".join(f"f{i}" for i in range(WIDTH))
    terms = ", ".join(f"exists(f{i})" for i in range(WIDTH))
    config = _config(tmp_path, [
        f"{{field: first, expr: 'oneof({names})', type: string}}",
        f"{{field: all, expr: uid, type: string, if: 'AND({terms})'}}",
        f"{{field: some, expr: 'any({names})', type: bool}}",
    ])
    out = _engine("validate", "--config", str(config))
    assert (out.returncode, out.stderr.strip()) == (0, "valid: 2 files checked")
    event = {"uid": "u", "f2999": "last", **{f"f{i}": "" for i in range(5)}}
    out = _engine("map", "--config", str(config), "--stream", "s", "--format", "json",
                  "--event", json.dumps(event))
    assert out.returncode == 0, out.stderr[-2000:]
    (stream,) = json.loads(out.stdout)["streams"]
    (mapped,) = stream["mappings"]
    values = {f["field"]: f["value"] for f in mapped["fields"]}
    assert values == {"uid": "u", "first": "last", "some": True}


def test_a_lone_surrogate_is_E004_at_its_string(tmp_path: Path) -> None:
    config = _config(tmp_path, [r"""{field: x, expr: 'oneof(a, "x\uD800")', type: string}"""])
    out = _engine("validate", "--config", str(config))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{tmp_path / 'wide.yaml'}:10:36: error[E004]:" in out.stdout
    out = _engine("eval", r'oneof(a, "\uDE00")')
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "<expr>:1:10: error[E004]" in out.stdout + out.stderr
    # A whole pair is the character it encodes.
    out = _engine("eval", r'"\uD83D\uDE00"')
    assert (out.returncode, out.stdout.strip()) == (0, '"\U0001f600"')


def test_deep_nesting_is_E003(tmp_path: Path) -> None:
    deep = "tolower(" * 400 + "a" + ")" * 400
    config = _config(tmp_path, [f"{{field: x, expr: '{deep}', type: string}}"])
    out = _engine("validate", "--config", str(config))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "error[E003]: expression nested too deeply" in out.stdout
