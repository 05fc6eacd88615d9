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
