"""cdp-engine: a declarative rules engine for customer data.

The public API is what this module exports; everything else is internal and may change.
"""

from engine.config import Config, load_config
from engine.engine import Engine, IngestResult
from engine.errors import ConfigError, Diagnostic, EngineError, RuntimeFailure
from engine.lang.compiler import CompiledExpression, compile_expression

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
