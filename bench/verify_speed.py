"""How fast `verify_audit` checks a chain, and how much memory it takes (issue 13: at least
100 000 events/s at 1 000 000 events, memory flat, on both databases).

    .venv/bin/python bench/verify_speed.py [--events 1000000] [--database sqlite|postgresql]

Seeds the chain fast with raw bulk inserts (COPY on PostgreSQL) that compute the real chain with
the project's own canonical form and hashing, a signed checkpoint every 1 000 events in the
database and in the external copy, then times `verify.verify_chain` and prints events/s, the
resident memory sampled while it runs (first, largest) and the process's peak RSS. A benchmark,
not a test: the machine is shared; note its load with the figures (docs/benchmarks.md).
PostgreSQL: database BENCH_PG (default koord_bench_verify) at 127.0.0.1:5432 as postgres.

A seeded database is kept (SQLite: `.bench/verify-<events>.sqlite3`; its external checkpoint
copy beside it) and reused by the next run of the same size; `--reseed` makes it anew (on
PostgreSQL the database is then dropped and created again).
"""

import argparse
import datetime
import io
import json
import os
import resource
import shutil
import sys
import threading
import time
import uuid
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(os.environ.get("BENCH_DIR", ROOT / ".bench"))
CHAIN = "bench-verify"


def configure(database: str, events: int, *, reseed: bool) -> Path:
    """Point the settings at the benchmark's database; the external checkpoint folder."""
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if database == "postgresql":
        name = os.environ.get("BENCH_PG", "koord_bench_verify")
        base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
        os.environ["DATABASE_URL"] = f"{base}/{name}"
        folder = WORKDIR / f"verify-checkpoints-pg-{name}"
    else:
        path = WORKDIR / f"verify-{events}.sqlite3"
        if reseed:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        folder = WORKDIR / f"verify-checkpoints-{events}"
    if reseed:
        shutil.rmtree(folder, ignore_errors=True)
    os.environ.update(
        {
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef",
            "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE=",
            "BLIND_INDEX_KEY": "benchmark-only",
            "AUDIT_SIGNING_KEY": "55" * 32,
            "CONSENT_SIGNING_KEY": "66" * 32,
            "AUDIT_CHECKPOINT_DIR": str(folder),
            "AUDIT_CHAINS": CHAIN,
            "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
            "LOG_LEVEL": "ERROR",
        }
    )
    return folder


