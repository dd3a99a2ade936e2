"""Verification of the access log: recompute every chain and check it against its signing.

For each chain, the events are read in order of sequence number, a batch at a time (memory does
not grow with the log), and each one must

- have the next sequence number (no gap: a deleted event is reported where the gap is),
- hash to its stored hash from its stored prev_hash (a changed field, a changed seq),
- link to the previous event's hash (an event rewritten with a fresh hash, an inserted one),
- match every signed checkpoint at its sequence number, in the database and in the external
  copy (`<AUDIT_CHECKPOINT_DIR>/<chain>.jsonl`): a history recomputed from a change onwards is
  only caught here, so it is reported from the first event after the last matching checkpoint.

Then the chain head row must be the last event, no event may lie beyond it, and no checkpoint
(in the database or the external copy) may name a sequence number the log no longer has: a tail
cut off after a checkpoint, with the head row set back to match, is caught that way. Every
checkpoint's Ed25519 signature must verify with the current or a retired key.

A chain whose first events were removed by `purge_audit` starts at cut + 1: that is accepted
only with a signed purge record naming the range and the checkpoint it cuts at, whose head hash
the first remaining event links to. Nothing in an event row can stand in for that record.

The checkpoints of a chain form a signed chain of their own (each signs the hash of the one
before it and its own time): a deleted, replayed or backdated checkpoint breaks it, and every
line of the external copy must equal its database row in every field. Verify refuses a chain
the deployment does not declare (AUDIT_CHAINS), and fails without the external copy unless
told `without_external`, when it says what it could not check.

Every column of an event is hashed, compared in one canonical form read from the raw stored
value (not through the ORM's conversions): a UUID or a time stored in another spelling is a
mismatch, named with its column.

The change history (django-auditlog's rows) is verified against its seals and signed digests
(`verify_changes`).

The result names the first sequence number (or change-history row) that cannot be trusted and
why.
"""

import datetime
import json
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.db import connection
from django.db import connections as db_connections
from django.db.models import Count, Max, Min
from django.utils import timezone

from audit import history, signing
from audit.hashing import (
    EVENT_FIELDS,
    KINDS,
    PG_TYPES,
    READ_SQL,
    NotCanonical,
    canonical_value,
    canonical_values,
    read_columns,
    row_renderer,
)
from audit.models import (
    GENESIS_HASH,
    AccessEvent,
    Chain,
    ChangeDigest,
    ChangeErasure,
    ChangeSeal,
    Checkpoint,
    PendingEvent,
    PurgeRecord,
)

BATCH_SIZE = 10000
# A long chain is checked by this many processes at once, each a part of it (see
# `_ChainVerifier.parallel`); below PARALLEL_MIN events, or inside a transaction (whose rows
# another process could not see), by this one alone.
WORKERS = 2
PARALLEL_MIN = 200_000
# Every hashed column (the optional ones count only when not empty: audit.hashing).
RAW_FIELDS = [*EVENT_FIELDS, "prev_hash", "hash"]
# How far a checkpoint's time may lie ahead of the verifier's clock (clock skew between hosts).
FUTURE_SKEW = datetime.timedelta(minutes=5)

PURGE_RESOURCE = "audit-purge"


def purge_purpose(cut: int) -> str:
    """The purpose of the event that `purge_audit` appends after removing events 1..cut (for
    the reader of the log; verification trusts only the signed purge record)."""
    return f"retention purge up to sequence {cut}"


# --- The fast path: raw values, rendered by the code generated from audit.hashing ---------------
# Each batch is read as raw column values (no model instances, no Django conversions) and every
# row rendered to its canonical JSON text by `audit.hashing.row_renderer`, then hashed with
# hashlib. A row the renderer cannot vouch for (None), or whose hash does not match, is judged
# again by the reference (`canonical_value` over the raw values read for it), which names the
# column stored in a non-canonical form: the fast path can cost time, never a wrong verdict.

_LEAD = ["seq", "prev_hash", "hash"]  # then the hashed columns, in the order of EVENT_FIELDS


