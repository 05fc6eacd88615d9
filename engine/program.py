"""`Config` and `load_config`: checked settings compiled into what the engine runs.

The config layer only reads and checks settings; compiling them needs the pipeline, audience
and export layers above it, so it happens here, at the façade (docs/python-api.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.audiences.compiled import Audiences
from engine.config import Settings, checked_settings
from engine.errors import UnknownName
from engine.exports.jobs import ExportJobs
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.printer import expression_text
from engine.lang.values import ms_to_date
from engine.pipeline.compiled import CompiledMapping, CompiledStream, Pipeline


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

    def _stream(self, name: str) -> CompiledStream:
        stream = self.pipeline.stream(name)
        if stream is None:
            raise UnknownName("stream", name, sorted(self.pipeline.streams))
        return stream

    def dry_run(self, stream_name: str, event: Any, received_ms: int) -> dict[str, Any]:
        """What one event on a stream would do, applying nothing (`engine map`, the console's
        playground): its dedupe key and time, and per stream it reaches, the derived event and
        each mapping's identities and field updates, row by row."""
        pipeline = self.pipeline
        stream = self._stream(stream_name)
        key, ts = stream.key_and_time(event, received_ms)
        report: list[dict[str, Any]] = []

        def visit(s: CompiledStream, ev: dict[str, Any]) -> None:
            entry: dict[str, Any] = {"stream": s.name, "event": ev, "mappings": []}
            for m in s.mappings:
                try:
                    out = m.apply(ev, event_time=ms_to_date(ts))
                except BudgetExceeded as exc:
                    raise exc.located(f"mapping {m.name}", m.group.field_at(exc)) from None
                rows = []
                for f in m.spec.fields:
                    if f.name in out:
                        value = out[f.name]
                        if m.rules[f.name].type == "date" and isinstance(value, int):
                            value = ms_to_date(value)  # contributions hold dates as epoch ms
                        row: dict[str, Any] = {"field": f.name, "value": value,
                                               "expr": expression_text(f.spec.expr)}
                        if f.spec.guard is not None:
                            row["if"] = expression_text(f.spec.guard)
                        rows.append(row)
                identities = {b: out[b] for b in m.by if b in out}
                entry["mappings"].append({"mapping": m.name, "identities": identities,
                                          "fields": rows})
            report.append(entry)

        with budget.limit(pipeline.budget_ms):
            pipeline.derive(stream, event, ts, visit)
        return {"id": key, "time": ms_to_date(ts), "streams": report}

    def generated_code(self, stream_name: str) -> str:
        """The generated Python of the transforms and mappings an event on a stream runs."""
        code: list[str] = []
        for s in self.pipeline.reachable(self._stream(stream_name).name):
            if s.transform is not None:
                code.append(f"# stream {s.name} (from {s.spec.from_})\n{s.transform.code}")
            code.extend(f"# mapping {m.name}\n{m.group.code}" for m in s.mappings)
        return "\n".join(code)


def load_config(path: str | Path, overrides: Mapping[str, str] | None = None, *,
                environ: Mapping[str, str] | None = None,
                allow_paths: Iterable[str | Path] = ()) -> Config:
    """Load, check and compile a config file and every file it references.

    The files it references must lie in its folder or in one of `allow_paths`
    (docs/config.md, "Files"). Raises `ConfigError` listing every problem found in every file.
    """
    return Config(checked_settings(path, overrides, environ=environ, allow_paths=allow_paths))
