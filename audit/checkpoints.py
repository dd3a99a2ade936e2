"""Signed checkpoints of chain heads, stored in the database and copied to a file outside it.

A bare hash chain can be recomputed by anyone who can write to the database; a checkpoint is
the chain's head signed with an Ed25519 key the database never sees, and its copy in an
append-only file (`<AUDIT_CHECKPOINT_DIR>/<chain>.jsonl`, one JSON object a line) lets
`verify_audit` notice history rewritten or cut short in the database alone. Retired keys stay
valid for verification through `AUDIT_VERIFY_KEYS` (hex raw public keys).
"""

import hashlib
import json
import os
import re
from functools import partial
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit.models import Chain, Checkpoint

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


def message(*, chain: str, seq: int, head_hash: str) -> bytes:
    """The signed statement: canonical JSON of the chain, the sequence number and the head."""
    data = {"chain": chain, "seq": seq, "head_hash": head_hash}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(*, chain: str, seq: int, head_hash: str) -> tuple[str, str]:
    """(key id, hex signature) of the statement, with the current key."""
    key = signing_key()
    signature = key.sign(message(chain=chain, seq=seq, head_hash=head_hash))
    return key_id(key.public_key()), signature.hex()


def signature_problem(
    *,
    chain: str,
    seq: int,
    head_hash: str,
    key_id: str,
    signature: str,
    keys: dict[str, Ed25519PublicKey] | None = None,
) -> str | None:
    """Why the signature of this statement is not valid ("signed by an unknown key …" or "not
    validly signed …"), or None when it is."""
    keys = verify_keys() if keys is None else keys
    public_key = keys.get(key_id)
    if public_key is None:
        return f"signed by an unknown key {key_id!r}"
    try:
        public_key.verify(
            bytes.fromhex(signature), message(chain=chain, seq=seq, head_hash=head_hash)
        )
    except (TypeError, ValueError, InvalidSignature):
        return "not validly signed (bad signature)"
    return None


def checkpoint_problem(
    checkpoint: Checkpoint, keys: dict[str, Ed25519PublicKey] | None = None
) -> str | None:
    return signature_problem(
        chain=checkpoint.chain,
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
        keys=keys,
    )


# --- the copy outside the database --------------------------------------------------------------


def external_path(chain: str, directory: str | os.PathLike | None = None) -> Path:
    if not _CHAIN_NAME.fullmatch(chain):
        raise ValueError(f"{chain!r} is not a valid chain name.")
    return Path(directory or settings.AUDIT_CHECKPOINT_DIR) / f"{chain}.jsonl"


def external_line(checkpoint: Checkpoint) -> str:
    data = {
        "chain": checkpoint.chain,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": checkpoint.created_at.isoformat(),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def write_external(checkpoint: Checkpoint) -> None:
    """Append the checkpoint to its chain's file, durably, in one write (other processes may
    append to the same file at the same moment)."""
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


def _checkpoint_at(*, chain: str, seq: int, head_hash: str, robust: bool) -> Checkpoint:
    """Store a checkpoint of (seq, head_hash); the caller holds the chain head's lock."""
    existing = Checkpoint.objects.filter(chain=chain, seq=seq).first()
    if existing is not None:
        return existing
    kid, signature = sign(chain=chain, seq=seq, head_hash=head_hash)
    checkpoint = Checkpoint.objects.create(
        chain=chain, seq=seq, head_hash=head_hash, key_id=kid, signature=signature
    )
    # Only a committed checkpoint goes outside: a rolled-back one would fail verification.
    transaction.on_commit(partial(write_external, checkpoint), robust=robust)
    return checkpoint


def create_checkpoint(*, chain: str) -> Checkpoint | None:
    """Sign and store the chain's current head (None for a chain without events).

    Returns the existing checkpoint when the head has not moved since the last one.
    """
    with transaction.atomic():
        head = Chain.locked_head(chain)
        if head.head_seq == 0:
            return None
        return _checkpoint_at(
            chain=chain, seq=head.head_seq, head_hash=head.head_hash, robust=False
        )


def after_append(*, chain: str, previous_seq: int, seq: int, head_hash: str) -> None:
    """Called inside the append transaction; writes a checkpoint every N events.

    A request must not fail because the file copy could not be written (the signed row is in
    the database all the same), so that failure is logged rather than raised.
    """
    every = settings.AUDIT_CHECKPOINT_EVERY
    if every > 0 and previous_seq // every != seq // every:
        _checkpoint_at(chain=chain, seq=seq, head_hash=head_hash, robust=True)
