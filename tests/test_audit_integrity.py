"""The access log cannot be altered unnoticed: append-only tables, hash chain, signed checkpoints.

The same tests run on SQLite and on PostgreSQL. Tampering tests act as an attacker with full
database rights: they drop the append-only triggers (inside the test's transaction, so the
triggers come back when it rolls back) and then edit the tables with raw SQL.
"""

import datetime
import importlib
import io
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import checkpoints
from audit.chain import append, event_hash
from audit.models import AccessEvent, Chain, Checkpoint
from audit.verify import PURGE_RESOURCE, purge_purpose, verify_all, verify_chain

triggers = importlib.import_module("audit.migrations.0002_append_only_triggers")

CHAIN = "paijat-hame-test"
OTHER_SEED = "44" * 32
ROTATED_SEED = "55" * 32


def public_hex(seed_hex: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)).public_key()
    return checkpoints.public_key_hex(key)


def new_event(**fields) -> AccessEvent:
    values = {
        "resource": "case",
        "action": AccessEvent.Action.VIEW,
        "outcome": AccessEvent.Outcome.ALLOWED,
        "username": "tiina.vastuu",
        "user_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "categories": ["basic", "plan"],
        "request_id": uuid.uuid4().hex,
    }
    values.update(fields)
    return AccessEvent(**values)


def append_events(count: int, *, chain: str = CHAIN, **fields) -> list[AccessEvent]:
    """One append per event, as one request after another would."""
    return [append([new_event(**fields)], chain=chain)[0] for _ in range(count)]


