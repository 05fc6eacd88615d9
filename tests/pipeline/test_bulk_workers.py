"""Bulk-ingest decoder workers end when the load ends, whatever SIGTERM handler they inherit.

The decoders are forked, so they inherit the parent's Python SIGTERM handler (an embedding
application's, or a coverage tool's); `Pool.terminate` ends them with SIGTERM. Under coverage
`engine ingest --workers 2` was once seen waiting for ever on a decoder blocked for tasks,
which a second SIGTERM ended; the decoders now reset SIGTERM to its default when they start.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import signal, sys
signal.signal(signal.SIGTERM, lambda *_: None)  # a handler that does not exit
from engine import Engine, load_config
config = load_config(sys.argv[1], {"storage.path": sys.argv[2]}, allow_paths=[sys.argv[3]])
events = [{"event_id": f"e{i}", "object_type": "email", "metric": "opened",
           "timestamp": 1769420000 + i,
           "data": {"customer_id": f"u{i % 7}", "identifiers": {"id": f"u{i % 7}"}}}
          for i in range(50)]
with Engine(config) as engine:
    result = engine.ingest("customerio", events, workers=2)
print(result.accepted)
"""


def test_a_bulk_load_returns_though_its_workers_inherit_a_sigterm_handler(
        tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "config.example.yaml"),
         str(tmp_path / "e.db"), str(ROOT / "mappings")],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "50"
