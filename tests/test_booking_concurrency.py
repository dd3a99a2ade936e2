"""Two guardians booking the same free time at once: exactly one wins (issue 17, acceptance 5).

Two separate processes (each its own Django and its own database connection, as two app
servers) book the same free times, started together, through `cases.booking.booking_create`
inside a transaction of their own as a request's. On PostgreSQL the slot's row lock makes the
second wait and then find the time taken; the partial unique index would refuse a second active
booking even without it.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cases import booking
from cases.models import Booking, BookingSlot, FamilyMember, User
from cases.seeding import demo
from consent import policy
from tests.test_audit_concurrency import database_url, empty_audit_tables

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]

SLOTS = 6
GUARDIANS = ("hanna.huoltaja", "harri.huoltaja")

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import django

    django.setup()
    from django.db import transaction

    from cases import booking
    from cases.models import User

    me = User.objects.get(username=os.environ["GUARDIAN"])
    slots = json.loads(os.environ["SLOTS"])
    open(os.path.join(os.environ["SIGNALS"], f"ready-{me.username}"), "w").close()
    start = os.path.join(os.environ["SIGNALS"], "start")
    deadline = time.monotonic() + 60
    while not os.path.exists(start):
        if time.monotonic() > deadline:
            sys.exit("never told to start")
        time.sleep(0.001)
    outcomes = {}
    for slot_id in slots:
        began = time.time()
        try:
            with transaction.atomic():  # as a request's own transaction (ATOMIC_REQUESTS)
                made = booking.booking_create(actor=me, slot_id=slot_id)
                time.sleep(0.05)  # hold the lock a while, as a request rendering its answer
            result = str(made.pk)
        except booking.SlotTaken:
            result = "taken"
        outcomes[slot_id] = {"result": result, "began": began, "ended": time.time()}
    print(json.dumps(outcomes))
    """
)


@pytest.fixture
def world(transactional_db):
    seeded = demo.seed()
    case = seeded.case
    harri = User.objects.create_user(username=GUARDIANS[1], first_name="Harri", email="")
    FamilyMember.objects.create(
        family=case.family,
        role=FamilyMember.Role.GUARDIAN,
        first_name="Harri",
        last_name="Virtanen",
        user=harri,
    )
    policy.sync_case(case=case)
    User.objects.filter(username__in=[*GUARDIANS, "tiina.vastuu"]).update(email="")
    tiina = User.objects.get(username="tiina.vastuu")
    start = timezone.now() + timezone.timedelta(days=3)
    slots = [
        booking.slot_publish(
            actor=tiina,
            starts_at=start + timezone.timedelta(hours=n),
            ends_at=start + timezone.timedelta(hours=n, minutes=45),
            place="Perhekeskus",
        )
        for n in range(SLOTS)
    ]
    yield case, slots
    empty_audit_tables()


def test_two_guardians_booking_the_same_times_at_once_exactly_one_wins_each(world, tmp_path):
    case, slots = world
    signals = tmp_path / "signals"
    signals.mkdir()
    slot_ids = [str(slot.pk) for slot in slots]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "koordinointi.settings",
        "DATABASE_URL": database_url(),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SIGNALS": str(signals),
        "SLOTS": json.dumps(slot_ids),
    }
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter, our own fixed script
            [sys.executable, "-c", CHILD],
            cwd=django_settings.BASE_DIR,
            env=env | {"GUARDIAN": guardian},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for guardian in GUARDIANS
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(signals.glob("ready-*"))) < len(GUARDIANS):
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

    results = []
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        results.append(json.loads(out))
    overlapped = 0
    for slot_id in slot_ids:
        attempts = [result[slot_id] for result in results]
        outcomes = [attempt["result"] for attempt in attempts]
        # Exactly one of the two got the time; the other was told it is taken.
        assert sorted(o == "taken" for o in outcomes) == [False, True], (slot_id, outcomes)
        [won] = [a for a in attempts if a["result"] != "taken"]
        [lost] = [a for a in attempts if a["result"] == "taken"]
        [active] = Booking.objects.filter(slot_id=slot_id, cancelled_at__isnull=True)
        assert str(active.pk) == won["result"]
        # The loser tried while the winner's transaction was still open: a real race.
        overlapped += lost["began"] < won["ended"]
    assert Booking.objects.count() == SLOTS
    assert overlapped >= 1, "the two processes never raced for a time"


def test_the_database_refuses_a_second_active_booking_without_the_lock(world):
    case, slots = world
    hanna = User.objects.get(username=GUARDIANS[0])
    Booking.objects.create(slot=slots[0], case=case, booked_by=hanna)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(slot=slots[0], case=case, booked_by=hanna)
    assert connection.vendor == "postgresql"
    assert BookingSlot.objects.count() == SLOTS
