"""Key rotation: identity codes re-encrypted, the blind index rebuilt, signing keys replaced.

The commands run against the real database (SQLite and PostgreSQL alike); the concurrency tests
run a writer on a second connection in a thread while the command works.
"""

import datetime
import hashlib
import hmac
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from auditlog.models import LogEntry
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connection, transaction
from django.db.models import TextField, Value

from audit.chain import append
from audit.models import AccessEvent, Checkpoint
from cases import services
from cases.identity_code import (
    blind_index,
    blind_indexes,
    identity_code_lookup_q,
)
from cases.models import FamilyMember
from consent import receipts
from consent.models import Consent, ConsentEvent
from tests.factories import UserFactory
from tests.test_settings import ROOT, SECRETS

OLD_FIELD_KEY = Fernet.generate_key().decode()
NEW_FIELD_KEY = Fernet.generate_key().decode()
OLD_INDEX_KEY = "old-blind-index-key-for-this-test"
NEW_INDEX_KEY = "new-blind-index-key-for-this-test"
CHECK_ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def identity_code(day: int, individual: int) -> str:
    ddmmyy, number = f"{day:02d}0385", f"{individual:03d}"
    return f"{ddmmyy}-{number}{CHECK_ALPHABET[int(ddmmyy + number) % 31]}"


CODES = [identity_code(day, 100 + day) for day in range(1, 8)]  # seven members with a code
EDITED_CODE = identity_code(20, 321)


def hmac_under(key: str, code: str) -> str:
    return hmac.new(key.encode(), code.encode(), hashlib.sha256).hexdigest()


