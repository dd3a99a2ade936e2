"""Every table of the test database, row by row: to show that something wrote nothing."""

import hashlib

from django.db import connection


def _plain(value):
    # PostgreSQL returns bytea as memoryview, whose repr is its address, not its content.
    return bytes(value) if isinstance(value, memoryview) else value


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Including SQLite's own sqlite_sequence (the AUTOINCREMENT counters).
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            return [name for (name,) in cursor.fetchall()]
    return sorted(connection.introspection.table_names(include_views=False))


def snapshot() -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows (in a fixed order), nothing left out."""
    state = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - names from the schema
            rows = sorted(repr(tuple(_plain(v) for v in row)) for row in cursor.fetchall())
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            state[table] = (len(rows), digest)
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    names = before.keys() | after.keys()
    return sorted(name for name in names if before.get(name) != after.get(name))
