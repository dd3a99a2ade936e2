"""/api/v1/me/work/: all that waits for a worker, in one request and a constant number of queries.

Acceptance 3 of issue 6 is `test_my_work_has_the_same_number_of_queries_for_1_and_200_cases`.
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AccessEvent
from cases import services
from cases.models import CorrectionRequest
from cases.seeding import demo
from consent import services as consent_services
from tests.conftest import persona as user
from tests.factories import OrganisationFactory, UserFactory, WorkerFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

WORK = "/api/v1/me/work/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def days(n) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def test_the_demo_workers_desks(api):
    case = demo.seed().case
    tiina, anna = user("tiina.vastuu"), user("anna.neuvola")
    services.plan_action_create(
        actor=tiina, case=case, title="Kasvuseuranta", responsible_user=anna, due_date=days(3)
    )
    services.plan_action_create(
        actor=tiina, case=case, title="Myöhässä", responsible_user=tiina, due_date=days(-2)
    )
    services.plan_action_create(
        actor=tiina, case=case, title="Kaukana", responsible_user=anna, due_date=days(40)
    )
    services.plan_action_create(
        actor=tiina,
        case=case,
        title="Tehty",
        responsible_user=anna,
        due_date=days(1),
        status="done",
    )

    body = api.as_user(tiina).get(WORK).json()
    assert [c["id"] for c in body["responsible_cases"]] == [str(case.pk)]
    assert body["responsible_cases"][0]["family"]["name"] == "Virtanen"
    assert body["member_cases"] == []
    assert [a["title"] for a in body["actions_overdue"]] == ["Myöhässä"]
    # The responsible worker follows every action of her cases.
    assert [a["title"] for a in body["actions_due_soon"]] == ["Kasvuseuranta"]
    # The school's consent is still waiting for the family.
    [waiting] = body["consent_requests"]
    assert waiting["recipients"][0]["name"] == "Asikkalan kunta, perusopetus"

    body = api.as_user(anna).get(WORK).json()
    [member_case] = body["member_cases"]
    assert member_case["family"]["name"] == "Virtanen"  # consented: basic
    assert [a["title"] for a in body["actions_due_soon"]] == ["Kasvuseuranta"]
    assert body["actions_overdue"] == [] and body["consent_requests"] == []

    # Olli has no consent yet: the case, not the family; no actions (no plan).
    services.plan_action_create(
        actor=tiina,
        case=case,
        title="Koulun tukitoimet",
        responsible_user=user("olli.opettaja"),
        due_date=days(2),
    )
    body = api.as_user(user("olli.opettaja")).get(WORK).json()
    [member_case] = body["member_cases"]
    assert "family" not in member_case
    assert body["actions_due_soon"] == [] and "Koulun" not in str(body)

    # Jenni's invitation waits for her answer.
    body = api.as_user(user("jenni.jarjesto")).get(WORK).json()
    assert [i["case"] for i in body["invitations"]] == [str(case.pk)]
    assert body["member_cases"] == [] and body["responsible_cases"] == []


def test_handovers_waiting_for_me_show_the_case_and_no_family(api):
    case = demo.seed().case
    anna = user("anna.neuvola")
    handover = services.handover_propose(actor=user("tiina.vastuu"), case=case, to_worker=anna)
    body = api.as_user(anna).get(WORK).json()
    assert [h["id"] for h in body["handovers"]] == [str(handover.pk)]
    assert body["handovers"][0]["from_worker"]["name"] == "Tiina Vastuu"


def test_my_work_is_access_logged_with_what_it_showed(api):
    case = demo.seed().case
    anna = user("anna.neuvola")
    services.plan_action_create(
        actor=user("tiina.vastuu"), case=case, title="x", responsible_user=anna, due_date=days(1)
    )
    api.as_user(anna).get(WORK)
    [event] = AccessEvent.objects.filter(username="anna.neuvola", resource="my-work")
    assert event.case_id == case.pk and event.action == "list" and event.role == "member"
    assert event.categories == ["basic", "plan"]
    assert event.consents  # the clinic's consent that disclosed them
    api.as_user(user("olli.opettaja")).get(WORK)
    [event] = AccessEvent.objects.filter(username="olli.opettaja", resource="my-work")
    assert event.categories == []


def test_a_signed_out_client_has_no_work(api):
    assert api.get(WORK).status_code == 401


def make_workload(worker, owner, municipality, guardian, *, responsible: int, member: int):
    """Cases of every kind for `worker`: `responsible` of their own (each with an action due,
    a consent request and a correction request waiting), `member` of `owner`'s (each
    consented, with an action due for the worker), and one handover and one invitation
    waiting for them."""
    organisation = worker.memberships.get().organisation
    for i in range(responsible):
        family = services.family_create(actor=worker, name=f"Oma {i}", municipality=municipality)
        case = family.cases.get()
        services.plan_action_create(
            actor=worker,
            case=case,
            title=f"Oma {i}",
            responsible_user=worker,
            due_date=days(i % 20 - 5),
        )
        consent_services.consent_request(
            actor=worker,
            case=case,
            recipients=[OrganisationFactory()],
            categories=["basic"],
            purpose_code="x",
            purpose="x",
            valid_until=timezone.now() + datetime.timedelta(days=30),
        )
        # A correction request of the family, waiting for the worker's answer.
        CorrectionRequest.objects.create(
            case=case,
            item_kind=CorrectionRequest.Item.PLAN,
            category="plan",
            what_is_wrong="x",
            should_say="y",
            requested_by=guardian,
        )
    for i in range(member):
        family = services.family_create(actor=owner, name=f"Muu {i}", municipality=municipality)
        family.members.create(role="guardian", first_name="G", last_name="H", user=guardian)
        case = family.cases.get()
        services.network_add_professional(actor=owner, case=case, user=worker)
        consent = consent_services.consent_request(
            actor=owner,
            case=case,
            recipients=[organisation],
            categories=["basic", "plan"],
            purpose_code="x",
            purpose="x",
            valid_until=timezone.now() + datetime.timedelta(days=30),
        )
        consent_services.consent_decide(actor=guardian, consent=consent, decision="granted")
        services.plan_action_create(
            actor=owner, case=case, title=f"Muu {i}", responsible_user=worker, due_date=days(i % 14)
        )
    family = services.family_create(actor=owner, name="Siirto", municipality=municipality)
    services.handover_propose(actor=owner, case=family.cases.get(), to_worker=worker)
    family = services.family_create(actor=owner, name="Kutsu", municipality=municipality)
    services.invitation_create(
        actor=owner, case=family.cases.get(), organisation=organisation, invited_user=worker
    )


def queries_of(client, url) -> tuple[list[str], list[str], dict]:
    """(the request's queries but the access log's inserts, those inserts, the response body)"""
    with CaptureQueriesContext(connection) as context:
        body = client.get(url).json()
    sql = [query["sql"] for query in context.captured_queries]
    inserts = [q for q in sql if q.startswith('INSERT INTO "audit_accessevent"')]
    return [q for q in sql if q not in inserts], inserts, body


def test_my_work_has_the_same_number_of_queries_for_1_and_200_cases(api, municipality):
    worker = WorkerFactory(username="worker")
    owner = WorkerFactory(username="owner")
    guardian = UserFactory(username="guardian")
    client = api.as_user(worker)
    # One case: the worker is a member of it, with a consent in force and an action due.
    make_workload(worker, owner, municipality, guardian, responsible=0, member=1)

    # 1 token + user, 2 open cases the worker may see, 3 the policy's facts (memberships,
    # guardians, handovers, posts: one union), 4 child refusals, 5 consents in force with
    # their recipients, 6 handovers waiting for the worker, 7 plan actions due, 8 consent
    # requests waiting, 9 their recipients, 10 correction requests waiting, 11 invitations
    # waiting; and the access log's append, one event per case shown (its single bulk insert
    # counted apart below).
    queries, inserts, body = queries_of(client, WORK)
    assert len(queries) == 11 + REQUEST + ACCESS_LOG - 1, "\n".join(queries)
    assert len(inserts) == 1
    assert len(body["member_cases"]) == 1 and len(body["actions_due_soon"]) == 1
    assert len(body["handovers"]) == 1 and len(body["invitations"]) == 1

    # Two hundred: 100 of the worker's own and 99 more as a member (and more waiting).
    make_workload(worker, owner, municipality, guardian, responsible=100, member=99)
    queries, inserts, body = queries_of(client, WORK)
    assert len(queries) == 11 + REQUEST + ACCESS_LOG - 1, "\n".join(queries)
    # The access log writes 202 events (200 cases, 2 handovers waiting) in one INSERT; Django
    # splits a bulk insert into batches only on SQLite, whose statements take 999 parameters.
    if connection.vendor == "sqlite":
        assert 1 < len(inserts) <= 202 * len(AccessEvent._meta.concrete_fields) // 999 + 1
    else:
        assert len(inserts) == 1
    assert len(body["responsible_cases"]) == 100
    assert len(body["member_cases"]) == 100
    assert len(body["consent_requests"]) == 100
    assert len(body["correction_requests"]) == 100
    assert len(body["actions_overdue"]) + len(body["actions_due_soon"]) > 150
    assert all(case["family"]["name"] for case in body["member_cases"])
    assert AccessEvent.objects.filter(username="worker", resource="my-work").count() == 2 + 202
