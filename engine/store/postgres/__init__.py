"""The shared back end: PostgreSQL (psycopg 3), every table under one schema, for engines on
many machines (docs/store.md "PostgreSQL")."""

from engine.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
