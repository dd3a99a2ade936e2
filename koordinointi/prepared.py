"""Querysets compiled once per shape and run again with new values.

Django builds and compiles a queryset anew every time one is evaluated: for the policy's facts
(a UNION of six filtered branches, run on every request that touches a case) that is some
20 000 Python calls a request, more than the rest of a case detail together (issue 19). A
`PreparedQuery` keeps the one definition, the queryset its `build` function returns, and
compiles it once per *shape* (the database connection's vendor and the length of every list of
values, which decides how many placeholders an `IN` has). The compiled SQL is kept with a map
from each parameter to the value it came from; later calls of the same shape render the
parameters from their own values, execute the SQL and convert the rows with the converters
Django itself would apply.

The map is found, not declared: the shape is compiled with fresh sentinel values (random UUIDs,
a datetime in 1901), and every parameter is matched to the sentinel it renders. Then the shape
is compiled a second time with other sentinels, and the map is kept only if it reproduces that
compilation exactly, SQL and every parameter; otherwise (a value the map cannot follow) that
shape always takes the queryset's own path. A call with an empty or long list, or a None among
its values (no sentinel stands for it, and an IN leaves it out), runs the queryset itself.
So the rows are those of the queryset, or the queryset is run: never a wrong row.
"""

from __future__ import annotations

import datetime
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateField, QuerySet

# Shapes kept per query, at most (a page is at most 100 cases; larger calls are rare, and run
# the queryset itself).
MAX_SHAPES = 64
MAX_LIST = 100

Value = Any  # a UUID, a datetime, an int or a str; or a tuple of them


def _sentinel(example: Value, rng: random.Random) -> Value:
    if isinstance(example, uuid.UUID):
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if isinstance(example, datetime.datetime):
        return datetime.datetime(
            1901, 1 + rng.randrange(12), 1 + rng.randrange(28), rng.randrange(24),
            rng.randrange(60), rng.randrange(60), rng.randrange(1, 10**6), tzinfo=datetime.UTC,
        )  # fmt: skip
    if isinstance(example, bool):
        raise TypeError("a flag changes the query's shape: make it part of `build`'s closure")
    if isinstance(example, int):
        return rng.randrange(10**12, 10**13)
    if isinstance(example, str):
        return f"sentinel-{rng.getrandbits(64):016x}"
    raise TypeError(f"no sentinel for {type(example).__name__}")


def _renderings(value: Value, connection) -> list[tuple[str, Value]]:
    """How the compiler may have rendered `value` into a parameter, by name of the rendering."""
    out: list[tuple[str, Value]] = [("same", value)]
    if isinstance(value, uuid.UUID):
        out += [("hex", value.hex), ("str", str(value))]
    elif isinstance(value, datetime.datetime):
        out.append(("datetime", connection.ops.adapt_datetimefield_value(value)))
        out.append(("date", connection.ops.adapt_datefield_value(DateField().to_python(value))))
    return out


def _render(how: str, value: Value, connection) -> Value:
    if how == "same":
        return value
    if how == "hex":
        return value.hex
    if how == "str":
        return str(value)
    if how == "datetime":
        return connection.ops.adapt_datetimefield_value(value)
    return connection.ops.adapt_datefield_value(DateField().to_python(value))


@dataclass(frozen=True)
class _Shape:
    sql: str
    # Per parameter: ("const", value) or (rendering, name, index in the list or None).
    params: tuple
    columns: tuple  # the select expressions, for the converters

    def render(self, values: dict, connection) -> list:
        out = []
        for spec in self.params:
            if spec[0] == "const":
                out.append(spec[1])
                continue
            how, name, index = spec
            value = values[name] if index is None else values[name][index]
            out.append(_render(how, value, connection))
        return out


def _compile(queryset: QuerySet, connection) -> tuple[str, tuple, tuple]:
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    columns = tuple(column for column, _sql, _alias in compiler.select[: compiler.col_count])
    return sql, tuple(params), columns


class PreparedQuery:
    """`build(**values)` returns the queryset (a `values_list`); `rows(**values)` its rows."""

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self._shapes: dict[tuple, _Shape | None] = {}
        self._lock = threading.Lock()

    def _key(self, connection, values: dict) -> tuple | None:
        key: list = [connection.alias, connection.vendor]
        for name in sorted(values):
            value = values[name]
            # A None has no sentinel and changes the SQL (an IN leaves it out): run the queryset.
            if value is None:
                return None
            if isinstance(value, tuple):
                if not value or len(value) > MAX_LIST or None in value:
                    return None
                key.append((name, len(value)))
            else:
                key.append(name)
        return tuple(key)

    def _sentinels(self, values: dict, rng: random.Random) -> dict:
        return {
            name: tuple(_sentinel(v, rng) for v in value)
            if isinstance(value, tuple)
            else _sentinel(value, rng)
            for name, value in values.items()
        }

    def _prepare(self, values: dict, connection) -> _Shape | None:
        rng = random.Random()  # noqa: S311 - sentinels, not secrets
        first = self._sentinels(values, rng)
        sql, params, columns = _compile(self.build(**first), connection)
        found: dict = {}
        for name, value in first.items():
            for index, item in enumerate(value) if isinstance(value, tuple) else [(None, value)]:
                for how, rendered in _renderings(item, connection):
                    found.setdefault(_hashable(rendered), (how, name, index))
        spec = tuple(found.get(_hashable(p), ("const", p)) for p in params)
        shape = _Shape(sql=sql, params=spec, columns=columns)
        # The proof: the map must reproduce a compilation with other values exactly.
        second = self._sentinels(values, rng)
        sql2, params2, _columns = _compile(self.build(**second), connection)
        if sql2 != sql or tuple(shape.render(second, connection)) != params2:
            return None
        return shape

    def shape_for(self, **values: Value) -> _Shape | None:
        """The prepared shape for these values (None: this shape runs the queryset itself)."""
        connection = connections[DEFAULT_DB_ALIAS]
        key = self._key(connection, values)
        if key is None:
            return None
        # One read each time: another thread may clear the dict between a test and a read.
        try:
            return self._shapes[key]
        except KeyError:
            pass
        with self._lock:
            try:
                return self._shapes[key]
            except KeyError:
                if len(self._shapes) >= MAX_SHAPES:
                    self._shapes.clear()
                shape = self._shapes[key] = self._prepare(values, connection)
                return shape

    def rows(self, **values: Value) -> Sequence[tuple]:
        shape = self.shape_for(**values)
        if shape is None:
            return list(self.build(**values))
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute(shape.sql, shape.render(values, connection))
            rows = cursor.fetchall()
        converters = []
        for position, expression in enumerate(shape.columns):
            functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                connection
            )
            if functions:
                converters.append((position, functions, expression))
        if not converters:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            row = list(row)
            for position, functions, expression in converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            out.append(tuple(row))
        return out


def _hashable(value: Value) -> Value:
    return tuple(value) if isinstance(value, list) else value
