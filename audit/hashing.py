"""The hashing definition of the access log: hash = SHA-256(prev_hash ‖ canonical JSON of every
column of the event), each value in its one canonical form.

Verification reads the values as stored (the database driver's raw values, without Django's
conversions) and judges them in the same form. `canonical_value` is that judgement, column by
column: the reference. `row_renderer` builds, once per database vendor, a function that renders
a whole raw row to its canonical JSON text in one pass (verify's fast path), generated from this
same definition: the JSON skeleton (key order, key spelling, separators) is what
`canonical_values` itself encodes, each column's kind is read from the model's field, and any
value not in the plain shape the generated code handles is judged by `canonical_value`. The
generated code only adds shortcuts for the plain shapes; tests/test_audit_fast_canonical.py
holds them equal to the reference for every column, edge values included.
"""

import datetime
import functools
import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.db import models

from audit.models import HASHED_FIELDS, OPTIONAL_HASHED_FIELDS, AccessEvent


def _plain(value):
    """The one canonical form of a value in an event's hash: a UUID as 36 lower-case
    characters with hyphens, a time in UTC with microseconds ("2026-01-02T03:04:05.000006+00:00"),
    an IP address as Python's ipaddress prints it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return value


_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
).encode


# Every column in the hash: HASHED_FIELDS always, OPTIONAL_HASHED_FIELDS only when not empty.
EVENT_FIELDS = [*HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS]
# The canonical values an optional column is left out of the hash with.
EMPTY: tuple[Any, ...] = (None, [], "")


def canonical_values(values: dict) -> bytes:
    """Canonical JSON of already canonical values (name -> value) of HASHED_FIELDS, and of the
    OPTIONAL_HASHED_FIELDS whose value is not empty (an empty one is left out)."""
    values = {
        name: value
        for name, value in values.items()
        if name not in OPTIONAL_HASHED_FIELDS or value not in EMPTY
    }
    return _encode(values).encode()


def canonical_json(event) -> bytes:
    """The event's hashed fields as canonical JSON (`event`: a model or a named tuple)."""
    values = {name: _plain(getattr(event, name)) for name in HASHED_FIELDS}
    for name in OPTIONAL_HASHED_FIELDS:
        values[name] = _plain(getattr(event, name, None))
    return canonical_values(values)


