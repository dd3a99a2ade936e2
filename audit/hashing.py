"""The hashing definition of the access log: hash = SHA-256(prev_hash ‖ canonical JSON of every
column of the event), each value in its one canonical form."""

import datetime
import hashlib
import ipaddress
import json
import uuid

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


def canonical_values(values: dict) -> bytes:
    """Canonical JSON of already canonical values (name -> value) of HASHED_FIELDS, and of the
    OPTIONAL_HASHED_FIELDS whose value is not empty (an empty one is left out)."""
    values = {
        name: value
        for name, value in values.items()
        if name not in OPTIONAL_HASHED_FIELDS or value not in (None, [], "")
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
