"""The web console: pages under ``/ui/`` over the engine façade (docs/console.md)."""

from engine.ui.app import create_console
from engine.ui.host import ConsoleHost

__all__ = ["ConsoleHost", "create_console"]
