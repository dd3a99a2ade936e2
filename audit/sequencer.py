"""The sequencer: chains the events that requests committed to the intake, in batches.

A request must never show data without its log entry, but it need not wait for the chain: in
background sequencing (`AUDIT_SEQUENCING`, the default on PostgreSQL) `submit` inserts the
request's events into the intake (audit.models.PendingEvent) in the request's own transaction,
one INSERT, no lock anyone else waits for. A sequencer then takes a batch of committed intake
rows and, in one transaction under the chain head's row lock, gives them seq, prev_hash and hash
(audit.chain._append), inserts them into AccessEvent, deletes them from the intake, moves the
head and lets `checkpoints.after_append` sign. As in Trillian's and Tessera's sequencers, the
order in the chain is the order of sequencing, not of the requests' clocks.

One sequencer per chain is the leader, elected with a PostgreSQL session advisory lock
(`pg_try_advisory_lock`): every app server starts one (`start_in_background`, from the
`post_worker_init` hook of gunicorn.conf.py) or runs `manage.py run_sequencer`, and only the
holder works; when its process dies the database drops its session and the lock, and the next
to try leads. The lock only saves wasted work: correctness rests on the head row lock, so even
two sequencers at once could not fork the chain or chain an event twice (the second one reads
the intake after the first one's commit). A sequencer killed mid-batch leaves nothing: its
transaction rolls back, the events stay in the intake, the next leader chains them.

In inline sequencing (the default on SQLite, whose single writer gains nothing from a queue)
`submit` appends in the request's transaction at once. `sequence_pending` chains whatever is
waiting, for tests and commands; on SQLite the same code runs in one process.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count

from audit import chain as audit_chain
from audit.models import AccessEvent, Chain, PendingEvent, insert_rows

logger = logging.getLogger(__name__)

_INTAKE_FIELDS = [field.attname for field in PendingEvent._meta.concrete_fields]


def background() -> bool:
    return settings.AUDIT_SEQUENCING == "background"


def submit(events: list[AccessEvent], *, chain: str | None = None) -> list[AccessEvent]:
    """Log `events` (unsaved) in the caller's transaction: into the intake (background) or
    straight onto the chain (inline)."""
    if not events:
        return []
    name = chain or audit_chain.default_chain()
    if not background():
        return audit_chain.append(events, chain=name)
    for event in events:
        event.chain = name
    insert_rows(
        [PendingEvent(**{f: getattr(event, f) for f in _INTAKE_FIELDS}) for event in events]
    )
    return events


def sequence_batch(name: str, limit: int | None = None, *, look: bool = True) -> list[AccessEvent]:
    """Chain up to `limit` of the chain's committed intake rows, oldest first, in one
    transaction; returns the events chained (none when the intake is empty). With `look`, an
    empty intake costs one EXISTS and takes no lock (a busy sequencer skips the look)."""
    limit = limit or settings.AUDIT_SEQUENCER_BATCH
    waiting = PendingEvent.objects.filter(chain=name)
    if look and not waiting.exists():
        return []
    with transaction.atomic():
        head = Chain.locked_head(name)
        # Read under the lock: rows another sequencer chained before we got it are gone.
        rows = waiting.order_by("created_at", "id").values_list(*_INTAKE_FIELDS)[:limit]
        events = [AccessEvent(**dict(zip(_INTAKE_FIELDS, row, strict=True))) for row in rows]
        if not events:
            return []
        audit_chain._link(events, name, head)
        ids = [event.pk for event in events]
        if connection.vendor == "postgresql":
            _move_in_database(events)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM audit_pendingevent WHERE id = ANY(%s)", [ids])
        else:
            insert_rows(events)
            # After the insert: the intake's trigger lets a row go only once it is chained.
            PendingEvent.objects.filter(pk__in=ids).delete()
        audit_chain._advance(name, head, events)
    return events


_COLUMNS = ", ".join(f.column for f in PendingEvent._meta.concrete_fields)
_MOVE = (
    f"INSERT INTO audit_accessevent (seq, prev_hash, hash, {_COLUMNS}) "  # noqa: S608 - names
    f"SELECT link.seq, link.prev_hash, link.hash, "
    f"{', '.join(f'intake.{c}' for c in _COLUMNS.split(', '))} "
    "FROM unnest(%s::uuid[], %s::bigint[], %s::varchar[], %s::varchar[]) "
    "AS link(id, seq, prev_hash, hash) "
    "JOIN audit_pendingevent AS intake ON intake.id = link.id"
)


def _move_in_database(events: list[AccessEvent]) -> None:
    """Insert the linked events into the chain from their intake rows (PostgreSQL): only the
    ids and the links travel, not 20 columns a row through the ORM (several times faster)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE,
            [
                [e.pk for e in events],
                [e.seq for e in events],
                [e.prev_hash for e in events],
                [e.hash for e in events],
            ],
        )
        if cursor.rowcount != len(events):  # an intake row changed under the lock: impossible
            raise DatabaseError("audit sequencer: intake rows vanished during the move")


