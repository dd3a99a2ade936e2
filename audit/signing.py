"""Keys, signed statements and the external copy of checkpoints (the part of
audit.checkpoints that verification needs without the writing)."""

import datetime
import hashlib
import json
import os
import re
import uuid
from functools import partial
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from audit.models import Checkpoint
from koordinointi import keys

_CHAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


# --- keys ---------------------------------------------------------------------------------------


def signing_key() -> Ed25519PrivateKey:
    """The current signing key, from the hex seed in settings.AUDIT_SIGNING_KEY."""
    return keys.private_key("AUDIT_SIGNING_KEY")


def public_key_from_hex(value: str) -> Ed25519PublicKey:
    return keys.public_key(value, setting="AUDIT_VERIFY_KEYS")


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