def event_hash(prev_hash: str, event: AccessEvent) -> str:
    """SHA-256 of prev_hash and the canonical JSON of every column of the event (its id
    included). Verification (audit.verify) recomputes it from the raw stored values, so a
    value stored in another spelling (a re-cased UUID, a 'T' in a time) is a mismatch."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(event)).hexdigest()


# --- each column's kind, from the model ---------------------------------------------------------


def _kind(field: models.Field) -> str:
    if isinstance(field, models.UUIDField):
        return "uuid"
    if isinstance(field, models.DateTimeField):
        return "time"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.JSONField):
        return "list"
    if isinstance(field, models.GenericIPAddressField):
        return "ip"
    if isinstance(field, models.IntegerField):
        return "int"
    if isinstance(field, models.CharField):
        return "text"
    raise TypeError(f"no canonical form is defined for {field!r}")


def _field(name: str) -> models.Field:
    field = AccessEvent._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{name} is not a column")
    return field


KINDS: dict[str, str] = {name: _kind(_field(name)) for name in EVENT_FIELDS}
NULLABLE: frozenset[str] = frozenset(name for name in EVENT_FIELDS if _field(name).null)


# --- the reference: one raw stored value in its canonical form ---------------------------------

_UUID_HEX = re.compile(r"[0-9a-f]{32}")
_TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?")
_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


class NotCanonical(Exception):
    def __init__(self, column: str, raw: Any):
        super().__init__(column, raw)
        self.column, self.raw = column, raw


def canonical_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def canonical_value(name: str, raw: Any) -> Any:
    """The canonical form of a raw stored value of column `name` (as the database driver
    returns it, without Django's conversions: on SQLite text, integers and the like as stored,
    on PostgreSQL psycopg's types); NotCanonical when it is stored in any other spelling or
    type than the one the app writes."""
    kind = KINDS[name]
    if raw is None:
        if name in NULLABLE:
            return None
        raise NotCanonical(name, raw)
    if kind == "uuid":
        if isinstance(raw, uuid.UUID):
            return str(raw)
        if isinstance(raw, str) and _UUID_HEX.fullmatch(raw):  # SQLite: 32 hex digits
            return str(uuid.UUID(raw))
    elif kind == "time":
        if isinstance(raw, datetime.datetime) and raw.tzinfo is not None:
            return canonical_time(raw)
        if isinstance(raw, str) and _TIME_TEXT.fullmatch(raw):  # SQLite: as Django writes it
            try:
                parsed = datetime.datetime.fromisoformat(raw)
            except ValueError:
                raise NotCanonical(name, raw) from None
            if str(parsed) == raw:
                return canonical_time(parsed.replace(tzinfo=datetime.UTC))
    elif kind == "int":
        if type(raw) is int:
            return raw
    elif kind == "bool":
        if type(raw) is bool:
            return raw
        if type(raw) is int and raw in (0, 1):  # SQLite's integer
            return raw == 1
    elif kind == "list":
        value = raw
        if isinstance(raw, str):  # SQLite: the JSON text
            try:
                value = json.loads(raw)
            except ValueError:
                raise NotCanonical(name, raw) from None
        if isinstance(value, list):
            return value
    elif kind == "ip":
        if isinstance(raw, str):
            return raw
        if isinstance(raw, _IP_TYPES):  # PostgreSQL's inet, as psycopg reads it
            return str(raw)
    elif isinstance(raw, str):
        return raw
    raise NotCanonical(name, raw)


def canonical_text(name: str, raw: Any) -> str:
    """The column's value as it stands in the canonical JSON (NotCanonical as above)."""
    return _encode(canonical_value(name, raw))


# --- the fast path: a raw row rendered in one pass ----------------------------------------------

_HEX = "0123456789abcdef"
# A JSON list of strings as json.dumps (SQLite) or jsonb (PostgreSQL) spells it, no string
# holding a quote, a backslash or a control character: every '"' inside the brackets is then a
# string's delimiter, and '", "' only ever stands between two strings.
_PLAIN_LIST = re.compile(r'\["[^"\\\x00-\x1f]*"(?:, "[^"\\\x00-\x1f]*")*\]')
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}", re.ASCII)


_MINUTES: dict[str, bool] = {}


def _minute_ok(prefix: str) -> bool:
    """Whether "YYYY-MM-DD HH:MM" (or with "T") is a real minute, in ASCII digits (cached)."""
    known = _MINUTES.get(prefix)
    if known is None:
        known = bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}", prefix))
        if known:
            try:
                datetime.datetime.fromisoformat(prefix)
            except ValueError:
                known = False
        if len(_MINUTES) > 100_000:
            _MINUTES.clear()
        _MINUTES[prefix] = known
    return known


def _sqlite_time(raw: Any) -> str | None:
    """Django's spelling on SQLite, "YYYY-MM-DD HH:MM:SS[.ffffff]" (no zero fraction)."""
    if type(raw) is str and raw.isascii() and raw[10:11] == " " and raw[16:17] == ":":
        if raw[17:19].isdigit() and raw[17] < "6" and _minute_ok(raw[:16]):
            if len(raw) == 26:
                if raw[19] == "." and raw[20:].isdigit() and raw[20:] != "000000":
                    return f'"{raw[:10]}T{raw[11:]}+00:00"'
            elif len(raw) == 19:
                return f'"{raw[:10]}T{raw[11:]}.000000+00:00"'
    return None


