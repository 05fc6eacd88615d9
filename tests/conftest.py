"""Suite-wide settings: property tests draw the same examples on every run, so that the suite is
deterministic and a failure found once is found again (HYPOTHESIS_PROFILE=explore draws new
examples each run, for hunting).

Many tests write a config into a temporary folder that names the stock mappings of this
repository; those lie outside the config's folder, so the suite allows the repository's
`mappings/` folder the way an operator would (ENGINE_ALLOW_PATHS, docs/config.md "Files"),
for the daemons and CLI runs the tests start too."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import settings

from engine.config.loader import ALLOW_PATHS_ENV

_MAPPINGS = str(Path(__file__).resolve().parent.parent / "mappings")
os.environ[ALLOW_PATHS_ENV] = os.pathsep.join(
    p for p in (os.environ.get(ALLOW_PATHS_ENV, ""), _MAPPINGS) if p)

settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

# PostgreSQL and NATS for the scale-out tests: `postgres_dsn`, `nats_url`, `pg_schema`,
# `nats_stream` (tests/services.py).
pytest_plugins = ["tests.services"]
