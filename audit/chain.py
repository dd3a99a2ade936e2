"""Appending to the hash chain: hash = SHA-256(prev_hash ‖ canonical JSON of the event)."""

from django.conf import settings
from django.db import transaction

from audit import checkpoints
from audit.hashing import _plain, canonical_json, canonical_values, event_hash
from audit.models import AccessEvent, Chain

# The hashing definition lives in audit.hashing (verification reads it without the write path).
__all__ = ["_plain", "append", "canonical_json", "canonical_values", "default_chain", "event_hash"]


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