def raw_rows() -> dict[str, tuple[str, str]]:
    """{member id: (stored ciphertext, stored index)} of the members with a code, from SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, identity_code, identity_code_index FROM cases_familymember "
            "WHERE identity_code <> ''"
        )
        return {str(pk).replace("-", ""): (code, index) for pk, code, index in cursor.fetchall()}


def opens_with(key: str, ciphertext: str) -> str | None:
    try:
        return Fernet(key.encode()).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def old_keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_FIELD_KEY]
    settings.BLIND_INDEX_KEYS = [OLD_INDEX_KEY]
    return settings


@pytest.fixture
def members(old_keys, owner, municipality):
    """Seven members with a code, stored under the old keys, and one child without a code."""
    for number, pair in enumerate((CODES[0:2], CODES[2:4], CODES[4:6], CODES[6:7])):
        people = [
            {
                "role": "guardian",
                "first_name": f"Hanna{i}",
                "last_name": "Virtanen",
                "identity_code": code,
            }
            for i, code in enumerate(pair)
        ]
        if number == 0:
            people.append({"role": "child", "first_name": "Aino", "last_name": "Virtanen"})
        services.family_create(
            actor=owner, name=f"Virtanen {number}", municipality=municipality, members=people
        )
    return {member.identity_code: member.pk for member in FamilyMember.objects.all()}


@pytest.fixture
def new_field_key(members, settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_FIELD_KEY, OLD_FIELD_KEY]


@pytest.fixture
def new_index_key(members, settings):
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY, OLD_INDEX_KEY]


def under_key(key: str) -> int:
    return sum(1 for code, _ in raw_rows().values() if opens_with(key, code))


# --- rotate_field_key ---------------------------------------------------------------------------


def test_after_rotation_every_code_reads_with_the_new_key_alone(new_field_key, members, settings):
    assert under_key(OLD_FIELD_KEY) == 7

    output = run("rotate_field_key")

    assert "Done: 7 identity code(s) re-encrypted under the first key; 0 already were." in output
    settings.FIELD_ENCRYPTION_KEYS = [NEW_FIELD_KEY]
    stored = {member.identity_code: member.pk for member in FamilyMember.objects.all()}
    assert stored == members
    assert under_key(NEW_FIELD_KEY) == 7
    assert under_key(OLD_FIELD_KEY) == 0
    # The index was not touched: it belongs to another key.
    assert {index for _, index in raw_rows().values()} == {
        hmac_under(OLD_INDEX_KEY, c) for c in CODES
    }


def test_rotation_prints_progress_per_batch_and_a_final_count(new_field_key):
    output = run("rotate_field_key", "--batch-size", "3")

    assert "Batch 1: 3 examined, 3 changed, 0 already under the current key" in output
    assert "Batch 3: 7 examined, 7 changed, 0 already under the current key" in output
    assert "Done: 7 identity code(s) re-encrypted" in output
    for code in CODES:
        assert code not in output


def test_an_interrupted_rotation_resumed_finishes_the_rest(new_field_key, members, settings):
    first = run("rotate_field_key", "--batch-size", "2", "--limit", "3")

    assert "Stopped at --limit: 3 identity code(s) re-encrypted. Run again to continue." in first
    assert (under_key(NEW_FIELD_KEY), under_key(OLD_FIELD_KEY)) == (3, 4)

    # A limit that is only reached by the last row to change still finishes the run.
    second = run("rotate_field_key", "--batch-size", "2", "--limit", "4")

    assert "Done: 4 identity code(s) re-encrypted under the first key; 3 already were." in second
    settings.FIELD_ENCRYPTION_KEYS = [NEW_FIELD_KEY]
    assert {
        member.identity_code for member in FamilyMember.objects.exclude(identity_code="")
    } == set(CODES)


def test_a_second_rotation_changes_nothing(new_field_key):
    run("rotate_field_key")
    before = raw_rows()

    output = run("rotate_field_key")

    assert "Done: 0 identity code(s) re-encrypted under the first key; 7 already were." in output
    assert raw_rows() == before


def test_a_dry_run_counts_and_changes_nothing(new_field_key):
    before = raw_rows()

    output = run("rotate_field_key", "--dry-run")

    assert "Dry run: 7 identity code(s) to re-encrypt, 0 already under the first key." in output
    assert raw_rows() == before


def test_rotation_is_refused_with_only_one_key(members, settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_FIELD_KEY]
    before = raw_rows()

    with pytest.raises(CommandError, match="only one key"):
        run("rotate_field_key")
    settings.FIELD_ENCRYPTION_KEYS = [OLD_FIELD_KEY, OLD_FIELD_KEY]
    with pytest.raises(CommandError, match="only one key"):
        run("rotate_field_key")
    assert raw_rows() == before


def store_under_a_foreign_key(member_id) -> str:
    ciphertext = Fernet(Fernet.generate_key()).encrypt(CODES[3].encode()).decode()
    FamilyMember.objects.filter(pk=member_id).update(
        identity_code=Value(ciphertext, output_field=TextField())
    )
    return ciphertext


@pytest.mark.parametrize("command", ["rotate_field_key", "rebuild_blind_index"])
@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_row_no_key_opens_is_refused_by_its_id_never_its_value(
    new_field_key, new_index_key, members, command, dry_run
):
    unreadable = members[CODES[3]]
    ciphertext = store_under_a_foreign_key(unreadable)
    before = raw_rows()

    with pytest.raises(CommandError) as caught:
        run(command, "--batch-size", "50", *(["--dry-run"] if dry_run else []))

    message = str(caught.value)
    assert "1 family member row(s) cannot be decrypted with any key" in message
    assert str(unreadable) in message
    assert CODES[3] not in message and ciphertext not in message
    assert raw_rows() == before  # the whole batch rolled back


def test_a_run_that_fails_midway_keeps_its_finished_batches_and_a_rerun_finishes(
    new_field_key, members
):
    in_pk_order = list(
        FamilyMember.objects.exclude(identity_code="").order_by("pk").values_list("pk", flat=True)
    )
    store_under_a_foreign_key(in_pk_order[4])  # in the third batch of two

    with pytest.raises(CommandError, match=str(in_pk_order[4])):
        run("rotate_field_key", "--batch-size", "2")

    # Batches one and two committed; the third rolled back as a whole.
    rows = raw_rows()
    opened = [opens_with(NEW_FIELD_KEY, rows[pk.hex][0]) is not None for pk in in_pk_order]
    assert opened == [True, True, True, True, False, False, False]
    assert opens_with(OLD_FIELD_KEY, rows[in_pk_order[5].hex][0])

    # The operator restores the row from a backup, under the old key.
    code = next(code for code, pk in members.items() if pk == in_pk_order[4])
    FamilyMember.objects.filter(pk=in_pk_order[4]).update(
        identity_code=Value(
            Fernet(OLD_FIELD_KEY.encode()).encrypt(code.encode()).decode(), output_field=TextField()
        )
    )
    output = run("rotate_field_key", "--batch-size", "2")

    assert "Done: 3 identity code(s) re-encrypted under the first key; 4 already were." in output
    assert under_key(NEW_FIELD_KEY) == 7


@pytest.mark.parametrize("command", ["rotate_field_key", "rebuild_blind_index"])
def test_each_batch_costs_a_constant_number_of_queries(
    new_field_key, new_index_key, command, django_assert_num_queries
):
    # Per batch of three: SAVEPOINT, SELECT ... FOR UPDATE, one UPDATE of the whole batch,
    # RELEASE SAVEPOINT (inside the test's transaction, each batch's transaction is a savepoint).
    # Three batches (3 + 3 + 1 rows), then a last one that finds nothing: SAVEPOINT, SELECT,
    # RELEASE.
    with django_assert_num_queries(3 * 4 + 3):
        run(command, "--batch-size", "3")


def test_rotation_writes_no_change_history(new_field_key):
    entries = LogEntry.objects.count()

    run("rotate_field_key")

    assert LogEntry.objects.count() == entries


def test_bad_batch_sizes_and_limits_are_refused(new_field_key):
    for args in (["--batch-size", "0"], ["--limit", "-1"], ["--batch-size", "many"]):
        with pytest.raises(CommandError, match="invalid positive_int value"):
            run("rotate_field_key", *args)


# --- rebuild_blind_index ------------------------------------------------------------------------


def found(code: str) -> set:
    return set(
        FamilyMember.objects.filter(identity_code_lookup_q(code)).values_list("pk", flat=True)
    )


def test_the_index_is_stored_under_the_first_key_and_looked_up_under_every_key(settings):
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY, OLD_INDEX_KEY]
    code = CODES[0]

    assert blind_index(code.lower()) == hmac_under(NEW_INDEX_KEY, code)
    assert blind_indexes(f" {code.lower()} ") == [
        hmac_under(NEW_INDEX_KEY, code),
        hmac_under(OLD_INDEX_KEY, code),
    ]
    settings.BLIND_INDEX_KEYS = [OLD_INDEX_KEY]
    assert blind_indexes(code) == [hmac_under(OLD_INDEX_KEY, code)]


def test_lookups_find_every_member_before_during_and_after_a_rebuild(
    new_index_key, members, settings
):
    def everyone_found():
        return all(found(code) == {pk} for code, pk in members.items() if code)

    assert everyone_found()  # before: every row is under the old key

    output = run("rebuild_blind_index", "--batch-size", "2", "--limit", "3")

    assert "Stopped at --limit: 3 index(es) rebuilt. Run again to continue." in output
    indexes = {index for _, index in raw_rows().values()}
    assert len(indexes & {hmac_under(NEW_INDEX_KEY, c) for c in CODES}) == 3
    assert len(indexes & {hmac_under(OLD_INDEX_KEY, c) for c in CODES}) == 4
    assert everyone_found()  # during: rows under either key

    output = run("rebuild_blind_index", "--batch-size", "2")

    assert "Done: 4 index(es) rebuilt under the first of 2 key(s); 3 already were." in output
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY]
    assert everyone_found()  # after: the old key can go
    assert {index for _, index in raw_rows().values()} == {
        hmac_under(NEW_INDEX_KEY, c) for c in CODES
    }
    settings.BLIND_INDEX_KEYS = [OLD_INDEX_KEY]
    assert not any(found(code) for code in CODES)


def test_a_rebuild_dry_run_counts_and_changes_nothing_and_a_rerun_changes_nothing(new_index_key):
    before = raw_rows()

    assert "Dry run: 7 index(es) to rebuild, 0 already under the first key." in run(
        "rebuild_blind_index", "--dry-run"
    )
    assert raw_rows() == before
    run("rebuild_blind_index")
    after = raw_rows()
    assert "Done: 0 index(es) rebuilt under the first of 2 key(s); 7 already were." in run(
        "rebuild_blind_index"
    )
    assert raw_rows() == after
    assert all(ciphertext == before[pk][0] for pk, (ciphertext, _) in after.items())


def test_a_rebuild_writes_no_change_history(new_index_key):
    entries = LogEntry.objects.count()

    run("rebuild_blind_index")

    assert LogEntry.objects.count() == entries


def test_a_guardian_signs_in_through_oidc_while_the_index_is_rebuilt(
    new_index_key, members, settings
):
    from portal.oidc import GuardianOIDCBackend

    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret-for-this-test"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://broker.test/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://broker.test/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://broker.test/jwks"
    user = UserFactory(username="hanna")
    FamilyMember.objects.filter(pk=members[CODES[5]]).update(user=user)
    backend = GuardianOIDCBackend()
    claims = {"personal_identity_code": CODES[5].lower()}

    assert list(backend.filter_users_by_claims(claims)) == [user]  # still under the old key
    run("rebuild_blind_index")
    assert list(backend.filter_users_by_claims(claims)) == [user]
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY]
    assert list(backend.filter_users_by_claims(claims)) == [user]


def test_the_rebuild_runs_with_one_key_and_repairs_a_wrong_index(members, settings):
    FamilyMember.objects.filter(pk=members[CODES[2]]).update(identity_code_index="0" * 64)

    output = run("rebuild_blind_index")

    assert "Done: 1 index(es) rebuilt under the first of 1 key(s); 6 already were." in output
    assert found(CODES[2]) == {members[CODES[2]]}


# --- the service keeps running ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", ["rotate_field_key", "rebuild_blind_index"])
def test_an_edit_committed_while_the_command_runs_is_not_lost(
    command, members, new_field_key, new_index_key, settings
):
    """A request changes a member's code on its own connection; the command meets its lock."""
    target = FamilyMember.objects.exclude(identity_code="").order_by("pk").first()
    editing = threading.Event()
    times, errors = {}, []

    def edit():
        try:
            with transaction.atomic():
                member = FamilyMember.objects.select_for_update().get(pk=target.pk)
                member.identity_code = EDITED_CODE
                member.first_name = "Edited"
                member.save(update_fields=["identity_code", "first_name"])
                editing.set()
                time.sleep(1.5)  # still working when the command reaches the row
            times["committed"] = time.monotonic()
        except Exception as error:  # anything here is a defect: report it
            errors.append(repr(error))
            editing.set()
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=edit)
    thread.start()
    assert editing.wait(timeout=20)
    times["started"] = time.monotonic()
    output = run(command, "--batch-size", "3")
    thread.join(timeout=30)

    assert errors == []
    assert times["started"] < times["committed"]  # the two really overlapped
    assert "Done:" in output
    settings.FIELD_ENCRYPTION_KEYS = (
        [NEW_FIELD_KEY]
        if command == "rotate_field_key"
        else [
            NEW_FIELD_KEY,
            OLD_FIELD_KEY,
        ]
    )
    settings.BLIND_INDEX_KEYS = [NEW_INDEX_KEY]
    edited = FamilyMember.objects.get(pk=target.pk)
    assert (edited.identity_code, edited.first_name) == (EDITED_CODE, "Edited")
    assert edited.identity_code_index == hmac_under(NEW_INDEX_KEY, EDITED_CODE)
    assert found(EDITED_CODE) == {target.pk}
    others = FamilyMember.objects.exclude(pk=target.pk).exclude(identity_code="")
    assert {member.identity_code for member in others} == set(CODES) - {target.identity_code}