def sql(statement: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def drop_triggers() -> None:
    """What an attacker with the database owner's rights can do."""
    for statement in triggers.drop_trigger_statements(connection.vendor):
        sql(statement)


def event_at(seq: int, chain: str = CHAIN) -> AccessEvent:
    return AccessEvent.objects.get(chain=chain, seq=seq)


def set_head(seq: int, chain: str = CHAIN) -> None:
    Chain.objects.filter(name=chain).update(head_seq=seq, head_hash=event_at(seq, chain).hash)


def external_lines(chain: str = CHAIN) -> list[dict]:
    path = checkpoints.external_path(chain)
    return [json.loads(line) for line in path.read_text().splitlines()]


def verify_audit_fails() -> str:
    """Run `verify_audit`, expect failure, and return what it wrote to stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=stdout, stderr=stderr)
    return stderr.getvalue()


@pytest.fixture(autouse=True)
def _declared_chains(settings):
    """The chains these tests write to are the deployment's (verify refuses any other)."""
    settings.AUDIT_CHAINS = [CHAIN, "another-area"]


def forged_checkpoint(*, seq: int, head_hash: str, signer, key_id: str) -> Checkpoint:
    """A checkpoint row inserted by someone holding `signer` (not the deployment's key)."""
    checkpoint = Checkpoint(
        chain=CHAIN,
        seq=seq,
        head_hash=head_hash,
        prev_checkpoint_hash=checkpoints.record_hash(
            "checkpoint", Checkpoint.objects.filter(chain=CHAIN, seq__lt=seq).last()
        ),
        key_id=key_id,
    )
    checkpoint.signature = signer.sign(checkpoints.message("checkpoint", checkpoint)).hex()
    checkpoint.save(force_insert=True)
    return checkpoint


@pytest.fixture
def write_checkpoints_outside(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the external checkpoint copies) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def log(db, settings, write_checkpoints_outside):
    """Twelve events; signed checkpoints at 5 and 10, in the database and in the file."""
    settings.AUDIT_CHECKPOINT_EVERY = 5
    with write_checkpoints_outside():
        return append_events(12)


# --- an untouched log ---------------------------------------------------------------------------


def test_an_untouched_log_verifies(log):
    result = verify_chain(CHAIN)

    assert result.ok, result
    assert (result.events, result.checkpoints) == (12, 2)


def test_verify_audit_prints_the_count_and_succeeds_on_an_untouched_log(log):
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("verify_audit", stdout=stdout, stderr=stderr)

    assert f"chain {CHAIN}: 12 events verified, 2 checkpoints" in stdout.getvalue()
    assert stderr.getvalue() == ""


def test_every_chain_is_verified(log, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 0
    append_events(3, chain="another-area")

    results = {result.chain: result for result in verify_all()}

    assert results[CHAIN].ok and results[CHAIN].events == 12
    assert results["another-area"].ok and results["another-area"].events == 3


def test_an_empty_database_verifies(db):
    assert verify_all() == []
    call_command("verify_audit", stdout=io.StringIO())


def test_events_chain_from_the_genesis_hash_with_gap_free_sequence_numbers(log):
    events = list(AccessEvent.objects.filter(chain=CHAIN).order_by("seq"))

    assert [event.seq for event in events] == list(range(1, 13))
    assert events[0].prev_hash == "0" * 64
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash == event_hash(before.prev_hash, before)
    head = Chain.objects.get(name=CHAIN)
    assert (head.head_seq, head.head_hash) == (12, events[-1].hash)


# --- checkpoints --------------------------------------------------------------------------------


def test_a_checkpoint_is_signed_every_n_events_and_copied_outside_the_database(log):
    stored = list(Checkpoint.objects.filter(chain=CHAIN).order_by("seq"))

    assert [(c.seq, c.head_hash) for c in stored] == [(5, log[4].hash), (10, log[9].hash)]
    assert all(checkpoints.checkpoint_problem(c) is None for c in stored)
    copies = external_lines()
    assert [(c["seq"], c["head_hash"], c["signature"]) for c in copies] == [
        (c.seq, c.head_hash, c.signature) for c in stored
    ]
    # Every signed field, the checkpoint's id and the hash of the one before it included.
    assert set(copies[0]) == {
        "id",
        "chain",
        "seq",
        "head_hash",
        "created_at",
        "prev_checkpoint_hash",
        "key_id",
        "signature",
    }


def test_a_batch_crossing_a_multiple_of_n_is_checkpointed_at_its_head(db, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    append_events(4)

    append([new_event(), new_event(), new_event()], chain=CHAIN)

    assert list(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True)) == [7]


def test_a_rolled_back_checkpoint_is_not_written_outside(db, settings, write_checkpoints_outside):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    append_events(4)

    with write_checkpoints_outside(), pytest.raises(RuntimeError):
        with transaction.atomic():
            append_events(1)
            assert Checkpoint.objects.filter(chain=CHAIN, seq=5).exists()
            raise RuntimeError("the request failed")

    assert not Checkpoint.objects.filter(chain=CHAIN).exists()
    assert not checkpoints.external_path(CHAIN).exists()


def test_audit_checkpoint_signs_the_current_head_once(log, write_checkpoints_outside):
    stdout = io.StringIO()
    with write_checkpoints_outside():
        call_command("audit_checkpoint", stdout=stdout)
        call_command("audit_checkpoint", "--chain", CHAIN, stdout=stdout)

    assert f"chain {CHAIN}: checkpoint at sequence 12" in stdout.getvalue()
    assert list(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True)) == [
        5,
        10,
        12,
    ]
    assert [line["seq"] for line in external_lines()] == [5, 10, 12]
    assert verify_chain(CHAIN).ok


def test_audit_checkpoint_refuses_an_unknown_chain(db):
    with pytest.raises(CommandError, match="no chain"):
        call_command("audit_checkpoint", "--chain", "nowhere")
    assert not Chain.objects.filter(name="nowhere").exists()


def test_a_checkpoint_with_a_forged_signature_fails(log):
    """Inserting is allowed, so no trigger stands in the way: only the signature does."""
    forger = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(OTHER_SEED))
    forged_checkpoint(
        seq=7,
        head_hash=log[6].hash,
        signer=forger,
        key_id=checkpoints.key_id(checkpoints.signing_key().public_key()),
    )

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "bad signature" in result.reason
    assert "broken at sequence 7" in verify_audit_fails()


def test_a_checkpoint_signed_by_an_unknown_key_fails(log):
    forger = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(OTHER_SEED))
    forged_checkpoint(
        seq=7, head_hash=log[6].hash, signer=forger, key_id=checkpoints.key_id(forger.public_key())
    )

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "unknown key" in result.reason


