"""No family without a responsible worker: the coordinators' reassignment queue.

Acceptance 2 of issue 6 is
`test_deactivating_tiina_puts_her_case_in_the_queue_until_the_new_worker_accepts`.
"""

import random
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases import services
from cases.models import (
    Area,
    Case,
    Handover,
    Organisation,
    OrganisationMembership,
    Reassignment,
    User,
)
from consent import policy
from tests.conftest import persona as user
from tests.factories import MembershipFactory, WorkerFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/coordination/reassignments/"
REPORT = "/api/v1/coordination/report/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def scenario(demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


@pytest.fixture
def sanna(scenario):
    """A social worker of Tiina's organisation, who will take her case over."""
    return WorkerFactory(
        username="sanna.sosiaali",
        first_name="Sanna",
        last_name="Sosiaali",
        email="sanna@demo.koordinointi.example",
        membership__organisation=Organisation.objects.get(code="phhva-perhesosiaalityo"),
    )


def queue_ids(client) -> list[str]:
    response = client.get(QUEUE)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def report(client) -> dict:
    response = client.get(REPORT)
    assert response.status_code == 200, response.content
    return response.json()


def assert_every_open_case_has_a_responsible_worker():
    assert not Case.objects.filter(status="open", responsible_worker__isnull=True).exists()
    assert selectors_report()["without_responsible_worker"] == 0


def selectors_report():
    from cases import selectors

    return selectors.responsibility_report()


def test_deactivating_tiina_puts_her_case_in_the_queue_until_the_new_worker_accepts(
    api, scenario, sanna
):
    tiina = user("tiina.vastuu")
    case = scenario
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    assert queue_ids(kaisa) == []
    assert report(kaisa)["waiting_for_reassignment"] == 0

    # The coordinator deactivates Tiina's account: her open case enters the queue ...
    response = kaisa.post(f"/api/v1/coordination/workers/{tiina.pk}/deactivate/")
    assert response.status_code == 200, response.content
    assert response.json()["worker"]["is_active"] is False
    assert response.json()["cases_waiting_for_reassignment"] == 1
    response = kaisa.get(QUEUE)
    [entry] = response.json()["results"]
    assert entry["id"] == str(case.pk)
    assert entry["reason"] == "account_inactive"
    assert entry["responsible_worker"]["username"] == "tiina.vastuu"
    assert entry["waiting_handover"] is None
    assert "Virtanen" not in response.content.decode()  # a coordinator sees no family data
    # ... and stays hers: an open case always has its responsible worker.
    case.refresh_from_db()
    assert case.responsible_worker == tiina
    assert_every_open_case_has_a_responsible_worker()
    assert report(kaisa) | {"generated_at": None} == {
        "open_cases": 1,
        "without_responsible_worker": 0,
        "waiting_for_reassignment": 1,
        "reassignment_proposed": 0,
        "generated_at": None,
    }
    # Her token no longer works.
    assert api.as_user(tiina).get("/api/v1/cases/").status_code == 401

    # Kaisa proposes Sanna on Tiina's behalf: a handover from Tiina, waiting for Sanna.
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    response = kaisa.post(
        f"{QUEUE}{case.pk}/reassign/",
        {"to_worker": str(sanna.pk), "message": "Tiina on lopettanut."},
        format="json",
    )
    assert response.status_code == 201, response.content
    handover = response.json()
    assert handover["status"] == "proposed"
    assert handover["from_worker"]["id"] == str(tiina.pk)
    assert handover["to_worker"]["id"] == str(sanna.pk)
    case.refresh_from_db()
    assert case.responsible_worker == tiina  # until Sanna accepts
    assert report(kaisa)["reassignment_proposed"] == 1
    [entry] = kaisa.get(QUEUE).json()["results"]
    assert entry["waiting_handover"]["id"] == handover["id"]

    # Sanna sees that the case exists, and accepts through the usual handover flow.
    client = api.as_user(sanna)
    body = client.get(f"/api/v1/cases/{case.pk}/").json()
    assert "family" not in body
    response = client.post(f"/api/v1/cases/{case.pk}/handovers/{handover['id']}/accept/")
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert case.responsible_worker == sanna
    assert client.get(f"/api/v1/cases/{case.pk}/").json()["family"]["name"] == "Virtanen"
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    assert queue_ids(kaisa) == []
    assert report(kaisa)["waiting_for_reassignment"] == 0
    assert_every_open_case_has_a_responsible_worker()

    # The history shows both steps: Kaisa's proposal on Tiina's behalf, Sanna's acceptance.
    [row] = api.as_user(sanna).get(f"/api/v1/cases/{case.pk}/handovers/").json()["results"]
    assert row["status"] == "accepted"
    assert row["from_worker"]["id"] == str(tiina.pk) and row["to_worker"]["id"] == str(sanna.pk)
    assert row["proposed_at"] < row["decided_at"]
    reassignment = Reassignment.objects.get(handover_id=handover["id"])
    assert reassignment.coordinator.username == "kaisa.koordinaattori"
    assert reassignment.reason == "account_inactive"
    proposed = LogEntry.objects.get(
        content_type__model="handover", object_pk=handover["id"], action=LogEntry.Action.CREATE
    )
    assert proposed.actor.username == "kaisa.koordinaattori"
    moved = LogEntry.objects.filter(
        content_type__model="case", object_pk=str(case.pk), action=LogEntry.Action.UPDATE
    ).latest("timestamp")
    assert moved.actor == sanna
    assert moved.changes["responsible_worker"] == [str(tiina.pk), str(sanna.pk)]


