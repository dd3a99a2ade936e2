"""The network around a case: members, invitations, notes and the plan, seen through the policy."""

import datetime
import re

import pytest
from django.utils import timezone

from cases import services
from cases.models import Invitation, NetworkMember
from consent import policy
from consent import services as consent_services
from tests.factories import OrganisationFactory, WorkerFactory, access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db


def url(case, suffix):
    return f"/api/v1/cases/{case.pk}/{suffix}"


def add_member(owner, case, worker):
    return services.network_add_professional(actor=owner, case=case, user=worker, role="Nurse")


def grant(case, owner, organisation, categories, guardian_user, **extra):
    consent = consent_services.consent_request(
        actor=owner,
        case=case,
        recipients=[organisation],
        categories=categories,
        purpose_code="care-coordination",
        purpose="Coordinating care",
        valid_until=extra.pop("valid_until", timezone.now() + datetime.timedelta(days=90)),
    )
    consent_services.consent_decide(actor=guardian_user, consent=consent, decision="granted")
    return consent


def test_the_responsible_worker_adds_a_professional_who_then_sees_the_case(
    api, owner, nurse, family_case
):
    response = api.as_user(owner).post(
        url(family_case, "members/"),
        {"kind": "professional", "user": str(nurse.pk), "role": "Public health nurse"},
        format="json",
    )
    assert response.status_code == 201, response.content
    client = api.as_user(nurse)
    body = client.get(f"/api/v1/cases/{family_case.pk}/").json()
    assert body["responsible_worker"]["id"] == str(owner.pk)
    # No consent yet: the family's data is absent, not null.
    assert "family" not in body and "opening_reason" not in body
    assert body["categories"] == []


def test_removal_takes_effect_on_the_next_request(api, owner, nurse, family_case):
    member = add_member(owner, family_case, nurse)
    client = api.as_user(nurse)
    assert client.get(f"/api/v1/cases/{family_case.pk}/").status_code == 200
    response = api.as_user(owner).delete(url(family_case, f"members/{member.pk}/"))
    assert response.status_code == 204
    assert api.as_user(nurse).get(f"/api/v1/cases/{family_case.pk}/").status_code == 404
    assert NetworkMember.objects.get(pk=member.pk).removed_at is not None


def test_a_member_cannot_manage_the_network(api, owner, nurse, outsider, family_case):
    add_member(owner, family_case, nurse)
    client = api.as_user(nurse)
    response = client.post(
        url(family_case, "members/"),
        {"kind": "professional", "user": str(outsider.pk)},
        format="json",
    )
    assert response.status_code == 403
    assert client.get(url(family_case, "invitations/")).status_code == 403
    assert client.get(url(family_case, "consent-requests/")).status_code == 403


def test_informal_members_show_only_to_those_who_may_read_basic_data(
    api, owner, nurse, family_case
):
    client = api.as_user(owner)
    response = client.post(
        url(family_case, "members/"),
        {"kind": "informal", "name": "Maija Mummo", "relationship": "grandmother"},
        format="json",
    )
    assert response.status_code == 201
    add_member(owner, family_case, nurse)
    assert {m["kind"] for m in client.get(url(family_case, "members/")).json()["results"]} == {
        "informal",
        "professional",
    }
    rows = api.as_user(nurse).get(url(family_case, "members/")).json()["results"]
    assert [m["kind"] for m in rows] == ["professional"]
    assert "Maija" not in str(rows)


