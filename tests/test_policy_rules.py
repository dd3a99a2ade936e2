"""Rules the policy decides that the black-box probe of issue 12 found missing: which note
categories a member writes in, who a coordinator may deactivate, and that a responsible worker
who has left decides nothing (the named worker stays, the access goes)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cases import services
from cases.models import OrganisationMembership, User
from cases.seeding import demo
from consent import policy
from consent import services as consent_services
from consent.models import Consent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def case(db):
    return demo.seed().case


def user(username) -> User:
    return User.objects.get(username=username)


def notes_url(case):
    return f"/api/v1/cases/{case.pk}/notes/"


@pytest.mark.parametrize(
    ("username", "category", "status"),
    [
        ("olli.opettaja", "notes_health", 400),  # neither his school's records nor consented
        ("olli.opettaja", "notes_general", 400),  # consent still pending
        ("olli.opettaja", "notes_education", 201),  # his school's own records
        ("anna.neuvola", "notes_general", 400),  # not consented to the clinic
        ("anna.neuvola", "notes_social", 400),
        ("anna.neuvola", "notes_health", 201),  # the clinic's own, and consented
        ("tiina.vastuu", "notes_health", 201),  # the responsible worker writes in any
    ],
)
def test_a_member_writes_notes_in_own_and_consented_categories_only(
    api, case, username, category, status
):
    before = case.notes.count()
    response = api.as_user(user(username)).post(
        notes_url(case), {"category": category, "text": "Uusi merkintä"}, format="json"
    )
    assert response.status_code == status, response.content
    if status == 400:
        assert "category" in response.json()
        assert case.notes.count() == before
    else:
        assert case.notes.count() == before + 1


def test_a_granted_consent_lets_the_member_write_in_its_categories(api, case):
    olli = user("olli.opettaja")
    client = api.as_user(olli)
    body = {"category": "notes_general", "text": "Yhteinen merkintä"}
    assert client.post(notes_url(case), body, format="json").status_code == 400
    pending = Consent.objects.get(case=case, state=Consent.State.PENDING)
    consent_services.consent_decide(
        actor=user("hanna.huoltaja"), consent=pending, decision="granted", channel="api"
    )
    assert client.post(notes_url(case), body, format="json").status_code == 201


def test_a_coordinator_cannot_deactivate_a_guardians_account(api, case):
    hanna = user("hanna.huoltaja")
    response = api.as_user(user("kaisa.koordinaattori")).post(
        f"/api/v1/coordination/workers/{hanna.pk}/deactivate/"
    )
    assert response.status_code in (403, 404)
    hanna.refresh_from_db()
    assert hanna.is_active
    with pytest.raises(PermissionDenied):
        services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=hanna)


def test_a_responsible_worker_who_has_left_decides_nothing(case):
    tiina = user("tiina.vastuu")
    membership = OrganisationMembership.objects.get(
        user=tiina, organisation=case.responsible_organisation
    )
    services.membership_end(actor=user("kaisa.koordinaattori"), membership=membership)
    case.refresh_from_db()
    assert case.responsible_worker_id == tiina.pk  # still named
    assert not policy.is_responsible(tiina, case)
    assert policy.access_for(tiina, [case])[case.pk] == policy.NO_ACCESS
    with pytest.raises(PermissionDenied):
        services.case_close(actor=tiina, case=case, reason="Valmis")
    pending = Consent.objects.get(case=case, state=Consent.State.PENDING)
    with pytest.raises(PermissionDenied):
        consent_services.consent_decide(
            actor=tiina,
            consent=pending,
            decision="granted",
            channel="paper",
            grantor=case.family.members.get(role="guardian"),
        )


def test_a_membership_ending_later_ends_the_access_then(case):
    """A dated end: the access is there until it, and the list's rows end with it too."""
    tiina = user("tiina.vastuu")
    membership = OrganisationMembership.objects.get(
        user=tiina, organisation=case.responsible_organisation
    )
    ends = timezone.now() + timezone.timedelta(hours=1)
    membership.ended_at = ends
    membership.save(update_fields=["ended_at"])
    assert policy.access_for(tiina, [case])[case.pk].view
    assert policy.cases_for_user(tiina).filter(pk=case.pk).exists()
    later = ends + timezone.timedelta(minutes=1)
    assert not policy.access_for(tiina, [case], now=later)[case.pk].view
    rows = policy.case_permission_rows(case)
    assert rows[tiina.pk][1] == ends  # guardian's rows for her end with the membership
