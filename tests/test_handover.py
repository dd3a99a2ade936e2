"""An open case has exactly one responsible worker at every moment; handover moves it atomically."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction

from cases import services
from cases.models import Case, Handover
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db


def handovers_url(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/handovers/{suffix}"


def propose(api, owner, case, to_worker, **extra):
    response = api.as_user(owner).post(
        handovers_url(case), {"to_worker": str(to_worker.pk), **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_accepting_a_handover_makes_the_receiver_responsible(api, owner, colleague, family_case):
    handover = propose(api, owner, family_case, colleague, message="Over to you")
    assert handover["status"] == "proposed"
    assert handover["to_organisation"]["id"] == str(colleague.memberships.get().organisation_id)

    # Before accepting, the receiver sees the case and its responsible worker, no more.
    client = api.as_user(colleague)
    assert client.get(f"/api/v1/cases/{family_case.pk}/").status_code == 200
    response = client.post(handovers_url(family_case, f"{handover['id']}/accept/"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"

    family_case.refresh_from_db()
    assert family_case.responsible_worker == colleague
    assert family_case.responsible_organisation == colleague.memberships.get().organisation
    assert client.get("/api/v1/cases/").json()["count"] == 1
    # The former responsible worker no longer holds the case.
    assert api.as_user(owner).get(f"/api/v1/cases/{family_case.pk}/").status_code == 404


def test_the_case_stays_with_its_worker_until_the_receiver_accepts(
    api, owner, colleague, family_case
):
    handover = propose(api, owner, family_case, colleague)
    family_case.refresh_from_db()
    assert family_case.responsible_worker == owner
    response = api.as_user(colleague).post(handovers_url(family_case, f"{handover['id']}/decline/"))
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    family_case.refresh_from_db()
    assert family_case.responsible_worker == owner
    # Declining also ends the receiver's sight of the case.
    assert api.as_user(colleague).get(f"/api/v1/cases/{family_case.pk}/").status_code == 404
    assert Handover.objects.get(pk=handover["id"]).decided_at is not None


def test_the_proposer_cannot_accept_their_own_handover(api, owner, colleague, family_case):
    handover = propose(api, owner, family_case, colleague)
    response = api.as_user(owner).post(handovers_url(family_case, f"{handover['id']}/accept/"))
    assert response.status_code == 403
    family_case.refresh_from_db()
    assert family_case.responsible_worker == owner


def test_an_outsider_cannot_see_or_accept_a_handover(api, owner, colleague, outsider, family_case):
    handover = propose(api, owner, family_case, colleague)
    client = api.as_user(outsider)
    assert client.get(handovers_url(family_case)).status_code == 404
    assert client.post(handovers_url(family_case, f"{handover['id']}/accept/")).status_code == 404
    assert client.post(handovers_url(family_case, f"{handover['id']}/decline/")).status_code == 404
    assert Handover.objects.get(pk=handover["id"]).status == "proposed"


def test_only_the_responsible_worker_proposes(api, owner, colleague, family_case):
    propose(api, owner, family_case, colleague)
    # The receiver can see the case but cannot propose anything.
    response = api.as_user(colleague).post(
        handovers_url(family_case), {"to_worker": str(owner.pk)}, format="json"
    )
    assert response.status_code == 403


def test_one_handover_waits_at_a_time(api, owner, colleague, outsider, family_case):
    propose(api, owner, family_case, colleague)
    response = api.as_user(owner).post(
        handovers_url(family_case), {"to_worker": str(outsider.pk)}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Handover.objects.filter(status="proposed").count() == 1


def test_a_handover_to_oneself_or_a_non_worker_is_refused(api, owner, family_case):
    from tests.factories import UserFactory

    client = api.as_user(owner)
    response = client.post(handovers_url(family_case), {"to_worker": str(owner.pk)}, format="json")
    assert response.status_code == 400 and "to_worker" in response.json()
    not_a_worker = UserFactory()
    response = client.post(
        handovers_url(family_case), {"to_worker": str(not_a_worker.pk)}, format="json"
    )
    assert response.status_code == 400 and "to_organisation" in response.json()
    assert Handover.objects.count() == 0


def test_an_accepted_handover_cannot_be_accepted_again(api, owner, colleague, family_case):
    handover = propose(api, owner, family_case, colleague)
    client = api.as_user(colleague)
    assert client.post(handovers_url(family_case, f"{handover['id']}/accept/")).status_code == 200
    response = client.post(handovers_url(family_case, f"{handover['id']}/accept/"))
    assert response.status_code == 400
    assert response.json()["detail"]


def test_closing_the_case_cancels_a_waiting_handover(api, owner, colleague, family_case):
    handover = propose(api, owner, family_case, colleague)
    services.case_close(actor=owner, case=family_case, reason="Family moved")
    assert Handover.objects.get(pk=handover["id"]).status == "cancelled"
    response = api.as_user(colleague).post(handovers_url(family_case, f"{handover['id']}/accept/"))
    assert response.status_code == 404
    family_case.refresh_from_db()
    assert family_case.responsible_worker == owner


def test_handover_history_is_kept(api, owner, colleague, family_case):
    first = propose(api, owner, family_case, colleague)
    api.as_user(colleague).post(handovers_url(family_case, f"{first['id']}/decline/"))
    second = propose(api, owner, family_case, colleague)
    api.as_user(colleague).post(handovers_url(family_case, f"{second['id']}/accept/"))
    rows = api.as_user(colleague).get(handovers_url(family_case)).json()["results"]
    assert sorted(row["status"] for row in rows) == ["accepted", "declined"]


def test_the_database_refuses_an_open_case_without_a_responsible_worker(family_case):
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=family_case.pk).update(responsible_worker=None)


def test_the_database_refuses_two_open_cases_for_one_family(family_case):
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(
            family=family_case.family,
            responsible_worker=family_case.responsible_worker,
            responsible_organisation=family_case.responsible_organisation,
        )


def test_the_database_refuses_a_second_waiting_handover(owner, colleague, outsider, family_case):
    services.handover_propose(actor=owner, case=family_case, to_worker=colleague)
    with pytest.raises(IntegrityError), transaction.atomic():
        Handover.objects.create(
            case=family_case,
            from_worker=owner,
            to_worker=outsider,
            to_organisation=family_case.responsible_organisation,
        )


def test_handover_list_query_count_is_constant(
    api, owner, colleague, family_case, django_assert_num_queries
):
    first = services.handover_propose(actor=owner, case=family_case, to_worker=colleague)
    services.handover_decline(actor=colleague, handover=first)
    client = api.as_user(owner)
    # 1 token + user, 2 case with permission join, 3 the policy's facts (memberships,
    # guardians, handovers, posts: one union), 4 count, 5 page of handovers with workers
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(handovers_url(family_case)).json()["count"] == 1
    for _ in range(5):
        handover = services.handover_propose(actor=owner, case=family_case, to_worker=colleague)
        services.handover_decline(actor=owner, handover=handover)
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(handovers_url(family_case)).json()["count"] == 6


@pytest.mark.django_db(transaction=True)
def test_of_two_concurrent_accepts_exactly_one_wins(owner, colleague, family_case):
    """Two requests accept the same handover at the same moment, each on its own connection."""
    handover = services.handover_propose(actor=owner, case=family_case, to_worker=colleague)
    barrier = threading.Barrier(2)
    outcomes = []

    def accept():
        try:
            barrier.wait(timeout=10)
            services.handover_accept(actor=colleague, handover=Handover.objects.get(pk=handover.pk))
            outcomes.append("won")
        except ValidationError:
            outcomes.append("lost")
        except Exception as error:  # anything else is a defect: report it
            outcomes.append(repr(error))
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["lost", "won"]
    family_case.refresh_from_db()
    assert family_case.responsible_worker == colleague
    assert Handover.objects.get(pk=handover.pk).status == "accepted"
