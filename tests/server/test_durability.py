"""What each connection to the store promises a power cut (docs/pipeline.md "Durability").

The pragmas are read back from the connections the daemon and `engine ingest` really open, so
a store opened without its fsync (``synchronous=OFF``) fails here: nothing else would notice,
since a killed process loses nothing either way and only a power cut tells them apart."""

from __future__ import annotations

from pathlib import Path

from engine import load_config
from engine.engine import Engine
from engine.server.processing import open_apply_engine
from engine.server.writer import open_log_engine
from tests.server.conftest import write_config

FULL, NORMAL = 2, 1  # PRAGMA synchronous answers with the level's number


def _pragmas(engine: Engine) -> tuple[str, int]:
    db = engine.store.db
    return (db.execute("PRAGMA journal_mode").fetchone()[0],
            db.execute("PRAGMA synchronous").fetchone()[0])


def test_the_log_writer_fsyncs_every_commit(tmp_path: Path) -> None:
    with open_log_engine(load_config(write_config(tmp_path))) as engine:
        assert _pragmas(engine) == ("wal", FULL)


def test_the_processor_skips_the_fsync_the_log_already_paid(tmp_path: Path) -> None:
    with open_apply_engine(load_config(write_config(tmp_path))) as engine:
        assert _pragmas(engine) == ("wal", NORMAL)


def test_engine_ingest_fsyncs_what_it_counts_as_accepted(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    with Engine(config) as engine:
        assert _pragmas(engine) == ("wal", FULL)
        with engine.store.deferred_sync():  # a bulk load, until its last commit
            assert _pragmas(engine) == ("wal", NORMAL)
        assert _pragmas(engine) == ("wal", FULL)
    with Engine(config, read_only=True) as reader:
        assert _pragmas(reader)[0] == "wal"
