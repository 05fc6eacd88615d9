"""`Config` and `load_config`: checked settings compiled into what the engine runs.

The config layer only reads and checks settings; compiling them needs the pipeline, audience
and export layers above it, so it happens here, at the façade (docs/python-api.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.audiences.compiled import Audiences
from engine.config import Settings, checked_settings
from engine.errors import UnknownName
from engine.exports.jobs import ExportJobs
from engine.pipeline.compiled import CompiledMapping, Pipeline


class Config:
    """A loaded, checked and compiled configuration: its settings, the compiled pipeline,
    audiences and export jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline = Pipeline(settings)
        self.audiences = Audiences(settings.audiences)
        self.exports = ExportJobs(settings)

    @property
    def path(self) -> str:
        return self.settings.path

    def mapping(self, name: str) -> CompiledMapping:
        """A compiled mapping by name; `UnknownName` names the mappings there are."""
        mapping = self.pipeline.mappings.get(name)
        if mapping is None:
            raise UnknownName("mapping", name, sorted(self.pipeline.mappings))
        return mapping


def load_config(path: str | Path, overrides: Mapping[str, str] | None = None, *,
                environ: Mapping[str, str] | None = None,
                allow_paths: Iterable[str | Path] = ()) -> Config:
    """Load, check and compile a config file and every file it references.

    The files it references must lie in its folder or in one of `allow_paths`
    (docs/config.md, "Files"). Raises `ConfigError` listing every problem found in every file.
    """
    return Config(checked_settings(path, overrides, environ=environ, allow_paths=allow_paths))