def test_an_ended_membership_also_puts_the_cases_in_the_queue(api, scenario, sanna):
    # Ended in the admin (or straight in the database): the queue is derived from the data.
    OrganisationMembership.objects.filter(user__username="tiina.vastuu").update(
        is_active=False, ended_at=timezone.now()
    )
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    [entry] = kaisa.get(QUEUE).json()["results"]
    assert entry["reason"] == "membership_ended"
    response = kaisa.post(
        f"{QUEUE}{scenario.pk}/reassign/", {"to_worker": str(sanna.pk)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Reassignment.objects.get().reason == "membership_ended"


def test_a_membership_ending_in_the_future_is_still_in_force(api, scenario):
    OrganisationMembership.objects.filter(user__username="tiina.vastuu").update(
        ended_at=timezone.now() + timezone.timedelta(days=30)
    )
    assert queue_ids(api.as_user(user("kaisa.koordinaattori"))) == []
    services.membership_end(
        actor=user("kaisa.koordinaattori"),
        membership=OrganisationMembership.objects.get(user__username="tiina.vastuu"),
    )
    assert queue_ids(api.as_user(user("kaisa.koordinaattori"))) == [str(scenario.pk)]


def test_the_queue_and_the_report_are_for_coordinators_only(api, scenario):
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=user("tiina.vastuu"))
    for username in ("anna.neuvola", "tero.tarkastaja", "hanna.huoltaja", "ulla.ulkopuolinen"):
        client = api.as_user(user(username))
        assert client.get(QUEUE).status_code == 403
        assert client.get(f"{QUEUE}{scenario.pk}/").status_code == 403
        assert client.get(REPORT).status_code == 403
        response = client.post(
            f"{QUEUE}{scenario.pk}/reassign/",
            {"to_worker": str(user("anna.neuvola").pk)},
            format="json",
        )
        assert response.status_code == 403
        response = client.post(
            f"/api/v1/coordination/workers/{user('olli.opettaja').pk}/deactivate/"
        )
        assert response.status_code == 403
    assert user("olli.opettaja").is_active
    assert not Handover.objects.filter(status="proposed").exists()


def test_a_case_whose_worker_is_in_post_is_not_the_coordinators(api, scenario, sanna):
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    assert kaisa.get(f"{QUEUE}{scenario.pk}/").status_code == 404
    response = kaisa.post(
        f"{QUEUE}{scenario.pk}/reassign/", {"to_worker": str(sanna.pk)}, format="json"
    )
    assert response.status_code == 404
    assert not Handover.objects.filter(case=scenario, to_worker=sanna).exists()
    # Nor does the coordinator see the case itself.
    assert kaisa.get(f"/api/v1/cases/{scenario.pk}/").status_code == 404


def test_a_coordinator_of_another_area_does_not_see_the_case(api, scenario):
    south = OrganisationFactory_with_area("south")
    other = WorkerFactory(username="sari.etela")
    MembershipFactory(user=other, organisation=south, role="coordinator")
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=user("tiina.vastuu"))
    client = api.as_user(other)
    assert queue_ids(client) == []
    assert client.get(f"{QUEUE}{scenario.pk}/").status_code == 404
    assert report(client)["open_cases"] == 0
    # The family lives in Asikkala: the north area's coordinator has it.
    north = OrganisationFactory_with_area("north")
    MembershipFactory(user=other, organisation=north, role="coordinator")
    assert queue_ids(api.as_user(other)) == [str(scenario.pk)]