def sequence_pending(chain: str | None = None, *, limit: int | None = None) -> int:
    """Chain everything waiting in the intake for `chain` (default: this deployment's), batch
    by batch; returns how many events were chained."""
    name = chain or audit_chain.default_chain()
    limit = limit or settings.AUDIT_SEQUENCER_BATCH
    total = 0
    while True:
        done = len(sequence_batch(name, limit))
        total += done
        if done < limit:
            return total


def unsequenced_count(chain: str | None = None) -> int:
    """Events committed but not yet chained (for `chain`, or for all chains)."""
    waiting = PendingEvent.objects.all()
    if chain is not None:
        waiting = waiting.filter(chain=chain)
    return waiting.count()


def unsequenced_counts() -> dict[str, int]:
    """Events committed but not yet chained, by chain (chains with none are left out)."""
    rows = PendingEvent.objects.values("chain").annotate(n=Count("id")).order_by("chain")
    return {row["chain"]: row["n"] for row in rows}


# --- leader election ---------------------------------------------------------------------------


def lock_key(name: str) -> int:
    """The advisory lock key of a chain's sequencer: a signed 64-bit number from its name."""
    digest = hashlib.sha256(f"audit-sequencer:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_lead(name: str) -> bool:
    """Become the chain's sequencer if no other session is (PostgreSQL); SQLite has one
    process, which always leads."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)])
        return bool(cursor.fetchone()[0])


def step_down(name: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])


def run(
    chains: Iterable[str],
    *,
    stop: threading.Event,
    interval: float | None = None,
    limit: int | None = None,
    retry: float = 1.0,
    on_batch: Callable[[str, list[AccessEvent]], None] | None = None,
) -> None:
    """Sequence `chains` until `stop` is set: lead each chain it can (trying again every
    `retry` seconds for the others), chain a batch of each led chain, and when every intake
    was empty wait `interval` seconds (under load, batches follow one another and grow with
    the load). A database error drops leadership and starts over."""
    names = sorted(set(chains))
    interval = settings.AUDIT_SEQUENCER_INTERVAL if interval is None else interval
    limit = limit or settings.AUDIT_SEQUENCER_BATCH
    leading: set[str] = set()
    busy_chains: set[str] = set()
    next_try = 0.0
    try:
        while not stop.is_set():
            busy = False
            try:
                if len(leading) < len(names) and time.monotonic() >= next_try:
                    leading |= {name for name in names if name not in leading and try_lead(name)}
                    next_try = time.monotonic() + retry
                for name in names:
                    if name in leading:
                        events = sequence_batch(name, limit, look=name not in busy_chains)
                        if events and on_batch is not None:
                            on_batch(name, events)
                        if events:
                            busy_chains.add(name)
                        else:
                            busy_chains.discard(name)
                        busy = busy or bool(events)
            except DatabaseError:
                logger.exception("audit sequencer: database error; starting over")
                leading.clear()  # a lost session has lost its advisory locks too
                connection.close()
                stop.wait(retry)
                continue
            if not busy:
                stop.wait(interval)
    finally:
        try:
            for name in leading:
                step_down(name)
        except DatabaseError:
            pass
        connection.close()


def start_in_background(chains: Iterable[str] | None = None) -> threading.Thread | None:
    """Start a daemon thread running the sequencer of `chains` (default: this deployment's)
    when sequencing is in the background; every app server process may call this, one leads."""
    if not background():
        return None
    names = list(chains or [audit_chain.default_chain()])
    thread = threading.Thread(
        target=run,
        args=(names,),
        kwargs={"stop": threading.Event()},
        name="audit-sequencer",
        daemon=True,
    )
    thread.start()
    return thread
