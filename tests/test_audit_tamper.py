"""The tamper suite: an attacker with full database access (the append-only triggers disabled or
dropped) but without the signing key and without the external checkpoint folder tries every
change the issue lists, and `verify_audit` must catch and locate each one (the sequence number
of an access-log chain, the row id of the change history, or the chain refused).

The same module runs on SQLite and on PostgreSQL (DATABASE_URL). Spellings that only SQLite can
store (a re-cased or suffixed UUID, a 'T' in a time: its columns are text) are cases on SQLite;
PostgreSQL's uuid and timestamptz types hold one spelling only, which a test there shows.
"""

import datetime
import importlib
import io
import json
import shutil
import uuid
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit import checkpoints, history
from audit.chain import append, event_hash
from audit.management.commands.purge_audit import purge_chain
from audit.models import (
    AccessEvent,
    Chain,
    ChangeDigest,
    ChangeErasure,
    ChangeSeal,
    Checkpoint,
    PurgeRecord,
)
from audit.verify import verify_all, verify_chain, verify_changes
from cases.models import Organisation, OrganisationMembership
from cases.seeding import demo
from tests import contract
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

first_triggers = importlib.import_module("audit.migrations.0002_append_only_triggers")
more_triggers = importlib.import_module(
    "audit.migrations.0005_append_only_change_history_and_signed_records"
)

CHAIN = "paijat-hame"
SQLITE = connection.vendor == "sqlite"
TABLES = [*first_triggers.TABLES, *more_triggers.SIGNED_TABLES, more_triggers.HISTORY]


