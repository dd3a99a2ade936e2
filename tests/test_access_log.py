"""Every API read of case data in the demo scenario leaves exactly the expected access events,
refused ones included (issue 4, acceptance 1). Each test makes one request and asserts every
row it appended, field by field.

What a request leaves:
- an allowed read: one event per case it showed, written inside the request's transaction;
- a refused one (401, 403, 404): one denied event naming the case as the URL named it, written
  after the request's transaction has rolled back;
- a read refused as bad input (400, e.g. an unknown filter value): no event. Nothing was shown
  and nothing was refused on grounds of access; the request never reached the data.
"""

import uuid
from dataclasses import dataclass

import pytest
from django.db import connection
from rest_framework.exceptions import PermissionDenied
from rest_framework.test import APIClient

from audit import chain as audit_chain
from audit.models import AccessEvent
from audit.verify import verify_all
from cases import services
from cases.models import Case, Family, Note, Organisation, User
from cases.seeding import demo
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from tests import audit_tables
from tests.factories import access_of

pytestmark = pytest.mark.django_db

# The fields of an event that say who read what; the rest are the chain's own.
FIELDS = (
    "user_id",
    "username",
    "organisation_id",
    "role",
    "case_id",
    "family_id",
    "controller_id",
    "resource",
    "categories",
    "action",
    "outcome",
    "purpose",
    "emergency",
    "disclosed_from",
    "consents",
)


@dataclass
class Scenario:
    users: dict
    orgs: dict
    case: Case
    family: Family
    clinic_consent: Consent
    school_consent: Consent

    @property
    def social_work(self) -> Organisation:  # tiina's organisation; it recorded the family
        return self.orgs["phhva-perhesosiaalityo"]


@pytest.fixture
def scenario(api) -> Scenario:
    seeded = demo.seed()
    orgs = {org.code: org for org in Organisation.objects.all()}
    case = seeded.case
    return Scenario(
        users={user.username: user for user in User.objects.all()},
        orgs=orgs,
        case=case,
        family=case.family,
        clinic_consent=Consent.objects.get(case=case, recipients=orgs["phhva-lastenneuvola"]),
        school_consent=Consent.objects.get(case=case, recipients=orgs["asikkala-perusopetus"]),
    )


def head() -> int:
    return AccessEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def request(client, method: str, url: str, **kwargs):
    """(response, the events the request appended, oldest first)."""
    before = head()
    response = getattr(client, method)(url, **kwargs)
    events = list(AccessEvent.objects.filter(seq__gt=before).order_by("seq"))
    for event in events:
        assert event.request_id == response["X-Request-ID"]
        assert event.client_address == "127.0.0.1"
    return response, events


def row(event: AccessEvent) -> dict:
    return {name: getattr(event, name) for name in FIELDS}


def expected(
    *,
    user,
    case,
    resource: str,
    action: str,
    outcome: str = "allowed",
    organisation=None,
    role: str = "none",
    categories=(),
    disclosed_from=(),
    consents=(),
    family_id=None,
    controller_id=None,
) -> dict:
    return {
        "user_id": user.pk if user else None,
        "username": user.username if user else "",
        "organisation_id": organisation.pk if organisation else None,
        "role": role,
        "case_id": case.pk if isinstance(case, Case) else case,
        "family_id": case.family_id if isinstance(case, Case) else family_id,
        "controller_id": case.responsible_organisation_id
        if isinstance(case, Case)
        else controller_id,
        "resource": resource,
        "categories": list(categories),
        "action": action,
        "outcome": outcome,
        "purpose": "",
        "emergency": False,
        "disclosed_from": [str(org.pk) for org in disclosed_from],
        "consents": [str(consent.pk) for consent in consents],
    }


# --- Allowed reads ------------------------------------------------------------------------------


def test_the_responsible_workers_case_list_logs_one_event_per_case_listed(api, scenario):
    tiina = scenario.users["tiina.vastuu"]
    second = services.family_create(
        actor=tiina,
        name="Nieminen",
        municipality=scenario.family.municipality,
        members=[{"role": "guardian", "first_name": "Niina", "last_name": "Nieminen"}],
    ).cases.get()

    response, events = request(api.as_user(tiina), "get", "/api/v1/cases/")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    shown = [
        expected(
            user=tiina,
            case=case,
            resource="case",
            action="list",
            organisation=scenario.social_work,
            role="responsible",
            categories=["basic"],
        )
        for case in (scenario.case, second)
    ]
    assert sorted((row(e) for e in events), key=lambda r: str(r["case_id"])) == sorted(
        shown, key=lambda r: str(r["case_id"])
    )