def recreate_postgres_database(*, reseed: bool) -> None:
    """Create the benchmark's database (drop it first when reseeding)."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if reseed:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def seeded(events: int, folder: Path) -> bool:
    """Whether the database already holds the benchmark's chain of `events` events (and its
    external copy): a run after the first reuses it."""
    from audit.models import AccessEvent, Chain

    head = Chain.objects.filter(name=CHAIN).first()
    if head is None:
        return False
    if head.head_seq != events or AccessEvent.objects.filter(chain=CHAIN).count() != events:
        raise SystemExit(
            f"the benchmark database holds another chain ({head.head_seq} events): --reseed"
        )
    return (folder / f"{CHAIN}.jsonl").is_file()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def seed(events: int, every: int) -> float:
    """Insert `events` events and their checkpoints; seconds taken."""
    from django.db import connection, transaction

    from audit import checkpoints
    from audit.chain import canonical_values
    from audit.models import GENESIS_HASH, Chain, Checkpoint

    vendor = connection.vendor
    started = time.perf_counter()
    users = [uuid.uuid4() for _ in range(50)]
    orgs = [uuid.uuid4() for _ in range(10)]
    cases = [uuid.uuid4() for _ in range(2000)]
    start_time = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    prev_hash = GENESIS_HASH
    previous_checkpoint = None
    checkpoint_rows = []
    columns = (
        "id chain seq prev_hash hash created_at user_id username organisation_id role case_id "
        "family_id controller_id resource categories action outcome purpose emergency "
        "disclosed_from consents request_id client_address"
    ).split()
    batch: list[tuple] = []

    def flush() -> None:
        if not batch:
            return
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                copy_sql = f"COPY audit_accessevent ({', '.join(columns)}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO audit_accessevent ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    batch,
                )
        batch.clear()

    def stored_uuid(value):
        if value is None:
            return None
        return value.hex if vendor == "sqlite" else str(value)

    with transaction.atomic():
        for seq in range(1, events + 1):
            when = start_time + datetime.timedelta(microseconds=seq * 1001 + 7)
            user, org, case = users[seq % 50], orgs[seq % 10], cases[seq % 2000]
            family, controller = case, orgs[(seq // 7) % 10]
            categories = ["basic", "plan"] if seq % 3 else ["basic"]
            disclosed = [str(orgs[(seq + 1) % 10])] if seq % 5 == 0 else []
            consents = [str(cases[(seq + 3) % 2000])] if disclosed else []
            event_id = uuid.uuid4()
            values = {
                "id": str(event_id),
                "chain": CHAIN,
                "seq": seq,
                "created_at": checkpoints.canonical_time(when),
                "user_id": str(user),
                "username": f"worker{seq % 50}",
                "organisation_id": str(org),
                "role": "member",
                "case_id": str(case),
                "family_id": str(family),
                "controller_id": str(controller),
                "resource": "case",
                "categories": categories,
                "action": "view",
                "outcome": "allowed",
                "purpose": "",
                "emergency": False,
                "disclosed_from": disclosed,
                "consents": consents,
                "request_id": event_id.hex,
                "client_address": "10.0.0.7",
            }
            hash_ = sha256(prev_hash.encode() + canonical_values(values)).hexdigest()
            if vendor == "sqlite":
                created = str(when.replace(tzinfo=None))
                emergency = 0
            else:
                created, emergency = when.isoformat(), "f"
            batch.append(
                (
                    stored_uuid(event_id),
                    CHAIN,
                    seq,
                    prev_hash,
                    hash_,
                    created,
                    stored_uuid(user),
                    values["username"],
                    stored_uuid(org),
                    "member",
                    stored_uuid(case),
                    stored_uuid(family),
                    stored_uuid(controller),
                    "case",
                    json.dumps(categories),
                    "view",
                    "allowed",
                    "",
                    emergency,
                    json.dumps(disclosed),
                    json.dumps(consents),
                    event_id.hex,
                    "10.0.0.7",
                )
            )
            prev_hash = hash_
            if seq % every == 0:
                checkpoint = Checkpoint(
                    chain=CHAIN,
                    seq=seq,
                    head_hash=hash_,
                    created_at=when + datetime.timedelta(seconds=1),
                    prev_checkpoint_hash=(
                        checkpoints.record_hash("checkpoint", previous_checkpoint)
                        if previous_checkpoint
                        else GENESIS_HASH
                    ),
                )
                checkpoints.sign_record("checkpoint", checkpoint)
                checkpoint_rows.append(checkpoint)
                previous_checkpoint = checkpoint
            if len(batch) >= 20000:
                flush()
        flush()
        Checkpoint.objects.bulk_create(checkpoint_rows, batch_size=2000)
        Chain.objects.update_or_create(
            name=CHAIN, defaults={"head_seq": events, "head_hash": prev_hash}
        )
    path = checkpoints.external_path(CHAIN)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    for checkpoint in checkpoint_rows:
        text.write(checkpoints.external_line(checkpoint))
    path.write_text(text.getvalue())
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_accessevent")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--every", type=int, default=1000, help="checkpoint every N events")
    parser.add_argument("--workers", type=int, default=None, help="verify processes (default 2)")
    parser.add_argument("--reseed", action="store_true", help="seed anew (else reuse)")
    parser.add_argument("--seed-only", action="store_true", help="seed, do not verify")
    args = parser.parse_args()
    folder = configure(args.database, args.events, reseed=args.reseed)
    if args.database == "postgresql":
        recreate_postgres_database(reseed=args.reseed)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audit import verify

    if args.workers is not None:
        verify.WORKERS = args.workers
    call_command("migrate", verbosity=0)
    if seeded(args.events, folder):
        print(f"{args.database}: reusing the {args.events} events seeded before", flush=True)
    else:
        seconds = seed(args.events, args.every)
        print(f"{args.database}: seeded {args.events} events in {seconds:.1f} s", flush=True)
    if args.seed_only:
        return
    connection.close()

    samples: list[float] = []
    server_cpu: dict[int, float] = {}  # PostgreSQL backend pid -> its CPU seconds, last seen
    stop = threading.Event()
    database_name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mib())
            if args.database == "postgresql":
                for pid in backends(database_name):
                    server_cpu[pid] = max(server_cpu.get(pid, 0.0), process_cpu(pid))
            stop.wait(0.2)

    load_before = os.getloadavg()
    before = rss_mib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_self = resource.getrusage(resource.RUSAGE_SELF)
    cpu_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = verify.verify_chain(CHAIN)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    verifier_cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - cpu_seconds(cpu_self)
    verifier_cpu += cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - cpu_seconds(
        cpu_children
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert result.ok, result
    third = max(1, len(samples) // 3)
    print(
        f"{args.database}: verified {result.events} events, {result.checkpoints} checkpoints "
        f"in {elapsed:.2f} s = {result.events / elapsed:,.0f} events/s "
        f"(workers: {verify.WORKERS})"
    )
    print(
        f"{args.database}: RSS before {before:.0f} MiB; while verifying: first third max "
        f"{max(samples[:third], default=before):.0f} MiB, last third max "
        f"{max(samples[-third:], default=before):.0f} MiB; peak RSS {peak:.0f} MiB "
        f"(worker processes' peak {children:.0f} MiB)"
    )
    # What the run cost in CPU, whatever else the machine was running: the verifier's own
    # processes exactly, PostgreSQL's backends as last sampled (a little under).
    per_event = verifier_cpu / result.events * 1e6
    server = sum(server_cpu.values()) / result.events * 1e6
    cores = os.cpu_count() or 1
    print(
        f"{args.database}: CPU per event: verifier {per_event:.2f} us"
        + (f", PostgreSQL backends {server:.2f} us" if args.database == "postgresql" else "")
        + f"; {cores} cores given to it alone: about "
        f"{cores / (per_event + server) * 1e6:,.0f} events/s"
    )
    print(f"load average: before {load_before}, after {os.getloadavg()}")


def cpu_seconds(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """User and system CPU seconds of a process of this machine (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(database: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (from another
    connection, so that the sampling itself is not counted)."""
    import psycopg

    base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [pid for (pid,) in rows]


if __name__ == "__main__":
    main()
