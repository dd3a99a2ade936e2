"""Access-log appends with N concurrent writer processes on PostgreSQL (issue 13), side by side
with a floor, one event per transaction as a request writes it.

    BENCH_PG=koordinointi_bench .venv/bin/python bench/audit_appends.py [--seconds 5]
        [--writers 1,2,4,8,16] [--no-locked] [--output docs/benchmarks.md]

For each N, three phases of `--seconds` each (in `--rounds` slices, interleaved so that the
machine's drift hits all three alike), with N writer processes (forked, one database
connection each) committing as fast as they can:

- floor: the writers insert the very rows a request logs, through the same code
  (`audit.sequencer.submit`), into a plain table with no chain (`bench_floor`, made LIKE the
  intake: same columns and indexes);
- logged: the same into the intake, while one sequencer process (`audit.sequencer.run`, as
  `manage.py run_sequencer` runs it) chains them; the sequencing delay of each event is the
  time from the commit of its writer's transaction to the commit of the batch that chained it;
- locked (the write path before issue 13, for reference): `audit.chain.append` in the
  writer's transaction, the chain head's row lock held through commit.

After each N the chains are checked: sequence numbers 1..count without a gap, no two events
linked to the same predecessor (no fork), every event chained, `verify_chain` whole. The table
goes to stdout and into `--output` between the markers `<!-- audit_appends -->` (replaced on a
re-run). A benchmark, not a test: read the ratios; the machine is shared and noisy.
"""

