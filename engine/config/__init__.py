"""Configuration: YAML files with positions, interpolation, schemas, checks (docs/config.md)."""

from engine.config.config import Config, load_config

__all__ = ["Config", "load_config"]
