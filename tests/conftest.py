"""Suite-wide settings: property tests draw the same examples on every run, so that the suite is
deterministic and a failure found once is found again (HYPOTHESIS_PROFILE=explore draws new
examples each run, for hunting)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
