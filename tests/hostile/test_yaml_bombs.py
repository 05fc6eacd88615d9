"""Configs built to break the YAML loader: deep nesting, alias bombs, huge files and values.

Found by feeding `engine validate` (which CI runs on configs from pull requests) 10,000 nested
``[`` (a RecursionError traceback), a "billion laughs" alias bomb (caught only after 14 s and
800 MB) and a 20 MB scalar (3 GB). Each is now refused while the file is read, in bounded time
and memory, as a config diagnostic with file, line and column (docs/config.md, C023-C025).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.yamlfile import MAX_FILE_BYTES, MAX_SCALAR_CHARS
from tests.hostile.cli import assert_clean_failure, run_engine

BILLION_LAUGHS = """\
version: 1
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _validate(config: Path) -> tuple[str, str]:
    result = run_engine("validate", "--format", "github", "--config", config, timeout=20,
                        memory_limit=768 * 1024 * 1024)
    assert_clean_failure(result)
    return result.stdout, result.stderr


def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nmappings: " + "[" * 10_000 + "\n")
    out, _err = _validate(config)
    assert f"file={config},line=2,col=" in out
    assert "[C023]" in out and "nested too deeply" in out


def test_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BILLION_LAUGHS)
    out, _err = _validate(config)
    assert f"file={config},line=" in out
    assert "[C024]" in out


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\ndescription: " + "x" * (20 * 1024 * 1024) + "\n")
    assert config.stat().st_size > MAX_FILE_BYTES
    out, _err = _validate(config)
    assert f"file={config},line=1,col=1" in out
    assert "[C025]" in out and "xxxx" not in out


@pytest.mark.parametrize("style", ["plain", "quoted", "block"])
def test_a_huge_value_is_refused_at_its_place(tmp_path: Path, style: str) -> None:
    value = "y" * (MAX_SCALAR_CHARS + 10)
    body = {"plain": value, "quoted": f'"{value}"', "block": f"|\n    {value}"}[style]
    config = tmp_path / "config.yaml"
    config.write_text(f"version: 1\nstorage:\n  path: {body}\n")
    out, _err = _validate(config)
    assert f"file={config},line=3,col=9" in out
    assert "[C025]" in out


def test_a_bomb_in_a_mapping_file_is_refused_by_engine_test(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BILLION_LAUGHS.replace("version: 1\n", ""))
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nmappings: [bomb.yaml]\n")
    result = run_engine("test", "--config", config, timeout=20,
                        memory_limit=768 * 1024 * 1024)
    assert_clean_failure(result)
    assert "bomb.yaml:" in result.stderr and "C024" in result.stderr
