"""The function library, one module per group; importing this package fills the registry."""

from engine.lang.functions import (  # noqa: F401 -- imported for their registrations
    aggregates,
    casting,
    collections,
    hashing,
    identifiers,
    jsonpath,
    logic,
    maps,
    maths,
    network,
    strings,
    time,
    web,
)
from engine.lang.registry import FUNCTIONS, Function, for_operator, lookup

__all__ = ["FUNCTIONS", "Function", "for_operator", "lookup"]