def test_an_invitation_by_account_is_accepted_once(
    api, owner, nurse, family_case, mailoutbox, django_capture_on_commit_callbacks
):
    nurse.email = "nurse@example.org"
    nurse.save()
    organisation = nurse.memberships.get().organisation
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(owner).post(
            url(family_case, "invitations/"),
            {"organisation": str(organisation.pk), "invited_user": str(nurse.pk), "role": "Nurse"},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert "token" not in response.json()
    invitation = Invitation.objects.get()
    [message] = mailoutbox
    token = re.search(r"/invitations/([A-Za-z0-9_\-]+)/accept/", message.body).group(1)
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64

    client = api.as_user(nurse)
    assert [row["id"] for row in client.get("/api/v1/invitations/").json()["results"]] == [
        str(invitation.pk)
    ]
    response = client.post(f"/api/v1/invitations/{token}/accept/")
    assert response.status_code == 200, response.content
    assert client.get(f"/api/v1/cases/{family_case.pk}/").status_code == 200
    assert client.post(f"/api/v1/invitations/{token}/accept/").status_code == 400


def test_an_invitation_is_for_the_invited_worker_only(api, owner, nurse, outsider, family_case):
    invitation, token = services.invitation_create(
        actor=owner,
        case=family_case,
        organisation=nurse.memberships.get().organisation,
        invited_user=nurse,
    )
    response = api.as_user(outsider).post(f"/api/v1/invitations/{token}/accept/")
    assert response.status_code == 403
    # By id, an invitation is reachable only for the account it names.
    assert (
        api.as_user(outsider).post(f"/api/v1/invitations/{invitation.pk}/accept/").status_code
        == 404
    )
    assert (
        api.as_user(nurse).post(f"/api/v1/invitations/{invitation.pk}/accept/").status_code == 200
    )


def test_an_invitation_by_email_is_accepted_by_that_address(
    api, owner, family_case, mailoutbox, django_capture_on_commit_callbacks
):
    organisation = OrganisationFactory(name="NGO")
    with django_capture_on_commit_callbacks(execute=True):
        _, token = services.invitation_create(
            actor=owner, case=family_case, organisation=organisation, email="New.Worker@ngo.example"
        )
    assert mailoutbox[0].to == ["New.Worker@ngo.example"]
    newcomer = WorkerFactory(email="new.worker@ngo.example", membership__organisation=organisation)
    assert api.as_user(newcomer).post(f"/api/v1/invitations/{token}/accept/").status_code == 200
    assert NetworkMember.objects.get(user=newcomer).organisation == organisation


def test_expired_withdrawn_and_unknown_invitations_are_refused(api, owner, nurse, family_case):
    organisation = nurse.memberships.get().organisation
    invitation, token = services.invitation_create(
        actor=owner, case=family_case, organisation=organisation, invited_user=nurse
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    client = api.as_user(nurse)
    assert client.post(f"/api/v1/invitations/{token}/accept/").status_code == 400
    assert client.post("/api/v1/invitations/" + "x" * 43 + "/accept/").status_code == 404

    invitation, token = services.invitation_create(
        actor=owner, case=family_case, organisation=organisation, invited_user=nurse
    )
    response = api.as_user(owner).post(url(family_case, f"invitations/{invitation.pk}/withdraw/"))
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    assert api.as_user(nurse).post(f"/api/v1/invitations/{token}/accept/").status_code == 400
    assert not NetworkMember.objects.filter(user=nurse).exists()


def test_the_invitation_mail_goes_only_after_commit(owner, nurse, family_case, mailoutbox):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.invitation_create(
            actor=owner,
            case=family_case,
            organisation=nurse.memberships.get().organisation,
            invited_user=nurse,
        )
        raise RuntimeError("the request failed after the invitation was written")
    assert mailoutbox == []
    assert Invitation.objects.count() == 0


def test_a_member_sees_own_notes_and_consented_categories_only(
    api, owner, nurse, family_case, guardian_user
):
    add_member(owner, family_case, nurse)
    clinic = nurse.memberships.get().organisation
    for category in ["notes_social", "notes_health", "notes_general"]:
        services.note_create(
            actor=owner,
            case=family_case,
            access=access_of(owner, family_case),
            category=category,
            text=category,
        )
    client = api.as_user(nurse)
    response = client.post(
        url(family_case, "notes/"),
        {"category": "notes_health", "text": "Growth fine"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["organisation"]["id"] == str(clinic.pk)

    def visible():
        return sorted(n["text"] for n in client.get(url(family_case, "notes/")).json()["results"])

    assert visible() == ["Growth fine"]
    consent = grant(family_case, owner, clinic, ["basic", "notes_health"], guardian_user)
    assert visible() == ["Growth fine", "notes_health"]
    body = client.get(f"/api/v1/cases/{family_case.pk}/").json()
    assert body["family"]["name"] == "Virtanen"
    assert body["categories"] == ["basic", "notes_health"]

    consent_services.consent_decide(actor=guardian_user, consent=consent, decision="revoked")
    assert visible() == ["Growth fine"]
    assert "family" not in client.get(f"/api/v1/cases/{family_case.pk}/").json()


def test_an_expired_consent_grants_nothing_without_any_job(
    api, owner, nurse, family_case, guardian_user
):
    add_member(owner, family_case, nurse)
    clinic = nurse.memberships.get().organisation
    consent = grant(family_case, owner, clinic, ["basic"], guardian_user)
    client = api.as_user(nurse)
    assert "family" in client.get(f"/api/v1/cases/{family_case.pk}/").json()
    type(consent).objects.filter(pk=consent.pk).update(valid_until=timezone.now())
    body = client.get(f"/api/v1/cases/{family_case.pk}/").json()
    assert "family" not in body and body["categories"] == []
    assert client.get(f"/api/v1/consents/{consent.pk}/").status_code == 404  # members see own case
    assert api.as_user(guardian_user).get(f"/api/v1/consents/{consent.pk}/").json()["state"] == (
        "expired"
    )


def test_the_plan_is_shown_only_with_the_plan_category(
    api, owner, nurse, family_case, guardian_user
):
    client = api.as_user(owner)
    response = client.patch(
        url(family_case, "plan/"), {"needs": "Sleep", "goals": "Rest"}, format="json"
    )
    assert response.status_code == 200
    add_member(owner, family_case, nurse)
    nurse_client = api.as_user(nurse)
    response = nurse_client.get(url(family_case, "plan/"))
    assert response.status_code == 404
    assert "plan" not in response.content.decode().lower()
    grant(family_case, owner, nurse.memberships.get().organisation, ["plan"], guardian_user)
    assert nurse_client.get(url(family_case, "plan/")).json()["needs"] == "Sleep"


def test_closing_a_case_ends_the_networks_access(api, owner, nurse, family_case):
    add_member(owner, family_case, nurse)
    services.case_close(actor=owner, case=family_case, reason="Goals met")
    assert api.as_user(nurse).get(f"/api/v1/cases/{family_case.pk}/").status_code == 404
    assert api.as_user(owner).get(f"/api/v1/cases/{family_case.pk}/").status_code == 200


def test_note_list_query_count_is_constant(
    api, owner, nurse, family_case, guardian_user, django_assert_num_queries
):
    add_member(owner, family_case, nurse)
    clinic = nurse.memberships.get().organisation
    grant(family_case, owner, clinic, ["notes_health"], guardian_user)

    def write(n):
        for _ in range(n):
            services.note_create(
                actor=owner,
                case=family_case,
                access=access_of(owner, family_case),
                category="notes_health",
                text="x",
            )

    client = api.as_user(nurse)
    write(2)
    # 1 token + user, 2 case with permission join, 3 the policy's facts (memberships,
    # guardians, handovers, posts: one union), 4 child refusals, 5 consents in force with
    # their recipients, 6 count, 7 page of notes with author and organisation
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert client.get(url(family_case, "notes/")).json()["count"] == 2
    write(20)
    other = OrganisationFactory()
    for _ in range(3):
        grant(family_case, owner, other, ["notes_social"], guardian_user)
        add_member(owner, family_case, WorkerFactory(membership__organisation=other))
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert client.get(url(family_case, "notes/?page_size=100")).json()["count"] == 22


def test_case_list_query_count_is_constant_with_members_and_consents(
    api, owner, nurse, municipality, guardian_user, django_assert_num_queries
):
    clinic = nurse.memberships.get().organisation
    client = api.as_user(nurse)

    def make_cases(n):
        for i in range(n):
            family = services.family_create(actor=owner, name=f"F{i}", municipality=municipality)
            case = family.cases.get()
            add_member(owner, case, nurse)
            family.members.create(
                role="guardian", first_name="G", last_name="H", user=guardian_user
            )
            grant(case, owner, clinic, ["basic"], guardian_user)

    make_cases(2)
    # 1 token + user, 2 count, 3 page, 4 facts (memberships, guardians, handovers,
    # posts: one union), 5 child refusals, 6 consents in force with their recipients
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/cases/").json()["count"] == 2
    make_cases(10)
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        body = client.get("/api/v1/cases/").json()
    assert body["count"] == 12
    assert all(row["family"]["name"].startswith("F") for row in body["results"])


def test_guardian_tables_match_the_policy_after_each_change(
    owner, nurse, family_case, guardian_user
):
    def assert_in_step():
        assert policy.stored_permissions(family_case) == policy.case_permissions(family_case)

    member = add_member(owner, family_case, nurse)
    assert_in_step()
    consent = grant(
        family_case, owner, nurse.memberships.get().organisation, ["plan"], guardian_user
    )
    assert_in_step()
    assert "view_case_plan" in policy.stored_permissions(family_case)[nurse.pk]
    consent_services.consent_decide(actor=guardian_user, consent=consent, decision="revoked")
    assert_in_step()
    services.network_remove(actor=owner, member=member)
    assert_in_step()
    assert nurse.pk not in policy.stored_permissions(family_case)
