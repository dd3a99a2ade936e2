"""Signed checkpoints of chain heads, stored in the database and copied to a file outside it.

A bare hash chain can be recomputed by anyone who can write to the database; a checkpoint is
the chain's head signed with an Ed25519 key the database never sees, and its copy in an
append-only file (`<AUDIT_CHECKPOINT_DIR>/<chain>.jsonl`, one JSON object a line) lets
`verify_audit` notice history rewritten or cut short in the database alone. Retired keys stay
valid for verification through `AUDIT_VERIFY_KEYS` (hex raw public keys).
"""

import datetime
import hashlib
import json
import logging
import os
import re
import uuid
from functools import partial
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from audit.models import GENESIS_HASH, Chain, Checkpoint, PurgeRecord

logger = logging.getLogger(__name__)

_CHAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


# --- keys ---------------------------------------------------------------------------------------


def signing_key() -> Ed25519PrivateKey:
    """The current signing key, from the hex seed in settings.AUDIT_SIGNING_KEY."""
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(settings.AUDIT_SIGNING_KEY))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY must be a 32-byte Ed25519 seed written as 64 hex characters."
        ) from exc


def public_key_from_hex(value: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{value!r} is not a raw 32-byte Ed25519 public key in hex (AUDIT_VERIFY_KEYS)."
        ) from exc


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex characters of the SHA-256 of the raw public key."""
    return hashlib.sha256(bytes.fromhex(public_key_hex(public_key))).hexdigest()[:16]


def verify_keys() -> dict[str, Ed25519PublicKey]:
    """Every key a checkpoint may be signed with, by key id: the current one and retired ones."""
    values = settings.AUDIT_VERIFY_KEYS
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    keys = [signing_key().public_key(), *(public_key_from_hex(value) for value in values)]
    return {key_id(key): key for key in keys}


# --- signatures ---------------------------------------------------------------------------------
# Each signed record (a checkpoint, a purge record, a change digest, a change erasure) is signed
# over the canonical JSON of every one of its columns but the key id and the signature, and of
# its kind, so that no column can be changed and no record passed off as another kind.

SIGNED_FIELDS: dict[str, list[str]] = {
    "checkpoint": ["id", "chain", "seq", "head_hash", "created_at", "prev_checkpoint_hash"],
    "purge": [
        "id",
        "chain",
        "first_seq",
        "up_to_seq",
        "checkpoint_id",
        "checkpoint_head_hash",
        "operator",
        "created_at",
    ],
    "change-digest": [
        "id",
        "seq",
        "rows",
        "first_entry_id",
        "last_entry_id",
        "digest",
        "prev_digest_hash",
        "created_at",
    ],
    "change-erasure": ["id", "entry_id", "row_hash", "created_at"],
}


def canonical_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")


def _value(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return canonical_time(value)
    return value


def message(kind: str, record) -> bytes:
    """The signed statement of `record` (a model instance or a dict of its fields)."""
    get = record.get if isinstance(record, dict) else partial(getattr, record)
    data = {name: _value(get(name)) for name in SIGNED_FIELDS[kind]}
    data["kind"] = kind
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(kind: str, record) -> str:
    """The hash a later record of the same chain names as its predecessor."""
    return hashlib.sha256(message(kind, record)).hexdigest()


def sign_record(kind: str, record) -> None:
    """Set `record`'s key id and signature, with the current key."""
    key = signing_key()
    record.key_id = key_id(key.public_key())
    record.signature = key.sign(message(kind, record)).hex()


def signature_problem(
    kind: str, record, keys: dict[str, Ed25519PublicKey] | None = None
) -> str | None:
    """Why the record's signature is not valid ("signed by an unknown key …" or "not validly
    signed …"), or None when it is."""
    keys = verify_keys() if keys is None else keys
    get = record.get if isinstance(record, dict) else partial(getattr, record)
    public_key = keys.get(str(get("key_id")))
    if public_key is None:
        return f"signed by an unknown key {get('key_id')!r}"
    try:
        public_key.verify(bytes.fromhex(str(get("signature"))), message(kind, record))
    except (TypeError, ValueError, InvalidSignature):
        return "not validly signed (bad signature)"
    return None


def checkpoint_problem(
    checkpoint: Checkpoint, keys: dict[str, Ed25519PublicKey] | None = None
) -> str | None:
    return signature_problem("checkpoint", checkpoint, keys)


# --- the copy outside the database --------------------------------------------------------------


def external_path(chain: str, directory: str | os.PathLike | None = None) -> Path:
    if not _CHAIN_NAME.fullmatch(chain):
        raise ValueError(f"{chain!r} is not a valid chain name.")
    return Path(directory or settings.AUDIT_CHECKPOINT_DIR) / f"{chain}.jsonl"


EXTERNAL_FIELDS = [*SIGNED_FIELDS["checkpoint"], "key_id", "signature"]


def external_line(checkpoint: Checkpoint) -> str:
    data = {name: _value(getattr(checkpoint, name)) for name in EXTERNAL_FIELDS}
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def write_external(checkpoint: Checkpoint) -> None:
    """Append the checkpoint to its chain's file, durably, in one write (other processes may
    append to the same file at the same moment). The file is only ever opened for appending;
    the folder is meant to be one the database's users cannot write (another host, a
    write-once mount)."""
    path = external_path(checkpoint.chain)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, external_line(checkpoint).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def external_chains(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the chains that have a checkpoint file in `directory`."""
    folder = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    if not folder.is_dir():
        return []
    return sorted(
        path.stem
        for path in folder.glob("*.jsonl")
        if path.is_file() and _CHAIN_NAME.fullmatch(path.stem)
    )


# --- writing checkpoints ------------------------------------------------------------------------


class CheckpointRefused(Exception):
    """The head cannot be signed: what lies below it is not what the last signature vouches
    for (a gap, a changed event, a purge without a signed purge record)."""


# When each chain was last checkpointed by this process (the timer needs no query per append).
_last_signed: dict[str, datetime.datetime] = {}


def _checkpoint_at(*, chain: str, seq: int, head_hash: str, robust: bool) -> Checkpoint:
    """Store a checkpoint of (seq, head_hash) after checking every event since the last
    checkpoint; the caller holds the chain head's lock. Raises CheckpointRefused."""
    from audit.verify import window_problem  # verify reads checkpoints: imported late

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
