"""Retention: `manage.py purge_closed_cases` deletes closed cases past CASE_RETENTION_DAYS with
their family data, and keeps the access log whole (the purge itself logged and checkpointed)."""

import datetime
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import TestCase
from django.utils import timezone

from audit.models import AccessEvent, Chain, Checkpoint
from audit.verify import verify_chain
from cases import services
from cases.models import (
    Case,
    CaseUserObjectPermission,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Meeting,
    NetworkMember,
    Note,
    Organisation,
    Plan,
    PlanAction,
    Referral,
    Service,
    User,
)
from cases.retention import PURGE_PURPOSE
from cases.seeding import demo
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from tests.db_state import FailAtWrite, changed_tables, dry_run, snapshot
from tests.factories import access_of

pytestmark = pytest.mark.django_db

RETENTION_DAYS = 4383


@pytest.fixture
def world(db, settings):
    settings.CASE_RETENTION_DAYS = RETENTION_DAYS
    seeded = demo.seed()
    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
    users = {user.username: user for user in User.objects.all()}
    return seeded.case, users


def _closed_case(users, *, name: str, days_ago: int | None, family: Family | None = None) -> Case:
    """A case of family `name` with something of every kind on it, closed `days_ago` (None:
    left open). Its guardian is the demo guardian's portal account, so that she can consent."""
    tiina, anna, jenni, hanna = (
        users["tiina.vastuu"],
        users["anna.neuvola"],
        users["jenni.jarjesto"],
        users["hanna.huoltaja"],
    )
    if family is None:
        municipality = Case.objects.first().family.municipality
        family = services.family_create(
            actor=tiina,
            name=name,
            municipality=municipality,
            members=[
                {"role": "guardian", "first_name": "Kaarina", "last_name": name, "user": hanna},
                {"role": "child", "first_name": "Veeti", "last_name": name},
            ],
        )
        case = family.cases.get()
    else:
        case = services.case_open(actor=tiina, family=family)
    mll = Organisation.objects.get(code="mll-paijat-hame")
    member = services.network_add_professional(actor=tiina, case=case, user=anna, role="Neuvola")
    services.network_add_informal(actor=tiina, case=case, name="Mummo", relationship="isoäiti")
    services.invitation_create(
        actor=tiina, case=case, organisation=mll, invited_user=jenni, role="Perhetyö"
    )
    services.note_create(
        actor=tiina,
        case=case,
        access=access_of(tiina, case),
        category="notes_social",
        text=f"Muistiinpano perheestä {name}",
    )
    services.plan_update(actor=tiina, case=case, data={"needs": "Arjen tuki"})
    services.plan_action_create(
        actor=tiina, case=case, title="Kotikäynti", responsible_member=member
    )
    start = timezone.now() - datetime.timedelta(days=1)
    meeting = services.meeting_create(
        actor=tiina,
        case=case,
        title="Verkostopalaveri",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        place="Perhekeskus",
    )
    services.meeting_minutes_record(
        actor=tiina,
        meeting=meeting,
        access=access_of(tiina, case),
        category="notes_general",
        text="Pöytäkirja",
    )
    services.referral_create(
        actor=tiina,
        case=case,
        service=Service.objects.filter(organisation=mll, is_active=True).first(),
    )
    handover = services.handover_propose(actor=tiina, case=case, to_worker=anna)
    services.handover_decline(actor=anna, handover=handover)
    consent = consent_services.consent_request(
        actor=tiina,
        case=case,
        recipients=[mll],
        categories=["basic"],
        purpose_code="family-support",
        purpose="Perhetyö",
        valid_until=timezone.now() + datetime.timedelta(days=365),
    )
    consent_services.consent_decide(
        actor=hanna, consent=consent, decision=ConsentEvent.Kind.GRANTED
    )
    if days_ago is not None:
        services.case_close(actor=tiina, case=case, reason="Tuki päättyi")
        Case.objects.filter(pk=case.pk).update(
            closed_at=timezone.now() - datetime.timedelta(days=days_ago)
        )
    return case


def _read_case(api, users, case) -> None:
    """Tiina opens the case through the API: an access event for it is in the log."""
    response = api.as_user(users["tiina.vastuu"]).get(f"/api/v1/cases/{case.pk}/")
    assert response.status_code == 200


def _purge(*args, commits: bool = True) -> str:
    """Run the purge; its checkpoint's copy goes outside on commit, as in production (unless
    `commits` is false: a run made to fail)."""
    out = StringIO()
    if not commits:
        call_command("purge_closed_cases", *args, stdout=out)
        return out.getvalue()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("purge_closed_cases", *args, stdout=out)
    return out.getvalue()


def _case_rows(case_id) -> dict[str, int]:
    """What the database holds of a case."""
    return {
        "case": Case.objects.filter(pk=case_id).count(),
        "notes": Note.objects.filter(case_id=case_id).count(),
        "plan": Plan.objects.filter(case_id=case_id).count(),
        "actions": PlanAction.objects.filter(case_id=case_id).count(),
        "meetings": Meeting.objects.filter(case_id=case_id).count(),
        "referrals": Referral.objects.filter(case_id=case_id).count(),
        "network": NetworkMember.objects.filter(case_id=case_id).count(),
        "invitations": Invitation.objects.filter(case_id=case_id).count(),
        "handovers": Handover.objects.filter(case_id=case_id).count(),
        "consents": Consent.objects.filter(case_id=case_id).count(),
        "consent events": ConsentEvent.objects.filter(consent__case_id=case_id).count(),
        "permissions": CaseUserObjectPermission.objects.filter(content_object_id=case_id).count(),
    }


