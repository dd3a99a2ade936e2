"""Every table of the test database, row by row, to show that something wrote nothing; and
faults injected at the database driver (Django's `connection.execute_wrapper`)."""

import hashlib
import re
from collections.abc import Callable

from django.db import connection, transaction

WRITE = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
TABLE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.IGNORECASE
)


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


class WriteCounter:
    """Counts the write statements that reach the database (and names their tables)."""

    def __init__(self):
        self.tables: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        if WRITE.match(sql):
            match = TABLE.match(sql)
            self.tables.append(match.group(1) if match else sql[:40])
        return execute(sql, params, many, context)


class FailAtWrite:
    """Raises `error` instead of sending the k-th write statement to the database.

    `only_table` counts the writes to that table only. The message names the table, never the
    statement's parameters (they may be personal data).
    """

    def __init__(self, k: int, error: type[Exception], only_table: str | None = None):
        self.k, self.error, self.only_table = k, error, only_table
        self.seen = 0
        self.fired_on: str | None = None

    def __call__(self, execute, sql, params, many, context):
        if WRITE.match(sql):
            match = TABLE.match(sql)
            table = match.group(1) if match else "?"
            if self.only_table is None or table == self.only_table:
                self.seen += 1
                if self.seen == self.k:
                    self.fired_on = table
                    raise self.error(f"injected fault at write {self.k} ({table})")
        return execute(sql, params, many, context)


class _Rollback(Exception):
    pass


def dry_run(send: Callable):
    """Run `send` (a request, a command) once in a transaction that is rolled back: what it
    returned, and the tables of the writes it made, in order."""
    counter = WriteCounter()
    response = None
    try:
        with transaction.atomic(), connection.execute_wrapper(counter):
            response = send()
            raise _Rollback
    except _Rollback:
        pass
    return response, counter.tables