# --- settings: BLIND_INDEX_KEYS, with BLIND_INDEX_KEY as a one-key alias -------------------------


def blind_index_settings(**env) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment."""
    names = {*SECRETS, "DEBUG", "DATABASE_URL", "BLIND_INDEX_KEYS"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    code = "import koordinointi.settings as s; print(s.BLIND_INDEX_KEYS, s.BLIND_INDEX_KEY)"
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({"BLIND_INDEX_KEY": "only"}, "['only'] only"),
        ({"BLIND_INDEX_KEYS": "new, old"}, "['new', 'old'] new"),
        ({"BLIND_INDEX_KEYS": "new,old", "BLIND_INDEX_KEY": "old"}, "['new', 'old'] new"),
    ],
    ids=["alias alone", "list", "alias in the list"],
)
def test_blind_index_keys_come_from_the_list_or_the_one_key_alias(env, keys):
    production = {k: v for k, v in SECRETS.items() if k != "BLIND_INDEX_KEY"}
    result = blind_index_settings(DEBUG="false", **production, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == keys


def test_a_blind_index_key_left_out_of_the_list_is_refused_loudly():
    result = blind_index_settings(BLIND_INDEX_KEYS="new,newer", BLIND_INDEX_KEY="old")

    assert result.returncode != 0
    assert "BLIND_INDEX_KEY is not one of BLIND_INDEX_KEYS" in result.stderr
    assert "old" not in result.stderr.split("ImproperlyConfigured")[-1]


def test_production_requires_a_blind_index_key_under_either_name():
    production = {k: v for k, v in SECRETS.items() if k != "BLIND_INDEX_KEY"}
    result = blind_index_settings(DEBUG="false", **production)

    assert result.returncode != 0
    assert "required: BLIND_INDEX_KEYS or BLIND_INDEX_KEY" in result.stderr


# --- signing keys -------------------------------------------------------------------------------
# The key-level behaviour is in tests/test_audit_integrity.py
# (test_after_key_rotation_old_checkpoints_verify_only_with_the_old_public_key) and
# tests/test_receipts.py (test_a_retired_key_verifies_only_while_listed); these follow an
# operator through the commands.

OLD_AUDIT_SEED = "66" * 32
NEW_AUDIT_SEED = "77" * 32


def current_public_keys() -> tuple[str, str]:
    lines = run("generate_keys", "--current").splitlines()
    return lines[1], lines[3]


def append_access_events(count: int) -> None:
    for _ in range(count):
        append(
            [
                AccessEvent(
                    resource="case",
                    action=AccessEvent.Action.VIEW,
                    outcome=AccessEvent.Outcome.ALLOWED,
                    username="tiina.vastuu",
                    categories=["basic"],
                )
            ],
            chain="rotation-test",
        )


def test_verify_audit_accepts_old_checkpoints_after_the_signing_key_rotates(
    db, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_CHECKPOINT_EVERY = 5
    settings.AUDIT_CHAINS = ["rotation-test"]  # verify refuses chains not declared
    settings.AUDIT_SIGNING_KEY = OLD_AUDIT_SEED
    with django_capture_on_commit_callbacks(execute=True):
        append_access_events(10)
    old_public, _ = current_public_keys()

    settings.AUDIT_SIGNING_KEY = NEW_AUDIT_SEED
    settings.AUDIT_VERIFY_KEYS = [old_public]
    with django_capture_on_commit_callbacks(execute=True):
        append_access_events(5)
    new_public, _ = current_public_keys()

    assert old_public != new_public
    key_ids = dict(Checkpoint.objects.filter(chain="rotation-test").values_list("seq", "key_id"))
    assert key_ids[5] == key_ids[10] != key_ids[15]
    output = run("verify_audit", "--chain", "rotation-test")
    assert "rotation-test" in output

    settings.AUDIT_VERIFY_KEYS = []  # the old key dropped too early: its checkpoints fail
    errors = io.StringIO()
    with pytest.raises(CommandError, match="broken in 1 chain"):
        call_command(
            "verify_audit", "--chain", "rotation-test", stdout=io.StringIO(), stderr=errors
        )
    assert "unknown key" in errors.getvalue()


def test_verify_receipt_accepts_an_old_receipt_after_the_signing_key_rotates(
    settings, tmp_path, owner, municipality
):
    family = services.family_create(
        actor=owner,
        name="Virtanen",
        municipality=municipality,
        members=[{"role": "guardian", "first_name": "Hanna", "last_name": "Virtanen"}],
    )
    consent = Consent.objects.create(
        case=family.cases.get(),
        categories=["basic"],
        purpose_code="school-support",
        purpose="Koulunkäynnin tuen suunnittelu",
        notice_version="2026-01",
        notice_text="Ilmoitus",
        valid_from=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        valid_until=datetime.datetime(2026, 12, 31, tzinfo=datetime.UTC),
        requested_by=owner,
    )
    event = ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.GRANTED,
        channel=ConsentEvent.Channel.PORTAL,
        grantor=family.members.get(),
        actor=owner,
    )
    settings.CONSENT_SIGNING_KEY = "88" * 32
    old_receipt = tmp_path / "old.jws"
    old_receipt.write_text(receipts.receipt_for(event))
    _, old_public = current_public_keys()

    settings.CONSENT_SIGNING_KEY = "99" * 32
    settings.CONSENT_VERIFY_KEYS = []
    with pytest.raises(CommandError, match="Unknown signing key"):
        run("verify_receipt", str(old_receipt))

    settings.CONSENT_VERIFY_KEYS = [old_public]
    assert "Receipt valid" in run("verify_receipt", str(old_receipt))
    new_receipt = tmp_path / "new.jws"
    new_receipt.write_text(receipts.receipt_for(event))
    assert "Receipt valid" in run("verify_receipt", str(new_receipt))


def test_generate_keys_prints_usable_fresh_keys():
    lines = run("generate_keys").splitlines()
    field_key, index_key, audit_seed, consent_seed = lines[1], lines[3], lines[5], lines[7]

    assert opens_with(field_key, Fernet(field_key.encode()).encrypt(b"x").decode()) == "x"
    assert len(index_key) >= 40
    for seed in (audit_seed, consent_seed):
        assert len(bytes.fromhex(seed)) == 32
    assert field_key not in run("generate_keys")  # fresh each time
