"""The ``engine`` command line: the top layer, over the server and the façade."""

from engine.cli.main import main

__all__ = ["main"]
