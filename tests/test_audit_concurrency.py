"""Several app servers appending to the access log at once never fork the chain.

Four separate processes (each its own Django, its own database connection) append 250 events
each, one append per event as real requests do, to the test database itself. On PostgreSQL the
chain head's row lock serialises them; on SQLite the immediate transactions do.

In background sequencing the four only insert into the intake, each event in its own
transaction as a request does, while two `manage.py run_sequencer` processes run (on PostgreSQL
one leads through the advisory lock; on SQLite both work, serialised by the database lock).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from audit.checkpoints import external_path
from audit.models import AccessEvent, Chain, Checkpoint
from audit.sequencer import unsequenced_count
from audit.verify import duplicate_links, verify_chain
from tests import audit_tables

CHAIN = "concurrency-test"
PROCESSES = 4
EVENTS_EACH = 250
CHECKPOINT_EVERY = 100

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import django

    django.setup()
    from django.db import transaction

    from audit.chain import append
    from audit.models import AccessEvent
    from audit.sequencer import submit

    worker, chain = os.environ["WORKER"], os.environ["CHAIN"]
    open(os.path.join(os.environ["SIGNALS"], f"ready-{worker}"), "w").close()
    start = os.path.join(os.environ["SIGNALS"], "start")
    deadline = time.monotonic() + 60
    while not os.path.exists(start):
        if time.monotonic() > deadline:
            sys.exit("never told to start")
        time.sleep(0.005)
    count = int(os.environ["COUNT"])
    for number in range(count):
        event = AccessEvent(
            resource="case",
            action="view",
            outcome="allowed",
            username=f"worker-{worker}",
            request_id=f"{worker}-{number}",
        )
        if os.environ.get("SUBMIT"):
            with transaction.atomic():  # as a request's own transaction
                submit([event], chain=chain)
        else:
            append([event], chain=chain)
    print(f"appended {count}")
    """
)


def database_url() -> str:
    """A URL for the test database itself (not the one settings.py would name)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def empty_audit_tables() -> None:
    """After a transactional test, before Django's flush: the audit tables are append-only in
    the database, so they are emptied under purge permits (tests/audit_tables.py)."""
    audit_tables.empty_audit_tables()


@pytest.fixture
def audit_tables_emptied_afterwards(transactional_db):
    yield
    empty_audit_tables()


@pytest.mark.django_db(transaction=True)
def test_four_processes_appending_at_once_leave_one_unbroken_chain(
    audit_tables_emptied_afterwards, settings, tmp_path
):
    settings.AUDIT_CHECKPOINT_EVERY = CHECKPOINT_EVERY
    settings.AUDIT_CHAINS = [CHAIN]  # verify refuses chains the deployment does not declare
    signals = tmp_path / "signals"
    signals.mkdir()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": database_url(),
        "AUDIT_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY),
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
        "CHAIN": CHAIN,
        "COUNT": str(EVENTS_EACH),
        "SIGNALS": str(signals),
    }
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter, our own fixed script
            [sys.executable, "-c", CHILD],
            cwd=django_settings.BASE_DIR,
            env=env | {"WORKER": str(worker)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(signals.glob("ready-*"))) < PROCESSES:
            assert all(child.poll() is None for child in children), "a process died early"
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.01)
        (signals / "start").touch()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == f"appended {EVENTS_EACH}"
    total = PROCESSES * EVENTS_EACH
    seqs = list(
        AccessEvent.objects.filter(chain=CHAIN).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, total + 1))
    assert duplicate_links(CHAIN) == 0  # no two events follow the same one: no fork
    head = Chain.objects.get(name=CHAIN)
    assert head.head_seq == total
    by_worker = AccessEvent.objects.filter(chain=CHAIN).values_list("username", flat=True)
    assert sorted(set(by_worker)) == [f"worker-{worker}" for worker in range(PROCESSES)]
    checkpoint_seqs = Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True)
    assert sorted(checkpoint_seqs) == list(range(CHECKPOINT_EVERY, total + 1, CHECKPOINT_EVERY))
    copies = external_path(CHAIN).read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in copies) == sorted(checkpoint_seqs)
    result = verify_chain(CHAIN)  # against the external copies the processes wrote, too
    assert result.ok, result
    assert (result.events, result.checkpoints) == (total, total // CHECKPOINT_EVERY)


@pytest.mark.django_db(transaction=True)
def test_four_writers_and_two_sequencers_in_the_background_leave_one_unbroken_chain(
    audit_tables_emptied_afterwards, settings, tmp_path
):
    settings.AUDIT_CHECKPOINT_EVERY = CHECKPOINT_EVERY
    settings.AUDIT_CHAINS = [CHAIN]  # verify refuses chains the deployment does not declare
    signals = tmp_path / "signals"
    signals.mkdir()
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": database_url(),
        "AUDIT_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY),
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
        "AUDIT_SEQUENCING": "background",
        "AUDIT_SEQUENCER_INTERVAL": "0.02",
        "AUDIT_SEQUENCER_BATCH": "64",
        "CHAIN": CHAIN,
        "COUNT": str(EVENTS_EACH),
        "SIGNALS": str(signals),
        "SUBMIT": "1",
    }
    popen = partial(
        subprocess.Popen,
        cwd=django_settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    command = [sys.executable, "manage.py", "run_sequencer", "--chain", CHAIN]
    sequencers = [popen(command, env=env) for _ in range(2)]
    writers = [
        popen([sys.executable, "-c", CHILD], env=env | {"WORKER": str(worker)})
        for worker in range(PROCESSES)
    ]
    total = PROCESSES * EVENTS_EACH
    try:
        deadline = time.monotonic() + 60
        while len(list(signals.glob("ready-*"))) < PROCESSES:
            assert all(child.poll() is None for child in writers), "a writer died early"
            assert time.monotonic() < deadline, "the writers did not start"
            time.sleep(0.01)
        (signals / "start").touch()
        outputs = [child.communicate(timeout=120) for child in writers]
        deadline = time.monotonic() + 60
        while unsequenced_count(CHAIN) or AccessEvent.objects.filter(chain=CHAIN).count() < total:
            assert all(s.poll() is None for s in sequencers), "a sequencer died"
            assert time.monotonic() < deadline, "the sequencers did not chain everything"
            time.sleep(0.05)
    finally:
        for child in [*writers, *sequencers]:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in [*writers, *sequencers]:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    for child, (out, err) in zip(writers, outputs, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == f"appended {EVENTS_EACH}"
    for child in sequencers:
        assert child.returncode == 0, child.stderr.read() if child.stderr else ""
    seqs = list(
        AccessEvent.objects.filter(chain=CHAIN).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, total + 1))
    assert duplicate_links(CHAIN) == 0
    requests = set(AccessEvent.objects.filter(chain=CHAIN).values_list("request_id", flat=True))
    assert requests == {f"{w}-{n}" for w in range(PROCESSES) for n in range(EVENTS_EACH)}
    assert Chain.objects.get(name=CHAIN).head_seq == total
    checkpoint_seqs = sorted(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True))
    copies = external_path(CHAIN).read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in copies) == checkpoint_seqs
    assert checkpoint_seqs[-1] > total - CHECKPOINT_EVERY  # batches end past each multiple
    result = verify_chain(CHAIN)
    assert result.ok, result
    assert (result.events, result.checkpoints) == (total, len(checkpoint_seqs))
