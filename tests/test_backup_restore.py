"""Backup and restore: a copy of the database, restored elsewhere, is whole and readable.

On PostgreSQL the test runs the real tools as the README tells an operator to
(`pg_dump -Fc`, `createdb`, `pg_restore --no-owner`) into a database of its own, dropped after;
on SQLite it uses SQLite's online backup API. Then, in a separate process whose DATABASE_URL
names the restored copy, `manage.py verify_audit` must find the access log's chain and its
signed checkpoints intact, the encrypted identity codes must decrypt to what was stored and be
found by their blind index, and the append-only triggers must be there again.
"""

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from audit.checkpoints import create_checkpoint
from audit.models import AccessEvent, Checkpoint
from cases.models import FamilyMember, User
from cases.seeding import demo
from tests.test_audit_concurrency import empty_audit_tables

# Runs against the restored database: what it can read of the identity codes, and whether the
# audit tables still refuse changes. Prints one JSON line; never the codes themselves.
CHECK_RESTORED = """
import hashlib, json
import django
django.setup()
from django.db import connection, transaction
from cases.identity_code import blind_index
from cases.models import FamilyMember

codes = {}
for member in FamilyMember.objects.exclude(identity_code=""):
    found = FamilyMember.objects.filter(identity_code_index=blind_index(member.identity_code))
    codes[str(member.pk)] = {
        "digest": hashlib.sha256(member.identity_code.encode()).hexdigest(),
        "found_by_index": list(found.values_list("pk", flat=True)) == [member.pk],
    }
refused = {}
for statement in ("UPDATE audit_accessevent SET purpose = 'x'", "DELETE FROM audit_checkpoint"):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
        refused[statement] = False
    except Exception as error:  # the trigger's refusal, whatever the driver calls it
        refused[statement] = "append-only" in str(error)
with connection.cursor() as cursor:
    cursor.execute("SELECT COUNT(*) FROM audit_purgepermit")
    permits = cursor.fetchone()[0]
print(json.dumps({"codes": codes, "refused": refused, "permits": permits}))
"""


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _pg_args() -> list[str]:
    db = connection.settings_dict
    args = ["-h", db["HOST"] or "localhost", "-U", db["USER"] or "postgres"]
    if db["PORT"]:
        args += ["-p", str(db["PORT"])]
    return args


def _pg_url(name: str) -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}{port}/{name}"


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - fixed tools and our own manage.py
        command,
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (command[0], result.stdout[-2000:], result.stderr[-2000:])
    return result


@pytest.fixture
def committed_world(transactional_db, tmp_path):
    """The demo, read through the API (access events), and a checkpoint: all committed, so
    that a dump sees it. The audit tables are emptied after, as their triggers refuse flush."""
    seeded = demo.seed()
    client = APIClient()
    for username in ("tiina.vastuu", "anna.neuvola", "hanna.huoltaja"):
        client.force_authenticate(User.objects.get(username=username))
        assert client.get(f"/api/v1/cases/{seeded.case.pk}/").status_code == 200
        assert client.get("/api/v1/families/").status_code == 200
    create_checkpoint(chain=settings.AUDIT_CHAIN)
    assert AccessEvent.objects.count() >= 6
    assert Checkpoint.objects.exists()
    yield seeded
    empty_audit_tables()


@pytest.fixture
def restored_url(committed_world, tmp_path):
    """Back the database up and restore the copy; the copy's DATABASE_URL."""
    if connection.vendor == "sqlite":
        target = tmp_path / "restored.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)  # the online backup API
        copy.close()
        yield f"sqlite:///{target}"
        return
    assert connection.vendor == "postgresql", connection.vendor
    for tool in ("pg_dump", "pg_restore", "createdb", "dropdb"):
        assert shutil.which(tool), f"{tool} is needed for the PostgreSQL backup test"
    dump = tmp_path / "koordinointi.dump"
    name = f"koordinointi_restore_{secrets.token_hex(6)}"
    _run(["pg_dump", *_pg_args(), "-Fc", "-f", str(dump), connection.settings_dict["NAME"]])
    _run(["createdb", *_pg_args(), name])
    try:
        _run(["pg_restore", *_pg_args(), "--no-owner", "--exit-on-error", "-d", name, str(dump)])
        yield _pg_url(name)
    finally:
        _run(["dropdb", *_pg_args(), "--if-exists", name])


def test_a_restored_backup_verifies_and_decrypts(committed_world, restored_url):
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": restored_url,
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
    }
    expected = {
        str(member.pk): _digest(member.identity_code)
        for member in FamilyMember.objects.exclude(identity_code="")
    }
    assert len(expected) >= 3  # the Virtanen guardian and children
    events = AccessEvent.objects.count()
    checkpoints = Checkpoint.objects.count()

    verified = _run([sys.executable, "manage.py", "verify_audit"], env=env)
    assert verified.stdout.strip() == (
        f"chain {settings.AUDIT_CHAIN}: {events} events verified, {checkpoints} checkpoints"
    )
    restored = json.loads(_run([sys.executable, "-c", CHECK_RESTORED], env=env).stdout)

    assert {pk: code["digest"] for pk, code in restored["codes"].items()} == expected
    assert all(code["found_by_index"] for code in restored["codes"].values())
    assert all(restored["refused"].values()), restored["refused"]
    assert restored["permits"] == 0


def test_verify_audit_finds_a_broken_restored_copy(committed_world, restored_url):
    """The check above can fail: the same verification of a copy whose log was altered (with
    the triggers dropped, as an attacker with the dump would) exits non-zero."""
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": restored_url,
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
    }
    tamper = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    if connection.vendor == "sqlite":
        cursor.execute("DROP TRIGGER audit_accessevent_no_update")
    else:
        cursor.execute("DROP TRIGGER audit_accessevent_append_only ON audit_accessevent")
    cursor.execute("UPDATE audit_accessevent SET purpose = 'rewritten' WHERE seq = 2")
"""
    _run([sys.executable, "-c", tamper], env=env)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "verify_audit"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "broken at sequence 2" in result.stderr


def test_an_older_backup_shows_the_events_it_lacks(committed_world, restored_url, tmp_path):
    """Events logged after the backup are not in the restored copy. The external checkpoint
    copy, kept off the database server, still signs them: verification against it reports that
    checkpoint missing from the database (so a restore never passes silently for the whole
    history), while the copy of the checkpoint folder taken with the backup verifies."""
    at_backup = tmp_path / "checkpoints-at-backup"
    shutil.copytree(settings.AUDIT_CHECKPOINT_DIR, at_backup)
    client = APIClient()
    client.force_authenticate(User.objects.get(username="tiina.vastuu"))
    assert client.get(f"/api/v1/cases/{committed_world.case.pk}/").status_code == 200
    create_checkpoint(chain=settings.AUDIT_CHAIN)  # after the backup: in the external copy only
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": restored_url,
        "AUDIT_CHECKPOINT_DIR": settings.AUDIT_CHECKPOINT_DIR,
    }

    live = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "verify_audit"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert live.returncode != 0
    assert "is missing from the database" in live.stderr  # the checkpoint after the backup
    _run([sys.executable, "manage.py", "verify_audit", "--external-dir", str(at_backup)], env=env)
