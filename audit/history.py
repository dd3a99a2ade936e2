"""Change history (django-auditlog's `auditlog_logentry`) made verifiable.

The table is append-only in the database (triggers, migration `append_only_change_history`),
and each row is sealed: `seal()` (run with every checkpoint, `audit_checkpoint`) stores the hash
of every row not sealed yet (ChangeSeal) and signs a digest of those seals (ChangeDigest), each
digest naming the hash of the one before it. `verify()` recomputes every row's hash from its raw
stored values, so an altered row is named by its id, a deleted one too (unless the case
retention purge erased it, recorded in a signed ChangeErasure holding its hash), and a changed
or deleted seal breaks its signed digest. Rows written since the last seal are the unsigned
window: reported, not trusted.
"""

import datetime
import json
import uuid
from hashlib import sha256
from typing import Any

from auditlog.models import LogEntry
from django.db import connection, transaction
from django.utils import timezone

from audit import signing
from audit.models import GENESIS_HASH, ChangeDigest, ChangeErasure, ChangeSeal

TABLE = LogEntry._meta.db_table
# Rows whose transaction commits after a later row was sealed are still found up to this many
# ids below the last sealed one.
LATE_MARGIN = 10000
BATCH = 5000
CHAIN_LABEL = "change history"


def _columns() -> list[str]:
    return [f.column for f in LogEntry._meta.concrete_fields]


def _selected(column: str) -> str:
    # SQLite's driver converts columns declared datetime or bool: read those as the stored
    # text, so that a re-spelled time is another value.
    field = next(f for f in LogEntry._meta.concrete_fields if f.column == column)
    if connection.vendor == "sqlite" and field.get_internal_type() in (
        "DateTimeField",
        "DateField",
        "BooleanField",
    ):
        return f"({column} || '')"
    return column


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()  # the raw value: a re-spelled time is another value
    if isinstance(value, uuid.UUID | bytes | memoryview):
        return str(value) if isinstance(value, uuid.UUID) else bytes(value).hex()
    if isinstance(value, int | float | str | bool | list | dict) or value is None:
        return value
    return str(value)  # an ipaddress, a Decimal


def row_hash(columns: list[str], row: tuple) -> str:
    """SHA-256 of every column of a change-history row, from its raw stored values."""
    data = {column: _plain(value) for column, value in zip(columns, row, strict=True)}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256(text.encode()).hexdigest()


def _rows(where: str, params: list) -> list[tuple]:
    columns = _columns()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_selected(c) for c in columns)} FROM {TABLE} "  # noqa: S608
            f"WHERE {where} ORDER BY id",
            params,
        )
        return cursor.fetchall()


def digest_of(seals: list[tuple[int, str]]) -> str:
    text = "".join(f"{entry_id}:{hash_}\n" for entry_id, hash_ in seals)
    return sha256(text.encode()).hexdigest()


def _lock() -> None:
    """One sealer at a time (SQLite's immediate transactions serialise on their own)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('audit change history seal'))")


def seal(now: datetime.datetime | None = None) -> ChangeDigest | None:
    """Seal every change-history row not sealed yet under one signed digest (None: none)."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock()
        last = ChangeDigest.objects.order_by("-seq").first()
        mark = last.last_entry_id if last is not None else 0
        sealed = set(
            ChangeSeal.objects.filter(entry_id__gt=mark - LATE_MARGIN).values_list(
                "entry_id", flat=True
            )
        )
        columns = _columns()
        id_at = columns.index("id")
        rows = [r for r in _rows("id > %s", [mark - LATE_MARGIN]) if r[id_at] not in sealed]
        if not rows:
            return None
        seq = last.seq + 1 if last is not None else 1
        seals = [(row[id_at], row_hash(columns, row)) for row in rows]
        ChangeSeal.objects.bulk_create(
            ChangeSeal(entry_id=entry_id, digest_seq=seq, row_hash=hash_)
            for entry_id, hash_ in seals
        )
        digest = ChangeDigest(
            seq=seq,
            rows=len(seals),
            first_entry_id=seals[0][0],
            last_entry_id=max(mark, seals[-1][0]),
            digest=digest_of(seals),
            prev_digest_hash=(
                signing.record_hash("change-digest", last) if last is not None else GENESIS_HASH
            ),
            created_at=max(now, last.created_at) if last is not None else now,
        )
        signing.sign_record("change-digest", digest)
        digest.save(force_insert=True)
        return digest


def erase(entry_ids: list[int]) -> int:
    """Delete change-history rows for the retention purge, each with a signed erasure that
    keeps its hash (so its seal still verifies). Inside the caller's transaction."""
    if not entry_ids:
        return 0
    columns = _columns()
    id_at = columns.index("id")
    now = timezone.now()
    erasures = []
    deleted = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(entry_ids), BATCH):
            chunk = entry_ids[start : start + BATCH]
            marks = ", ".join(["%s"] * len(chunk))
            for row in _rows(f"id IN ({marks})", chunk):
                erasure = ChangeErasure(
                    entry_id=row[id_at], row_hash=row_hash(columns, row), created_at=now
                )
                signing.sign_record("change-erasure", erasure)
                erasures.append(erasure)
            cursor.executemany(
                "INSERT INTO audit_purgepermit (chain, up_to_seq) VALUES (%s, %s)",
                [[TABLE, entry_id] for entry_id in chunk],
            )
            cursor.execute(f"DELETE FROM {TABLE} WHERE id IN ({marks})", chunk)  # noqa: S608
            deleted += cursor.rowcount
            cursor.execute("DELETE FROM audit_purgepermit WHERE chain = %s", [TABLE])
        ChangeErasure.objects.bulk_create(erasures)
    return deleted
