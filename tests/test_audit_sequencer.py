"""Background sequencing of the access log (audit/sequencer.py): requests commit their events to
the intake, a sequencer chains them in batches, and nothing is lost or forked when it dies.

The family's and the auditor's views read the chain only: a read appears there once sequenced
(a fraction of a second in production); these tests call `sequence_pending` to wait for it
deterministically. Verify and the auditor's verify endpoint report what is still waiting.

The kill and leader-election tests run real `manage.py run_sequencer` processes against the test
database and need PostgreSQL (a row lock holds the sequencer in the middle of its batch; SQLite
has neither row locks nor advisory locks).
"""

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import sequencer
from audit.checkpoints import external_path
from audit.models import AccessEvent, Chain, Checkpoint, PendingEvent
from audit.verify import duplicate_links, verify_chain
from cases.models import User
from cases.seeding import demo
from tests.query_counts import ACCESS_LOG, ACCESS_LOG_INTAKE
from tests.test_audit_concurrency import database_url, empty_audit_tables

SEQUENCED = {"seq", "prev_hash", "hash"}


def event(number: int, **fields) -> AccessEvent:
    values = {
        "resource": "case",
        "action": "view",
        "outcome": "allowed",
        "username": f"user-{number}",
        "request_id": f"request-{number}",
    }
    return AccessEvent(**(values | fields))


def describe(field) -> tuple:
    return (field.name, field.get_internal_type(), field.null, field.max_length, field.default)


def test_the_intake_has_the_columns_of_an_event_but_those_the_sequencer_gives():
    chained = [describe(f) for f in AccessEvent._meta.concrete_fields if f.name not in SEQUENCED]
    assert [describe(f) for f in PendingEvent._meta.concrete_fields] == chained


@pytest.fixture
def background(settings):
    settings.AUDIT_SEQUENCING = "background"


@pytest.fixture
def seeded(api):
    return demo.seed()


def test_a_read_commits_its_event_to_the_intake_and_appears_once_sequenced(
    api, seeded, background, settings
):
    case = seeded.case
    anna = User.objects.get(username="anna.neuvola")
    before = AccessEvent.objects.count()

    response = api.as_user(anna).get(f"/api/v1/cases/{case.pk}/")

    assert response.status_code == 200
    assert AccessEvent.objects.count() == before  # not on the chain yet
    [waiting] = PendingEvent.objects.all()
    assert (waiting.username, waiting.case_id, waiting.outcome) == (
        "anna.neuvola",
        case.pk,
        "allowed",
    )
    assert waiting.request_id == response["X-Request-ID"]

    auditor = api.as_user(User.objects.get(username="tero.tarkastaja"))
    verify = auditor.get("/api/v1/audit/verify/").json()
    assert verify["unsequenced"] == 1  # the read
    for listed in verify["chains"]:
        assert listed["unsequenced"] == (1 if listed["chain"] == settings.AUDIT_CHAIN else 0)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert f"chain {settings.AUDIT_CHAIN}: 1 events not yet sequenced" in out.getvalue()

    assert sequencer.sequence_pending() == 1
    assert not PendingEvent.objects.exists()
    chained = AccessEvent.objects.get(pk=waiting.pk)  # the same event, id and all
    assert (chained.username, chained.case_id, chained.created_at) == (
        "anna.neuvola",
        case.pk,
        waiting.created_at,
    )
    assert verify_chain(settings.AUDIT_CHAIN).ok

    hanna = User.objects.get(username="hanna.huoltaja")
    history = api.as_user(hanna).get(f"/api/v1/families/{case.family_id}/access-history/")
    assert history.status_code == 200
    assert "Anna Neuvola" in [row["who"]["name"] for row in history.json()["results"]]
    auditor = api.as_user(User.objects.get(username="tero.tarkastaja"))  # one client, re-signed
    verify = auditor.get("/api/v1/audit/verify/").json()
    assert verify["ok"] is True
    assert verify["unsequenced"] == 1  # the family's look at its history, logged in turn


def test_in_background_a_logged_request_costs_one_insert_instead_of_the_locked_append(
    api, seeded, settings
):
    client = api.as_user(User.objects.get(username="anna.neuvola"))
    url = f"/api/v1/cases/{seeded.case.pk}/"
    client.get(url)  # warm caches alike for both
    with CaptureQueriesContext(connection) as inline:
        assert client.get(url).status_code == 200
    settings.AUDIT_SEQUENCING = "background"
    with CaptureQueriesContext(connection) as queued:
        assert client.get(url).status_code == 200
    assert len(inline) - len(queued) == ACCESS_LOG - ACCESS_LOG_INTAKE
    [insert] = [q["sql"] for q in queued.captured_queries if "audit_" in q["sql"]]
    assert insert.startswith('INSERT INTO "audit_pendingevent"')
    assert PendingEvent.objects.count() == 1