def test_a_case_closed_long_ago_is_purged_with_its_family_data(world, api):
    virtanen, users = world
    old = _closed_case(users, name="Korhonen", days_ago=RETENTION_DAYS + 30)
    family_id = old.family_id
    member_ids = [
        str(pk)
        for pk in FamilyMember.objects.filter(family_id=family_id).values_list("pk", flat=True)
    ]
    note_ids = [str(pk) for pk in Note.objects.filter(case=old).values_list("pk", flat=True)]
    assert all(count > 0 for name, count in _case_rows(old.pk).items() if name != "permissions")
    assert LogEntry.objects.filter(object_pk__in=[str(old.pk), str(family_id), *note_ids]).exists()
    _read_case(api, users, old)
    events_of_case = AccessEvent.objects.filter(case_id=old.pk).count()
    virtanen_before = _case_rows(virtanen.pk)

    output = _purge()

    assert f"case {old.pk} and its family purged" in output
    assert "Korhonen" not in output  # ids only, no names
    assert all(count == 0 for count in _case_rows(old.pk).values()), _case_rows(old.pk)
    assert not Family.objects.filter(pk=family_id).exists()
    assert not FamilyMember.objects.filter(family_id=family_id).exists()
    # Their change history held their field values (names, texts): gone with them.
    assert not LogEntry.objects.filter(
        object_pk__in=[str(old.pk), str(family_id), *member_ids, *note_ids]
    ).exists()
    assert not LogEntry.objects.filter(changes_text__contains="Korhonen").exists()
    # The others' data is untouched.
    assert _case_rows(virtanen.pk) == virtanen_before
    # The access log keeps every event about the case, and records the purge, signed after it.
    assert AccessEvent.objects.filter(case_id=old.pk).count() == events_of_case + 1
    event = AccessEvent.objects.get(case_id=old.pk, purpose=PURGE_PURPOSE)
    assert (event.resource, event.action, event.family_id) == ("case", "write", family_id)
    assert event.username.endswith("(purge_closed_cases)")
    assert Checkpoint.objects.filter(chain=event.chain, seq=event.seq).exists()
    assert verify_chain(event.chain).ok
    call_command("verify_audit", stdout=StringIO())  # raises CommandError when broken


def test_recent_and_open_cases_are_kept(world):
    virtanen, users = world
    recent = _closed_case(users, name="Laine", days_ago=RETENTION_DAYS - 30)
    still_open = _closed_case(users, name="Mäkinen", days_ago=None)
    before = snapshot()

    output = _purge()

    assert "0 closed case(s)" in output
    assert changed_tables(before, snapshot()) == []
    for case in (virtanen, recent, still_open):
        assert Case.objects.filter(pk=case.pk).exists()


def test_a_dry_run_writes_nothing(world):
    _virtanen, users = world
    old = _closed_case(users, name="Korhonen", days_ago=RETENTION_DAYS + 1)
    before = snapshot()

    output = _purge("--dry-run")

    assert f"would purge case {old.pk}" in output
    assert changed_tables(before, snapshot()) == []


def test_a_family_with_another_case_is_kept(world):
    _virtanen, users = world
    old = _closed_case(users, name="Korhonen", days_ago=RETENTION_DAYS + 1)
    newer = _closed_case(users, name="Korhonen", days_ago=None, family=old.family)

    _purge()

    assert not Case.objects.filter(pk=old.pk).exists()
    assert Case.objects.filter(pk=newer.pk).exists()
    assert Family.objects.filter(pk=old.family_id).exists()
    assert FamilyMember.objects.filter(family_id=old.family_id).count() == 2
    assert _case_rows(newer.pk)["consent events"] > 0


def test_the_retention_period_is_a_setting(world, settings):
    _virtanen, users = world
    case = _closed_case(users, name="Korhonen", days_ago=40)
    settings.CASE_RETENTION_DAYS = 60
    _purge()
    assert Case.objects.filter(pk=case.pk).exists()
    settings.CASE_RETENTION_DAYS = 30
    _purge()
    assert not Case.objects.filter(pk=case.pk).exists()
    assert verify_chain(settings.AUDIT_CHAIN).ok


def test_each_purged_case_is_logged_and_the_chain_verifies(world):
    _virtanen, users = world
    cases = [
        _closed_case(users, name=name, days_ago=RETENTION_DAYS + days)
        for name, days in (("Korhonen", 10), ("Laine", 400))
    ]
    _purge()
    for case in cases:
        assert AccessEvent.objects.filter(case_id=case.pk, purpose=PURGE_PURPOSE).count() == 1
        assert not Case.objects.filter(pk=case.pk).exists()
    head = Chain.objects.get()
    assert Checkpoint.objects.filter(chain=head.name, seq=head.head_seq).exists()
    assert verify_chain(head.name).ok


def test_a_fault_during_a_purge_leaves_the_case_whole(world):
    """Each case goes in one transaction: a database error at any write of its purge (the
    deletions, the history, the purge event, the checkpoint) leaves everything as it was."""
    _virtanen, users = world
    old = _closed_case(users, name="Korhonen", days_ago=RETENTION_DAYS + 1)
    _output, writes = dry_run(lambda: _purge(commits=False))
    assert {"cases_case", "cases_family", "audit_accessevent", "audit_checkpoint"} <= set(writes)
    before = snapshot()

    for k in range(1, len(writes) + 1):
        fault = FailAtWrite(k, OperationalError)
        with connection.execute_wrapper(fault), pytest.raises(OperationalError):
            _purge(commits=False)
        assert fault.fired_on == writes[k - 1]
        assert changed_tables(before, snapshot()) == [], (k, writes[k - 1])

    _purge()
    assert not Case.objects.filter(pk=old.pk).exists()
    assert verify_chain(Chain.objects.get().name).ok
