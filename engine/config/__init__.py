"""Configuration: YAML files with positions, interpolation, schemas, checks (docs/config.md).

This layer turns files into checked `Settings`; the façade compiles them (`engine.Config`).
"""

from engine.config.config import checked_settings
from engine.config.model import Settings

__all__ = ["Settings", "checked_settings"]