def test_a_forged_line_in_the_external_copy_fails(log):
    line = external_lines()[0] | {"seq": 7, "head_hash": log[6].hash}
    with open(checkpoints.external_path(CHAIN), "a") as handle:
        handle.write(json.dumps(line) + "\n")

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "bad signature" in result.reason


def test_after_key_rotation_old_checkpoints_verify_only_with_the_old_public_key(
    db, settings, write_checkpoints_outside
):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    settings.AUDIT_SIGNING_KEY = OTHER_SEED
    with write_checkpoints_outside():
        append_events(12)

    # Rotated as documented: the retired public key stays among the verify keys (the next
    # checkpoint checks the last one's signature before signing after it).
    settings.AUDIT_SIGNING_KEY = ROTATED_SEED
    settings.AUDIT_VERIFY_KEYS = [public_hex(OTHER_SEED)]
    with write_checkpoints_outside():
        append_events(3)
    with_old_key = verify_chain(CHAIN)
    settings.AUDIT_VERIFY_KEYS = []
    without_old_key = verify_chain(CHAIN)

    assert (without_old_key.ok, without_old_key.first_bad_seq) == (False, 5)
    assert "unknown key" in without_old_key.reason
    assert with_old_key.ok, with_old_key
    assert with_old_key.checkpoints == 3
    key_ids = dict(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", "key_id"))
    assert key_ids[5] == key_ids[10] != key_ids[15]


# --- append-only in the database ----------------------------------------------------------------


def empty_the_table(table: str) -> None:
    # SQLite has no TRUNCATE: an unqualified DELETE is its way of emptying a table.
    sql(f"TRUNCATE {table}" if connection.vendor == "postgresql" else f"DELETE FROM {table}")  # noqa: S608


def save_changed_event():
    event = AccessEvent.objects.get(chain=CHAIN, seq=3)
    event.outcome = AccessEvent.Outcome.DENIED
    event.save()


def save_changed_checkpoint():
    checkpoint = Checkpoint.objects.get(chain=CHAIN, seq=5)
    checkpoint.head_hash = "f" * 64
    checkpoint.save()


REFUSED_WRITES = {
    "event: ORM update": lambda: AccessEvent.objects.filter(chain=CHAIN).update(username="x"),
    "event: save() of a changed event": save_changed_event,
    "event: ORM delete of a queryset": lambda: AccessEvent.objects.filter(seq__lte=3).delete(),
    "event: delete() of one event": lambda: AccessEvent.objects.get(chain=CHAIN, seq=3).delete(),
    "event: raw UPDATE": lambda: sql(
        "UPDATE audit_accessevent SET username = %s WHERE seq = %s", ["x", 3]
    ),
    "event: raw UPDATE of seq": lambda: sql("UPDATE audit_accessevent SET seq = seq + 100"),
    "event: raw DELETE": lambda: sql("DELETE FROM audit_accessevent WHERE seq = %s", [12]),
    "event: emptying the table": lambda: empty_the_table("audit_accessevent"),
    "checkpoint: ORM update": lambda: Checkpoint.objects.update(head_hash="f" * 64),
    "checkpoint: save() of a changed checkpoint": save_changed_checkpoint,
    "checkpoint: ORM delete": lambda: Checkpoint.objects.filter(chain=CHAIN).delete(),
    "checkpoint: raw UPDATE": lambda: sql("UPDATE audit_checkpoint SET signature = 'ab'"),
    "checkpoint: raw DELETE": lambda: sql("DELETE FROM audit_checkpoint WHERE seq = %s", [10]),
    "checkpoint: emptying the table": lambda: empty_the_table("audit_checkpoint"),
}


@pytest.mark.parametrize("write", REFUSED_WRITES.values(), ids=REFUSED_WRITES.keys())
def test_the_database_refuses_to_change_or_delete_audit_rows(log, write):
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction.atomic():
            write()

    assert AccessEvent.objects.filter(chain=CHAIN).count() == 12
    assert Checkpoint.objects.filter(chain=CHAIN).count() == 2
    assert verify_chain(CHAIN).ok


def test_the_chain_head_stays_updatable_and_appends_go_on(log):
    append_events(3)

    assert Chain.objects.get(name=CHAIN).head_seq == 15
    assert verify_chain(CHAIN).ok


def test_a_purge_permit_lets_through_only_its_chains_events_up_to_its_cut(log, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 0
    append_events(2, chain="another-area")
    sql("INSERT INTO audit_purgepermit (chain, up_to_seq) VALUES (%s, %s)", [CHAIN, 5])

    for write in [
        lambda: sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 6", [CHAIN]),
        lambda: sql("DELETE FROM audit_accessevent WHERE chain = %s", ["another-area"]),
        lambda: sql("UPDATE audit_accessevent SET username = 'x' WHERE seq = 1"),
    ]:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            write()
    deleted = sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= 5", [CHAIN])

    assert deleted == 5


# --- tampering ----------------------------------------------------------------------------------


def change_one_field(log):
    sql("UPDATE audit_accessevent SET username = 'mallory' WHERE chain = %s AND seq = 7", [CHAIN])


def change_one_field_and_rehash_the_event(log):
    event = event_at(7)
    event.outcome = AccessEvent.Outcome.DENIED
    sql(
        "UPDATE audit_accessevent SET outcome = %s, hash = %s WHERE chain = %s AND seq = 7",
        [event.outcome, event_hash(event.prev_hash, event), CHAIN],
    )


def change_a_checkpointed_event_and_rehash_it(log):
    event = event_at(10)
    event.categories = ["basic"]
    sql(
        "UPDATE audit_accessevent SET categories = %s, hash = %s WHERE chain = %s AND seq = 10",
        [json.dumps(event.categories), event_hash(event.prev_hash, event), CHAIN],
    )


def delete_one_event(log):
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 7", [CHAIN])


def delete_the_first_event(log):
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 1", [CHAIN])


def delete_the_last_event(log):
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 12", [CHAIN])


def forge_event(*, seq: int, prev_hash: str) -> AccessEvent:
    forged = new_event(username="mallory", seq=seq, prev_hash=prev_hash, chain=CHAIN)
    forged.hash = event_hash(prev_hash, forged)
    forged.save(force_insert=True)
    return forged


def insert_a_forged_event_at_the_end(log):
    """A well-formed next event, written straight into the table instead of by append."""
    forge_event(seq=13, prev_hash=log[11].hash)


def insert_a_forged_event_in_the_middle(log):
    """Make room at 7 by renumbering 7..12 to 8..13, link the forgery to 6, move the head."""
    sql("UPDATE audit_accessevent SET seq = -seq WHERE chain = %s AND seq >= 7", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 1 - seq WHERE chain = %s AND seq < 0", [CHAIN])
    forge_event(seq=7, prev_hash=log[5].hash)
    set_head(13)


def swap_two_events(log):
    sql("UPDATE audit_accessevent SET seq = -1 WHERE chain = %s AND seq = 7", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 7 WHERE chain = %s AND seq = 9", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 9 WHERE chain = %s AND seq = -1", [CHAIN])


def swap_two_adjacent_events(log):
    sql("UPDATE audit_accessevent SET seq = -1 WHERE chain = %s AND seq = 7", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 7 WHERE chain = %s AND seq = 8", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 8 WHERE chain = %s AND seq = -1", [CHAIN])


def truncate_the_tail_after_a_checkpoint(log):
    """Cut 8..12 (past the checkpoint at 10) and set the head row back to 7 to match."""
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq >= 8", [CHAIN])
    set_head(7)


def truncate_the_tail_and_its_checkpoints(log):
    """As above, and the checkpoints past 7 too: only the external copy still knows of 10."""
    truncate_the_tail_after_a_checkpoint(log)
    sql("DELETE FROM audit_checkpoint WHERE chain = %s AND seq > 7", [CHAIN])


TAMPERING = [
    (change_one_field, 7, "does not match its hash"),
    (change_one_field_and_rehash_the_event, 7, "is not the event that event 8 was appended after"),
    (change_a_checkpointed_event_and_rehash_it, 10, "does not match the signed checkpoint at 10"),
    (delete_one_event, 7, "event 7 is missing"),
    (delete_the_first_event, 1, "no signed retention purge"),
    (delete_the_last_event, 12, "event 12 is missing (the chain head is at 12)"),
    (insert_a_forged_event_at_the_end, 13, "beyond the chain head"),
    (insert_a_forged_event_in_the_middle, 7, "the event stored as 8 was appended as 7"),
    (swap_two_events, 7, "the event stored as 7 was appended as 9"),
    (swap_two_adjacent_events, 7, "does not match its hash"),
    (truncate_the_tail_after_a_checkpoint, 8, "a signed checkpoint is at 10"),
    (truncate_the_tail_and_its_checkpoints, 8, "a signed checkpoint is at 10"),
]


@pytest.mark.parametrize(
    ("tamper", "first_bad_seq", "reason"),
    TAMPERING,
    ids=[tamper.__name__ for tamper, *_ in TAMPERING],
)
def test_tampering_is_caught_at_the_right_sequence_number(log, tamper, first_bad_seq, reason):
    drop_triggers()
    tamper(log)

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, first_bad_seq), result
    assert reason in result.reason
    assert f"chain {CHAIN}: broken at sequence {first_bad_seq}:" in verify_audit_fails()


def test_rewriting_history_from_a_change_on_is_caught_by_the_next_checkpoint(log):
    """Change event 7, recompute every hash after it and move the head: the chain is consistent
    again, and only the signed checkpoint at 10 shows it. Which of 6..10 changed cannot be
    known, so the first event after the last matching checkpoint (5) is named."""
    drop_triggers()
    prev_hash = log[5].hash
    for seq in range(7, 13):
        event = event_at(seq)
        if seq == 7:
            event.username = "mallory"
        event.prev_hash, event.hash = prev_hash, event_hash(prev_hash, event)
        sql(
            "UPDATE audit_accessevent SET username = %s, prev_hash = %s, hash = %s "
            "WHERE chain = %s AND seq = %s",
            [event.username, event.prev_hash, event.hash, CHAIN, seq],
        )
        prev_hash = event.hash
    set_head(12)

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "signed checkpoint at 10" in result.reason


def test_a_log_replaced_together_with_its_database_checkpoints_is_caught_by_the_external_copy(
    log,
):
    """Delete every checkpoint row and rewrite the whole chain with a changed event 3."""
    drop_triggers()
    sql("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])
    prev_hash = "0" * 64
    for seq in range(1, 13):
        event = event_at(seq)
        if seq == 3:
            event.username = "mallory"
        event.prev_hash, event.hash = prev_hash, event_hash(prev_hash, event)
        sql(
            "UPDATE audit_accessevent SET username = %s, prev_hash = %s, hash = %s "
            "WHERE chain = %s AND seq = %s",
            [event.username, event.prev_hash, event.hash, CHAIN, seq],
        )
        prev_hash = event.hash
    set_head(12)

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "signed checkpoint at 5" in result.reason
    assert "broken at sequence 1" in verify_audit_fails()


def test_a_chain_deleted_from_the_database_is_caught_by_the_external_copy(log):
    drop_triggers()
    sql("DELETE FROM audit_accessevent WHERE chain = %s", [CHAIN])
    sql("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])
    Chain.objects.filter(name=CHAIN).delete()

    (result,) = verify_all()

    assert (result.chain, result.ok, result.first_bad_seq) == (CHAIN, False, 1)


# --- retention purge ----------------------------------------------------------------------------


def days_ago(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def old_log(db, settings, write_checkpoints_outside):
    """Events 1..5 and their checkpoint from two years ago, 6..10 and theirs from 300 days ago
    (as the app wrote them then), and two events of today."""
    settings.AUDIT_CHECKPOINT_EVERY = 0
    with write_checkpoints_outside():
        for seq in range(1, 11):
            when = days_ago(730 if seq <= 5 else 300)
            (event,) = append([new_event(created_at=when)], chain=CHAIN)
            if seq % 5 == 0:  # signed with the key, as the app did then
                previous = Checkpoint.objects.filter(chain=CHAIN).last()
                checkpoint = Checkpoint(
                    chain=CHAIN,
                    seq=seq,
                    head_hash=event.hash,
                    created_at=when,
                    prev_checkpoint_hash=(
                        checkpoints.record_hash("checkpoint", previous) if previous else "0" * 64
                    ),
                )
                checkpoints.sign_record("checkpoint", checkpoint)
                checkpoint.save(force_insert=True)
                checkpoints.write_external(checkpoint)
        settings.AUDIT_CHECKPOINT_EVERY = 5
        append_events(2)
    assert verify_chain(CHAIN).ok


def purge(before: datetime.date, *args: str) -> str:
    stdout = io.StringIO()
    call_command("purge_audit", "--before", before.isoformat(), *args, stdout=stdout)
    return stdout.getvalue()


def a_year_ago() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=365)


def half_a_year_ago() -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=180)


def test_a_purge_up_to_the_last_old_checkpoint_leaves_a_log_that_verifies(
    old_log, write_checkpoints_outside
):
    with write_checkpoints_outside():
        output = purge(half_a_year_ago())

    assert f"chain {CHAIN}: purged 10 events up to sequence 10; recorded as event 13" in output
    assert list(AccessEvent.objects.filter(chain=CHAIN).values_list("seq", flat=True)) == [
        11,
        12,
        13,
    ]
    purge_event = event_at(13)
    assert (purge_event.resource, purge_event.purpose) == (PURGE_RESOURCE, purge_purpose(10))
    assert (purge_event.action, purge_event.outcome) == ("write", "allowed")
    assert "purge_audit" in purge_event.username
    # The checkpoints are kept, and a new one signs the purge event.
    assert list(Checkpoint.objects.filter(chain=CHAIN).values_list("seq", flat=True)) == [
        5,
        10,
        13,
    ]
    assert [line["seq"] for line in external_lines()] == [5, 10, 13]
    result = verify_chain(CHAIN)
    assert result.ok, result
    assert (result.events, result.checkpoints) == (3, 3)


def test_a_purge_cuts_at_the_newest_checkpoint_made_before_the_date(old_log):
    output = purge(a_year_ago())

    assert f"chain {CHAIN}: purged 5 events up to sequence 5; recorded as event 13" in output
    assert AccessEvent.objects.filter(chain=CHAIN).order_by("seq").first().seq == 6
    assert verify_chain(CHAIN).ok


def test_nothing_is_purged_without_a_checkpoint_older_than_the_date(log):
    output = purge(a_year_ago())

    assert "nothing to purge" in output
    assert AccessEvent.objects.filter(chain=CHAIN).count() == 12


def test_a_dry_run_purges_nothing(old_log):
    output = purge(half_a_year_ago(), "--dry-run")

    assert "would purge 10 events up to sequence 10" in output
    assert AccessEvent.objects.filter(chain=CHAIN).count() == 12


def test_a_purge_date_in_the_future_is_refused(log):
    with pytest.raises(CommandError, match="future"):
        purge(timezone.localdate() + datetime.timedelta(days=1))


def test_a_broken_chain_is_not_purged(old_log):
    drop_triggers()
    sql("UPDATE audit_accessevent SET username = 'mallory' WHERE chain = %s AND seq = 3", [CHAIN])

    with pytest.raises(CommandError, match="broken at sequence 3"):
        purge(half_a_year_ago())
    assert AccessEvent.objects.filter(chain=CHAIN).count() == 12


def test_after_a_purge_deleting_outside_the_purge_command_is_still_refused(old_log):
    purge(half_a_year_ago())

    for write in [
        lambda: AccessEvent.objects.filter(chain=CHAIN).delete(),
        lambda: sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 11", [CHAIN]),
        lambda: sql("DELETE FROM audit_checkpoint WHERE chain = %s AND seq = 5", [CHAIN]),
    ]:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            write()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM audit_purgepermit")
        assert cursor.fetchone() == (0,)


def test_deleting_old_events_without_the_purge_command_is_caught(old_log):
    """Cut at a checkpoint, as a purge would, but with no signed purge event."""
    drop_triggers()
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= 10", [CHAIN])

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "no signed retention purge" in result.reason


def test_deleting_more_events_after_a_purge_is_caught_where_the_purge_ended(
    old_log, write_checkpoints_outside
):
    with write_checkpoints_outside():
        purge(half_a_year_ago())  # events 11, 12 and the purge event 13 remain
    drop_triggers()
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= 12", [CHAIN])

    result = verify_chain(CHAIN)

    assert (result.ok, result.first_bad_seq) == (False, 11)