import argparse
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(os.environ.get("BENCH_DIR", ROOT / ".bench"))
WORKDIR.mkdir(parents=True, exist_ok=True)

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
os.environ["DATABASE_URL"] = f"{PG_URL}/{os.environ.get('BENCH_PG', 'koordinointi_bench')}"
os.environ.update(
    {
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef",
        "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE=",
        "BLIND_INDEX_KEY": "benchmark-only",
        "AUDIT_SIGNING_KEY": "55" * 32,
        "CONSENT_SIGNING_KEY": "66" * 32,
        "AUDIT_CHECKPOINT_DIR": str(WORKDIR / "append-checkpoints"),
        "AUDIT_SEQUENCING": "background",
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "LOG_LEVEL": "ERROR",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
)

import uuid  # noqa: E402

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from audit import chain as audit_chain  # noqa: E402
from audit import sequencer  # noqa: E402
from audit.models import AccessEvent, PendingEvent  # noqa: E402
from audit.verify import duplicate_links, verify_chain  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- audit_appends -->", "<!-- /audit_appends -->"
FORK = multiprocessing.get_context("fork")
ORGANISATIONS = [uuid.uuid4() for _ in range(8)]


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    for path in (WORKDIR / "append-checkpoints").glob("*.jsonl"):
        path.unlink()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor (LIKE audit_pendingevent INCLUDING ALL)")


def a_read(worker: int, number: int) -> AccessEvent:
    """One event as a network member's case read logs it."""
    return AccessEvent(
        user_id=uuid.uuid4(),
        username=f"worker.{worker}",
        organisation_id=ORGANISATIONS[worker % len(ORGANISATIONS)],
        role=AccessEvent.Role.MEMBER,
        case_id=uuid.uuid4(),
        family_id=uuid.uuid4(),
        controller_id=ORGANISATIONS[0],
        resource="case",
        categories=["basic", "notes_health"],
        action=AccessEvent.Action.VIEW,
        outcome=AccessEvent.Outcome.ALLOWED,
        disclosed_from=[str(ORGANISATIONS[0])],
        consents=[str(uuid.uuid4())],
        request_id=uuid.uuid4().hex,
        client_address="10.0.0.1",
    )


def writer(mode, chain, worker, seconds, ready, start, counts) -> None:
    connections.close_all()  # never share the parent's connection
    if mode == "floor":
        PendingEvent._meta.db_table = "bench_floor"  # the same code, a table with no chain
    write = audit_chain.append if mode == "locked" else sequencer.submit
    committed: dict[uuid.UUID, float] = {}
    ready.release()
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = a_read(worker, len(committed))
        with transaction.atomic():  # the request's own transaction
            write([event], chain=chain)
        committed[event.pk] = time.time()
    counts.put(committed)
    connections.close_all()


def sequencer_process(chain, stop_flag, delays) -> None:
    connections.close_all()
    stop = threading.Event()
    threading.Thread(target=lambda: (stop_flag.wait(), stop.set()), daemon=True).start()
    seen: dict[uuid.UUID, float] = {}

    def on_batch(name, events):
        now = time.time()  # the batch has committed
        seen.update((event.pk, now) for event in events)

    sequencer.run([chain], stop=stop, on_batch=on_batch)
    delays.put(seen)


def phase(mode: str, chain: str, writers: int, seconds: float) -> tuple[float, list[float]]:
    """Events committed per second by the writers, and the sequencing delays (logged)."""
    connections.close_all()
    ready, start = FORK.Semaphore(0), FORK.Event()
    counts, delays, stop_flag = FORK.Queue(), FORK.Queue(), FORK.Event()
    helper = None
    if mode == "logged":
        helper = FORK.Process(target=sequencer_process, args=(chain, stop_flag, delays))
        helper.start()
    procs = [
        FORK.Process(target=writer, args=(mode, chain, w, seconds, ready, start, counts))
        for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    start.set()
    committed: dict[uuid.UUID, float] = {}
    for _ in procs:
        committed.update(counts.get())
    for proc in procs:
        proc.join()
    total = len(committed)
    waited: list[float] = []
    if helper is not None:
        deadline = time.monotonic() + 120
        while sequencer.unsequenced_count(chain) and time.monotonic() < deadline:
            time.sleep(0.05)
        connections.close_all()
        stop_flag.set()
        sequenced = delays.get()
        helper.join()
        waited = [sequenced[pk] - at for pk, at in committed.items()]
    return total / seconds, waited


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def chain_problems(chain: str, expected: int) -> list[str]:
    problems = []
    seqs = AccessEvent.objects.filter(chain=chain).values_list("seq", flat=True)
    count, low, high = len(seqs), min(seqs, default=0), max(seqs, default=0)
    if (count, low, high) != (expected, 1 if expected else 0, expected):
        problems.append(f"{count} events, seq {low}..{high}, {expected} written")
    if duplicate_links(chain):
        problems.append("fork")
    if sequencer.unsequenced_count(chain):
        problems.append("events left unsequenced")
    result = verify_chain(chain)
    if not result.ok:
        problems.append(str(result))
    return problems


def write_output(path: Path, text: str) -> None:
    block = f"{MARK_BEGIN}\n{text}{MARK_END}\n"
    old = path.read_text() if path.exists() else ""
    if MARK_BEGIN in old and MARK_END in old:
        before, rest = old.split(MARK_BEGIN, 1)
        after = rest.split(MARK_END, 1)[1].lstrip("\n")
        new = before + block + after
    else:
        new = old.rstrip("\n") + "\n\n" + block if old else block
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0, help="Per phase and N, in all.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved slices per phase.")
    parser.add_argument("--writers", default="1,2,4,8,16")
    parser.add_argument("--no-locked", action="store_true", help="Skip the locked reference.")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark is for PostgreSQL (BENCH_PG names its database).")

    reset_database()
    rows = []
    all_ok = True
    slice_seconds = args.seconds / args.rounds
    for n in [int(part) for part in args.writers.split(",")]:
        floor = logged = locked_sum = 0.0
        delays: list[float] = []
        for _ in range(args.rounds):  # interleaved, so that the machine's drift hits all alike
            floor += phase("floor", "floor", n, slice_seconds)[0] / args.rounds
            rate, waited = phase("logged", f"logged-{n}", n, slice_seconds)
            logged += rate / args.rounds
            delays += waited
            if not args.no_locked:
                locked_sum += phase("locked", f"locked-{n}", n, slice_seconds)[0] / args.rounds
        locked = None if args.no_locked else locked_sum
        problems = chain_problems(f"logged-{n}", round(logged * args.seconds))
        if locked is not None:
            problems += chain_problems(f"locked-{n}", round(locked * args.seconds))
        all_ok = all_ok and not problems
        rows.append((n, floor, logged, delays, locked, problems))
        print(
            f"N={n}: floor {floor:.0f}/s, logged {logged:.0f}/s ({logged / floor:.0%}), "
            f"delay p50 {percentile(delays, 0.5) * 1000:.0f} ms p99 "
            f"{percentile(delays, 0.99) * 1000:.0f} ms"
            + (f", locked {locked:.0f}/s" if locked is not None else "")
            + (f"; PROBLEMS: {problems}" if problems else ""),
            flush=True,
        )

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    lines = [
        "## Access-log appends with N writers (issue 13): `bench/audit_appends.py`",
        "",
        f"{version}, {os.cpu_count()} cores (shared), `synchronous_commit` as configured; "
        f"{args.seconds:g} s per phase in {args.rounds} interleaved slices, each writer a "
        "process committing one event per transaction; one sequencer process. Floor: the "
        "same rows through the same code into a plain table with no chain. Delay: from the "
        "commit of an event's transaction to the commit of the sequencer's batch that chained "
        "it. Locked: the write path before issue 13 (`chain.append` in the request's "
        "transaction).",
        "",
        "| N | floor ev/s | logged ev/s | logged / floor | delay p50 ms | delay p99 ms "
        "| delay max ms | locked ev/s (before) | chains |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, floor, logged, delays, locked, problems in rows:
        lines.append(
            f"| {n} | {floor:,.0f} | {logged:,.0f} | {logged / floor:.0%} "
            f"| {percentile(delays, 0.5) * 1000:.0f} | {percentile(delays, 0.99) * 1000:.0f} "
            f"| {max(delays) * 1000:.0f} | "
            + (f"{locked:,.0f}" if locked is not None else "–")
            + " | "
            + ("whole: no gap, no fork, all chained" if not problems else "; ".join(problems))
            + " |"
        )
    met = all(logged >= 0.8 * floor for _, floor, logged, *_ in rows)
    p99_ok = all(percentile(delays, 0.99) < 1.0 for _, _, _, delays, *_ in rows)
    lines += [
        "",
        f"Targets: logged ≥ 80% of the floor at every N — {'met' if met else 'NOT met'}; "
        f"delay p99 < 1 s — {'met' if p99_ok else 'NOT met'}; no fork, no gap — "
        f"{'met' if all_ok else 'NOT met'}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_output(Path(args.output), text)


if __name__ == "__main__":
    main()