def _pg_time(raw: Any) -> str | None:
    """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.USAD') of a timestamptz
    column (`pg_types_problem` checks the type): exactly 28 characters ending in AD for every
    time of the years 1 to 9999, in UTC with six digits of fraction; any other (a year before
    Christ, whose year would read the same, or after 9999) goes to the reference."""
    if type(raw) is str and len(raw) == 28 and raw[26:] == "AD":
        return f'"{raw[:26]}+00:00"'
    return None


def _pg_time_value(raw: Any) -> Any:
    """The to_char text as psycopg would read the time (for the reference)."""
    if not isinstance(raw, str) or not raw.endswith("AD"):
        return raw
    try:
        return datetime.datetime.fromisoformat(raw[:-2]).replace(tzinfo=datetime.UTC)
    except ValueError:
        return raw


def _pg_ip_value(raw: Any) -> Any:
    """abbrev(inet) as psycopg's inet loader reads inet: an address, or an interface with /."""
    if not isinstance(raw, str):
        return raw
    try:
        return ipaddress.ip_interface(raw) if "/" in raw else ipaddress.ip_address(raw)
    except ValueError:
        return raw


def _pg_uuid_value(raw: Any) -> Any:
    try:
        return uuid.UUID(raw) if isinstance(raw, str) and len(raw) == 36 else raw
    except ValueError:
        return raw


# How the fast query reads each kind of column, per vendor (SQL around the column name). On
# SQLite the unary + keeps the stored value and its type but drops the declared type, so that
# no converter (Django registers some for datetime and bool) runs: the value is judged as stored.
# On PostgreSQL the column's type already holds one spelling of each value; the text casts are
# what the generated code reads (the column types are checked before, `pg_types_problem`).
READ_SQL: dict[str, dict[str, str]] = {
    "sqlite": {kind: "+{c}" for kind in ("uuid", "time", "int", "bool", "list", "ip", "text")},
    "postgresql": {
        "uuid": "{c}::text",
        "time": "pg_catalog.to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.USAD')",
        "int": "{c}",
        "bool": "{c}",
        "list": "{c}::text",
        "ip": "pg_catalog.abbrev({c})",
        "text": "{c}",
    },
}

# PostgreSQL column types the fast path's reading assumes.
PG_TYPES = {
    "uuid": ("uuid",),
    "time": ("timestamp with time zone",),
    "int": ("bigint", "integer"),
    "bool": ("boolean",),
    "list": ("jsonb",),
    "ip": ("inet",),
    "text": ("character varying", "text"),
}

# The value the reference (`canonical_value`) is given for a raw value the fast query read, per
# vendor and kind, when the generated code's shortcut does not apply.
_AS_REFERENCE: dict[str, dict[str, Callable[[Any], Any]]] = {
    "sqlite": {},
    "postgresql": {"uuid": _pg_uuid_value, "time": _pg_time_value, "ip": _pg_ip_value},
}


def careful_text(vendor: str, name: str, raw: Any) -> str | None:
    """A raw value the fast query read, rendered by the reference; None if not canonical."""
    convert = _AS_REFERENCE[vendor].get(KINDS[name])
    value = convert(raw) if convert is not None and raw is not None else raw
    if vendor == "postgresql" and KINDS[name] == "list" and isinstance(value, str):
        try:  # jsonb's text: the list psycopg would read
            value = json.loads(value)
        except ValueError:
            return None
        if not isinstance(value, list):
            return None
    try:
        return canonical_text(name, value)
    except NotCanonical:
        return None


# Columns whose values repeat from event to event (who, what case, what categories...): their
# rendered text is kept in a dict by the value as stored, for text values and None only (a dict
# would take 1, 1.0 and True for one key; a text value equals only the same text). The id is
# unique, and the request id nearly so: never kept.
_UNCACHED = frozenset({"id", "request_id"})
_CACHE_LIMIT = 65_536


