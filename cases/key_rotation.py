"""Moving stored identity codes to new keys: re-encryption and the blind-index rebuild.

Both walk the family members with an identity code in primary-key order, a batch at a time, each
batch its own short transaction that locks its rows (SELECT ... FOR UPDATE on PostgreSQL; SQLite
takes its one write lock when the transaction begins), so the service keeps running and a request
that changed a row meanwhile is read again, never overwritten with a stale value.

Neither keeps a cursor between runs: a row already under the current key is recognised and left
alone (its ciphertext opens with the first Fernet key alone; its index equals the HMAC under the
first blind-index key), so a rerun, or a run after a crash or `limit`, simply finishes the rest.

The rows are changed with one queryset UPDATE per batch of just the one column, not `save()`:
no model signals, no other column rewritten. It leaves no change history: the plain value is
the same before and after, so django-auditlog has no change to record (and the field is masked
there anyway); the run's own record is its printed progress and final count.
"""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction
from django.db.models import Case, TextField, Value, When
from django.db.models.functions import Cast

from cases.identity_code import blind_index, fernet
from cases.models import FamilyMember

DEFAULT_BATCH_SIZE = 500


class UndecryptableRow(Exception):
    """A stored identity code that no configured key opens; names the row, never the value."""

    def __init__(self, member_ids: list[str], count: int | None = None):
        self.member_ids = member_ids
        self.count = len(member_ids) if count is None else count
        super().__init__(
            f"{self.count} family member row(s) cannot be decrypted with any key in "
            f"FIELD_ENCRYPTION_KEYS: {', '.join(member_ids)}"
        )


@dataclass
class Progress:
    batches: int = 0
    examined: int = 0  # rows with an identity code looked at
    changed: int = 0  # rows moved to the current key (or that would be, in a dry run)
    current: int = 0  # rows already under the current key
    complete: bool = True  # False when the run stopped at its limit with rows still to do

    def __str__(self):
        return (
            f"{self.examined} examined, {self.changed} changed, "
            f"{self.current} already under the current key"
        )


# Returns the new stored value of one row, or None when it is already current.
# Raises InvalidToken when no configured key opens the ciphertext.
RowChange = Callable[[str, str], str | None]


def _batch(*, after, size: int, lock: bool) -> list[tuple]:
    """(pk, ciphertext as stored, blind index) of the next rows with a code, in pk order."""
    rows = FamilyMember.objects.exclude(identity_code="").order_by("pk")
    if after is not None:
        rows = rows.filter(pk__gt=after)
    if lock:
        rows = rows.select_for_update()
    # Cast to a plain text column: the stored ciphertext, not the field's decrypted value.
    rows = rows.annotate(ciphertext=Cast("identity_code", TextField()))
    return list(rows.values_list("pk", "ciphertext", "identity_code_index")[:size])


def _walk(
    *,
    change: RowChange,
    column: str,
    batch_size: int,
    limit: int | None,
    dry_run: bool,
    report: Callable[[Progress], None],
) -> Progress:
    progress = Progress()
    after = None
    unreadable: list[str] = []
    unreadable_count = 0
    while True:
        # A dry run neither locks nor holds a transaction open.
        with nullcontext() if dry_run else transaction.atomic():
            rows = _batch(after=after, size=batch_size, lock=not dry_run)
            if not rows:
                break
            after = rows[-1][0]
            new_values: dict[object, str] = {}
            for pk, ciphertext, index in rows:
                try:
                    new_value = change(ciphertext, index)
                except InvalidToken:
                    if not dry_run:
                        # The batch rolls back; earlier batches stay done and are skipped later.
                        raise UndecryptableRow([str(pk)]) from None
                    unreadable_count += 1
                    if len(unreadable) < 20:
                        unreadable.append(str(pk))
                    continue
                if new_value is None:
                    progress.current += 1
                elif limit is not None and progress.changed + len(new_values) >= limit:
                    progress.complete = False
                    break
                else:
                    new_values[pk] = new_value
                progress.examined += 1
            if new_values and not dry_run:
                FamilyMember.objects.filter(pk__in=list(new_values)).update(
                    **{
                        column: Case(
                            *(
                                When(pk=pk, then=Value(value, output_field=TextField()))
                                for pk, value in new_values.items()
                            ),
                            output_field=TextField(),
                        )
                    }
                )
            progress.changed += len(new_values)
            progress.batches += 1
        report(progress)
        if not progress.complete:
            break
    if unreadable_count:
        raise UndecryptableRow(unreadable, unreadable_count)
    return progress


def rotate_field_key(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    dry_run: bool = False,
    report: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Re-encrypt every identity code under the first key of FIELD_ENCRYPTION_KEYS."""
    keys = fernet()
    first = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())

    def change(ciphertext: str, index: str) -> str | None:
        token = ciphertext.encode()
        try:
            first.decrypt(token)
            return None
        except InvalidToken:
            pass
        return keys.rotate(token).decode()

    return _walk(
        change=change,
        column="identity_code",
        batch_size=batch_size,
        limit=limit,
        dry_run=dry_run,
        report=report,
    )


def rebuild_blind_index(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limit: int | None = None,
    dry_run: bool = False,
    report: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Recompute every identity_code_index under the first key of BLIND_INDEX_KEYS."""
    keys = fernet()

    def change(ciphertext: str, index: str) -> str | None:
        expected = blind_index(keys.decrypt(ciphertext.encode()).decode())
        return None if index == expected else expected

    return _walk(
        change=change,
        column="identity_code_index",
        batch_size=batch_size,
        limit=limit,
        dry_run=dry_run,
        report=report,
    )