def OrganisationFactory_with_area(code):  # noqa: N802 - reads as the factory it wraps
    from tests.factories import OrganisationFactory

    return OrganisationFactory(area=Area.objects.get(code=code))


def test_reassignment_needs_an_active_worker_and_a_new_one(api, scenario):
    tiina = user("tiina.vastuu")
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=tiina)
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    olli = user("olli.opettaja")
    olli.is_active = False
    olli.save(update_fields=["is_active"])
    for to_worker in (tiina, olli, user("hanna.huoltaja")):
        response = kaisa.post(
            f"{QUEUE}{scenario.pk}/reassign/", {"to_worker": str(to_worker.pk)}, format="json"
        )
        assert response.status_code == 400, (to_worker, response.content)
    assert not Handover.objects.filter(case=scenario, status="proposed").exists()


def test_a_new_proposal_replaces_one_still_waiting(api, scenario, sanna):
    tiina = user("tiina.vastuu")
    anna = user("anna.neuvola")
    earlier = services.handover_propose(actor=tiina, case=scenario, to_worker=anna)
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=tiina)
    assert Handover.objects.get(pk=earlier.pk).status == "proposed"  # Anna may still accept
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    response = kaisa.post(
        f"{QUEUE}{scenario.pk}/reassign/", {"to_worker": str(sanna.pk)}, format="json"
    )
    assert response.status_code == 201
    assert Handover.objects.get(pk=earlier.pk).status == "cancelled"
    # Anna, no longer asked, sees the case as the member she is, nothing more.
    assert "handover" not in str(policy.access_for(anna, [scenario])[scenario.pk].role)


def test_deactivating_a_worker_withdraws_what_was_waiting_for_them(scenario, sanna):
    tiina = user("tiina.vastuu")
    handover = services.handover_propose(actor=tiina, case=scenario, to_worker=sanna)
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=sanna)
    assert Handover.objects.get(pk=handover.pk).status == "cancelled"
    assert policy.stored_permissions(scenario).get(sanna.pk) is None
    jenni = user("jenni.jarjesto")
    services.worker_deactivate(actor=user("kaisa.koordinaattori"), worker=jenni)
    assert not jenni.invitations.filter(status="pending").exists()


def test_a_coordinator_may_not_deactivate_themself_or_an_administrator(api, scenario):
    kaisa = user("kaisa.koordinaattori")
    client = api.as_user(kaisa)
    assert client.post(f"/api/v1/coordination/workers/{kaisa.pk}/deactivate/").status_code == 403
    root = User.objects.create_superuser("root", "root@example.org", "x-pass-2026")
    assert client.post(f"/api/v1/coordination/workers/{root.pk}/deactivate/").status_code == 403
    assert User.objects.get(pk=root.pk).is_active


