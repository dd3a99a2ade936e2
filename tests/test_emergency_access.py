"""Emergency access, break-the-glass (issue 8): a worker with the emergency permission opens a
case outside their network for EMERGENCY_ACCESS_HOURS by giving a reason; reads work until it
ends and never after; nothing can be written; every read is flagged in the access log with the
reason; auditors list the accesses; a grant is never extended without a new reason; the family
sees the flagged reads; the audit chain still verifies.

On the seeded demo: ulla.ulkopuolinen (a social worker in Lahti, outside the Virtanen network)
is the one given the permission; tero.tarkastaja audits the wellbeing area that is responsible
for the Virtanen case; hanna.huoltaja is the family's guardian.
"""

import datetime
import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from audit import chain
from audit.models import AccessEvent
from audit.verify import verify_all
from cases import services
from cases.models import (
    Case,
    CaseUserObjectPermission,
    EmergencyAccess,
    Note,
    Organisation,
    OrganisationMembership,
    Plan,
    User,
)
from consent import policy
from tests.conftest import persona as user
from tests.factories import MembershipFactory, UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

REASON = "Police request: child welfare emergency at night"


def in_finnish(message: str) -> str:
    """The API answers in the default language, Finnish (messages are translated)."""
    with override("fi"):
        return gettext(message)


