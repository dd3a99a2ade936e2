"""Verification of the access log: recompute every chain and check it against its checkpoints.

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
only when a signed checkpoint at the cut gives the hash the first remaining event links to, and
the purge's own event (which names the cut) is covered by a later signed checkpoint.

The result names the first sequence number that cannot be trusted and why.
"""

import json
import os
import re
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min

from audit import checkpoints
from audit.chain import event_hash
from audit.models import GENESIS_HASH, HASHED_FIELDS, AccessEvent, Chain, Checkpoint

BATCH_SIZE = 10000
STREAMED_FIELDS = list(dict.fromkeys([*HASHED_FIELDS, "prev_hash", "hash"]))

PURGE_RESOURCE = "audit-purge"
_PURGE_PURPOSE = re.compile(r"retention purge up to sequence (\d+)")


def purge_purpose(cut: int) -> str:
    """The purpose of the event that `purge_audit` appends after removing events 1..cut."""
    return f"retention purge up to sequence {cut}"


# --- The database renders each event's canonical JSON (audit.chain.canonical_json) ---------------
# Reading four strings a row instead of twenty converted fields makes verification several times
# faster. The rendering is exact for the values the app writes; a value it renders differently
# (say, a JSON list whose items hold '", "') only sends that row down the exact Python path.


def _pg_string(column: str) -> str:
    return f"COALESCE(pg_catalog.to_json({column})::text, 'null')"


def _pg_uuid(column: str) -> str:
    return f"COALESCE('\"' || {column}::text || '\"', 'null')"


def _pg_list(column: str) -> str:  # jsonb prints '["a", "b"]'; canonical is '["a","b"]'
    return f"pg_catalog.replace({column}::text, '\", \"', '\",\"')"


def _sqlite_string(column: str) -> str:
    return f"COALESCE(json_quote({column}), 'null')"


def _sqlite_uuid(column: str) -> str:  # stored as 32 hex digits
    parts = " || '-' || ".join(
        f"substr({column}, {start}, {length})"
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    )
    return f"COALESCE('\"' || {parts} || '\"', 'null')"


def _sqlite_list(column: str) -> str:  # stored by json.dumps: '["a", "b"]'
    return f"replace({column}, '\", \"', '\",\"')"


_UUIDS = {"user_id", "organisation_id", "case_id", "family_id", "controller_id"}
_LISTS = {"categories", "disclosed_from", "consents"}


def _rendered(vendor: str, name: str) -> str:
    postgres = vendor == "postgresql"
    if name == "seq":
        return "CAST(seq AS TEXT)"
    if name == "emergency":  # anything but a plain true or false goes the exact way
        if postgres:
            return "CASE WHEN emergency THEN 'true' WHEN NOT emergency THEN 'false' END"
        return "CASE WHEN emergency = 1 THEN 'true' WHEN emergency = 0 THEN 'false' END"
    if name == "created_at":
        if postgres:
            return (
                "'\"' || pg_catalog.to_char(created_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00\"'"
            )
        return (
            "'\"' || replace(created_at, ' ', 'T') || "
            "CASE WHEN length(created_at) = 19 THEN '.000000' ELSE '' END || '+00:00\"'"
        )
    if name in _UUIDS:
        return _pg_uuid(name) if postgres else _sqlite_uuid(name)
    if name in _LISTS:
        return _pg_list(name) if postgres else _sqlite_list(name)
    if name == "client_address" and postgres:  # as inet's output: no "/32" (unlike ::text)
        return _pg_string("pg_catalog.abbrev(client_address)")
    return _pg_string(name) if postgres else _sqlite_string(name)


def _batch_query(vendor: str) -> str:
    """(seq, prev_hash, hash, canonical JSON) of the next events of a chain, in order; other
    databases get NULL for the JSON, which sends every row down the Python path."""
    if vendor in ("postgresql", "sqlite"):
        pieces = [
            f"'{'{' if i == 0 else ','}\"{name}\":' || {_rendered(vendor, name)}"
            for i, name in enumerate(sorted(HASHED_FIELDS))
        ]
        canonical = " || ".join(pieces) + " || '}'"
    else:
        canonical = "NULL"
    table = AccessEvent._meta.db_table
    # Only fixed column names and the model's own table name go into the text.
    return (
        f"SELECT seq, prev_hash, hash, {canonical} FROM {table} "  # noqa: S608
        "WHERE chain = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
    )


