"""cdp-engine: a declarative rules engine for customer data.

The public API is what this module exports; everything else is internal and may change.
"""

from engine.errors import ConfigError, Diagnostic, EngineError, EventError, RuntimeFailure
from engine.lang.compiler import CompiledExpression, compile_expression

__all__ = [
    "CompiledExpression",
    "ConfigError",
    "Diagnostic",
    "EngineError",
    "EventError",
    "RuntimeFailure",
    "compile_expression",
]
