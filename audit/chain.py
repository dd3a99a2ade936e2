"""Appending to the hash chain: hash = SHA-256(prev_hash ‖ canonical JSON of the event)."""

import datetime
import hashlib
import ipaddress
import json
import uuid

from django.conf import settings
from django.db import transaction

from audit import checkpoints
from audit.models import HASHED_FIELDS, AccessEvent, Chain


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
    """Canonical JSON of already canonical values (name -> value) of HASHED_FIELDS."""
    return _encode(values).encode()


def canonical_json(event) -> bytes:
    """The event's hashed fields as canonical JSON (`event`: a model or a named tuple)."""
    return canonical_values({name: _plain(getattr(event, name)) for name in HASHED_FIELDS})


def event_hash(prev_hash: str, event: AccessEvent) -> str:
    """SHA-256 of prev_hash and the canonical JSON of every column of the event (its id
    included). Verification (audit.verify) recomputes it from the raw stored values, so a
    value stored in another spelling (a re-cased UUID, a 'T' in a time) is a mismatch."""
    return hashlib.sha256(prev_hash.encode() + canonical_json(event)).hexdigest()


def default_chain() -> str:
    return settings.AUDIT_CHAIN


def append(events: list[AccessEvent], *, chain: str | None = None) -> list[AccessEvent]:
    """Append `events` (unsaved) to a chain, in order, with gap-free sequence numbers.

    The head row lock (PostgreSQL) or the immediate transaction (SQLite) serialises appenders,
    so concurrent app servers never fork the chain; other chains are not blocked.
    """
    if not events:
        return []
    with transaction.atomic():
        return _append(events, chain or default_chain())


def _append(events: list[AccessEvent], name: str) -> list[AccessEvent]:
    head = Chain.locked_head(name)
    seq, prev_hash = head.head_seq, head.head_hash
    for event in events:
        seq += 1
        event.chain, event.seq, event.prev_hash = name, seq, prev_hash
        event.hash = event_hash(prev_hash, event)
        prev_hash = event.hash
    AccessEvent.objects.bulk_create(events)
    Chain.objects.filter(name=name).update(head_seq=seq, head_hash=prev_hash)
    checkpoints.after_append(chain=name, previous_seq=head.head_seq, seq=seq, head_hash=prev_hash)
    return events