def _fast_query(vendor: str) -> str:
    """(seq, prev_hash, hash, the raw hashed columns) of the next events of a chain, in order."""
    table = AccessEvent._meta.db_table
    hashed = read_columns(vendor) if vendor in READ_SQL else EVENT_FIELDS
    columns = ", ".join([*_LEAD, *hashed])
    # Only fixed column names, the model's own table name and fixed SQL go into the text.
    return (
        f"SELECT {columns} FROM {table} "  # noqa: S608
        "WHERE chain = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
    )


def _no_render(row: tuple) -> None:
    return None


def pg_types_problem() -> str | None:
    """On PostgreSQL, a hashed column whose type is not the one the fast path reads (it then
    stands aside and the reference judges every row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, pg_catalog.format_type(atttypid, atttypmod) "
            "FROM pg_catalog.pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [AccessEvent._meta.db_table],
        )
        types = {name: kind.split("(")[0] for name, kind in cursor.fetchall()}
    for name in EVENT_FIELDS:
        if types.get(name) not in PG_TYPES[KINDS[name]]:
            return f"column {name} is of type {types.get(name)}"
    return None


def fast_reader(vendor: str) -> tuple[str, Callable[[tuple], str | None]]:
    """The fast query and the renderer of its rows (on another database, or on PostgreSQL with
    columns of other types, every row goes the exact way)."""
    if vendor not in READ_SQL or (vendor == "postgresql" and pg_types_problem()):
        return _fast_query(vendor), _no_render
    return _fast_query(vendor), row_renderer(vendor, len(_LEAD))


def _raw_column(vendor: str, name: str) -> str:
    # SQLite's driver converts columns declared datetime or bool (Django registers converters):
    # the unary + reads the value as stored, with its type, so that the stored spelling is what
    # is judged.
    if vendor == "sqlite":
        return f"+{name}"
    return name


def _raw_query() -> str:
    table = AccessEvent._meta.db_table
    columns = ", ".join(_raw_column(connection.vendor, name) for name in RAW_FIELDS)
    return (
        f"SELECT {columns} FROM {table} "  # noqa: S608 - fixed names
        "WHERE chain = %s AND seq > %s AND seq <= %s ORDER BY seq"
    )


# --- The exact path: canonical values from the raw stored ones ----------------------------------


def raw_event_hash(prev_hash: str, values: dict) -> str:
    return sha256(prev_hash.encode() + canonical_values(values)).hexdigest()


def _exact_rows(
    name: str, after: int, upto: int
) -> dict[int, tuple[dict | NotCanonical, str, str]]:
    """seq -> (canonical values or the NotCanonical column, prev_hash, hash)."""
    with connection.cursor() as cursor:
        cursor.execute(_raw_query(), [name, after, upto])
        rows = cursor.fetchall()
    result: dict[int, tuple[dict | NotCanonical, str, str]] = {}
    for row in rows:
        raw = dict(zip(RAW_FIELDS, row, strict=True))
        try:
            values: dict | NotCanonical = {
                column: canonical_value(column, raw[column]) for column in EVENT_FIELDS
            }
        except NotCanonical as problem:
            values = problem
        result[raw["seq"]] = (values, raw["prev_hash"], raw["hash"])
    return result


@dataclass(frozen=True)
class Result:
    chain: str
    ok: bool
    events: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    reason: str = ""
    # What verify could not check, or found not yet covered (said loudly, not a failure).
    warnings: tuple[str, ...] = ()
    # Events not yet given a sequence number (h13b's sequencer): 0 while appends sequence
    # at once. The hook the sequencer's intake wires (see `unsequenced_count`).
    unsequenced: int = 0
    # What first_bad_seq numbers: "sequence" for an access-log chain, "row" for the change
    # history (django-auditlog's LogEntry id).
    unit: str = "sequence"
    # Events at the end not yet covered by a signed checkpoint (the unsigned window).
    unsigned: int = 0

    def __str__(self) -> str:
        label = f"chain {self.chain}" if self.unit == "sequence" else self.chain
        if self.ok:
            if self.unit == "sequence":
                text = f"{label}: {self.events} events verified, {self.checkpoints} checkpoints"
            else:
                text = f"{label}: {self.events} rows verified, {self.checkpoints} digests"
            if self.unsigned:
                text += f" ({self.unsigned} at the end not yet signed)"
            if self.unsequenced:
                text += f", {self.unsequenced} not yet sequenced"
            return text
        if self.first_bad_seq is None:
            return f"{label}: broken: {self.reason}"
        return f"{label}: broken at {self.unit} {self.first_bad_seq}: {self.reason}"

    def as_dict(self) -> dict:
        """As the auditor API answers it (its shape is kept: new facts are attributes)."""
        return {
            "chain": self.chain,
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def unsequenced_count(name: str) -> int:
    """Events of the chain committed by their requests but still in the sequencer's intake:
    not yet chained, so not yet verifiable."""
    return PendingEvent.objects.filter(chain=name).count()


def _span(first: int, last: int, singular: str, plural: str) -> str:
    """ "event 7 is" or "events 7..9 are", as the verb pair given says."""
    if first == last:
        return f"event {first} {singular}"
    return f"events {first}..{last} {plural}"


class _Broken(Exception):
    def __init__(self, seq: int | None, reason: str):
        super().__init__(seq, reason)
        self.seq, self.reason = seq, reason


def _read_external(name: str, directory) -> list[tuple[int | None, dict | None, str | None]]:
    """(line number, entry, problem) for every line of the chain's external copy."""
    try:
        path = signing.external_path(name, directory)
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (ValueError, FileNotFoundError):  # not a name a file can have; no copy (yet)
        return []
    entries: list[tuple[int | None, dict | None, str | None]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or set(entry) != set(signing.EXTERNAL_FIELDS):
                raise TypeError
            if not isinstance(entry["seq"], int) or not all(
                isinstance(entry[f], str) for f in signing.EXTERNAL_FIELDS if f != "seq"
            ):
                raise TypeError
        except (ValueError, TypeError):
            entries.append((number, None, f"line {number} of {path} is not a checkpoint"))
            continue
        entries.append((number, entry, None))
    return entries


def _as_stored(checkpoint: Checkpoint) -> dict:
    return json.loads(signing.external_line(checkpoint))


class _ChainVerifier:
    def __init__(self, name: str, external_dir, *, without_external: bool = False):
        self.name = name
        self.external_dir = external_dir
        self.without_external = without_external
        self.keys = signing.verify_keys()
        self.failures: list[_Broken] = []
        self.warnings: list[str] = []
        self.verified = 0
        self.anchors: dict[int, str] = {}
        self.db_checkpoints: dict[int, Checkpoint] = {}
        self.external_seqs: set[int] = set()
        self.head: Chain | None = None
        self.last_hash: str | None = None

    def fail(self, seq: int | None, reason: str) -> None:
        self.failures.append(_Broken(seq, reason))

    # Checkpoints, read before the head row: every honest one is then at or below the head.
    def load_checkpoints(self) -> None:
        # seq -> head_hash of every checkpoint whose signature verifies (database or file)
        now = timezone.now()
        previous: Checkpoint | None = None
        for checkpoint in Checkpoint.objects.filter(chain=self.name).order_by("seq").iterator():
            seq = checkpoint.seq
            self.db_checkpoints[seq] = checkpoint
            problem = signing.checkpoint_problem(checkpoint, self.keys)
            if problem:
                self.fail(seq, f"the checkpoint at {seq} is {problem}")
            else:
                self.anchors[seq] = checkpoint.head_hash
            expected = (
                GENESIS_HASH if previous is None else signing.record_hash("checkpoint", previous)
            )
            if checkpoint.prev_checkpoint_hash != expected:
                before = "the first" if previous is None else f"the one at {previous.seq}"
                self.fail(
                    seq,
                    f"the checkpoint at {seq} was not made after {before}: a checkpoint before "
                    "it was deleted, changed or replayed",
                )
            if previous is not None and checkpoint.created_at < previous.created_at:
                self.fail(
                    seq,
                    f"the checkpoint at {seq} is dated before the checkpoint at {previous.seq}",
                )
            if checkpoint.created_at > now + FUTURE_SKEW:
                self.fail(seq, f"the checkpoint at {seq} is dated in the future")
            previous = checkpoint
        self.load_external()

    def load_external(self) -> None:
        if self.without_external:
            self.warnings.append(
                f"chain {self.name}: NOT compared with the external checkpoint copy "
                "(--without-external): a history rewritten together with its checkpoint rows, "
                "or cut short with them, cannot be detected"
            )
            return
        folder = signing.external_path(self.name, self.external_dir).parent
        if not folder.is_dir():
            self.fail(
                None,
                f"the external checkpoint folder {folder} is missing: without it a history "
                "rewritten or cut short in the database cannot be detected (verify with "
                "--without-external to check the rest)",
            )
            return
        external = _read_external(self.name, self.external_dir)
        if not external and self.db_checkpoints:
            self.fail(
                min(self.db_checkpoints),
                f"the external copy of chain {self.name} is missing "
                f"({signing.external_path(self.name, self.external_dir)})",
            )
        for _number, entry, problem in external:
            if problem or entry is None:
                self.fail(None, f"the external checkpoint copy is damaged: {problem}")
                continue
            seq = entry["seq"]
            where = f"the external copy of the checkpoint at {seq}"
            if entry["chain"] != self.name:
                self.fail(seq, f"{where} names another chain, {entry['chain']!r}")
                continue
            problem = signing.signature_problem("checkpoint", entry, self.keys)
            if problem:
                self.fail(seq, f"{where} is {problem}")
                continue
            # A validly signed copy is evidence on its own, whatever the database says.
            self.external_seqs.add(seq)
            stored = self.db_checkpoints.get(seq)
            if stored is None:
                self.fail(seq, f"{where} is missing from the database")
            else:
                differ = sorted(k for k, v in _as_stored(stored).items() if entry[k] != v)
                if differ:
                    self.fail(seq, f"{where} differs from the database's in {', '.join(differ)}")
            self.anchors.setdefault(seq, entry["head_hash"])
        missing = sorted(set(self.db_checkpoints) - self.external_seqs)
        if missing:
            self.warnings.append(
                f"chain {self.name}: {len(missing)} checkpoint(s) not (yet) in the external "
                f"copy, the first at {missing[0]}"
            )

    def load_purges(self) -> None:
        """cut -> the signed purge record that removed events up to it."""
        self.cuts: dict[int, PurgeRecord] = {}
        records = PurgeRecord.objects.filter(chain=self.name).order_by("up_to_seq")
        expected_first = 1
        for record in records:
            where = f"the purge record of {record.first_seq}..{record.up_to_seq}"
            problem = signing.signature_problem("purge", record, self.keys)
            if problem:
                self.fail(record.first_seq, f"{where} is {problem}")
                continue
            cut_at = self.db_checkpoints.get(record.up_to_seq)
            if self.anchors.get(record.up_to_seq) != record.checkpoint_head_hash or (
                cut_at is not None and cut_at.id != record.checkpoint_id
            ):
                self.fail(record.up_to_seq, f"{where} does not cut at a signed checkpoint it names")
                continue
            if record.first_seq != expected_first:
                self.fail(expected_first, f"{where} does not follow the purge before it")
            expected_first = record.up_to_seq + 1
            self.cuts[record.up_to_seq] = record

    def start(self, first_seq: int | None) -> tuple[int, str]:
        """The first sequence number to expect and the hash it must link to."""
        if first_seq is not None and first_seq < 1:
            raise _Broken(first_seq, f"an event has the impossible sequence number {first_seq}")
        if first_seq is None or first_seq == 1:
            return 1, GENESIS_HASH
        base = first_seq - 1
        if base not in self.cuts:
            earlier = max((cut for cut in self.cuts if cut < base), default=0)
            raise _Broken(
                earlier + 1,
                f"{_span(earlier + 1, base, 'is', 'are')} missing, and no signed "
                "retention purge removed them",
            )
        return first_seq, self.cuts[base].checkpoint_head_hash

    def moved_from(self, seq: int, values: dict, prev_hash: str, stored_hash: str) -> int | None:
        """The sequence number this event was appended under, if its seq alone was changed."""
        if prev_hash == GENESIS_HASH:
            original = 1
        else:
            before = AccessEvent.objects.filter(chain=self.name, hash=prev_hash)
            found = before.values_list("seq", flat=True).first()
            if found is None:
                return None
            original = found + 1
        if original != seq and raw_event_hash(prev_hash, values | {"seq": original}) == stored_hash:
            return original
        return None

    def check_exact(self, seq: int, exact: tuple[dict | NotCanonical, str, str]) -> None:
        values, stored_prev, stored_hash = exact
        if isinstance(values, NotCanonical):
            raise _Broken(
                seq,
                f"event {seq} has its {values.column} stored as {values.raw!r}, not in its "
                "canonical form (it was changed)",
            )
        if raw_event_hash(stored_prev, values) != stored_hash:
            original = self.moved_from(seq, values, stored_prev, stored_hash)
            if original is not None:
                raise _Broken(
                    min(seq, original),
                    f"the event stored as {seq} was appended as {original}: events "
                    "were inserted, removed or reordered",
                )
            raise _Broken(seq, f"event {seq} does not match its hash (it was changed or moved)")

    def stream(self, expected: int, prev_hash: str, limit: int | None) -> int | None:
        """Check events in order; the sequence number of the last one."""
        trusted = expected - 1  # the last sequence number proven by a signed checkpoint
        last_seq = None
        query, render = fast_reader(connection.vendor)
        upper = limit if limit is not None else 2**62
        after = expected - 1
        anchor_at = self.anchors.get  # (looked up once: this loop runs a million times)
        # (the head's seq, not `limit`: a part of the chain checked in parallel ends before it)
        head_seq, head_hash = (self.head.head_seq, self.head.head_hash) if self.head else (0, "")
        while True:
            # (seq, prev_hash, hash, the raw hashed columns): rendered here to the canonical
            # JSON and hashed. A row not rendered so, or not matching, is read again raw and
            # judged by the reference, which names a column stored in a non-canonical form.
            with connection.cursor() as cursor:
                cursor.execute(query, [self.name, after, upper, BATCH_SIZE])
                batch = cursor.fetchall()
            if not batch:
                return last_seq
            exact = None  # the batch's raw rows, read at its first row not rendered alike
            for row in batch:
                seq, stored_prev, stored_hash = row[0], row[1], row[2]
                if seq != expected:  # always greater: the query asks for seq > the last one
                    raise _Broken(expected, f"{_span(expected, seq - 1, 'is', 'are')} missing")
                text = render(row)
                if text is None or (
                    sha256((stored_prev + text).encode()).hexdigest() != stored_hash
                ):
                    if exact is None:
                        exact = _exact_rows(self.name, after, batch[-1][0])
                    self.check_exact(seq, exact[seq])
                if stored_prev != prev_hash:
                    if trusted == seq - 1:
                        raise _Broken(seq, f"event {seq} does not link to the event before it")
                    raise _Broken(
                        seq - 1,
                        f"event {seq - 1} is not the event that event {seq} was appended after "
                        "(it was changed, inserted or replaced)",
                    )
                anchor = anchor_at(seq)
                if anchor is not None:
                    if anchor != stored_hash:
                        following = AccessEvent.objects.filter(chain=self.name, seq=seq + 1)
                        if following.values_list("prev_hash", flat=True).first() == anchor:
                            # The next event was appended after the signed one: only this
                            # event was replaced.
                            raise _Broken(
                                seq, f"event {seq} does not match the signed checkpoint at {seq}"
                            )
                        raise _Broken(
                            trusted + 1,
                            f"{_span(trusted + 1, seq, 'does', 'do')} not match the signed "
                            f"checkpoint at {seq} (history was rewritten)",
                        )
                    trusted = seq
                if seq == head_seq and stored_hash != head_hash:
                    raise _Broken(seq, f"the chain head row does not match event {seq}")
                prev_hash, expected, last_seq = stored_hash, seq + 1, seq
                self.last_hash = stored_hash
                self.verified += 1
            after = batch[-1][0]

    def parallel(self, expected: int, prev_hash: str, limit: int | None) -> bool:
        """Check events expected..limit in WORKERS processes at once, each streaming its own
        part; True when every part is whole and the parts link up. On any doubt (a part broken,
        an error) False: the caller then checks the chain in order, which locates the damage."""
        if WORKERS < 2 or limit is None or limit - expected < PARALLEL_MIN:
            return False
        if connection.in_atomic_block or connection.vendor not in ("sqlite", "postgresql"):
            return False
        size = (limit - expected + 1) // WORKERS
        bounds = [expected + i * size for i in range(WORKERS)] + [limit + 1]
        parts = []
        for i in range(WORKERS):
            first, last = bounds[i], bounds[i + 1] - 1
            start_prev: str | None = prev_hash
            if i > 0:
                at = AccessEvent.objects.filter(chain=self.name, seq=first)
                start_prev = at.values_list("prev_hash", flat=True).first()
            if start_prev is None:
                return False
            parts.append((first, start_prev, last))
        global _PARALLEL  # noqa: PLW0603 - handed to the forked workers
        _PARALLEL = self
        db_connections.close_all()  # each worker opens its own
        try:
            with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
                outcomes = pool.starmap(_verify_part, parts)
        except (OSError, multiprocessing.ProcessError):
            return False
        finally:
            _PARALLEL = None
        whole = [outcome for outcome in outcomes if outcome is not None]
        if len(whole) != WORKERS:
            return False
        for i in range(1, WORKERS):  # part i starts where part i - 1 ended
            if whole[i - 1][1] != parts[i][1]:
                return False
        self.verified = sum(outcome[0] for outcome in whole)
        self.last_hash = whole[-1][1]
        return True

    def run(self) -> Result:
        self.load_checkpoints()
        self.load_purges()
        self.head = Chain.objects.filter(name=self.name).first()
        bounds = AccessEvent.objects.filter(chain=self.name).aggregate(
            first=Min("seq"), last=Max("seq")
        )
        first_seq, last_seq = bounds["first"], bounds["last"]
        limit = self.head.head_seq if self.head is not None else None
        try:
            expected, prev_hash = self.start(first_seq)
            if not self.parallel(expected, prev_hash, limit):
                self.verified = 0
                self.stream(expected, prev_hash, limit)
        except _Broken as broken:
            self.failures.append(broken)
        self.check_ends(first_seq, last_seq)
        return self.result()

    def check_ends(self, first_seq: int | None, last_seq: int | None) -> None:
        known = last_seq or 0
        if self.head is None:
            if first_seq is not None:
                self.fail(first_seq, "the chain has events but no head row")
        elif self.head.head_seq > known:
            self.fail(
                known + 1,
                f"{_span(known + 1, self.head.head_seq, 'is', 'are')} missing "
                f"(the chain head is at {self.head.head_seq})",
            )
        beyond = [seq for seq in self.anchors if seq > known]
        beyond += [seq for seq in self.db_checkpoints if seq > known]
        beyond += [seq for seq in self.external_seqs if seq > known]
        beyond += [seq for seq in self.cuts if seq > known]
        if beyond:
            self.fail(
                known + 1,
                f"events from {known + 1} on are missing: a signed checkpoint is at "
                f"{max(beyond)} (the log was cut short)",
            )
        if self.head is not None and last_seq is not None:
            # Read the events before the head: a concurrent append moves both at once.
            newest = AccessEvent.objects.filter(chain=self.name).aggregate(last=Max("seq"))
            head_row = Chain.objects.filter(name=self.name).values_list("head_seq", flat=True)
            head_seq = head_row.first() or 0
            if newest["last"] is not None and newest["last"] > head_seq:
                self.fail(
                    head_seq + 1,
                    f"event {head_seq + 1} lies beyond the chain head "
                    "(it was not written by an append)",
                )
        self.unsigned = max(0, known - max(self.anchors, default=0))

    def result(self) -> Result:
        common: dict[str, Any] = {
            "chain": self.name,
            "events": self.verified,
            "checkpoints": len(self.db_checkpoints),
            "warnings": tuple(self.warnings),
            "unsequenced": unsequenced_count(self.name),
            "unsigned": getattr(self, "unsigned", 0),
        }
        if self.failures:
            worst = min(self.failures, key=lambda b: (b.seq is None, b.seq or 0))
            return Result(ok=False, first_bad_seq=worst.seq, reason=worst.reason, **common)
        return Result(ok=True, **common)


_PARALLEL: "_ChainVerifier | None" = None


def _verify_part(first: int, prev_hash: str, last: int) -> tuple[int, str | None] | None:
    """In a worker: (events verified, hash of the last) of first..last, or None if broken."""
    verifier = _PARALLEL
    if verifier is None:
        return None
    verifier.verified, verifier.last_hash = 0, None
    try:
        end = verifier.stream(first, prev_hash, last)
    except _Broken:
        return None
    finally:
        db_connections.close_all()
    if end != last:
        return None
    return verifier.verified, verifier.last_hash


def declared_chains() -> list[str]:
    """The chains this deployment declares (AUDIT_CHAINS, by default only AUDIT_CHAIN)."""
    values = getattr(settings, "AUDIT_CHAINS", None) or [settings.AUDIT_CHAIN]
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    return list(dict.fromkeys(values))


def verify_chain(
    name: str,
    *,
    external_dir: str | os.PathLike | None = None,
    without_external: bool = False,
) -> Result:
    """Verify one chain against the database and the external copy of its signing."""
    if name not in declared_chains():
        return Result(
            chain=name,
            ok=False,
            reason=(
                f"chain {name!r} is not declared by this deployment (AUDIT_CHAINS: "
                f"{', '.join(declared_chains())}): its events are not trusted"
            ),
        )
    directory = external_dir or settings.AUDIT_CHECKPOINT_DIR
    return _ChainVerifier(name, directory, without_external=without_external).run()


def chain_names(*, external_dir: str | os.PathLike | None = None) -> list[str]:
    """Every chain the database or the external copy knows of."""
    names = set(Chain.objects.values_list("name", flat=True))
    # order_by(): with the models' default ordering (chain, seq) DISTINCT would return every
    # (chain, seq) pair, a million rows in memory for a million events.
    names |= set(AccessEvent.objects.order_by().values_list("chain", flat=True).distinct())
    names |= set(Checkpoint.objects.order_by().values_list("chain", flat=True).distinct())
    names |= set(PurgeRecord.objects.order_by().values_list("chain", flat=True).distinct())
    names |= set(signing.external_chains(external_dir))
    return sorted(names)


def verify_all(
    *, external_dir: str | os.PathLike | None = None, without_external: bool = False
) -> list[Result]:
    """Every chain found: a declared one is verified, any other refused. (The change history
    is verified by `verify_changes`; `verify_audit` runs both.)"""
    return [
        verify_chain(name, external_dir=external_dir, without_external=without_external)
        for name in chain_names(external_dir=external_dir)
    ]


def duplicate_links(name: str) -> int:
    """How many prev_hash values more than one event links to (a fork); 0 when whole."""
    events = AccessEvent.objects.filter(chain=name).values("prev_hash")
    return events.annotate(n=Count("id")).filter(n__gt=1).count()


# --- the unsigned window, checked before a checkpoint signs it ----------------------------------


def window_problem(
    *, chain: str, previous: Checkpoint | None, seq: int, head_hash: str
) -> str | None:
    """Why events up to `seq` (ending in `head_hash`) must not be signed after the checkpoint
    `previous` (None: the chain's first), or None when every one of them checks: no gap, no
    purge without its signed record, every event hashing and linking to the last signature."""
    keys = signing.verify_keys()
    if previous is not None:
        problem = signing.checkpoint_problem(previous, keys)
        if problem:
            return f"the last checkpoint, at {previous.seq}, is {problem}"
    verifier = _ChainVerifier(chain, None, without_external=True)
    verifier.keys = keys
    first = AccessEvent.objects.filter(chain=chain).aggregate(first=Min("seq"))["first"]
    if first is None:
        return f"events 1..{seq} are missing"
    try:
        if first > 1:
            base = first - 1
            record = PurgeRecord.objects.filter(chain=chain, up_to_seq=base).first()
            if record is None or signing.signature_problem("purge", record, keys):
                return (
                    f"{_span(1, base, 'is', 'are')} missing, and no signed retention purge "
                    "removed them"
                )
        if previous is not None and previous.seq >= first:
            expected, prev_hash = previous.seq + 1, previous.head_hash
            at = AccessEvent.objects.filter(chain=chain, seq=previous.seq)
            if at.values_list("hash", flat=True).first() != previous.head_hash:
                return (
                    f"event {previous.seq} does not match the signed checkpoint at {previous.seq}"
                )
        elif previous is not None and previous.seq == first - 1:
            expected, prev_hash = first, previous.head_hash
        elif previous is None and first == 1:
            expected, prev_hash = 1, GENESIS_HASH
        else:
            return f"events before {first} are missing and no checkpoint signs where they end"
        verifier.last_hash = prev_hash
        last = verifier.stream(expected, prev_hash, seq)
    except _Broken as broken:
        return broken.reason
    if (last or expected - 1) != seq:
        return f"{_span((last or expected - 1) + 1, seq, 'is', 'are')} missing"
    if verifier.last_hash != head_hash:
        return f"event {seq} is not the head to be signed"
    return None


# --- change history (django-auditlog) -----------------------------------------------------------


def verify_changes() -> Result:
    """Check django-auditlog's rows against their seals and the signed digests of those."""
    return _verify_changes()


def _verify_changes() -> Result:
    """The change history against its seals and signed digests (unit "row")."""

    keys = signing.verify_keys()
    failures: list[tuple[int | None, str]] = []
    now = timezone.now()
    previous: ChangeDigest | None = None
    digests = 0
    for digest in ChangeDigest.objects.order_by("seq").iterator():
        digests += 1
        where = f"change digest {digest.seq} (rows {digest.first_entry_id}..{digest.last_entry_id})"
        problem = signing.signature_problem("change-digest", digest, keys)
        if problem:
            failures.append((digest.first_entry_id, f"{where} is {problem}"))
        expected_prev = (
            GENESIS_HASH if previous is None else signing.record_hash("change-digest", previous)
        )
        if digest.seq != (previous.seq + 1 if previous else 1) or (
            digest.prev_digest_hash != expected_prev
        ):
            failures.append(
                (digest.first_entry_id, f"{where} does not follow the digest before it")
            )
        if digest.created_at > now + FUTURE_SKEW or (
            previous is not None and digest.created_at < previous.created_at
        ):
            failures.append((digest.first_entry_id, f"{where} is dated out of order"))
        seals = list(
            ChangeSeal.objects.filter(digest_seq=digest.seq)
            .order_by("entry_id")
            .values_list("entry_id", "row_hash")
        )
        if len(seals) != digest.rows or history.digest_of(seals) != digest.digest:
            failures.append((digest.first_entry_id, f"the seals of {where} were changed"))
        previous = digest
    erased: dict[int, str] = {}
    for erasure in ChangeErasure.objects.iterator():
        problem = signing.signature_problem("change-erasure", erasure, keys)
        if problem:
            failures.append(
                (erasure.entry_id, f"the erasure of row {erasure.entry_id} is {problem}")
            )
        else:
            erased[erasure.entry_id] = erasure.row_hash
    columns = history._columns()
    id_at = columns.index("id")
    verified = unsealed = 0
    after = 0
    while True:
        seals = list(
            ChangeSeal.objects.filter(entry_id__gt=after)
            .order_by("entry_id")
            .values_list("entry_id", "row_hash")[: history.BATCH]
        )
        if not seals:
            break
        upto = seals[-1][0]
        rows = {row[id_at]: row for row in history._rows("id > %s AND id <= %s", [after, upto])}
        for entry_id, sealed_hash in seals:
            row = rows.pop(entry_id, None)
            if row is None:
                if erased.get(entry_id) != sealed_hash:
                    failures.append(
                        (entry_id, f"change-history row {entry_id} was deleted (no signed erasure)")
                    )
                continue
            if history.row_hash(columns, row) != sealed_hash:
                failures.append((entry_id, f"change-history row {entry_id} was altered"))
                continue
            verified += 1
        unsealed += len(rows)
        after = upto
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {history.TABLE} WHERE id > %s", [after])  # noqa: S608
        unsealed += cursor.fetchone()[0]
    warnings = (
        (f"{history.CHAIN_LABEL}: {unsealed} rows are not yet sealed by a signed digest",)
        if unsealed
        else ()
    )
    common: dict[str, Any] = {
        "chain": history.CHAIN_LABEL,
        "events": verified,
        "checkpoints": digests,
        "warnings": warnings,
        "unit": "row",
    }
    if failures:
        seq, reason = min(failures, key=lambda f: (f[0] is None, f[0] or 0))
        return Result(ok=False, first_bad_seq=seq, reason=reason, **common)
    return Result(ok=True, **common)