def sql(statement: str, params: list | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def disable_triggers() -> None:
    """As the attacker: on SQLite drop the triggers, on PostgreSQL disable them (ALTER TABLE …
    DISABLE TRIGGER, inside the test's transaction: back when it rolls back)."""
    if SQLITE:
        for statement in first_triggers.drop_trigger_statements("sqlite"):
            sql(statement)
        for statement in more_triggers.drop_trigger_statements("sqlite"):
            sql(statement)
    else:
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred foreign-key checks pending
        for table in TABLES:
            sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def enable_triggers() -> None:
    """Put them back (for a change committed by a transactional test)."""
    if SQLITE:
        for statement in first_triggers.trigger_statements("sqlite"):
            sql(statement)
        for statement in more_triggers.trigger_statements("sqlite"):
            sql(statement)
    else:
        for table in TABLES:
            sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def committed_change(statement: str, params: list) -> None:
    """Commit one change with the triggers off, and the triggers on again in the same
    transaction (so no later test finds them gone)."""
    with transaction.atomic():
        disable_triggers()
        sql(statement, params)
        enable_triggers()


def db_uuid(value: uuid.UUID) -> str:
    return value.hex if SQLITE else str(value)


def db_time(value: datetime.datetime):
    return str(value.astimezone(datetime.UTC).replace(tzinfo=None)) if SQLITE else value


def new_event(**fields) -> AccessEvent:
    values = {
        "resource": "case",
        "action": AccessEvent.Action.VIEW,
        "outcome": AccessEvent.Outcome.ALLOWED,
        "username": "tiina.vastuu",
        "user_id": uuid.uuid4(),
        "organisation_id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "family_id": uuid.uuid4(),
        "controller_id": uuid.uuid4(),
        "role": AccessEvent.Role.MEMBER,
        "categories": ["basic", "plan"],
        "disclosed_from": [str(uuid.uuid4())],
        "consents": [str(uuid.uuid4())],
        "purpose": "family support",
        "request_id": uuid.uuid4().hex,
        "client_address": "10.0.0.7",
    }
    values.update(fields)
    return AccessEvent(**values)


def append_events(count: int, chain: str = CHAIN) -> list[AccessEvent]:
    return [append([new_event()], chain=chain)[0] for _ in range(count)]


def event_at(seq: int) -> AccessEvent:
    return AccessEvent.objects.get(chain=CHAIN, seq=seq)


def set_head(seq: int) -> None:
    Chain.objects.filter(name=CHAIN).update(head_seq=seq, head_hash=event_at(seq).hash)


def caught(result, where: int | None, *words: str) -> None:
    """verify failed, at `where`, and said `words`."""
    assert not result.ok, result
    assert result.first_bad_seq == where, result
    for word in words:
        assert word in result.reason, result


@pytest.fixture
def outside(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the external checkpoint copies) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def log(db, settings, outside):
    """Twelve events; signed checkpoints at 5 and 10 in the database and outside; a change
    history of three organisations, sealed."""
    settings.AUDIT_CHECKPOINT_EVERY = 5
    settings.AUDIT_CHAINS = [CHAIN]
    with outside():
        events = append_events(12)
        for name in ("Neuvola", "Perhetyö", "Koulu"):
            OrganisationFactory(name=name)
        history.seal()
    assert verify_chain(CHAIN).ok
    assert verify_changes().ok
    return events


def entry_ids() -> list[int]:
    return list(LogEntry.objects.order_by("id").values_list("id", flat=True))


# --- every column of an event -------------------------------------------------------------------


def other_event_value(column: str):
    """Another well-formed value for the column, in the database's own form."""
    if column == "id" or column.endswith("_id"):
        return db_uuid(uuid.uuid4())
    values = {
        "chain": "elsewhere",
        "seq": 100,
        "prev_hash": "f" * 64,
        "hash": "f" * 64,
        "created_at": db_time(timezone.now() - datetime.timedelta(days=3)),
        "username": "mallory",
        "role": AccessEvent.Role.RESPONSIBLE,
        "resource": "family",
        "categories": json.dumps(["basic"]),
        "action": AccessEvent.Action.EXPORT,
        "outcome": AccessEvent.Outcome.DENIED,
        "purpose": "",
        "emergency": True,
        "disclosed_from": json.dumps([]),
        "consents": json.dumps([]),
        "legal_bases": json.dumps([str(uuid.uuid4())]),
        "request_id": "forged",
        "client_address": "10.9.9.9",
    }
    return values[column]


EVENT_COLUMNS = [field.column for field in AccessEvent._meta.concrete_fields]


@pytest.mark.parametrize("column", EVENT_COLUMNS)
def test_every_column_of_an_event_changed_is_caught_at_that_event(log, column):
    disable_triggers()
    sql(
        f"UPDATE audit_accessevent SET {column} = %s WHERE chain = %s AND seq = 7",  # noqa: S608
        [other_event_value(column), CHAIN],
    )

    caught(verify_chain(CHAIN), 7, "event 7")
    assert "broken at sequence 7" in verify_audit_fails()


@pytest.mark.parametrize(
    "changed",
    [[], ["b"], ["a"], ["b", "a"], ["a", "b", "c"]],
    ids=["emptied", "replaced", "one-removed", "reordered", "one-added"],
)
def test_a_changed_legal_basis_is_caught_at_that_event(db, settings, outside, changed):
    """legal_bases is hashed when not empty (audit.models.OPTIONAL_HASHED_FIELDS): emptying,
    replacing, shortening, reordering or extending the bases of a disclosure is caught."""
    settings.AUDIT_CHECKPOINT_EVERY = 5
    settings.AUDIT_CHAINS = [CHAIN]
    ids = {name: str(uuid.uuid4()) for name in "abc"}
    with outside():
        append_events(6)
        append([new_event(legal_bases=[ids["a"], ids["b"]])], chain=CHAIN)
        append_events(5)
    assert verify_chain(CHAIN).ok
    disable_triggers()
    sql(
        "UPDATE audit_accessevent SET legal_bases = %s WHERE chain = %s AND seq = 7",
        [json.dumps([ids[name] for name in changed]), CHAIN],
    )

    caught(verify_chain(CHAIN), 7, "event 7")


SQLITE_SPELLINGS = {
    "a re-cased family id": ("family_id", lambda v: v.upper()),
    "a suffixed family id": ("family_id", lambda v: v + "00"),
    "a re-cased event id": ("id", lambda v: v.upper()),
    "a suffixed case id": ("case_id", lambda v: v + "x"),
    "a time spelled with T": ("created_at", lambda v: v.replace(" ", "T")),
    "a time with an offset": ("created_at", lambda v: v + "+00:00"),
    "a time with a zero fraction": ("created_at", lambda v: v[:19] + ".000000"),
    "emergency as text": ("emergency", lambda v: "false"),
}


@pytest.mark.sqlite_only  # SQLite stores these columns as text
@pytest.mark.parametrize("spelling", SQLITE_SPELLINGS, ids=list(SQLITE_SPELLINGS))
def test_a_value_in_another_spelling_is_caught_on_sqlite_with_its_column(log, spelling):
    column, respell = SQLITE_SPELLINGS[spelling]
    disable_triggers()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} || '' FROM audit_accessevent WHERE chain = %s AND seq = 7",  # noqa: S608
            [CHAIN],
        )
        (stored,) = cursor.fetchone()
    sql(
        f"UPDATE audit_accessevent SET {column} = %s WHERE chain = %s AND seq = 7",  # noqa: S608
        [respell(stored), CHAIN],
    )

    caught(verify_chain(CHAIN), 7, f"its {column} stored as", "not in its canonical form")