class _Skip(Exception):
    """A value the reference does not take: the row goes down the exact path."""


def _must(vendor: str, name: str, raw: Any) -> str:
    text = careful_text(vendor, name, raw)
    if text is None:
        raise _Skip
    return text


def _plain_and_fast(vendor: str, kind: str) -> tuple[str, str]:
    """(the test for a value in the plain shape, its canonical text) as Python expressions of
    a text value `v`, for the kinds the generated code renders itself."""
    if kind == "uuid" and vendor == "sqlite":  # 32 lower-case hex digits
        return "len(v) == 32 and not v.strip(HEX)", (
            "f'\"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}\"'"
        )
    if kind == "uuid":  # the uuid type's text: 36 lower-case characters with hyphens
        return "len(v) == 36", "f'\"{v}\"'"
    if kind == "list":
        return "plain_list(v)", "'[\"' + v[2:-2].replace('\", \"', '\",\"') + '\"]'"
    if kind == "ip" and vendor == "postgresql":
        return "ipv4(v)", "f'\"{v}\"'"
    return "True", "esc(v)"  # text, and SQLite's ip (the text stored)


def _optional_code(
    vendor: str, name: str, at: int, out: str, key: str
) -> tuple[list[str], list[str]]:
    """As `_column_code`, for an optional column (OPTIONAL_HASHED_FIELDS): `out` is "" when the
    value is stored in its one empty form (the JSON text "[]", which the reference reads as [],
    which `canonical_values` leaves out), `key` (the skeleton's text before the value: the
    separator and the key) and the value's text when it is a plain list (never empty: at least
    one string), and anything else raises _Skip: the reference judges it."""
    kind = KINDS[name]
    if kind != "list":  # the one empty stored form is defined for lists only
        raise TypeError(f"no empty stored form is defined for the optional column {name}")
    plain, fast = _plain_and_fast(vendor, kind)
    helper = [
        f"def slow_{name}(v):",
        f"    if type(v) is not str or not {plain}:",
        "        raise Skip",
        f"    s = {key!r} + {fast}",
        f"    if len(cache_{name}) > LIMIT:",
        f"        cache_{name}.clear()",
        f"    cache_{name}[v] = s",
        "    return s",
    ]
    return [
        f"v = row[{at}]",
        f"{out} = '' if v == '[]' and type(v) is str else get_{name}(v) or slow_{name}(v)",
    ], helper


def _column_code(vendor: str, name: str, at: int, out: str) -> tuple[list[str], list[str]]:
    """(lines of `render` that set `out` to the canonical text of row[at] or raise _Skip,
    lines of the helper functions they call)."""
    kind = KINDS[name]
    must = f"must({vendor!r}, {name!r}, v)"
    if kind == "time":
        reader = "sqlite_time" if vendor == "sqlite" else "pg_time"
        return [f"v = row[{at}]", f"{out} = {reader}(v) or {must}"], []
    if kind == "int":
        return [f"v = row[{at}]", f"{out} = str(v) if type(v) is int else {must}"], []
    if kind == "bool" and vendor == "sqlite":  # the type first: 0 == 0.0 == False
        return [
            f"v = row[{at}]",
            f"{out} = ('true' if v else 'false') if type(v) is int and (v == 0 or v == 1) "
            f"else {must}",
        ], []
    if kind == "bool":
        return [
            f"v = row[{at}]",
            f"{out} = 'true' if v is True else 'false' if v is False else {must}",
        ], []
    plain, fast = _plain_and_fast(vendor, kind)
    if name in _UNCACHED:
        return [
            f"v = row[{at}]",
            f"{out} = {fast} if type(v) is str and {plain} else {must}",
        ], []
    helper = [
        f"def slow_{name}(v):",
        f"    s = {fast} if type(v) is str and {plain} else {must}",
        "    if type(v) is str or v is None:",
        f"        if len(cache_{name}) > LIMIT:",
        f"            cache_{name}.clear()",
        f"        cache_{name}[v] = s",
        "    return s",
    ]
    return [f"{out} = get_{name}(row[{at}]) or slow_{name}(row[{at}])"], helper