@dataclass(frozen=True)
class Result:
    chain: str
    ok: bool
    events: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return (
                f"chain {self.chain}: {self.events} events verified, {self.checkpoints} checkpoints"
            )
        if self.first_bad_seq is None:
            return f"chain {self.chain}: broken: {self.reason}"
        return f"chain {self.chain}: broken at sequence {self.first_bad_seq}: {self.reason}"

    def as_dict(self) -> dict:
        return {
            "chain": self.chain,
            "ok": self.ok,
            "events": self.events,
            "checkpoints": self.checkpoints,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


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
        path = checkpoints.external_path(name, directory)
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
            fields: tuple[Any, ...] = (entry["chain"], entry["seq"], entry["head_hash"])
            fields += (entry["key_id"], entry["signature"])
            if not isinstance(entry["seq"], int) or not all(isinstance(f, str) for f in fields[2:]):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            entries.append((number, None, f"line {number} of {path} is not a checkpoint"))
            continue
        entries.append((number, entry, None))
    return entries


class _ChainVerifier:
    def __init__(self, name: str, external_dir):
        self.name = name
        self.external_dir = external_dir
        self.keys = checkpoints.verify_keys()
        self.failures: list[_Broken] = []
        self.verified = 0

    def fail(self, seq: int | None, reason: str) -> None:
        self.failures.append(_Broken(seq, reason))

    # Checkpoints, read before the head row: every honest one is then at or below the head.
    def load_checkpoints(self) -> None:
        # seq -> head_hash of every checkpoint whose signature verifies (database or file)
        self.anchors: dict[int, str] = {}
        self.db_checkpoints: dict[int, Checkpoint] = {}
        self.external_seqs: set[int] = set()
        external = _read_external(self.name, self.external_dir)
        for checkpoint in Checkpoint.objects.filter(chain=self.name).order_by("seq").iterator():
            self.db_checkpoints[checkpoint.seq] = checkpoint
            problem = checkpoints.checkpoint_problem(checkpoint, self.keys)
            if problem:
                self.fail(checkpoint.seq, f"the checkpoint at {checkpoint.seq} is {problem}")
            else:
                self.anchors[checkpoint.seq] = checkpoint.head_hash
        for _number, entry, problem in external:
            if problem or entry is None:
                self.fail(None, f"the external checkpoint copy is damaged: {problem}")
                continue
            seq = entry["seq"]
            where = f"the external copy of the checkpoint at {seq}"
            problem = checkpoints.signature_problem(
                chain=entry["chain"],
                seq=seq,
                head_hash=entry["head_hash"],
                key_id=entry["key_id"],
                signature=entry["signature"],
                keys=self.keys,
            )
            stored = self.db_checkpoints.get(seq)
            if entry["chain"] != self.name:
                self.fail(seq, f"{where} names another chain, {entry['chain']!r}")
                continue
            if problem:
                self.fail(seq, f"{where} is {problem}")
                continue
            # A validly signed copy is evidence on its own, whatever the database says.
            self.external_seqs.add(seq)
            if stored is None:
                self.fail(seq, f"{where} is missing from the database")
            elif stored.head_hash != entry["head_hash"]:
                self.fail(seq, f"{where} names another head hash than the database's")
            self.anchors.setdefault(seq, entry["head_hash"])

    def start(self, first_seq: int | None) -> tuple[int, str]:
        """The first sequence number to expect and the hash it must link to."""
        if first_seq is not None and first_seq < 1:
            raise _Broken(first_seq, f"an event has the impossible sequence number {first_seq}")
        if first_seq is None or first_seq == 1:
            return 1, GENESIS_HASH
        base = first_seq - 1
        cuts = self.purge_cuts()
        covered = max(self.anchors, default=0)
        legal = {cut for cut, seq in cuts.items() if cut in self.anchors and seq <= covered}
        if base not in legal:
            earlier = max((cut for cut in legal if cut < base), default=0)
            raise _Broken(
                earlier + 1,
                f"{_span(earlier + 1, base, 'is', 'are')} missing, and no signed "
                "retention purge removed them",
            )
        return first_seq, self.anchors[base]

    def purge_cuts(self) -> dict[int, int]:
        """cut -> sequence number of the purge event that names it."""
        cuts: dict[int, int] = {}
        events = AccessEvent.objects.filter(chain=self.name, resource=PURGE_RESOURCE)
        for seq, purpose in events.values_list("seq", "purpose"):
            match = _PURGE_PURPOSE.fullmatch(purpose)
            if match and int(match.group(1)) < seq:
                cuts.setdefault(int(match.group(1)), seq)
        return cuts

    def moved_from(self, event: Any) -> int | None:
        """The sequence number this event (a named-tuple row of STREAMED_FIELDS) was appended
        under, if its seq alone was changed."""
        if event.prev_hash == GENESIS_HASH:
            original = 1
        else:
            before = AccessEvent.objects.filter(chain=self.name, hash=event.prev_hash)
            seq = before.values_list("seq", flat=True).first()
            if seq is None:
                return None
            original = seq + 1
        moved = event._replace(seq=original)
        if original != event.seq and event_hash(event.prev_hash, moved) == event.hash:
            return original
        return None

    def stream(self, expected: int, prev_hash: str, limit: int | None) -> int | None:
        """Check events in order; the sequence number of the last one."""
        trusted = expected - 1  # the last sequence number proven by a signed checkpoint
        last_seq = None
        events = AccessEvent.objects.filter(chain=self.name).order_by("seq")
        if limit is not None:
            events = events.filter(seq__lte=limit)
        query = _batch_query(connection.vendor)
        upper = limit if limit is not None else 2**62
        after = expected - 1
        while True:
            # (seq, prev_hash, hash, the canonical JSON as the database renders it): plain
            # strings, hashed here. A row that does not match so is read again as a named tuple
            # and judged by event_hash, so the rendering can cost time, never a wrong verdict.
            with connection.cursor() as cursor:
                cursor.execute(query, [self.name, after, upper, BATCH_SIZE])
                batch = cursor.fetchall()
            if not batch:
                return last_seq
            exact = None  # the batch as named tuples, read at its first row not rendered alike
            for seq, stored_prev, stored_hash, canonical in batch:
                if seq != expected:  # always greater: the query asks for seq > the last one
                    raise _Broken(expected, f"{_span(expected, seq - 1, 'is', 'are')} missing")
                rendered = canonical is not None and (
                    sha256((stored_prev + canonical).encode()).hexdigest() == stored_hash
                )
                if not rendered:
                    if exact is None:
                        rows = events.filter(seq__gt=after, seq__lte=batch[-1][0])
                        rows = rows.values_list(*STREAMED_FIELDS, named=True)
                        exact = {row.seq: row for row in rows}
                    event = exact[seq]
                    if event_hash(event.prev_hash, event) != event.hash:
                        original = self.moved_from(event)
                        if original is not None:
                            raise _Broken(
                                min(seq, original),
                                f"the event stored as {seq} was appended as {original}: events "
                                "were inserted, removed or reordered",
                            )
                        raise _Broken(
                            seq, f"event {seq} does not match its hash (it was changed or moved)"
                        )
                if stored_prev != prev_hash:
                    if trusted == seq - 1:
                        raise _Broken(seq, f"event {seq} does not link to the event before it")
                    raise _Broken(
                        seq - 1,
                        f"event {seq - 1} is not the event that event {seq} was appended after "
                        "(it was changed, inserted or replaced)",
                    )
                anchor = self.anchors.get(seq)
                if anchor is not None:
                    if anchor != stored_hash:
                        following = events.filter(seq=seq + 1).values_list("prev_hash", flat=True)
                        if following.first() == anchor:
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
                if seq == limit and self.head is not None and stored_hash != self.head.head_hash:
                    raise _Broken(seq, f"the chain head row does not match event {seq}")
                prev_hash, expected, last_seq = stored_hash, seq + 1, seq
                self.verified += 1
            after = batch[-1][0]

    def run(self) -> Result:
        self.load_checkpoints()
        self.head = Chain.objects.filter(name=self.name).first()
        bounds = AccessEvent.objects.filter(chain=self.name).aggregate(
            first=Min("seq"), last=Max("seq")
        )
        first_seq, last_seq = bounds["first"], bounds["last"]
        limit = self.head.head_seq if self.head is not None else None
        try:
            expected, prev_hash = self.start(first_seq)
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

    def result(self) -> Result:
        if self.failures:
            worst = min(self.failures, key=lambda b: (b.seq is None, b.seq or 0))
            return Result(
                chain=self.name,
                ok=False,
                events=self.verified,
                checkpoints=len(self.db_checkpoints),
                first_bad_seq=worst.seq,
                reason=worst.reason,
            )
        return Result(
            chain=self.name,
            ok=True,
            events=self.verified,
            checkpoints=len(self.db_checkpoints),
        )


def verify_chain(name: str, *, external_dir: str | os.PathLike | None = None) -> Result:
    """Verify one chain against the database and the external copy of its checkpoints."""
    directory = external_dir or settings.AUDIT_CHECKPOINT_DIR
    return _ChainVerifier(name, directory).run()


def chain_names(*, external_dir: str | os.PathLike | None = None) -> list[str]:
    """Every chain the database or the external copy knows of."""
    names = set(Chain.objects.values_list("name", flat=True))
    # order_by(): with the models' default ordering (chain, seq) DISTINCT would return every
    # (chain, seq) pair, a million rows in memory for a million events.
    names |= set(AccessEvent.objects.order_by().values_list("chain", flat=True).distinct())
    names |= set(Checkpoint.objects.order_by().values_list("chain", flat=True).distinct())
    names |= set(checkpoints.external_chains(external_dir))
    return sorted(names)


def verify_all(*, external_dir: str | os.PathLike | None = None) -> list[Result]:
    return [
        verify_chain(name, external_dir=external_dir)
        for name in chain_names(external_dir=external_dir)
    ]


def duplicate_links(name: str) -> int:
    """How many prev_hash values more than one event links to (a fork); 0 when whole."""
    events = AccessEvent.objects.filter(chain=name).values("prev_hash")
    return events.annotate(n=Count("id")).filter(n__gt=1).count()