def test_no_open_case_ever_lacks_a_responsible_worker(scenario):
    """Random deactivations, ended memberships, reassignments, acceptances, declines and
    closings: after each step every open case has its responsible worker."""
    kaisa = user("kaisa.koordinaattori")
    organisation = Organisation.objects.get(code="phhva-perhesosiaalityo")
    workers = [
        WorkerFactory(email=f"w{i}@example.org", membership__organisation=organisation)
        for i in range(6)
    ]
    for i, worker in enumerate(workers):
        services.family_create(
            actor=worker, name=f"Perhe {i}", municipality=scenario.family.municipality
        )
    rng = random.Random(2026)
    for _step in range(60):
        move = rng.choice(["deactivate", "end", "reassign", "accept", "decline", "close"])
        try:
            make_move(rng, move, kaisa, workers)
        except ValidationError:
            pass  # a move the domain refuses (a receiver who has left cannot accept, say)
        for worker in workers:
            worker.refresh_from_db()
        assert_every_open_case_has_a_responsible_worker()
    # The walk did walk: cases were reassigned, accepted and closed.
    assert Reassignment.objects.exists()
    assert Handover.objects.filter(status="accepted").exists()
    assert Case.objects.filter(status="closed").exists()
    # The database itself refuses an open case without one.
    family = services.family_create(
        actor=user("anna.neuvola"), name="Uusi", municipality=scenario.family.municipality
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(family=family).update(responsible_worker=None)
    out = StringIO()
    call_command("responsibility_report", stdout=out)
    assert "without_responsible_worker: 0" in out.getvalue()


def make_move(rng, move, kaisa, workers):
    """One step of the random walk: who leaves, who is proposed, who answers, what closes."""
    active = [w for w in workers if w.is_active and w.memberships.filter(is_active=True)]
    # Ordered by name, not by (random) id: the same seed walks the same way every time.
    waiting = list(policy.reassignment_queue(kaisa)[0].order_by("family__name"))
    proposed = list(
        Handover.objects.filter(status="proposed", case__status="open").order_by(
            "case__family__name"
        )
    )
    if move == "deactivate" and len(active) > 2:
        services.worker_deactivate(actor=kaisa, worker=rng.choice(active))
    elif move == "end" and len(active) > 2:
        membership = rng.choice(active).memberships.get()
        services.membership_end(actor=kaisa, membership=membership)
    elif move == "reassign" and waiting and active:
        case = rng.choice(waiting)
        candidates = [w for w in active if w.pk != case.responsible_worker_id]
        if candidates:
            services.handover_reassign(actor=kaisa, case=case, to_worker=rng.choice(candidates))
    elif move == "accept" and proposed:
        handover = rng.choice(proposed)
        if handover.to_worker.is_active:
            services.handover_accept(actor=handover.to_worker, handover=handover)
    elif move == "decline" and proposed:
        handover = rng.choice(proposed)
        services.handover_decline(actor=handover.to_worker, handover=handover)
    elif move == "close":
        # Only a responsible worker in post may close (one who has left sees nothing of it).
        left = policy.cases_without_worker_in_post().values("pk")
        open_cases = list(
            Case.objects.filter(status="open").exclude(pk__in=left).order_by("family__name")
        )
        if open_cases:
            case = rng.choice(open_cases)
            services.case_close(actor=case.responsible_worker, case=case, reason="Valmis")


def test_the_queue_has_a_constant_number_of_queries(api, scenario, django_assert_num_queries):
    kaisa = user("kaisa.koordinaattori")
    organisation = Organisation.objects.get(code="phhva-perhesosiaalityo")
    successor = WorkerFactory(membership__organisation=organisation)

    def leave(n):
        for i in range(n):
            worker = WorkerFactory(membership__organisation=organisation)
            family = services.family_create(
                actor=worker, name=f"Perhe {i}", municipality=scenario.family.municipality
            )
            services.worker_deactivate(actor=kaisa, worker=worker)
            services.handover_reassign(actor=kaisa, case=family.cases.get(), to_worker=successor)

    leave(1)
    client = api.as_user(kaisa)
    # 1 token + user, 2 the coordinator's memberships, 3 count, 4 page of cases with their
    # worker and organisation, 5 handovers waiting, with their workers and organisation
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(QUEUE).json()["count"] == 1
    leave(10)
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        body = client.get(QUEUE).json()
    assert body["count"] == 11
    assert all(
        row["waiting_handover"]["to_worker"]["id"] == str(successor.pk) for row in body["results"]
    )