_SLOT = re.compile('"\ue000(\\d+)\ue001"')


def _skeleton() -> list[str]:
    """The canonical JSON of a row, as `canonical_values` encodes it, split around its values:
    [text, index of a column in EVENT_FIELDS, text, index, ..., text] (every optional column
    present: the renderer leaves an empty one out together with the text before it)."""
    marked = _encode({name: f"\ue000{i}\ue001" for i, name in enumerate(EVENT_FIELDS)})
    return _SLOT.split(marked)


def render_source(vendor: str, offset: int) -> str:
    """Python source of `render(row)`: the canonical JSON text of the raw row whose hashed
    columns start at row[offset], in the order of EVENT_FIELDS; None when some value is not
    in its canonical form (or not one the reference can read)."""
    pieces = _skeleton()
    for i, piece in enumerate(pieces):
        if i % 2 == 0 and ("'" in piece or "\\" in piece):
            raise ValueError(f"unexpected text in the canonical JSON skeleton: {piece!r}")
    # An optional column's key goes with its value: the text before its slot (the separator
    # and the key, never the opening brace: some column must precede it) moves into the slot.
    keys: dict[int, str] = {}
    for slot in range(1, len(pieces), 2):
        column = int(pieces[slot])
        if EVENT_FIELDS[column] in OPTIONAL_HASHED_FIELDS:
            key = pieces[slot - 1]
            if key != f",{_encode(EVENT_FIELDS[column])}:":
                raise ValueError(f"an optional column cannot lead the skeleton: {key!r}")
            keys[column], pieces[slot - 1] = key, ""
    helpers: list[str] = []
    body: list[str] = []
    for i, name in enumerate(EVENT_FIELDS):
        if i in keys:
            lines, helper = _optional_code(vendor, name, offset + i, f"s{i}", keys[i])
        else:
            lines, helper = _column_code(vendor, name, offset + i, f"s{i}")
        body += lines
        helpers += helper
    parts = []
    for i, piece in enumerate(pieces):
        if i % 2:
            parts.append(f"{{s{piece}}}")
        else:
            parts.append(piece.replace("{", "{{").replace("}", "}}"))
    source = [
        *helpers,
        "def render(row):",
        "    try:",
        *(f"        {line}" for line in body),
        "    except Skip:",
        "        return None",
        f"    return f'{''.join(parts)}'",
    ]
    return "\n".join(source) + "\n"


@functools.cache
def row_renderer(vendor: str, offset: int = 0) -> Callable[[tuple], str | None]:
    """The generated renderer for raw rows read by `read_columns(vendor)` (see render_source)."""
    caches: dict[str, dict] = {name: {} for name in EVENT_FIELDS}
    namespace: dict[str, Any] = {
        "HEX": _HEX,
        "LIMIT": _CACHE_LIMIT,
        "Skip": _Skip,
        "must": _must,
        "esc": json.encoder.encode_basestring,
        "sqlite_time": _sqlite_time,
        "pg_time": _pg_time,
        "plain_list": _PLAIN_LIST.fullmatch,
        "ipv4": _IPV4.fullmatch,
        **{f"cache_{name}": cache for name, cache in caches.items()},
        **{f"get_{name}": cache.get for name, cache in caches.items()},
    }
    code = compile(render_source(vendor, offset), f"<audit.hashing.render:{vendor}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated from the fixed names above
    return namespace["render"]


def read_columns(vendor: str) -> list[str]:
    """The SQL select list of the hashed columns, in the order of EVENT_FIELDS, as the fast
    renderer of `vendor` reads them."""
    return [READ_SQL[vendor][KINDS[name]].format(c=name) for name in EVENT_FIELDS]
