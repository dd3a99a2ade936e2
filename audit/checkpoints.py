"""Signed checkpoints of chain heads, stored in the database and copied to a file outside it.

A bare hash chain can be recomputed by anyone who can write to the database; a checkpoint is
the chain's head signed with an Ed25519 key the database never sees, and its copy in an
append-only file (`<AUDIT_CHECKPOINT_DIR>/<chain>.jsonl`, one JSON object a line) lets
`verify_audit` notice history rewritten or cut short in the database alone. Retired keys stay
valid for verification through `AUDIT_VERIFY_KEYS` (hex raw public keys).
"""

import datetime
import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, Chain, Checkpoint, PurgeRecord
from audit.signing import (
    EXTERNAL_FIELDS,
    SIGNED_FIELDS,
    _value,
    canonical_time,
    checkpoint_problem,
    external_chains,
    external_line,
    external_path,
    key_id,
    message,
    public_key_from_hex,
    public_key_hex,
    record_hash,
    sign_record,
    signature_problem,
    signing_key,
    verify_keys,
    write_external,
)
from audit.verify import window_problem

logger = logging.getLogger(__name__)

# Signing and the external copy live in audit.signing (verification needs them); re-exported.
__all__ = [
    "EXTERNAL_FIELDS",
    "SIGNED_FIELDS",
    "_value",
    "canonical_time",
    "checkpoint_problem",
    "external_chains",
    "external_line",
    "external_path",
    "key_id",
    "message",
    "public_key_from_hex",
    "public_key_hex",
    "record_hash",
    "sign_record",
    "signature_problem",
    "signing_key",
    "verify_keys",
    "write_external",
    "CheckpointRefused",
    "after_append",
    "checkpoint_if_due",
    "create_checkpoint",
    "create_purge_record",
]


# --- writing checkpoints ------------------------------------------------------------------------


class CheckpointRefused(Exception):
    """The head cannot be signed: what lies below it is not what the last signature vouches
    for (a gap, a changed event, a purge without a signed purge record)."""


# When each chain was last checkpointed by this process (the timer needs no query per append).
_last_signed: dict[str, datetime.datetime] = {}


def _checkpoint_at(*, chain: str, seq: int, head_hash: str, robust: bool) -> Checkpoint:
    """Store a checkpoint of (seq, head_hash) after checking every event since the last
    checkpoint; the caller holds the chain head's lock. Raises CheckpointRefused."""
    existing = Checkpoint.objects.filter(chain=chain, seq=seq).first()
    if existing is not None:
        return existing
    previous = Checkpoint.objects.filter(chain=chain, seq__lt=seq).order_by("-seq").first()
    problem = window_problem(chain=chain, previous=previous, seq=seq, head_hash=head_hash)
    if problem:
        raise CheckpointRefused(f"chain {chain}: not signing the head at {seq}: {problem}")
    now = timezone.now()
    if previous is not None and previous.created_at > now:
        raise CheckpointRefused(
            f"chain {chain}: the checkpoint at {previous.seq} is dated in the future"
        )
    checkpoint = Checkpoint(
        chain=chain,
        seq=seq,
        head_hash=head_hash,
        created_at=now,
        prev_checkpoint_hash=(
            record_hash("checkpoint", previous) if previous is not None else GENESIS_HASH
        ),
    )
    sign_record("checkpoint", checkpoint)
    checkpoint.save(force_insert=True)
    _last_signed[chain] = now
    # Only a committed checkpoint goes outside: a rolled-back one would fail verification.
    transaction.on_commit(partial(write_external, checkpoint), robust=robust)
    return checkpoint


def create_checkpoint(*, chain: str) -> Checkpoint | None:
    """Sign and store the chain's current head (None for a chain without events).

    Returns the existing checkpoint when the head has not moved since the last one; raises
    CheckpointRefused when what lies below the head is not what was signed before.
    """
    with transaction.atomic():
        head = Chain.locked_head(chain)
        if head.head_seq == 0:
            return None
        return _checkpoint_at(
            chain=chain, seq=head.head_seq, head_hash=head.head_hash, robust=False
        )


def checkpoint_if_due(chain: str, now: datetime.datetime | None = None) -> Checkpoint | None:
    """Sign the chain's head if it moved since its last checkpoint and that checkpoint is at
    least AUDIT_CHECKPOINT_INTERVAL seconds old (the timer: the unsigned window is bounded in
    time as well as in events). For `audit_checkpoint --if-due` (every minute) and the
    sequencer. Raises CheckpointRefused."""
    now = now or timezone.now()
    interval = datetime.timedelta(seconds=settings.AUDIT_CHECKPOINT_INTERVAL)
    with transaction.atomic():
        head = Chain.locked_head(chain)
        last = Checkpoint.objects.filter(chain=chain).order_by("-seq").first()
        if head.head_seq == 0 or (last is not None and last.seq >= head.head_seq):
            return None
        if last is not None and last.created_at > now - interval:
            return None
        return _checkpoint_at(
            chain=chain, seq=head.head_seq, head_hash=head.head_hash, robust=False
        )


def after_append(*, chain: str, previous_seq: int, seq: int, head_hash: str) -> None:
    """Called inside the append transaction, holding the head's lock; writes a checkpoint
    every AUDIT_CHECKPOINT_EVERY events, and on the first append AUDIT_CHECKPOINT_INTERVAL
    seconds after this process last signed (or first appended to) the chain.

    A request must not fail because the head could not be signed or the file copy not be
    written (the events are in the database all the same, and verify will say what is wrong),
    so those failures are logged rather than raised.
    """
    every = settings.AUDIT_CHECKPOINT_EVERY
    due = every > 0 and previous_seq // every != seq // every
    interval = settings.AUDIT_CHECKPOINT_INTERVAL
    if interval > 0:
        now = timezone.now()
        last = _last_signed.setdefault(chain, now)
        due = due or now - last >= datetime.timedelta(seconds=interval)
    if not due:
        return
    try:
        with transaction.atomic():
            _checkpoint_at(chain=chain, seq=seq, head_hash=head_hash, robust=True)
    except CheckpointRefused as refused:
        _last_signed[chain] = timezone.now()
        logger.error("%s", refused)


# --- purge records ------------------------------------------------------------------------------


def create_purge_record(*, checkpoint: Checkpoint, first_seq: int, operator: str) -> PurgeRecord:
    """The signed record of a retention purge of first_seq..checkpoint.seq (for purge_audit,
    inside its transaction)."""
    if checkpoint_problem(checkpoint) is not None:
        raise CheckpointRefused(f"the checkpoint at {checkpoint.seq} is not validly signed")
    record = PurgeRecord(
        chain=checkpoint.chain,
        first_seq=first_seq,
        up_to_seq=checkpoint.seq,
        checkpoint_id=checkpoint.id,
        checkpoint_head_hash=checkpoint.head_hash,
        operator=operator[:150],
        created_at=timezone.now(),
    )
    sign_record("purge", record)
    record.save(force_insert=True)
    return record