def test_a_members_case_detail_logs_the_disclosure_of_basic_data_under_the_clinic_consent(
    api, scenario
):
    anna = scenario.users["anna.neuvola"]

    response, events = request(api.as_user(anna), "get", f"/api/v1/cases/{scenario.case.pk}/")

    assert response.status_code == 200
    assert [row(e) for e in events] == [
        expected(
            user=anna,
            case=scenario.case,
            resource="case",
            action="view",
            organisation=scenario.orgs["phhva-lastenneuvola"],
            role="member",
            categories=["basic"],
            # The family is the social work's record: shown to the clinic under its consent.
            disclosed_from=[scenario.family.recorded_by],
            consents=[scenario.clinic_consent],
        )
    ]
    assert scenario.family.recorded_by == scenario.social_work


def test_a_members_own_notes_are_logged_without_a_disclosure(api, scenario):
    anna = scenario.users["anna.neuvola"]

    response, events = request(api.as_user(anna), "get", f"/api/v1/cases/{scenario.case.pk}/notes/")

    assert [note["category"] for note in response.json()["results"]] == ["notes_health"]
    assert [row(e) for e in events] == [
        expected(
            user=anna,
            case=scenario.case,
            resource="notes",
            action="list",
            organisation=scenario.orgs["phhva-lastenneuvola"],
            role="member",
            categories=["notes_health"],
        )
    ]


def test_notes_of_another_organisation_are_logged_as_disclosed_under_the_consent(api, scenario):
    tiina, anna = scenario.users["tiina.vastuu"], scenario.users["anna.neuvola"]
    services.note_create(
        actor=tiina,
        case=scenario.case,
        access=access_of(tiina, scenario.case),
        category="notes_health",
        text="Lääkärin lausunto saatu.",
    )

    response, events = request(api.as_user(anna), "get", f"/api/v1/cases/{scenario.case.pk}/notes/")

    assert len(response.json()["results"]) == 2
    assert [row(e) for e in events] == [
        expected(
            user=anna,
            case=scenario.case,
            resource="notes",
            action="list",
            organisation=scenario.orgs["phhva-lastenneuvola"],
            role="member",
            categories=["notes_health"],
            disclosed_from=[scenario.social_work],
            consents=[scenario.clinic_consent],
        )
    ]


def test_a_member_without_consent_is_logged_as_shown_no_data_category(api, scenario):
    olli = scenario.users["olli.opettaja"]

    response, events = request(api.as_user(olli), "get", f"/api/v1/cases/{scenario.case.pk}/")

    assert response.status_code == 200 and "family" not in response.json()
    assert [row(e) for e in events] == [
        expected(
            user=olli,
            case=scenario.case,
            resource="case",
            action="view",
            organisation=scenario.orgs["asikkala-perusopetus"],
            role="member",
        )
    ]


def test_after_the_family_grants_consent_the_schools_reads_name_the_consent(api, scenario):
    olli, hanna = scenario.users["olli.opettaja"], scenario.users["hanna.huoltaja"]
    consent_services.consent_decide(
        actor=hanna,
        consent=scenario.school_consent,
        decision=ConsentEvent.Kind.GRANTED,
        channel=ConsentEvent.Channel.PORTAL,
    )

    response, events = request(api.as_user(olli), "get", f"/api/v1/cases/{scenario.case.pk}/notes/")

    categories = sorted(note["category"] for note in response.json()["results"])
    assert categories == ["notes_education", "notes_general"]  # his own, and tiina's by consent
    assert [row(e) for e in events] == [
        expected(
            user=olli,
            case=scenario.case,
            resource="notes",
            action="list",
            organisation=scenario.orgs["asikkala-perusopetus"],
            role="member",
            categories=categories,
            disclosed_from=[scenario.social_work],
            consents=[scenario.school_consent],
        )
    ]


def test_the_guardian_reading_her_case_is_logged_as_the_family(api, scenario):
    hanna = scenario.users["hanna.huoltaja"]

    response, events = request(api.as_user(hanna), "get", f"/api/v1/cases/{scenario.case.pk}/")

    assert response.status_code == 200
    assert [row(e) for e in events] == [
        expected(
            user=hanna,
            case=scenario.case,
            resource="case",
            action="view",
            role="guardian",
            categories=["basic"],
            # The family reading its own data is no disclosure to another organisation.
        )
    ]


# --- Refused attempts ---------------------------------------------------------------------------


def test_an_outsiders_attempt_is_refused_with_404_and_logged_naming_the_case(api, scenario):
    ulla = scenario.users["ulla.ulkopuolinen"]

    response, events = request(api.as_user(ulla), "get", f"/api/v1/cases/{scenario.case.pk}/")

    assert response.status_code == 404
    assert [row(e) for e in events] == [
        expected(user=ulla, case=scenario.case, resource="case", action="view", outcome="denied")
    ]


def test_an_attempt_on_a_case_that_does_not_exist_is_logged_as_asked(api, scenario):
    tiina = scenario.users["tiina.vastuu"]
    made_up = uuid.uuid4()

    response, events = request(api.as_user(tiina), "get", f"/api/v1/cases/{made_up}/")

    assert response.status_code == 404
    assert [row(e) for e in events] == [
        expected(user=tiina, case=made_up, resource="case", action="view", outcome="denied")
    ]


