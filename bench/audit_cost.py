"""Measures what the access log costs: a case-detail request with and without it (same endpoint,
same run), and how fast `verify_audit` checks a chain of 100 000 events.

    .venv/bin/python bench/audit_cost.py [--events 100000] [--requests 300]
    BENCH_PG=koordinointi_bench .venv/bin/python bench/audit_cost.py   # PostgreSQL at 127.0.0.1

Prints a table and writes it to docs/audit-benchmark.md. A benchmark, not a test: read the
ratios, not the milliseconds (the machine is shared and noisy).
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(os.environ.get("BENCH_DIR", ROOT / ".bench"))
WORKDIR.mkdir(parents=True, exist_ok=True)

if os.environ.get("BENCH_PG"):
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{os.environ['BENCH_PG']}"
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR / 'bench.sqlite3'}"
# Production mode, so that DEBUG's query log does not distort the figures.
os.environ.update(
    {
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef",
        "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE=",
        "BLIND_INDEX_KEY": "benchmark-only",
        "AUDIT_SIGNING_KEY": "55" * 32,
        "CONSENT_SIGNING_KEY": "66" * 32,
        "AUDIT_CHECKPOINT_DIR": str(WORKDIR / "checkpoints"),
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "LOG_LEVEL": "ERROR",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from audit import chain, verify  # noqa: E402
from audit.models import AccessEvent  # noqa: E402
from audit.recorder import AccessRecorder  # noqa: E402
from cases.models import User  # noqa: E402
from cases.seeding import demo  # noqa: E402


def reset_database() -> None:
    if connection.vendor == "sqlite":
        connection.close()
        Path(connection.settings_dict["NAME"]).unlink(missing_ok=True)
    else:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    for path in (WORKDIR / "checkpoints").glob("*.jsonl"):
        path.unlink()
    call_command("migrate", verbosity=0)


def timed(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def request_cost(requests: int) -> tuple[list[float], list[float]]:
    case = demo.seed().case
    token, _ = Token.objects.get_or_create(user=User.objects.get(username="anna.neuvola"))
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = f"/api/v1/cases/{case.pk}/"

    def get():
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    timed(get, 20)  # warm up
    with_audit, without_audit = [], []
    original_allowed, original_flush = AccessRecorder.allowed, AccessRecorder.flush
    for _ in range(requests // 20):  # interleave, so drift hits both alike
        with_audit += timed(get, 10)
        AccessRecorder.allowed = lambda self, **kwargs: None
        AccessRecorder.flush = lambda self: []
        try:
            without_audit += timed(get, 10)
        finally:
            AccessRecorder.allowed, AccessRecorder.flush = original_allowed, original_flush
    return with_audit, without_audit


def verification_speed(events: int) -> tuple[float, float, int]:
    batch = 1000
    start = time.perf_counter()
    for offset in range(0, events, batch):
        chain.append(
            [
                AccessEvent(
                    username="bench",
                    resource="case",
                    action="view",
                    outcome="allowed",
                    categories=["basic"],
                )
                for _ in range(min(batch, events - offset))
            ],
            chain="bench",
        )
    append_seconds = time.perf_counter() - start
    start = time.perf_counter()
    results = verify.verify_all()
    verify_seconds = time.perf_counter() - start
    assert all(result.ok for result in results), results
    total = sum(result.events for result in results)
    return append_seconds, verify_seconds, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    reset_database()
    with_audit, without_audit = request_cost(args.requests)
    append_seconds, verify_seconds, verified = verification_speed(args.events)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    med_with, med_without = statistics.median(with_audit), statistics.median(without_audit)
    lines = [
        f"# Access-log benchmark ({connection.vendor})",
        "",
        f"Case detail as a network member (`GET /api/v1/cases/{{id}}/`), {len(with_audit)} "
        "requests each way, interleaved, in-process through Django's test client:",
        "",
        "| | median ms | p95 ms |",
        "|---|---|---|",
        f"| without access log | {med_without:.2f} | {p95(without_audit):.2f} |",
        f"| with access log | {med_with:.2f} | {p95(with_audit):.2f} |",
        f"| ratio | {med_with / med_without:.2f}x | {p95(with_audit) / p95(without_audit):.2f}x |",
        "",
        f"Appending {args.events} events in batches of 1000: {append_seconds:.1f} s "
        f"({args.events / append_seconds:,.0f} events/s).",
        f"`verify_all()` over {verified} events (all chains, with checkpoints): "
        f"{verify_seconds:.2f} s = {verified / verify_seconds:,.0f} events/s; "
        f"peak RSS of the whole run {peak_mb:.0f} MB.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    (docs / f"audit-benchmark-{connection.vendor}.md").write_text(text)


if __name__ == "__main__":
    main()
