"""One runner per export job across every node of a store (docs/scale-out.md): a second
node's runner stands by, and takes the job over within 10 s of the first one's end."""

from __future__ import annotations

import time
from pathlib import Path

from engine import load_config
from engine.engine import Engine
from engine.exports.daemon import Exporters
from engine.exports.sandbox import Sandbox, running_sandbox
from tests.exports.test_export_jobs import _config
from tests.services import poll

JOB = "engaged_to_customerio"


def _state(exporters: Exporters, engine: Engine) -> str:
    return str(exporters.status(engine.store)[JOB]["state"])


def test_a_standby_runner_takes_the_job_over_when_the_holder_ends(
        tmp_path: Path, postgres_dsn: str, pg_schema: str) -> None:
    with running_sandbox(Sandbox("site-1", "key-1")) as url:
        config = load_config(_config(tmp_path, url), {
            "storage.backend": "postgres", "storage.dsn": postgres_dsn,
            "storage.schema": pg_schema})
        with Engine(config, shared=True) as one, Engine(config, shared=True) as two:
            first, second = Exporters(one.store), Exporters(two.store)
            first.start(config.exports.jobs)
            assert poll(lambda: _state(first, one) == "running")
            second.start(config.exports.jobs)
            try:
                assert poll(lambda: _state(second, two) == "standby")
                assert _state(first, one) == "running"
                ended = time.monotonic()
                first.stop()  # its connection closes, and the job is free
                assert poll(lambda: _state(second, two) == "running", 10)
                assert time.monotonic() - ended < 10
            finally:
                second.stop()