def test_an_anonymous_attempt_is_logged_without_a_user(api, scenario):
    anonymous = APIClient()

    detail, detail_events = request(anonymous, "get", f"/api/v1/cases/{scenario.case.pk}/")
    listing, list_events = request(anonymous, "get", "/api/v1/cases/")

    assert (detail.status_code, listing.status_code) == (401, 401)
    assert [row(e) for e in detail_events] == [
        expected(user=None, case=scenario.case, resource="case", action="view", outcome="denied")
    ]
    assert [row(e) for e in list_events] == [
        expected(user=None, case=None, resource="case", action="view", outcome="denied")
    ]


def test_a_refused_write_is_logged_as_a_denied_write(api, scenario):
    olli = scenario.users["olli.opettaja"]

    response, events = request(
        api.as_user(olli),
        "post",
        f"/api/v1/cases/{scenario.case.pk}/members/",
        data={"kind": "informal", "name": "Naapuri", "relationship": "naapuri"},
    )

    assert response.status_code == 403
    assert [row(e) for e in events] == [
        expected(
            user=olli, case=scenario.case, resource="members", action="write", outcome="denied"
        )
    ]


def test_a_read_refused_as_bad_input_leaves_no_event_as_nothing_was_shown(api, scenario):
    tiina = scenario.users["tiina.vastuu"]

    response, events = request(api.as_user(tiina), "get", "/api/v1/cases/?status=bogus")

    assert response.status_code == 400
    assert events == []


def test_the_chain_verifies_after_the_whole_scenario(api, scenario):
    users, case = scenario.users, scenario.case
    for username, url in (
        ("tiina.vastuu", "/api/v1/cases/"),
        ("anna.neuvola", f"/api/v1/cases/{case.pk}/"),
        ("anna.neuvola", f"/api/v1/cases/{case.pk}/notes/"),
        ("anna.neuvola", f"/api/v1/cases/{case.pk}/plan/"),
        ("olli.opettaja", f"/api/v1/cases/{case.pk}/"),
        ("olli.opettaja", f"/api/v1/cases/{case.pk}/plan/"),
        ("ulla.ulkopuolinen", f"/api/v1/cases/{case.pk}/"),
        ("hanna.huoltaja", f"/api/v1/families/{case.family_id}/"),
    ):
        api.as_user(users[username]).get(url)
    api.as_user(users["olli.opettaja"]).post(f"/api/v1/cases/{case.pk}/members/", {})

    results = verify_all()

    assert [r.chain for r in results] == ["paijat-hame"]
    assert all(r.ok for r in results), results
    assert results[0].events == AccessEvent.objects.count() == 9


# --- Transactions -------------------------------------------------------------------------------


def empty_audit_tables() -> None:
    """After a transactional test, before Django's flush: the audit tables are append-only in
    the database, so they are emptied under purge permits (tests/audit_tables.py)."""
    audit_tables.empty_audit_tables()


@pytest.fixture
def appends(monkeypatch, transactional_db):
    """Records, for each append to the log, whether it ran inside a transaction."""
    seen = []
    original = audit_chain.append

    def spy(events, **kwargs):
        seen.append((connection.in_atomic_block, [e.outcome for e in events]))
        return original(events, **kwargs)

    monkeypatch.setattr(audit_chain, "append", spy)
    yield seen
    empty_audit_tables()


@pytest.mark.django_db(transaction=True)
def test_an_allowed_reads_events_commit_with_its_transaction(api, owner, family_case, appends):
    response = api.as_user(owner).get(f"/api/v1/cases/{family_case.pk}/")

    assert response.status_code == 200
    assert appends == [(True, ["allowed"])]  # inside the request's own transaction
    assert not connection.in_atomic_block
    assert AccessEvent.objects.filter(case_id=family_case.pk, outcome="allowed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_request_is_rolled_back_and_its_attempt_is_logged_after(
    api, owner, family_case, appends, monkeypatch
):
    original = services.note_create

    def writes_then_refuses(**kwargs):
        original(**kwargs)
        raise PermissionDenied("refused after writing")

    monkeypatch.setattr(services, "note_create", writes_then_refuses)

    response = api.as_user(owner).post(
        f"/api/v1/cases/{family_case.pk}/notes/",
        {"category": "notes_social", "text": "Never kept"},
    )

    assert response.status_code == 403
    assert not Note.objects.filter(text="Never kept").exists()  # the request's writes rolled back
    assert appends == [(False, ["denied"])]  # logged after the rollback, in its own transaction
    [event] = AccessEvent.objects.filter(case_id=family_case.pk)
    assert (event.action, event.outcome, event.resource) == ("write", "denied", "notes")
    assert event.family_id == family_case.family_id
