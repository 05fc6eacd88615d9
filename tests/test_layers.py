"""The layers hold (docs/architecture.md): import-linter's contracts in pyproject.toml pass, they
name every layer, and no engine import hides inside a function to dodge them."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["engine.cli : engine.__main__", "engine.server", "engine.ui",
          "engine.engine : engine.program : engine.testing", "engine.exports",
          "engine.audiences", "engine.pipeline", "(engine.transport)", "engine.store",
          "engine.config", "engine.lang"]
# The one import that runs late: `lang.values` reaches `lang.dates` (a cycle inside the
# package). The CLI loads its command modules when they run, through importlib.
LATE = {("engine/lang/values.py", "engine.lang.dates")}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_the_layers_contract_names_every_layer_top_to_bottom() -> None:
    layers = [c for c in _contracts() if c["type"] == "layers"]
    assert len(layers) == 1
    assert layers[0]["layers"] == LAYERS


def test_every_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is not installed (pip install -e '.[dev]')"
    run = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in run.stdout


def test_no_engine_import_hides_in_a_function() -> None:
    late: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                        "engine"):
                    late.add((path.relative_to(ROOT).as_posix(), inner.module or ""))
                elif isinstance(inner, ast.Import):
                    late |= {(path.relative_to(ROOT).as_posix(), a.name)
                             for a in inner.names if a.name.startswith("engine")}
    assert late <= LATE
