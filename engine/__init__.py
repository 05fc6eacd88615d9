"""cdp-engine: a declarative rules engine for customer data.

The public API is what this module exports; everything else is internal and may change.

Packages form layers, each importing only from those below it (checked by import-linter,
contracts in pyproject.toml):

    cli (engine/cli/, engine/__main__.py)      the command line
    server                                     the daemon: HTTP API, writer, processor
    engine.py, program.py, testing.py          the façade: `Engine`, `Config`, config tests
    exports                                    export jobs, outbox delivery, the sandbox
    audiences                                  audience filters and memberships
    pipeline                                   streams, mappings, identity, merges, ingest
    store                                      storage
    config                                     loading and checking settings
    lang                                       the expression language

Leaf modules belong to no layer and import nothing else of the engine, so every layer may use
them: `errors.py` (the exception tree), `clock.py` (epoch-millisecond clocks), `version.py`
(the installed version) and `resources.py` (the files shipped beside the code). `output.py`
(JSON for printing) is for the command line only. A lower layer that must call up gets a
callback or protocol from the façade (`engine.pipeline.hooks.ProfileHook`,
`engine.exports.service.Host`).
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from engine.engine import Engine, IngestResult
    from engine.errors import ConfigError, Diagnostic, EngineError, RuntimeFailure
    from engine.lang.compiler import CompiledExpression, compile_expression
    from engine.program import Config, load_config

__all__ = [
    "CompiledExpression",
    "Config",
    "ConfigError",
    "Diagnostic",
    "Engine",
    "EngineError",
    "IngestResult",
    "RuntimeFailure",
    "compile_expression",
    "load_config",
]

# Where each public name is defined. A name loads its module on first use, so that importing a
# part of the engine (the command line: `engine validate` needs no store, no HTTP server and no
# database driver) does not load the whole façade.
_HOMES = {
    "CompiledExpression": "engine.lang.compiler",
    "Config": "engine.program",
    "ConfigError": "engine.errors",
    "Diagnostic": "engine.errors",
    "Engine": "engine.engine",
    "EngineError": "engine.errors",
    "IngestResult": "engine.engine",
    "RuntimeFailure": "engine.errors",
    "compile_expression": "engine.lang.compiler",
    "load_config": "engine.program",
}


def __getattr__(name: str) -> _Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