@pytest.fixture
def case(api, demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


def grant_permission(worker: User) -> User:
    worker.user_permissions.add(
        Permission.objects.get(content_type__app_label="cases", codename="emergency_access")
    )
    return User.objects.get(pk=worker.pk)  # a fresh user: permissions are cached on the object


@pytest.fixture
def ulla(case):
    return grant_permission(user("ulla.ulkopuolinen"))


def url(case_id, suffix=""):
    return f"/api/v1/cases/{case_id}/{suffix}"


def open_access(api, worker, case, reason=REASON):
    return api.as_user(worker).post(url(case.pk, "emergency-access/"), {"reason": reason})


def time_passes(hours: float) -> None:
    """Move every emergency access (and the permission rows it wrote) `hours` into the past:
    what the clock moving forward would do."""
    delta = datetime.timedelta(hours=hours)
    for grant in EmergencyAccess.objects.all():
        EmergencyAccess.objects.filter(pk=grant.pk).update(
            started_at=grant.started_at - delta, expires_at=grant.expires_at - delta
        )
    for row in CaseUserObjectPermission.objects.filter(expires_at__isnull=False):
        CaseUserObjectPermission.objects.filter(pk=row.pk).update(expires_at=row.expires_at - delta)


def case_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Who may open one ---------------------------------------------------------------------------


def test_without_the_permission_a_worker_gets_the_404_of_a_case_that_does_not_exist(api, case):
    client = api.as_user(user("ulla.ulkopuolinen"))
    response = client.post(url(case.pk, "emergency-access/"), {"reason": REASON})
    ghost = client.post(url(uuid.uuid4(), "emergency-access/"), {"reason": REASON})

    assert response.status_code == ghost.status_code == 404
    assert response.json() == ghost.json()
    assert not EmergencyAccess.objects.exists()
    assert client.get(url(case.pk)).status_code == 404


def test_a_refused_attempt_is_logged(api, case):
    api.as_user(user("ulla.ulkopuolinen")).post(url(case.pk, "emergency-access/"), {})

    event = AccessEvent.objects.latest("seq")
    assert (event.username, event.resource, event.outcome) == (
        "ulla.ulkopuolinen",
        "emergency-access",
        AccessEvent.Outcome.DENIED,
    )
    assert (event.case_id, event.family_id) == (case.pk, case.family_id)
    assert event.emergency is False


def test_without_the_permission_a_network_member_gets_403(api, case):
    response = open_access(api, user("anna.neuvola"), case)

    assert response.status_code == 403
    refusal = in_finnish("You do not have the emergency access permission.")
    assert response.json()["detail"] == refusal
    assert not EmergencyAccess.objects.exists()


def test_an_anonymous_caller_gets_401(api, case):
    response = api.post(url(case.pk, "emergency-access/"), {"reason": REASON})
    assert response.status_code == 401
    assert not EmergencyAccess.objects.exists()


def test_the_permission_alone_is_not_enough_without_a_worker_membership(api, case):
    # tero is an auditor, not a worker: he may not break the glass even with the permission.
    tero = grant_permission(user("tero.tarkastaja"))
    assert open_access(api, tero, case).status_code == 404
    assert not EmergencyAccess.objects.exists()


def test_the_permission_can_come_through_a_group(api, case):
    group = Group.objects.create(name="On-call social services")
    group.permissions.add(Permission.objects.get(codename="emergency_access"))
    user("jenni.jarjesto").groups.add(group)

    response = open_access(api, user("jenni.jarjesto"), case)

    assert response.status_code == 201, response.content
    assert EmergencyAccess.objects.get().user.username == "jenni.jarjesto"


def test_a_worker_already_in_the_network_cannot_break_the_glass(api, case):
    for username in ("tiina.vastuu", "anna.neuvola"):
        worker = grant_permission(user(username))
        response = open_access(api, worker, case)
        assert response.status_code == 403
        assert response.json()["detail"] == in_finnish(
            "You already have access to this case through its network."
        )
    assert not EmergencyAccess.objects.exists()


def test_a_closed_or_missing_case_answers_404_even_with_the_permission(api, case, ulla):
    tiina = user("tiina.vastuu")
    closed = services.family_create(
        actor=tiina, name="Nieminen", municipality=case.family.municipality, members=[]
    ).cases.get()
    services.case_close(actor=tiina, case=closed, reason="Support ended")

    assert open_access(api, ulla, closed).status_code == 404
    assert (
        api.as_user(ulla).post(url(uuid.uuid4(), "emergency-access/"), {"reason": REASON})
    ).status_code == 404
    assert api.as_user(ulla).post("/api/v1/cases/not-a-uuid/emergency-access/").status_code == 404
    assert not EmergencyAccess.objects.exists()


# --- The reason ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "          "},
        {"reason": "too short"},  # 9 characters
        {"reason": "x" * 201},
        {"reason": ["a list is not a reason"]},
    ],
)
def test_a_reason_is_required(api, case, ulla, body):
    response = api.as_user(ulla).post(url(case.pk, "emergency-access/"), body, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()
    assert not EmergencyAccess.objects.exists()
    assert not CaseUserObjectPermission.objects.filter(user=ulla).exists()
    assert api.as_user(ulla).get(url(case.pk)).status_code == 404


def test_a_worker_of_several_organisations_names_the_one_she_acts_for(api, case, ulla):
    second = Organisation.objects.get(code="mll-paijat-hame")
    MembershipFactory(user=ulla, organisation=second)

    ambiguous = open_access(api, ulla, case)
    assert ambiguous.status_code == 400
    assert "organisation" in ambiguous.json()

    response = api.as_user(ulla).post(
        url(case.pk, "emergency-access/"), {"reason": REASON, "organisation": str(second.pk)}
    )
    assert response.status_code == 201, response.content
    assert response.json()["organisation"] == str(second.pk)


# --- Opening, reading, and the end of it -------------------------------------------------------


def test_opening_answers_the_grant_for_two_hours(api, case, ulla):
    before = timezone.now()
    response = open_access(api, ulla, case, reason=f"  {REASON}  ")

    assert response.status_code == 201, response.content
    body = response.json()
    grant = EmergencyAccess.objects.get()
    assert body == {
        "id": str(grant.pk),
        "case": str(case.pk),
        "user": str(ulla.pk),
        "username": "ulla.ulkopuolinen",
        "organisation": str(ulla.memberships.get().organisation_id),
        "reason": REASON,
        "started_at": body["started_at"],
        "expires_at": body["expires_at"],
        "active": True,
    }
    assert before <= grant.started_at <= timezone.now()
    assert grant.expires_at - grant.started_at == datetime.timedelta(hours=2)


def test_the_length_of_an_access_is_a_setting(api, case, ulla, settings):
    settings.EMERGENCY_ACCESS_HOURS = 5
    assert open_access(api, ulla, case).status_code == 201
    grant = EmergencyAccess.objects.get()
    assert grant.expires_at - grant.started_at == datetime.timedelta(hours=5)


def test_the_whole_case_reads_while_the_access_lasts(api, case, ulla):
    client = api.as_user(ulla)
    assert open_access(api, ulla, case).status_code == 201

    detail = client.get(url(case.pk))
    assert detail.status_code == 200
    assert detail.json()["family"]["name"] == "Virtanen"
    notes = client.get(url(case.pk, "notes/"))
    assert notes.status_code == 200
    assert {row["category"] for row in notes.json()["results"]} == {
        "notes_social",
        "notes_general",
        "notes_health",
        "notes_education",
    }
    assert client.get(url(case.pk, "plan/")).status_code == 200
    assert client.get(url(case.pk, "members/")).status_code == 200
    assert str(case.pk) in case_ids(client.get("/api/v1/cases/"))
    assert str(case.family_id) in case_ids(client.get("/api/v1/families/"))


def test_reads_work_until_the_end_and_are_refused_on_the_very_next_request(api, case, ulla):
    client = api.as_user(ulla)
    assert open_access(api, ulla, case).status_code == 201

    time_passes(hours=1.99)
    assert client.get(url(case.pk)).status_code == 200
    assert case_ids(client.get("/api/v1/cases/")) == [str(case.pk)]

    time_passes(hours=0.02)  # two hours and a few seconds after opening
    assert client.get(url(case.pk)).status_code == 404
    assert client.get(url(case.pk, "notes/")).status_code == 404
    assert case_ids(client.get("/api/v1/cases/")) == []
    assert case_ids(client.get("/api/v1/families/")) == []
    assert client.get(f"/api/v1/families/{case.family_id}/").status_code == 404


def test_an_access_opened_over_two_hours_ago_grants_nothing(case, ulla):
    opened = timezone.now() - datetime.timedelta(hours=2, seconds=1)
    services.emergency_access_open(actor=ulla, case=case, reason=REASON, now=opened)

    assert policy.access_for(ulla, [case])[case.pk] == policy.NO_ACCESS
    assert not policy.cases_for_user(ulla).exists()


def test_the_policy_stops_granting_at_the_end_even_before_the_rows_are_synced(case, ulla):
    services.emergency_access_open(actor=ulla, case=case, reason=REASON)
    grant = EmergencyAccess.objects.get()
    assert (
        policy.access_for(ulla, [case], now=grant.expires_at - datetime.timedelta(seconds=1))[
            case.pk
        ].role
        == "emergency"
    )
    assert policy.access_for(ulla, [case], now=grant.expires_at)[case.pk] == policy.NO_ACCESS


def test_a_later_sync_of_the_case_removes_the_rows_of_an_ended_access(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    assert CaseUserObjectPermission.objects.filter(user=ulla).exists()
    time_passes(hours=3)

    policy.sync_case(case=case)

    assert not CaseUserObjectPermission.objects.filter(user=ulla).exists()


def test_joining_the_network_turns_the_rows_into_lasting_ones(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    services.network_add_professional(actor=user("tiina.vastuu"), case=case, user=ulla)

    time_passes(hours=3)

    assert policy.access_for(ulla, [case])[case.pk].role == "member"
    assert CaseUserObjectPermission.objects.filter(user=ulla, expires_at__isnull=False).count() == 0
    assert case_ids(api.as_user(ulla).get("/api/v1/cases/")) == [str(case.pk)]


def test_closing_the_case_ends_the_access(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    services.case_close(actor=user("tiina.vastuu"), case=case, reason="Support ended")

    assert api.as_user(ulla).get(url(case.pk)).status_code == 404


# --- Read-only -----------------------------------------------------------------------------------


def test_nothing_can_be_written_under_an_emergency_access(api, case, ulla):
    client = api.as_user(ulla)
    assert open_access(api, ulla, case).status_code == 201
    notes, network = Note.objects.count(), case.network.count()
    plan = Plan.objects.get(case=case).needs

    writes = [
        client.post(url(case.pk, "notes/"), {"category": "notes_general", "text": "Emergency"}),
        client.patch(url(case.pk, "plan/"), {"needs": "Emergency"}),
        client.patch(url(case.pk), {"opening_reason": "Emergency"}),
        client.post(url(case.pk, "close/"), {"reason": "Emergency"}),
        client.post(
            url(case.pk, "members/"), {"kind": "informal", "name": "X", "relationship": "naapuri"}
        ),
        client.post(url(case.pk, "handovers/"), {"to_worker": str(ulla.pk)}),
        client.post(url(case.pk, "plan/actions/"), {"title": "Emergency"}),
    ]

    assert [response.status_code for response in writes] == [403] * len(writes)
    assert Note.objects.count() == notes
    assert Plan.objects.get(case=case).needs == plan
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN
    assert case.network.count() == network


def test_a_grant_is_immutable(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    grant = EmergencyAccess.objects.get()
    grant.expires_at += datetime.timedelta(hours=8)
    with pytest.raises(ValueError, match="never changed"):
        grant.save()
    with pytest.raises(ValueError, match="never deleted"):
        grant.delete()
    assert EmergencyAccess.objects.get().expires_at < grant.expires_at


# --- No extension without a new reason ---------------------------------------------------------


def test_it_cannot_be_extended_with_the_same_reason(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    first = EmergencyAccess.objects.get()

    again = open_access(api, ulla, case, reason=REASON.upper().replace(" ", "   "))

    assert again.status_code == 400
    assert again.json()["reason"][0] == in_finnish(
        "You have given this reason for this case before. An emergency access is never extended: "
        "give the new reason for opening the case again."
    )
    assert EmergencyAccess.objects.get() == first
    time_passes(hours=2.5)  # nor after it has ended
    assert open_access(api, ulla, case).status_code == 400
    assert api.as_user(ulla).get(url(case.pk)).status_code == 404


def test_a_new_reason_opens_a_new_grant_that_lasts_from_now(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    time_passes(hours=1.5)
    first = EmergencyAccess.objects.get()

    response = open_access(api, ulla, case, reason="The child was taken to hospital at 3 am")

    assert response.status_code == 201, response.content
    second = EmergencyAccess.objects.exclude(pk=first.pk).get()
    assert EmergencyAccess.objects.get(pk=first.pk).expires_at == first.expires_at  # unchanged
    assert second.expires_at > first.expires_at + datetime.timedelta(hours=1)
    time_passes(hours=1)  # past the first grant's end, within the second's
    read = api.as_user(ulla).get(url(case.pk))
    assert read.status_code == 200
    event = AccessEvent.objects.filter(user_id=ulla.pk, resource="case").latest("seq")
    assert event.purpose == "The child was taken to hospital at 3 am"


# --- The access log and the auditors ------------------------------------------------------------


def test_every_read_is_flagged_in_the_access_log_with_the_reason(api, case, ulla):
    client = api.as_user(ulla)
    assert open_access(api, ulla, case).status_code == 201
    client.get(url(case.pk))
    client.get(url(case.pk, "notes/"))
    client.get("/api/v1/cases/")

    events = list(AccessEvent.objects.filter(user_id=ulla.pk).order_by("seq"))
    assert [(e.resource, e.action) for e in events] == [
        ("emergency-access", "view"),
        ("case", "view"),
        ("notes", "list"),
        ("case", "list"),
    ]
    for event in events:
        assert event.outcome == AccessEvent.Outcome.ALLOWED
        assert event.emergency is True
        assert event.purpose == REASON
        assert event.role == "emergency"
        assert event.case_id == case.pk
        assert event.organisation_id == ulla.memberships.get().organisation_id
    notes = events[2]
    assert set(notes.categories) == {
        "notes_social",
        "notes_general",
        "notes_health",
        "notes_education",
    }
    assert notes.disclosed_from and notes.consents == []  # shown without any consent


def test_reads_by_the_network_are_not_flagged(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    api.as_user(user("anna.neuvola")).get(url(case.pk))
    event = AccessEvent.objects.filter(username="anna.neuvola").latest("seq")
    assert (event.emergency, event.purpose, event.role) == (False, "", "member")


def test_after_the_end_a_read_is_logged_as_refused(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    time_passes(hours=3)
    api.as_user(ulla).get(url(case.pk))
    event = AccessEvent.objects.filter(user_id=ulla.pk).latest("seq")
    assert (event.outcome, event.emergency) == (AccessEvent.Outcome.DENIED, False)


def test_auditors_list_the_accesses_within_their_organisations(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    grant = EmergencyAccess.objects.get()
    tero = user("tero.tarkastaja")
    aune = UserFactory(username="aune.auditoija")
    MembershipFactory(
        user=aune,
        organisation=Organisation.objects.get(code="lahti-perusopetus"),
        role=OrganisationMembership.Role.AUDITOR,
    )

    listed = api.as_user(tero).get("/api/v1/audit/emergency-access/")
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["id"], row["reason"], row["username"], row["active"]) == (
        str(grant.pk),
        REASON,
        "ulla.ulkopuolinen",
        True,
    )
    assert api.as_user(aune).get("/api/v1/audit/emergency-access/").json()["results"] == []
    for worker in (ulla, user("tiina.vastuu"), user("hanna.huoltaja")):
        assert api.as_user(worker).get("/api/v1/audit/emergency-access/").status_code == 403
    api.credentials()
    assert api.get("/api/v1/audit/emergency-access/").status_code == 401


def test_auditors_find_the_flagged_reads_by_filter_and_among_the_anomalies(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    api.as_user(ulla).get(url(case.pk))
    api.as_user(user("anna.neuvola")).get(url(case.pk))
    tero = api.as_user(user("tero.tarkastaja"))

    flagged = tero.get("/api/v1/audit/events/?emergency=true").json()["results"]
    assert {row["username"] for row in flagged} == {"ulla.ulkopuolinen"}
    assert {row["purpose"] for row in flagged} == {REASON}
    assert len(flagged) == 2
    anomalies = tero.get("/api/v1/audit/anomalies/").json()["anomalies"]
    [found] = [row for row in anomalies if row["kind"] == "emergency_access"]
    assert (found["username"], found["count"]) == ("ulla.ulkopuolinen", 2)


def test_the_audit_chain_still_verifies(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    api.as_user(ulla).get(url(case.pk))
    api.as_user(ulla).get(url(case.pk, "notes/"))

    results = verify_all()
    assert results and all(result.ok for result in results), results


def test_the_flag_and_the_reason_are_hashed_into_the_chain(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    event = AccessEvent.objects.filter(user_id=ulla.pk).latest("seq")

    assert event.hash == chain.event_hash(event.prev_hash, event)
    event.purpose = "Something else entirely"
    assert event.hash != chain.event_hash(event.prev_hash, event)
    event.purpose, event.emergency = REASON, False
    assert event.hash != chain.event_hash(event.prev_hash, event)


# --- The family sees it -------------------------------------------------------------------------


def test_the_familys_access_history_shows_the_emergency_reads(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    api.as_user(ulla).get(url(case.pk))
    api.as_user(user("anna.neuvola")).get(url(case.pk))

    rows = (
        api.as_user(user("hanna.huoltaja"))
        .get(f"/api/v1/families/{case.family_id}/access-history/", HTTP_ACCEPT_LANGUAGE="en")
        .json()["results"]
    )

    flagged = [row for row in rows if row["emergency"]]
    assert [row["who"]["name"] for row in flagged] == ["Ulla Ulkopuolinen"] * 2
    assert {row["who"]["role"] for row in flagged} == {"Emergency access"}
    assert [row for row in rows if row["who"]["name"] == "Anna Neuvola"][0]["emergency"] is False


def test_the_portal_history_page_flags_the_emergency_reads(api, case, ulla):
    assert open_access(api, ulla, case).status_code == 201
    api.as_user(ulla).get(url(case.pk))
    browser = Client()
    browser.force_login(user("hanna.huoltaja"))

    page = browser.get(reverse("portal:history", args=[case.pk])).content.decode()

    assert page.count('class="emergency-flag"') == 2
    ulla_card = page[page.index("Ulla Ulkopuolinen") - 300 :].split("</li>")[0]
    assert "emergency-flag" in ulla_card


# --- Query counts -------------------------------------------------------------------------------


def test_the_auditors_list_costs_the_same_for_any_page_size(api, case, django_assert_num_queries):
    workers = []
    for number in range(6):
        worker = grant_permission(
            MembershipFactory(
                user=UserFactory(username=f"oncall{number}"),
                organisation=Organisation.objects.get(code="phhva-perhesosiaalityo"),
            ).user
        )
        workers.append(worker)
        services.emergency_access_open(actor=worker, case=case, reason=f"{REASON} ({number})")
    client = api.as_user(user("tero.tarkastaja"))
    # 1 token and user, 1 the auditor's organisations, 1 the page with its users; nothing shown
    # is logged and an empty append costs nothing.
    for size in (2, 5):
        with django_assert_num_queries(3 + REQUEST):
            response = client.get(f"/api/v1/audit/emergency-access/?page_size={size}")
        assert len(response.json()["results"]) == size


def test_opening_costs_a_fixed_number_of_queries(api, case, ulla, django_assert_num_queries):
    client = api.as_user(ulla)
    ContentType.objects.get_for_model(EmergencyAccess)  # the change history's, cached after one
    # To check: 1 token and user, 2 the user's permissions (own, groups), 1 worker memberships,
    # 1 the case, 1 the access now (network and emergency accesses, guardians, handovers and
    # posts in one union). To write, 16: savepoint, lock the case, the acting organisation,
    # earlier reasons, insert, its change history; the sync (savepoint, case, 1 access facts,
    # 2 consent facts, permission ids, rows, insert rows, release); release. To answer: 1 the
    # new access, 1 the grant.
    with django_assert_num_queries(6 + 16 + 2 + ACCESS_LOG + REQUEST):
        response = client.post(url(case.pk, "emergency-access/"), {"reason": REASON})
    assert response.status_code == 201


def test_the_case_list_under_an_emergency_access_costs_no_extra_query(
    api, case, ulla, django_assert_num_queries
):
    assert open_access(api, ulla, case).status_code == 201
    # 1 token and user, 1 count, 1 page, 1 the access (network and emergency accesses,
    # guardians, handovers and posts in one union; no consents to read without a
    # membership); then the log.
    client = api.as_user(ulla)
    with django_assert_num_queries(4 + ACCESS_LOG + REQUEST):
        response = client.get("/api/v1/cases/")
    assert response.json()["count"] == 1
