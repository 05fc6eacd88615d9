"""The version of the installed distribution, and of the Python running it.

A leaf module: it imports nothing from the engine, so the command line (`engine --version`) and
the daemon (`engine_build_info` on `/metrics`) report the same thing from one place.
"""

from __future__ import annotations

import platform
from importlib import metadata

DISTRIBUTION = "cdp-engine"


def engine_version() -> str:
    """The installed distribution's version; ``0+unknown`` when run from a bare checkout that was
    never installed, so a bug report still says where it came from."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def python_version() -> str:
    return platform.python_version()


def version_line() -> str:
    """What ``engine --version`` prints: the two versions a bug report needs."""
    return f"engine {engine_version()} (cdp-engine, Python {python_version()})"