def test_the_intake_refuses_updates_and_losing_an_event_not_yet_chained(db, background):
    sequencer.submit([event(1), event(2)], chain="intake-test")
    first = PendingEvent.objects.order_by("request_id").first()
    assert first is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingEvent.objects.filter(pk=first.pk).update(username="someone.else")
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingEvent.objects.filter(pk=first.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_pendingevent")
    assert PendingEvent.objects.count() == 2
    assert PendingEvent.objects.get(pk=first.pk).username == "user-1"

    assert sequencer.sequence_pending("intake-test") == 2
    assert sequencer.unsequenced_count("intake-test") == 0
    chained = AccessEvent.objects.filter(chain="intake-test").order_by("seq")
    assert list(chained.values_list("seq", "username")) == [(1, "user-1"), (2, "user-2")]


def test_batches_chain_every_waiting_event_once_in_order_and_sign_checkpoints(
    db, background, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_CHECKPOINT_EVERY = 4
    settings.AUDIT_CHAINS = ["batch-test", "other-chain"]  # verify trusts declared chains only
    for number in range(10):
        sequencer.submit([event(number)], chain="batch-test")
    sequencer.submit([event(10)], chain="other-chain")

    # The external copies of checkpoints are written once their batch commits.
    with django_capture_on_commit_callbacks(execute=True):
        batches = [len(sequencer.sequence_batch("batch-test", 3)) for _ in range(5)]
    assert batches == [3, 3, 3, 1, 0]

    chained = list(AccessEvent.objects.filter(chain="batch-test").order_by("seq"))
    assert [e.seq for e in chained] == list(range(1, 11))
    # Oldest first: the intake's order of commit time.
    assert [e.username for e in chained] == [f"user-{n}" for n in range(10)]
    assert duplicate_links("batch-test") == 0
    head = Chain.objects.get(name="batch-test")
    assert (head.head_seq, head.head_hash) == (10, chained[-1].hash)
    # A checkpoint at the end of each batch that crosses a multiple of 4 (3..6 and 6..9).
    signed = Checkpoint.objects.filter(chain="batch-test").values_list("seq", flat=True)
    assert sorted(signed) == [6, 9]
    assert verify_chain("batch-test").ok
    assert sequencer.unsequenced_counts() == {"other-chain": 1}  # another chain waits its turn


def test_inline_sequencing_chains_at_once_through_the_same_submit(db, settings):
    settings.AUDIT_SEQUENCING = "inline"
    [chained] = sequencer.submit([event(1)], chain="inline-test")
    assert (chained.seq, chained.chain) == (1, "inline-test")
    assert not PendingEvent.objects.exists()


# --- Real sequencer processes (PostgreSQL) -------------------------------------------------------

CHAIN = "sequencer-test"


@pytest.fixture
def postgres(transactional_db, settings):
    """A committed database on PostgreSQL, its audit tables emptied afterwards. The tests that
    use it are marked `postgresql_only` (row and advisory locks): deselected on SQLite."""
    assert connection.vendor == "postgresql"
    settings.AUDIT_CHAINS = [CHAIN]  # verify trusts declared chains only
    yield
    empty_audit_tables()


def sequencer_process(settings, *extra: str) -> subprocess.Popen:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": database_url(),
        "AUDIT_SEQUENCING": "background",
        "AUDIT_SEQUENCER_INTERVAL": "0.02",
        "AUDIT_CHECKPOINT_EVERY": str(settings.AUDIT_CHECKPOINT_EVERY),
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
        "AUDIT_CHAINS": CHAIN,
    }
    return subprocess.Popen(  # noqa: S603 - this interpreter, our own command
        [sys.executable, "manage.py", "run_sequencer", "--chain", CHAIN, *extra],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, what: str, process: subprocess.Popen | None = None, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the sequencer died: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"waited in vain for {what}"
        time.sleep(0.02)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def other_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    )


def sequencer_backend(conn: psycopg.Connection) -> int | None:
    """The pid of a session waiting for a row lock in the middle of deleting intake rows."""
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'DELETE FROM audit_pendingevent %%'"
    ).fetchone()
    return row[0] if row else None


