"""`checked_settings`: files → settings → checks, as one checked `Settings`.

Loading (YAML, interpolation, schema) and checking collect every problem before anything is
compiled, so a config with several mistakes reports all of them in one `ConfigError`.
Compiling the settings (pipeline, audiences, export jobs) is the façade's work
(`engine.program`): this layer sits below everything it would compile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.config.checks import check_settings
from engine.config.loader import load_settings
from engine.config.model import Settings
from engine.errors import ConfigError


def checked_settings(path: str | Path, overrides: Mapping[str, str] | None = None, *,
                     environ: Mapping[str, str] | None = None,
                     allow_paths: Iterable[str | Path] = ()) -> Settings:
    """Load and check a config file and every file it references.

    The files it references must lie in its folder or in one of `allow_paths`
    (docs/config.md, "Files"). Raises `ConfigError` listing every problem found in every file.
    """
    settings = load_settings(path, overrides=overrides, environ=environ,
                             allow_paths=allow_paths)
    problems = check_settings(settings)
    if any(d.severity == "error" for d in problems):
        raise ConfigError(problems)
    return settings
