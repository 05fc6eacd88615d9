"""`load_config`: files → settings → checks → compiled pipeline, as one checked `Config`.

Loading (YAML, interpolation, schema) and checking collect every problem before anything is
compiled, so a config with several mistakes reports all of them in one `ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.audiences.compiled import Audiences
from engine.config.model import Settings
from engine.errors import ConfigError
from engine.exports.jobs import ExportJobs
from engine.pipeline.compiled import CompiledMapping, Pipeline


class Config:
    """A loaded, checked and compiled configuration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline = Pipeline(settings)
        self.audiences = Audiences(settings.audiences)
        self.exports = ExportJobs(settings)

    @property
    def path(self) -> str:
        return self.settings.path

    def mapping(self, name: str) -> CompiledMapping:
        """A compiled mapping by name; `KeyError` names the mappings there are."""
        try:
            return self.pipeline.mappings[name]
        except KeyError:
            known = ", ".join(sorted(self.pipeline.mappings)) or "none"
            raise KeyError(f"no mapping {name!r}; mappings: {known}") from None


def load_config(path: str | Path, overrides: Mapping[str, str] | None = None, *,
                environ: Mapping[str, str] | None = None,
                allow_paths: Iterable[str | Path] = ()) -> Config:
    """Load, check and compile a config file and every file it references.

    The files it references must lie in its folder or in one of `allow_paths`
    (docs/config.md, "Files"). Raises `ConfigError` listing every problem found in every file.
    """
    from engine.config.checks import check_settings
    from engine.config.loader import load_settings

    settings = load_settings(path, overrides=overrides, environ=environ,
                             allow_paths=allow_paths)
    problems = check_settings(settings)
    if any(d.severity == "error" for d in problems):
        raise ConfigError(problems)
    return Config(settings)