@pytest.mark.postgresql_only  # the PostgreSQL side of the spelling cases
def test_postgresql_holds_one_spelling_of_a_uuid_and_a_time(log):
    """What SQLite's text columns let through, PostgreSQL's types normalise: the re-cased UUID
    and the 'T' time are the same value there, and verify stays whole."""
    event = event_at(7)
    disable_triggers()
    sql(
        "UPDATE audit_accessevent SET family_id = %s, created_at = %s WHERE id = %s",
        [
            str(event.family_id).upper(),
            event.created_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
            event.id,
        ],
    )

    assert verify_chain(CHAIN).ok


@pytest.mark.sqlite_only  # only SQLite can store a suffixed UUID
def test_a_suffixed_uuid_does_not_make_the_auditors_event_list_fail(db, api, settings):
    """The auditor still gets the list (the damaged value shown as stored), and verify names
    the event."""
    settings.AUDIT_CHAINS = [settings.AUDIT_CHAIN]
    seeded = demo.seed()
    auditor = UserFactory(username="aino.auditoija")
    MembershipFactory(
        user=auditor,
        organisation=Organisation.objects.get(pk=seeded.case.responsible_organisation_id),
        role=OrganisationMembership.Role.AUDITOR,
    )
    (event,) = append(
        [new_event(controller_id=seeded.case.responsible_organisation_id)],
        chain=settings.AUDIT_CHAIN,
    )
    disable_triggers()
    sql(
        "UPDATE audit_accessevent SET family_id = %s WHERE id = %s",
        [event.family_id.hex + "00", event.id.hex],
    )

    # The stored value is no UUID, so the list cannot match the schema's `format: uuid` here:
    # what counts is that it answers, and shows what is stored.
    with contract.unchecked("a family_id damaged by hand in the database"):
        response = api.as_user(auditor).get("/api/v1/audit/events/")

    assert response.status_code == 200, response.content
    shown = [row for row in response.json()["results"] if row["id"] == str(event.id)]
    assert shown and shown[0]["family"] == event.family_id.hex + "00"
    result = verify_chain(settings.AUDIT_CHAIN, without_external=True)
    caught(result, event.seq, "family_id stored as")


# --- deletion, truncation, insertion, reordering, rewriting -------------------------------------


def delete_in_the_middle(log):
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 7", [CHAIN])


def delete_at_the_tail(log):
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 12", [CHAIN])


def delete_at_the_tail_and_set_the_head_back(log):
    """The last signed event (10) and after: the signed checkpoint at 10 still names it."""
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq >= 10", [CHAIN])
    set_head(9)


def truncate_before_a_checkpoint(log):
    """Cut from 8, before the checkpoint at 10, head set back to match."""
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq >= 8", [CHAIN])
    set_head(7)


def truncate_before_a_checkpoint_and_delete_the_checkpoints(log):
    truncate_before_a_checkpoint(log)
    sql("DELETE FROM audit_checkpoint WHERE chain = %s AND seq > 7", [CHAIN])


def truncate_the_head_of_the_log(log):
    """The first events, as a purge would, but without one."""
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= 5", [CHAIN])


