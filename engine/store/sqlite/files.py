"""Where an SQLite store's files are, beside the one its settings name."""

from __future__ import annotations


def log_file(path: str) -> str:
    """The event log's own database file, beside the store's: ``engine.db-log``."""
    return f"{path}-log"
