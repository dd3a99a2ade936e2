"""Appending to the hash chain: hash = SHA-256(prev_hash ‖ canonical JSON of the event)."""

from django.conf import settings
from django.db import transaction

from audit import checkpoints
from audit.hashing import _plain, canonical_json, canonical_values, event_hash
from audit.models import AccessEvent, Chain, insert_rows

# The hashing definition lives in audit.hashing (verification reads it without the write path).
__all__ = ["_plain", "append", "canonical_json", "canonical_values", "default_chain", "event_hash"]


def default_chain() -> str:
    return settings.AUDIT_CHAIN


def append(events: list[AccessEvent], *, chain: str | None = None) -> list[AccessEvent]:
    """Append `events` (unsaved) to a chain now, in order, with gap-free sequence numbers.

    The head row lock (PostgreSQL) or the immediate transaction (SQLite) serialises appenders
    and the sequencer, so the chain never forks; other chains are not blocked. Requests do not
    call this (in background sequencing): they hand their events to `audit.sequencer.submit`.
    """
    if not events:
        return []
    with transaction.atomic():
        return _append(events, chain or default_chain())


def _append(events: list[AccessEvent], name: str, head: Chain | None = None) -> list[AccessEvent]:
    """Link and store `events` after the chain's head; the caller's transaction holds the head
    row's lock (`head`, when the caller has taken it already)."""
    head = head or Chain.locked_head(name)
    _link(events, name, head)
    insert_rows(events)
    _advance(name, head, events)
    return events


def _link(events: list[AccessEvent], name: str, head: Chain) -> None:
    """Give `events` their chain, seq, prev_hash and hash, in order, after `head`."""
    seq, prev_hash = head.head_seq, head.head_hash
    for event in events:
        seq += 1
        event.chain, event.seq, event.prev_hash = name, seq, prev_hash
        event.hash = event_hash(prev_hash, event)
        prev_hash = event.hash


def _advance(name: str, head: Chain, events: list[AccessEvent]) -> None:
    """Move the locked head past the stored `events` and sign a checkpoint when one is due."""
    previous_seq, last = head.head_seq, events[-1]
    Chain.objects.filter(name=name).update(head_seq=last.seq, head_hash=last.hash)
    checkpoints.after_append(
        chain=name, previous_seq=previous_seq, seq=last.seq, head_hash=last.hash
    )
    head.head_seq, head.head_hash = last.seq, last.hash