def insert_in_the_middle(log):
    sql("UPDATE audit_accessevent SET seq = -seq WHERE chain = %s AND seq >= 7", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 1 - seq WHERE chain = %s AND seq < 0", [CHAIN])
    forged = new_event(username="mallory", chain=CHAIN, seq=7, prev_hash=log[5].hash)
    forged.hash = event_hash(forged.prev_hash, forged)
    forged.save(force_insert=True)
    set_head(13)


def insert_beyond_the_head(log):
    forged = new_event(username="mallory", chain=CHAIN, seq=13, prev_hash=log[11].hash)
    forged.hash = event_hash(forged.prev_hash, forged)
    forged.save(force_insert=True)


def reorder(log):
    sql("UPDATE audit_accessevent SET seq = -1 WHERE chain = %s AND seq = 7", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 7 WHERE chain = %s AND seq = 9", [CHAIN])
    sql("UPDATE audit_accessevent SET seq = 9 WHERE chain = %s AND seq = -1", [CHAIN])


def rewrite(*, from_seq: int, change) -> None:
    """Recompute every hash from `from_seq` with the project's own code, after `change`."""
    prev_hash = event_at(from_seq - 1).hash if from_seq > 1 else "0" * 64
    for seq in range(from_seq, 13):
        event = event_at(seq)
        if seq == from_seq:
            change(event)
        event.prev_hash, event.hash = prev_hash, event_hash(prev_hash, event)
        AccessEvent.objects.filter(pk=event.pk).update(
            username=event.username, prev_hash=event.prev_hash, hash=event.hash
        )
        prev_hash = event.hash
    set_head(12)


def rewrite_the_whole_chain(log):
    rewrite(from_seq=1, change=lambda event: setattr(event, "username", "mallory"))


def rewrite_the_whole_chain_and_its_checkpoint_rows(log):
    sql("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])
    rewrite_the_whole_chain(log)


def rewrite_from_the_middle(log):
    rewrite(from_seq=7, change=lambda event: setattr(event, "username", "mallory"))


EVENT_TAMPERING = [
    (delete_in_the_middle, 7, "event 7 is missing"),
    (delete_at_the_tail, 12, "event 12 is missing"),
    (delete_at_the_tail_and_set_the_head_back, 10, "a signed checkpoint is at 10"),
    (truncate_before_a_checkpoint, 8, "a signed checkpoint is at 10"),
    (truncate_before_a_checkpoint_and_delete_the_checkpoints, 8, "a signed checkpoint is at 10"),
    (truncate_the_head_of_the_log, 1, "no signed retention purge"),
    (insert_in_the_middle, 7, "was appended as 7"),
    (insert_beyond_the_head, 13, "beyond the chain head"),
    (reorder, 7, "was appended as 9"),
    (rewrite_the_whole_chain, 1, "signed checkpoint at 5"),
    (rewrite_the_whole_chain_and_its_checkpoint_rows, 1, "signed checkpoint at 5"),
    (rewrite_from_the_middle, 6, "signed checkpoint at 10"),
]


@pytest.mark.parametrize(
    ("tamper", "where", "words"),
    EVENT_TAMPERING,
    ids=[tamper.__name__ for tamper, *_ in EVENT_TAMPERING],
)
def test_events_deleted_truncated_inserted_reordered_or_rewritten_are_caught(
    log, tamper, where, words
):
    disable_triggers()
    tamper(log)

    caught(verify_chain(CHAIN), where, words)
    assert f"broken at sequence {where}" in verify_audit_fails()


# --- checkpoints --------------------------------------------------------------------------------

CHECKPOINT_COLUMNS = [field.column for field in Checkpoint._meta.concrete_fields]


def other_checkpoint_value(column: str, checkpoint: Checkpoint):
    values = {
        "id": db_uuid(uuid.uuid4()),
        "chain": "elsewhere",
        "seq": 6,
        "head_hash": "e" * 64,
        "created_at": db_time(checkpoint.created_at - datetime.timedelta(days=700)),
        "prev_checkpoint_hash": "e" * 64,
        "key_id": "0" * 16,
        "signature": "ab" * 64,
    }
    return values[column]


@pytest.mark.parametrize("column", CHECKPOINT_COLUMNS)
def test_every_column_of_a_checkpoint_changed_is_caught_at_that_checkpoint(log, column):
    checkpoint = Checkpoint.objects.get(chain=CHAIN, seq=5)
    disable_triggers()
    sql(
        f"UPDATE audit_checkpoint SET {column} = %s WHERE chain = %s AND seq = 5",  # noqa: S608
        [other_checkpoint_value(column, checkpoint), CHAIN],
    )

    caught(verify_chain(CHAIN), 5, "checkpoint at 5")


def test_a_deleted_checkpoint_is_caught_by_the_checkpoint_after_it_and_the_external_copy(log):
    disable_triggers()
    sql("DELETE FROM audit_checkpoint WHERE chain = %s AND seq = 5", [CHAIN])

    result = verify_chain(CHAIN)

    caught(result, 5, "the external copy of the checkpoint at 5 is missing from the database")


def test_a_deleted_checkpoint_without_the_external_copy_is_caught_by_the_checkpoint_chain(log):
    disable_triggers()
    sql("DELETE FROM audit_checkpoint WHERE chain = %s AND seq = 5", [CHAIN])

    caught(
        verify_chain(CHAIN, without_external=True), 10, "was not made after the first", "deleted"
    )


def test_a_checkpoint_replayed_into_another_chain_or_at_another_seq_is_caught(log, settings):
    settings.AUDIT_CHAINS = [CHAIN, "another-area"]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    append_events(6, chain="another-area")
    signed = Checkpoint.objects.get(chain=CHAIN, seq=5)
    # The same signed row, copied whole into another chain.
    sql(
        "INSERT INTO audit_checkpoint (id, chain, seq, head_hash, created_at, "
        "prev_checkpoint_hash, key_id, signature) SELECT %s, %s, seq, head_hash, created_at, "
        "prev_checkpoint_hash, key_id, signature FROM audit_checkpoint WHERE id = %s",
        [db_uuid(uuid.uuid4()), "another-area", db_uuid(signed.id)],
    )

    caught(verify_chain("another-area"), 5, "checkpoint at 5", "bad signature")


def test_a_backdated_checkpoint_stops_the_routine_purge_and_is_caught(log, outside):
    """Backdate the checkpoint at 10 by two years, then run the daily purge: it refuses (the
    time is signed), deletes nothing, and verify names the checkpoint."""
    disable_triggers()
    sql(
        "UPDATE audit_checkpoint SET created_at = %s WHERE chain = %s AND seq = 10",
        [db_time(timezone.now() - datetime.timedelta(days=730)), CHAIN],
    )

    with outside(), pytest.raises(CommandError, match="broken at sequence 10"):
        call_command(
            "purge_audit",
            "--before",
            (timezone.localdate() - datetime.timedelta(days=365)).isoformat(),
            stdout=io.StringIO(),
        )
    with pytest.raises(CommandError, match="broken at sequence 10"):
        purge_chain(chain=CHAIN, before=timezone.now(), operator="cron")

    assert AccessEvent.objects.filter(chain=CHAIN).count() == 12
    caught(verify_chain(CHAIN), 10, "checkpoint at 10")


def test_an_external_line_that_differs_from_its_row_is_caught(log):
    path = checkpoints.external_path(CHAIN)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0]) | {"created_at": "2020-01-01T00:00:00.000000+00:00"}
    path.write_text("\n".join([json.dumps(entry), *lines[1:]]) + "\n")

    caught(verify_chain(CHAIN), 5, "external copy of the checkpoint at 5", "bad signature")


# --- purges -------------------------------------------------------------------------------------


def forge_a_purge(up_to: int) -> None:
    """Delete events 1..up_to and append the event purge_audit would write."""
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= %s", [CHAIN, up_to])
    append(
        [
            AccessEvent(
                username="root (purge_audit)",
                resource="audit-purge",
                action=AccessEvent.Action.WRITE,
                outcome=AccessEvent.Outcome.ALLOWED,
                purpose=f"retention purge up to sequence {up_to}",
            )
        ],
        chain=CHAIN,
    )


def test_a_forged_purge_is_caught(log):
    disable_triggers()
    forge_a_purge(10)

    caught(verify_chain(CHAIN), 1, "events 1..10 are missing", "no signed retention purge")


def test_a_forged_purge_is_not_signed_by_the_routine_checkpoint_and_stays_caught(log, outside):
    disable_triggers()
    forge_a_purge(10)
    stderr = io.StringIO()

    with outside(), pytest.raises(CommandError, match="Refused to sign"):
        call_command("audit_checkpoint", stdout=io.StringIO(), stderr=stderr)

    assert "no signed retention purge" in stderr.getvalue()
    assert not Checkpoint.objects.filter(chain=CHAIN, seq__gt=10).exists()
    caught(verify_chain(CHAIN), 1, "events 1..10 are missing")


def test_a_forged_purge_is_not_signed_by_the_automatic_checkpoint_either(log, settings, caplog):
    settings.AUDIT_CHECKPOINT_EVERY = 1
    disable_triggers()
    forge_a_purge(10)  # its own append would checkpoint at 13

    assert "no signed retention purge" in caplog.text
    assert not Checkpoint.objects.filter(chain=CHAIN, seq__gt=10).exists()
    caught(verify_chain(CHAIN), 1, "no signed retention purge")


def test_a_checkpoint_is_not_signed_over_a_gap_or_a_changed_event(log):
    disable_triggers()
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq = 11", [CHAIN])
    with pytest.raises(checkpoints.CheckpointRefused, match="event 11 is missing"):
        checkpoints.create_checkpoint(chain=CHAIN)
    sql("UPDATE audit_accessevent SET username = 'x' WHERE chain = %s AND seq = 12", [CHAIN])
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.create_checkpoint(chain=CHAIN)
    assert not Checkpoint.objects.filter(chain=CHAIN, seq=12).exists()


@pytest.fixture
def purged(log, outside):
    """The log purged by purge_audit up to the checkpoint at 10 (11, 12 and the purge event 13
    remain, signed at 13), and one change-history row erased with its signed erasure."""
    with outside():
        purge_chain(chain=CHAIN, before=timezone.now(), operator="cron (purge_audit)")
        with transaction.atomic():
            history.erase(entry_ids()[:1])
    assert verify_chain(CHAIN).ok
    assert verify_changes().ok
    return PurgeRecord.objects.get(chain=CHAIN)


def test_the_purge_record_names_the_range_and_the_checkpoint_it_cuts_at(purged):
    cut_at = Checkpoint.objects.get(chain=CHAIN, seq=10)
    assert (purged.first_seq, purged.up_to_seq) == (1, 10)
    assert (purged.checkpoint_id, purged.checkpoint_head_hash) == (cut_at.id, cut_at.head_hash)
    assert checkpoints.signature_problem("purge", purged) is None
    assert AccessEvent.objects.filter(chain=CHAIN).order_by("seq").first().seq == 11


PURGE_COLUMNS = [field.column for field in PurgeRecord._meta.concrete_fields]


def other_purge_value(column: str, record: PurgeRecord):
    values = {
        "id": db_uuid(uuid.uuid4()),
        "chain": "elsewhere",
        "first_seq": 2,
        "up_to_seq": 11,
        "checkpoint_id": db_uuid(uuid.uuid4()),
        "checkpoint_head_hash": "e" * 64,
        "operator": "mallory",
        "created_at": db_time(record.created_at - datetime.timedelta(days=1)),
        "key_id": "0" * 16,
        "signature": "ab" * 64,
    }
    return values[column]


@pytest.mark.parametrize("column", PURGE_COLUMNS)
def test_every_column_of_a_purge_record_changed_is_caught(purged, column):
    disable_triggers()
    sql(
        f"UPDATE audit_purgerecord SET {column} = %s WHERE id = %s",  # noqa: S608
        [other_purge_value(column, purged), db_uuid(purged.id)],
    )

    caught(verify_chain(CHAIN), 1, "purge")


def test_deleting_a_purge_record_is_caught(purged):
    disable_triggers()
    sql("DELETE FROM audit_purgerecord")

    caught(verify_chain(CHAIN), 1, "no signed retention purge")


def test_deleting_more_after_a_purge_is_caught_where_the_purge_ended(purged):
    disable_triggers()
    sql("DELETE FROM audit_accessevent WHERE chain = %s AND seq <= 12", [CHAIN])

    caught(verify_chain(CHAIN), 11, "events 11..12 are missing")


# --- chains the deployment does not declare; the external folder --------------------------------


def test_an_undeclared_chain_is_refused(log, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 0
    append_events(3, chain="forged-area")

    results = {result.chain: result for result in verify_all()}

    assert results[CHAIN].ok
    assert not results["forged-area"].ok
    assert "not declared by this deployment" in results["forged-area"].reason
    assert "chain forged-area: broken: chain 'forged-area' is not declared" in verify_audit_fails()


def test_verify_without_the_external_folder_fails(log):
    shutil.rmtree(Path(checkpoints.external_path(CHAIN)).parent)

    caught(verify_chain(CHAIN), None, "external checkpoint folder", "is missing")
    assert "--without-external" in verify_audit_fails()


def test_verify_without_the_external_copy_of_a_chain_fails(log):
    checkpoints.external_path(CHAIN).unlink()

    caught(verify_chain(CHAIN), 5, "the external copy of chain paijat-hame is missing")


def test_verify_told_without_external_says_loudly_what_it_could_not_check(log):
    shutil.rmtree(Path(checkpoints.external_path(CHAIN)).parent)
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("verify_audit", "--without-external", stdout=stdout, stderr=stderr)

    assert f"chain {CHAIN}: 12 events verified" in stdout.getvalue()
    assert "NOT compared with the external checkpoint copy" in stderr.getvalue()
    assert "WITHOUT the external checkpoint copy" in stderr.getvalue()
    assert verify_chain(CHAIN, without_external=True).warnings


# --- change history -----------------------------------------------------------------------------

LOGENTRY_COLUMNS = [field.column for field in LogEntry._meta.concrete_fields]


def other_logentry_value(column: str, entry_id: int):
    if column == "id":
        return entry_id + 100000
    if column == "timestamp":
        return db_time(timezone.now() - datetime.timedelta(days=9))
    if column in ("changes", "serialized_data", "additional_data"):
        return json.dumps({"name": ["Neuvola", "Mallory"]})
    if column in ("object_id", "remote_port", "action"):
        return 2
    if column == "content_type_id":
        return LogEntry.objects.get(pk=entry_id).content_type_id + 1
    if column == "actor_id":
        return db_uuid(UserFactory().pk)
    if column == "remote_addr":
        return "10.6.6.6"
    return "forged"


@pytest.mark.parametrize("column", LOGENTRY_COLUMNS)
def test_every_column_of_a_change_history_row_changed_is_caught_at_that_row(log, column):
    target = entry_ids()[1]
    value = other_logentry_value(column, target)  # before the triggers go (it may write)
    disable_triggers()
    sql(f"UPDATE auditlog_logentry SET {column} = %s WHERE id = %s", [value, target])  # noqa: S608

    result = verify_changes()

    caught(result, target, f"change-history row {target} was")
    assert f"change history: broken at row {target}" in verify_audit_fails()


def test_a_deleted_change_history_row_is_caught(log):
    target = entry_ids()[1]
    disable_triggers()
    sql("DELETE FROM auditlog_logentry WHERE id = %s", [target])

    caught(verify_changes(), target, f"change-history row {target} was deleted")


@pytest.mark.parametrize("column", ["entry_id", "digest_seq", "row_hash"])
def test_a_changed_seal_is_caught_at_its_digest(log, column):
    first = entry_ids()[0]
    target = entry_ids()[1]
    values = {"entry_id": target + 100000, "digest_seq": 7, "row_hash": "e" * 64}
    disable_triggers()
    sql(
        f"UPDATE audit_changeseal SET {column} = %s WHERE entry_id = %s",  # noqa: S608
        [values[column], target],
    )

    caught(verify_changes(), first, "the seals of change digest 1")


DIGEST_COLUMNS = [field.column for field in ChangeDigest._meta.concrete_fields]


@pytest.mark.parametrize("column", DIGEST_COLUMNS)
def test_every_column_of_a_change_digest_changed_is_caught(log, column):
    digest = ChangeDigest.objects.get()
    values = {
        "id": db_uuid(uuid.uuid4()),
        "seq": 2,
        "rows": 99,
        "first_entry_id": digest.first_entry_id - 1,
        "last_entry_id": digest.last_entry_id + 1,
        "digest": "e" * 64,
        "prev_digest_hash": "e" * 64,
        "created_at": db_time(digest.created_at - datetime.timedelta(days=1)),
        "key_id": "0" * 16,
        "signature": "ab" * 64,
    }
    disable_triggers()
    sql(f"UPDATE audit_changedigest SET {column} = %s", [values[column]])  # noqa: S608

    result = verify_changes()

    assert not result.ok and "change digest" in result.reason, result
    assert result.first_bad_seq in (digest.first_entry_id, values["first_entry_id"]), result


@pytest.mark.parametrize("column", ["id", "entry_id", "row_hash", "created_at", "signature"])
def test_a_changed_erasure_is_caught_at_its_row(purged, column):
    erasure = ChangeErasure.objects.get()
    values = {
        "id": db_uuid(uuid.uuid4()),
        "entry_id": erasure.entry_id + 100000,
        "row_hash": "e" * 64,
        "created_at": db_time(erasure.created_at - datetime.timedelta(days=1)),
        "signature": "ab" * 64,
    }
    disable_triggers()
    sql(f"UPDATE audit_changeerasure SET {column} = %s", [values[column]])  # noqa: S608

    result = verify_changes()

    assert not result.ok, result
    assert result.first_bad_seq == erasure.entry_id, result


def test_a_change_history_row_deleted_as_an_erasure_without_its_signature_is_caught(log):
    target = entry_ids()[1]
    disable_triggers()
    forged = ChangeErasure(entry_id=target, row_hash=ChangeSeal.objects.get(pk=target).row_hash)
    forged.key_id, forged.signature = "0" * 16, "ab" * 64
    forged.save(force_insert=True)
    sql("DELETE FROM auditlog_logentry WHERE id = %s", [target])

    caught(verify_changes(), target, f"the erasure of row {target} is")


# --- the change history is append-only in the database (acceptance 5) ---------------------------


def test_the_change_history_refuses_update_and_delete_in_the_database(log):
    from django.db import IntegrityError

    target = entry_ids()[1]
    entry = LogEntry.objects.get(pk=target)
    entry.changes_text = "rewritten"
    writes = [
        lambda: sql("UPDATE auditlog_logentry SET changes_text = 'x' WHERE id = %s", [target]),
        lambda: sql("DELETE FROM auditlog_logentry WHERE id = %s", [target]),
        lambda: LogEntry.objects.filter(pk=target).update(object_repr="x"),
        lambda: LogEntry.objects.filter(pk=target).delete(),
        entry.save,
        lambda: sql(
            "TRUNCATE auditlog_logentry" if not SQLITE else "DELETE FROM auditlog_logentry"
        ),
    ]
    if not SQLITE:
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # a TRUNCATE waits for no deferred check
    for write in writes:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            write()

    assert LogEntry.objects.get(pk=target).changes_text != "rewritten"
    assert verify_changes().ok


@pytest.mark.parametrize(
    "table", ["audit_purgerecord", "audit_changedigest", "audit_changeseal", "audit_changeerasure"]
)
def test_the_signed_records_refuse_update_and_delete_in_the_database(purged, table):
    from django.db import IntegrityError

    column = "entry_id" if table == "audit_changeseal" else "id"
    statements = (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}")  # noqa: S608
    for statement in statements:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            sql(statement)
    assert verify_changes().ok and verify_chain(CHAIN).ok


# --- the unsigned window ------------------------------------------------------------------------


def test_the_timer_checkpoints_a_quiet_chain(log, settings, outside):
    """11 and 12 are past the last checkpoint (10): a minute later the first append (or the
    minutely `audit_checkpoint --if-due`) signs the head."""
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    settings.AUDIT_CHECKPOINT_INTERVAL = 60
    later = timezone.now() + datetime.timedelta(seconds=61)

    assert checkpoints.checkpoint_if_due(CHAIN, timezone.now()) is None
    with outside():
        checkpoint = checkpoints.checkpoint_if_due(CHAIN, later)

    assert checkpoint is not None and checkpoint.seq == 12
    assert checkpoints.checkpoint_if_due(CHAIN, later) is None  # the head has not moved
    result = verify_chain(CHAIN)
    assert result.ok and result.unsigned == 0, result


def test_the_timer_checkpoints_on_append(log, settings, outside):
    settings.AUDIT_CHECKPOINT_EVERY = 1000
    settings.AUDIT_CHECKPOINT_INTERVAL = 60
    checkpoints._last_signed[CHAIN] = timezone.now() - datetime.timedelta(seconds=61)

    with outside():
        (event,) = append_events(1)

    assert Checkpoint.objects.filter(chain=CHAIN, seq=event.seq).exists()
    assert verify_chain(CHAIN).ok


def verify_audit_fails() -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=stdout, stderr=stderr)
    return stderr.getvalue()


# --- the parallel check of a long chain ---------------------------------------------------------


@pytest.fixture
def committed_log(transactional_db, settings, monkeypatch):
    """A committed log (other processes must see it), checked by two processes from 10 events
    on; the audit tables are emptied afterwards (their triggers refuse the flush)."""
    from audit import verify
    from tests.audit_tables import empty_audit_tables

    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 7
    monkeypatch.setattr(verify, "PARALLEL_MIN", 10)
    monkeypatch.setattr(verify, "WORKERS", 2)
    events = append_events(30)
    yield events
    empty_audit_tables()


def test_a_long_chain_is_checked_in_parallel_and_a_change_located_in_order(committed_log):
    whole = verify_chain(CHAIN)
    assert whole.ok and whole.events == 30, whole

    committed_change(
        "UPDATE audit_accessevent SET username = 'x' WHERE chain = %s AND seq = 23", [CHAIN]
    )
    try:
        caught(verify_chain(CHAIN), 23, "event 23 does not match its hash")
    finally:
        committed_change(
            "UPDATE audit_accessevent SET username = %s WHERE chain = %s AND seq = 23",
            [committed_log[22].username, CHAIN],
        )
    assert verify_chain(CHAIN).ok
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        sql("UPDATE audit_accessevent SET username = 'x' WHERE chain = %s", [CHAIN])