@pytest.mark.postgresql_only
def test_a_sequencer_killed_mid_batch_loses_no_event_and_forks_nothing(postgres, settings):
    settings.AUDIT_SEQUENCING = "background"
    settings.AUDIT_CHECKPOINT_EVERY = 10
    total = 50
    for number in range(total):
        sequencer.submit([event(number)], chain=CHAIN)  # each committed, as by a request
    locker, watcher = other_connection(), other_connection()
    watcher.autocommit = True
    victim = None
    try:
        # Hold the 41st waiting event: the sequencer's batch stops at deleting it, after it
        # has chained all 50, moved the head and signed five checkpoints (all uncommitted).
        [held] = locker.execute(
            "SELECT id FROM audit_pendingevent WHERE chain = %s ORDER BY created_at, id "
            "OFFSET 40 LIMIT 1 FOR UPDATE",
            [CHAIN],
        ).fetchall()
        victim = sequencer_process(settings)
        wait_for(lambda: sequencer_backend(watcher) is not None, "the batch to block", victim)
        backend = sequencer_backend(watcher)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert victim.returncode == -signal.SIGKILL
        locker.rollback()  # the dead session's DELETE goes on, fails to answer, and aborts
        wait_for(
            lambda: (
                not watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                ).fetchone()
            ),
            "the killed sequencer's session to end",
        )
        assert held
    finally:
        locker.close()
        watcher.close()
        if victim is not None and victim.poll() is None:
            victim.kill()
            victim.wait()

    # Nothing of the batch remains, and nothing of it was lost.
    assert not AccessEvent.objects.filter(chain=CHAIN).exists()
    assert not Checkpoint.objects.filter(chain=CHAIN).exists()
    assert not external_path(CHAIN).exists()  # copies are written only after a commit
    assert Chain.objects.filter(name=CHAIN, head_seq__gt=0).count() == 0
    assert sequencer.unsequenced_count(CHAIN) == total
    assert sequencer.try_lead(CHAIN)  # the dead leader's advisory lock went with its session
    sequencer.step_down(CHAIN)

    successor = sequencer_process(settings)
    try:
        wait_for(lambda: sequencer.unsequenced_count(CHAIN) == 0, "the next leader", successor)
    finally:
        stop(successor)
    assert successor.returncode == 0, successor.stderr
    seqs = list(AccessEvent.objects.filter(chain=CHAIN).values_list("seq", flat=True))
    assert sorted(seqs) == list(range(1, total + 1))
    assert duplicate_links(CHAIN) == 0
    users = set(AccessEvent.objects.filter(chain=CHAIN).values_list("username", flat=True))
    assert users == {f"user-{n}" for n in range(total)}
    copies = [json.loads(line)["seq"] for line in external_path(CHAIN).read_text().splitlines()]
    # Signed at the end of each batch that crossed a multiple of 10; the last at the head.
    signed = sorted(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True))
    assert copies == signed and signed[-1] == total
    result = verify_chain(CHAIN)
    assert result.ok, result
    assert (result.events, result.checkpoints) == (total, len(signed))


@pytest.mark.postgresql_only
def test_only_the_holder_of_the_advisory_lock_sequences_and_another_takes_over(postgres, settings):
    settings.AUDIT_SEQUENCING = "background"
    leader = other_connection()
    leader.autocommit = True
    waiting_one = None
    try:
        # Another app server's sequencer leads: it holds the chain's advisory lock.
        [(got,)] = leader.execute(
            "SELECT pg_try_advisory_lock(%s)", [sequencer.lock_key(CHAIN)]
        ).fetchall()
        assert got
        sequencer.submit([event(1), event(2)], chain=CHAIN)
        waiting_one = sequencer_process(settings)
        assert waiting_one.stdout is not None
        assert waiting_one.stdout.readline().strip() == f"sequencing {CHAIN}"
        time.sleep(1.5)  # a non-leader that worked anyway would have chained them by now
        assert sequencer.unsequenced_count(CHAIN) == 2
        assert not AccessEvent.objects.filter(chain=CHAIN).exists()
    finally:
        leader.close()  # the leader's session ends: its lock is free
    try:
        wait_for(lambda: sequencer.unsequenced_count(CHAIN) == 0, "the takeover", waiting_one)
    finally:
        stop(waiting_one)
    assert sorted(AccessEvent.objects.filter(chain=CHAIN).values_list("seq", flat=True)) == [1, 2]
    assert verify_chain(CHAIN).ok
