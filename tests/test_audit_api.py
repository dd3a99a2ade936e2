"""The access log's readers (issue 4, acceptance 5): auditors see the events within their own
organisations only, with filters, a CSV export, anomalies and verification; workers cannot call
the auditor API; a family's guardians see who has read their data, and a responsible worker who
has read their case. Events are made directly with `audit.chain.append` where a test needs
chosen times, outcomes or roles, and by real API reads elsewhere.
"""

import csv
import datetime
import importlib
import io
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from audit.chain import append
from audit.models import AccessEvent
from cases import services
from cases.models import Case, Family, Organisation, OrganisationMembership, User
from cases.seeding import demo
from tests.factories import MembershipFactory, UserFactory, WorkerFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

triggers = importlib.import_module("audit.migrations.0002_append_only_triggers")

HELSINKI = ZoneInfo("Europe/Helsinki")
AUDITOR_URLS = (
    "/api/v1/audit/events/",
    "/api/v1/audit/events/export/",
    "/api/v1/audit/anomalies/",
    "/api/v1/audit/verify/",
)


@dataclass
class World:
    users: dict
    orgs: dict
    case: Case
    family: Family

    def user(self, username: str) -> User:
        return self.users[username]

    def org(self, code: str) -> Organisation:
        return self.orgs[code]


@pytest.fixture
def world(api) -> World:
    """The seeded demo, plus aune, auditor of Lahti basic education (a municipal service, not
    one of the wellbeing area's organisations that tero audits)."""
    seeded = demo.seed()
    orgs = {org.code: org for org in Organisation.objects.all()}
    MembershipFactory(
        user=UserFactory(username="aune.auditoija", first_name="Aune", last_name="Auditoija"),
        organisation=orgs["lahti-perusopetus"],
        role=OrganisationMembership.Role.AUDITOR,
    )
    return World(
        users={user.username: user for user in User.objects.all()},
        orgs=orgs,
        case=seeded.case,
        family=seeded.case.family,
    )


def add(**fields) -> AccessEvent:
    """Append one event, as a request would have."""
    values = {"resource": "case", "action": "view", "outcome": "allowed", "role": "member"}
    if "user" in fields:
        user = fields.pop("user")
        values.update(user_id=user.pk, username=user.username)
    for name in ("organisation", "controller"):
        if name in fields:
            org = fields.pop(name)
            values[f"{name}_id"] = org.pk if org else None
    values.update(fields)
    [event] = append([AccessEvent(**values)])
    return event


def listed(client, query: str = "") -> list[str]:
    """Ids of every event the auditor's list answers, following the cursor to the end."""
    url, ids = f"/api/v1/audit/events/{query}", []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
    return ids


def ids(*events) -> list[str]:
    return [str(event.pk) for event in events]


# --- Who may call the auditor API ---------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["tiina.vastuu", "ulla.ulkopuolinen", "hanna.huoltaja", "kaisa.koordinaattori"]
)
def test_anyone_but_an_auditor_gets_403_from_every_auditor_endpoint(api, world, username):
    client = api.as_user(world.user(username))
    for url in AUDITOR_URLS:
        response = client.get(url)
        assert response.status_code == 403, (url, response.content)
        assert "detail" in response.json()


def test_an_anonymous_caller_gets_401_from_every_auditor_endpoint(world):
    for url in AUDITOR_URLS:
        assert APIClient().get(url).status_code == 401


def test_every_refused_call_of_the_auditor_api_is_logged(api, world):
    tiina = world.user("tiina.vastuu")
    for url in AUDITOR_URLS:
        api.as_user(tiina).get(url)

    refused = AccessEvent.objects.filter(user_id=tiina.pk, resource="audit-log")
    assert list(refused.values_list("outcome", "action", "case_id")) == [
        ("denied", "view", None)
    ] * len(AUDITOR_URLS)


def test_an_auditor_whose_membership_ended_is_refused(api, world):
    tero = world.user("tero.tarkastaja")
    OrganisationMembership.objects.filter(user=tero).update(is_active=False)

    assert api.as_user(tero).get("/api/v1/audit/events/").status_code == 403


# --- Scope --------------------------------------------------------------------------------------


def test_an_auditor_sees_the_events_of_their_organisations_and_not_of_another(api, world):
    clinic, social = world.org("phhva-lastenneuvola"), world.org("phhva-perhesosiaalityo")
    lahti_school, asikkala_school = (
        world.org("lahti-perusopetus"),
        world.org("asikkala-perusopetus"),
    )
    ngo = world.org("mll-paijat-hame")
    anna, ulla, jenni = (
        world.user("anna.neuvola"),
        world.user("ulla.ulkopuolinen"),
        world.user("jenni.jarjesto"),
    )
    lahti_teacher = WorkerFactory(membership__organisation=lahti_school)
    # Works for the clinic and for the NGO both.
    moonlighter = WorkerFactory(membership__organisation=clinic)
    MembershipFactory(user=moonlighter, organisation=ngo)

    wellbeing_read = add(user=anna, organisation=clinic, controller=social)
    lahti_read = add(user=lahti_teacher, organisation=lahti_school, controller=lahti_school)
    lahti_reads_wellbeing = add(user=lahti_teacher, organisation=lahti_school, controller=social)
    lahti_disclosed = add(
        organisation=asikkala_school,
        controller=asikkala_school,
        disclosed_from=[str(lahti_school.pk)],
    )
    wellbeing_disclosed = add(
        organisation=asikkala_school, controller=asikkala_school, disclosed_from=[str(social.pk)]
    )
    # Refused attempts that name no organisation: their reader's organisations audit them.
    ulla_attempt = add(user=ulla, role="none", outcome="denied", case_id=uuid.uuid4())
    jenni_attempt = add(user=jenni, role="none", outcome="denied", case_id=uuid.uuid4())
    # A clinic worker acting for the NGO on the NGO's case: the NGO's to audit, not the clinic's.
    for_the_ngo = add(user=moonlighter, organisation=ngo, controller=ngo)

    tero_sees = set(listed(api.as_user(world.user("tero.tarkastaja"))))
    aune_sees = set(listed(api.as_user(world.user("aune.auditoija"))))

    assert tero_sees == set(
        ids(wellbeing_read, lahti_reads_wellbeing, wellbeing_disclosed, ulla_attempt)
    )
    assert aune_sees == set(ids(lahti_read, lahti_reads_wellbeing, lahti_disclosed))
    assert not (tero_sees | aune_sees) & set(ids(jenni_attempt, for_the_ngo))


def test_a_filter_cannot_reach_outside_the_auditors_scope(api, world):
    lahti_school, social = world.org("lahti-perusopetus"), world.org("phhva-perhesosiaalityo")
    outside = add(organisation=lahti_school, controller=lahti_school, case_id=world.case.pk)
    inside = add(organisation=lahti_school, controller=social, case_id=world.case.pk)
    client = api.as_user(world.user("tero.tarkastaja"))

    assert listed(client, f"?organisation={lahti_school.pk}") == ids(inside)
    assert listed(client, f"?case={world.case.pk}") == ids(inside)
    assert str(outside.pk) not in listed(client)


def test_the_events_show_who_read_what_but_no_case_content(api, world):
    anna = world.user("anna.neuvola")
    api.as_user(anna).get(f"/api/v1/cases/{world.case.pk}/")

    response = api.as_user(world.user("tero.tarkastaja")).get("/api/v1/audit/events/")

    [row] = response.json()["results"]
    event = AccessEvent.objects.get()
    assert row == {
        "id": str(event.pk),
        "chain": "paijat-hame",
        "seq": 1,
        "created_at": row["created_at"],
        "user": str(anna.pk),
        "username": "anna.neuvola",
        "organisation": str(world.org("phhva-lastenneuvola").pk),
        "role": "member",
        "case": str(world.case.pk),
        "family": str(world.family.pk),
        "controller": str(world.org("phhva-perhesosiaalityo").pk),
        "resource": "case",
        "categories": ["basic"],
        "action": "view",
        "outcome": "allowed",
        "purpose": "",
        "emergency": False,
        "disclosed_from": event.disclosed_from,
        "consents": event.consents,
        "legal_bases": [],
        "request_id": event.request_id,
        "client_address": "127.0.0.1",
        "prev_hash": "0" * 64,
        "hash": event.hash,
    }
    assert "Virtanen" not in response.content.decode()
    assert demo.OPENING_REASON not in response.content.decode()


# --- Filters and paging -------------------------------------------------------------------------


def test_each_filter_narrows_the_events(api, world):
    social, clinic = world.org("phhva-perhesosiaalityo"), world.org("phhva-lastenneuvola")
    anna, tiina = world.user("anna.neuvola"), world.user("tiina.vastuu")
    other_case, other_family = uuid.uuid4(), uuid.uuid4()
    t0 = timezone.now() - datetime.timedelta(days=3)
    a = add(
        user=anna,
        organisation=clinic,
        controller=social,
        case_id=world.case.pk,
        family_id=world.family.pk,
        created_at=t0,
    )
    b = add(
        user=tiina,
        organisation=social,
        controller=social,
        role="responsible",
        case_id=other_case,
        family_id=other_family,
        resource="notes",
        action="list",
        created_at=t0 + datetime.timedelta(days=1),
    )
    c = add(
        user=tiina,
        controller=social,
        role="none",
        outcome="denied",
        case_id=world.case.pk,
        emergency=True,
        created_at=t0 + datetime.timedelta(days=2),
    )
    client = api.as_user(world.user("tero.tarkastaja"))
    after = (t0 + datetime.timedelta(hours=1)).isoformat()
    before = (t0 + datetime.timedelta(days=1, hours=1)).isoformat()

    assert listed(client) == ids(c, b, a)  # newest first
    for query, expected in (
        (f"?user={anna.pk}", [a]),
        (f"?user={tiina.pk}", [c, b]),
        (f"?case={world.case.pk}", [c, a]),
        (f"?family={other_family}", [b]),
        (f"?organisation={clinic.pk}", [a]),
        (f"?controller={social.pk}", [c, b, a]),
        ("?action=list", [b]),
        ("?outcome=denied", [c]),
        ("?role=responsible", [b]),
        ("?resource=notes", [b]),
        ("?emergency=true", [c]),
        (f"?created_after={after}", [c, b]),
        (f"?created_before={before}", [b, a]),
        (f"?created_after={after}&created_before={before}", [b]),
        (f"?user={uuid.uuid4()}", []),
    ):
        assert listed(client, query.replace("+", "%2B")) == ids(*expected), query


@pytest.mark.parametrize(
    "query", ["?user=not-a-uuid", "?action=delete", "?created_after=yesterday", "?outcome=maybe"]
)
def test_a_bad_filter_value_answers_400(api, world, query):
    client = api.as_user(world.user("tero.tarkastaja"))
    for url in (
        "/api/v1/audit/events/",
        "/api/v1/audit/events/export/",
        "/api/v1/audit/anomalies/",
    ):
        response = client.get(url + query)
        assert response.status_code == 400, (url, response.content)
    assert not AccessEvent.objects.filter(action="export").exists()


def test_the_cursor_pages_through_every_event_once_newest_first(api, world):
    social = world.org("phhva-perhesosiaalityo")
    now = timezone.now()
    events = [
        add(controller=social, created_at=now - datetime.timedelta(minutes=n)) for n in range(7)
    ]
    client = api.as_user(world.user("tero.tarkastaja"))

    first = client.get("/api/v1/audit/events/?page_size=3").json()

    assert [row["id"] for row in first["results"]] == ids(*events[:3])
    assert "count" not in first and first["next"]
    assert listed(client, "?page_size=3") == ids(*events)


# --- CSV export ---------------------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_export_streams_the_filtered_events_as_csv_and_logs_itself_once(api, world):
    social, ngo = world.org("phhva-perhesosiaalityo"), world.org("mll-paijat-hame")
    anna, tero = world.user("anna.neuvola"), world.user("tero.tarkastaja")
    first = add(user=anna, controller=social, categories=["basic", "plan"])
    second = add(user=anna, controller=social, outcome="denied")
    add(user=world.user("tiina.vastuu"), controller=social)  # filtered out by user
    add(user=anna, controller=ngo)  # outside tero's organisations

    response = api.as_user(tero).get(f"/api/v1/audit/events/export/?user={anna.pk}")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="access-log-')
    header, *rows = csv_rows(response)
    assert header[:6] == ["id", "chain", "seq", "created_at", "user", "username"]
    assert "hash" in header and "text" not in header
    column = header.index
    assert [row[column("id")] for row in rows] == ids(first, second)  # oldest first
    assert rows[0][column("categories")] == "basic plan"
    assert rows[1][column("outcome")] == "denied"
    [export] = AccessEvent.objects.filter(action="export")
    assert (export.user_id, export.role, export.resource, export.outcome) == (
        tero.pk,
        "auditor",
        "audit-log",
        "allowed",
    )
    assert export.purpose == f"access log export user={anna.pk}"
    assert export.request_id == response["X-Request-ID"]


def test_the_export_is_itself_in_the_exporting_auditors_log(api, world):
    client = api.as_user(world.user("tero.tarkastaja"))
    b"".join(client.get("/api/v1/audit/events/export/").streaming_content)

    [row] = client.get("/api/v1/audit/events/").json()["results"]

    assert (row["action"], row["resource"], row["username"]) == (
        "export",
        "audit-log",
        "tero.tarkastaja",
    )


def test_the_export_neutralises_cells_a_spreadsheet_would_run(api, world):
    add(controller=world.org("phhva-perhesosiaalityo"), username="+cmd", purpose="=1+1")

    response = api.as_user(world.user("tero.tarkastaja")).get(
        "/api/v1/audit/events/export/?resource=case"
    )

    header, row = csv_rows(response)
    assert row[header.index("username")] == "'+cmd"
    assert row[header.index("purpose")] == "'=1+1"


def test_the_export_answers_csv_to_a_client_that_asks_for_it(api, world):
    client = api.as_user(world.user("tero.tarkastaja"))

    response = client.get("/api/v1/audit/events/export/", HTTP_ACCEPT="text/csv")
    refused = api.as_user(world.user("tiina.vastuu")).get(
        "/api/v1/audit/events/export/", HTTP_ACCEPT="text/csv"
    )

    assert response.status_code == 200 and response.streaming
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/csv")
    assert refused.content.decode().startswith("detail,")


# --- Anomalies ----------------------------------------------------------------------------------

TUESDAY = datetime.datetime(2026, 3, 3, tzinfo=HELSINKI)  # a working day
WEEK = "?created_after=2026-03-01T00:00:00%2B02:00&created_before=2026-03-09T00:00:00%2B02:00"


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """Helsinki time on `day` days after Tuesday 3 March 2026."""
    return TUESDAY + datetime.timedelta(days=day, hours=hour, minutes=minute)


def anomalies(client, query: str = WEEK) -> list[dict]:
    response = client.get(f"/api/v1/audit/anomalies/{query}")
    assert response.status_code == 200, response.content
    return response.json()["anomalies"]


def found(rows) -> set[tuple[str, str, int]]:
    return {(row["kind"], row["username"], row["count"]) for row in rows}


def test_anomalies_find_each_of_the_four_kinds(api, world):
    social, ngo = world.org("phhva-perhesosiaalityo"), world.org("mll-paijat-hame")
    ulla, olli = world.user("ulla.ulkopuolinen"), world.user("olli.opettaja")
    jenni, anna = world.user("jenni.jarjesto"), world.user("anna.neuvola")
    tiina, hanna = world.user("tiina.vastuu"), world.user("hanna.huoltaja")
    case = world.case.pk

    def refused(user, when):
        return add(user=user, controller=social, case_id=case, role="none", outcome="denied",
                   created_at=when)  # fmt: skip

    # (a) Five refusals of ulla within ten minutes, and one more later on.
    burst = [refused(ulla, at(0, 10, minute)) for minute in (0, 2, 4, 6, 9)]
    refused(ulla, at(0, 12))
    # Five of olli's too, but the fifth ten minutes after the first: never five within ten.
    for minute in (0, 3, 6, 9, 10):
        refused(olli, at(0, 10, minute))
    # (b) Reads by someone not in the network: a worker asked to take over, and no role at all.
    add(user=jenni, controller=social, case_id=case, role="handover", created_at=at(0, 11))
    add(user=jenni, controller=social, case_id=case, role="none", created_at=at(0, 11, 5))
    # (c) Reads outside 7-18 on working days (Helsinki time); 07:00 and 17:59 are inside.
    for when in (at(0, 22), at(4, 12), at(0, 18), at(0, 6, 59)):  # at(4, ...) is a Saturday
        add(user=anna, controller=social, case_id=case, created_at=when)
    for when in (at(0, 7), at(0, 17, 59)):
        add(user=anna, controller=social, case_id=case, created_at=when)
    add(user=hanna, controller=social, case_id=case, role="guardian", created_at=at(0, 23))
    # (d) Emergency access.
    emergency = add(
        user=tiina,
        controller=social,
        case_id=case,
        role="responsible",
        emergency=True,
        created_at=at(1, 9),
    )
    # Outside tero's organisations: counts for none of his findings.
    add(user=tiina, organisation=ngo, controller=ngo, emergency=True, created_at=at(0, 23))
    # Outside the week asked about.
    add(user=tiina, controller=social, emergency=True, created_at=at(-10, 9))

    rows = anomalies(api.as_user(world.user("tero.tarkastaja")))

    assert found(rows) == {
        ("denied_burst", "ulla.ulkopuolinen", 5),
        ("not_in_network", "jenni.jarjesto", 2),
        ("outside_office_hours", "anna.neuvola", 4),
        ("emergency_access", "tiina.vastuu", 1),
    }
    by_kind = {row["kind"]: row for row in rows}
    assert by_kind["denied_burst"]["user_id"] == str(ulla.pk)
    assert by_kind["denied_burst"]["sample_event_ids"] == ids(*reversed(burst))
    assert datetime.datetime.fromisoformat(by_kind["denied_burst"]["first"]) == at(0, 10)
    assert datetime.datetime.fromisoformat(by_kind["denied_burst"]["last"]) == at(0, 10, 9)
    assert by_kind["emergency_access"]["sample_event_ids"] == ids(emergency)
    outside = by_kind["outside_office_hours"]
    assert datetime.datetime.fromisoformat(outside["first"]) == at(0, 6, 59)
    assert datetime.datetime.fromisoformat(outside["last"]) == at(4, 12)
    assert len(outside["sample_event_ids"]) == 4


def test_a_burst_counts_every_refusal_of_overlapping_windows_once(api, world):
    social, ulla = world.org("phhva-perhesosiaalityo"), world.user("ulla.ulkopuolinen")
    for minute in range(0, 40, 2):  # twenty refusals, two minutes apart
        add(
            user=ulla,
            controller=social,
            role="none",
            outcome="denied",
            created_at=at(0, 10, minute),
        )

    [row] = anomalies(api.as_user(world.user("tero.tarkastaja")))

    assert (row["kind"], row["count"], len(row["sample_event_ids"])) == ("denied_burst", 20, 5)


def test_anomaly_thresholds_come_from_settings(api, world, settings):
    settings.AUDIT_ANOMALY_DENIED_BURST = 3
    settings.AUDIT_ANOMALY_DENIED_BURST_MINUTES = 5
    settings.AUDIT_OFFICE_HOURS = (8, 16)
    social, olli = world.org("phhva-perhesosiaalityo"), world.user("olli.opettaja")
    for minute in (0, 2, 4):
        add(
            user=olli,
            controller=social,
            role="none",
            outcome="denied",
            created_at=at(0, 10, minute),
        )
    add(user=olli, controller=social, created_at=at(0, 7, 30))

    rows = anomalies(api.as_user(world.user("tero.tarkastaja")))

    assert found(rows) == {
        ("denied_burst", "olli.opettaja", 3),
        ("outside_office_hours", "olli.opettaja", 1),
    }


def test_anomalies_look_at_the_last_thirty_days_unless_asked(api, world):
    social, tiina = world.org("phhva-perhesosiaalityo"), world.user("tiina.vastuu")
    recent = add(
        user=tiina,
        controller=social,
        emergency=True,
        created_at=timezone.now() - datetime.timedelta(days=1),
    )
    add(
        user=tiina,
        controller=social,
        emergency=True,
        created_at=timezone.now() - datetime.timedelta(days=40),
    )

    response = api.as_user(world.user("tero.tarkastaja")).get("/api/v1/audit/anomalies/")

    body = response.json()
    # (The recent read may also fall outside office hours, depending on when this runs.)
    [row] = [row for row in body["anomalies"] if row["kind"] == "emergency_access"]
    assert (row["kind"], row["count"], row["sample_event_ids"]) == (
        "emergency_access",
        1,
        ids(recent),
    )
    since = datetime.datetime.fromisoformat(body["created_after"])
    until = datetime.datetime.fromisoformat(body["created_before"])
    assert until - since == datetime.timedelta(days=30)


def test_an_anomaly_period_far_in_the_past_is_shown_as_rfc_3339_date_times(api, world):
    """Found by Schemathesis: year 192 in Helsinki's local mean time has an offset with seconds
    (+01:39:49), which is not an RFC 3339 date-time; the report's period is shown in UTC."""
    response = api.as_user(world.user("tero.tarkastaja")).get(
        "/api/v1/audit/anomalies/",
        {"created_after": "0192-06-28T05:45:19", "created_before": "0192-07-28T05:45:19"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created_after"] == "0192-06-28T04:05:30Z"
    assert body["created_before"] == "0192-07-28T04:05:30Z"


# --- Verification -------------------------------------------------------------------------------


def test_verify_reports_a_whole_log_and_then_the_first_tampered_event(api, world):
    social = world.org("phhva-perhesosiaalityo")
    for _ in range(3):
        add(controller=social)
    client = api.as_user(world.user("tero.tarkastaja"))

    whole = client.get("/api/v1/audit/verify/")

    assert whole.status_code == 200
    assert whole.json() == {
        "ok": True,
        "chains": [
            {
                "chain": "paijat-hame",
                "ok": True,
                "events": 3,
                "checkpoints": 0,
                "first_bad_seq": None,
                "reason": "",
                "unsequenced": 0,
            }
        ],
        "unsequenced": 0,
    }

    # An attacker with the database owner's rights (the triggers come back with the rollback).
    with connection.cursor() as cursor:
        for statement in triggers.drop_trigger_statements(connection.vendor):
            cursor.execute(statement)
        cursor.execute(
            "UPDATE audit_accessevent SET username = %s WHERE chain = %s AND seq = %s",
            ["someone.else", "paijat-hame", 2],
        )

    broken = client.get("/api/v1/audit/verify/")

    assert broken.status_code == 200
    body = broken.json()
    assert body["ok"] is False
    [chain] = body["chains"]
    assert (chain["chain"], chain["ok"], chain["first_bad_seq"]) == ("paijat-hame", False, 2)
    assert "changed" in chain["reason"]


# --- The family's view --------------------------------------------------------------------------


def family_history(client, family_id, **headers):
    return client.get(
        f"/api/v1/families/{family_id}/access-history/", HTTP_ACCEPT_LANGUAGE="en", **headers
    )


def test_a_guardian_sees_who_has_read_her_familys_data_in_plain_terms(api, world):
    case_url = f"/api/v1/cases/{world.case.pk}/"
    api.as_user(world.user("anna.neuvola")).get(case_url)
    api.as_user(world.user("olli.opettaja")).get(case_url)
    api.as_user(world.user("ulla.ulkopuolinen")).get(case_url)
    hanna = world.user("hanna.huoltaja")
    api.as_user(hanna).get(case_url)  # the family's own read: not in its history

    response = family_history(api.as_user(hanna), world.family.pk)

    assert response.status_code == 200
    rows = response.json()["results"]
    for row in rows:
        assert set(row) == {"time", "who", "what", "action", "outcome", "emergency"}
        assert set(row["who"]) == {"name", "organisation", "role"}  # no ids for the family
    assert [(r["who"], r["what"], r["action"], r["outcome"]) for r in rows] == [
        (
            {"name": "Ulla Ulkopuolinen", "organisation": None, "role": "No role on the case"},
            [],
            "Viewed",
            "Denied",
        ),
        (
            {
                "name": "Olli Opettaja",
                "organisation": world.org("asikkala-perusopetus").name,
                "role": "Network member",
            },
            [],
            "Viewed",
            "Allowed",
        ),
        (
            {
                "name": "Anna Neuvola",
                "organisation": world.org("phhva-lastenneuvola").name,
                "role": "Network member",
            },
            ["Basic information"],
            "Viewed",
            "Allowed",
        ),
    ]


def test_reading_the_familys_history_is_logged_but_not_shown_to_the_family(api, world):
    hanna = world.user("hanna.huoltaja")
    client = api.as_user(hanna)

    family_history(client, world.family.pk)
    second = family_history(client, world.family.pk)

    assert second.json()["results"] == []
    logged = AccessEvent.objects.filter(user_id=hanna.pk)
    assert (
        list(logged.values_list("resource", "role", "case_id", "outcome"))
        == [("access-history", "guardian", world.case.pk, "allowed")] * 2
    )


def test_a_guardian_gets_404_for_another_familys_history_as_for_none(api, world):
    ulla = world.user("ulla.ulkopuolinen")
    kalle = UserFactory(username="kalle.korhonen")
    korhonen = services.family_create(
        actor=ulla,
        name="Korhonen",
        municipality=world.family.municipality,
        members=[
            {"role": "guardian", "first_name": "Kalle", "last_name": "Korhonen", "user": kalle}
        ],
    )
    api.as_user(ulla).get(f"/api/v1/families/{korhonen.pk}/")
    hanna = api.as_user(world.user("hanna.huoltaja"))

    other = family_history(hanna, korhonen.pk)
    made_up = family_history(hanna, uuid.uuid4())

    assert (other.status_code, made_up.status_code) == (404, 404)
    assert other.json() == made_up.json()
    assert family_history(api.as_user(kalle), korhonen.pk).status_code == 200
    assert family_history(api.as_user(kalle), world.family.pk).status_code == 404


@pytest.mark.parametrize(
    "username", ["tiina.vastuu", "anna.neuvola", "ulla.ulkopuolinen", "tero.tarkastaja"]
)
def test_no_one_but_a_guardian_reads_the_familys_history(api, world, username):
    user = world.user(username)

    response = family_history(api.as_user(user), world.family.pk)

    assert response.status_code == 404
    [refused] = AccessEvent.objects.filter(user_id=user.pk)
    assert (refused.resource, refused.outcome, refused.family_id) == (
        "access-history",
        "denied",
        world.family.pk,
    )


def test_an_anonymous_caller_gets_401_for_a_familys_history(world):
    response = APIClient().get(f"/api/v1/families/{world.family.pk}/access-history/")
    assert response.status_code == 401


# --- The responsible worker's view --------------------------------------------------------------


def case_history(client, case_id):
    return client.get(f"/api/v1/cases/{case_id}/access-history/", HTTP_ACCEPT_LANGUAGE="en")


def test_the_responsible_worker_sees_every_read_of_her_case(api, world):
    anna, hanna = world.user("anna.neuvola"), world.user("hanna.huoltaja")
    api.as_user(anna).get(f"/api/v1/cases/{world.case.pk}/notes/")
    api.as_user(hanna).get(f"/api/v1/cases/{world.case.pk}/")

    response = case_history(api.as_user(world.user("tiina.vastuu")), world.case.pk)

    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "time": response.json()["results"][0]["time"],
            "who": {
                "id": str(hanna.pk),
                "username": "hanna.huoltaja",
                "name": "Hanna Virtanen",
                "organisation": None,
                "role": "Guardian",
            },
            "what": ["Basic information"],
            "action": "Viewed",
            "outcome": "Allowed",
            "emergency": False,
        },
        {
            "time": response.json()["results"][1]["time"],
            "who": {
                "id": str(anna.pk),
                "username": "anna.neuvola",
                "name": "Anna Neuvola",
                "organisation": world.org("phhva-lastenneuvola").name,
                "role": "Network member",
            },
            "what": ["Health care notes"],
            "action": "Listed",
            "outcome": "Allowed",
            "emergency": False,
        },
    ]


def test_the_responsible_worker_keeps_the_history_of_her_closed_case(api, world):
    tiina = world.user("tiina.vastuu")
    closed = services.family_create(
        actor=tiina,
        name="Nieminen",
        municipality=world.family.municipality,
        members=[{"role": "guardian", "first_name": "Niina", "last_name": "Nieminen"}],
    ).cases.get()
    services.case_close(actor=tiina, case=closed, reason="Muutti pois.")

    assert case_history(api.as_user(tiina), closed.pk).status_code == 200


@pytest.mark.parametrize("username", ["anna.neuvola", "olli.opettaja", "hanna.huoltaja"])
def test_others_who_see_the_case_get_403_for_its_history(api, world, username):
    response = case_history(api.as_user(world.user(username)), world.case.pk)
    assert response.status_code == 403


@pytest.mark.parametrize("username", ["ulla.ulkopuolinen", "jenni.jarjesto", "tero.tarkastaja"])
def test_those_who_cannot_see_the_case_get_404_for_its_history_as_for_none(api, world, username):
    client = api.as_user(world.user(username))

    response = case_history(client, world.case.pk)
    made_up = case_history(client, uuid.uuid4())

    assert (response.status_code, made_up.status_code) == (404, 404)
    assert response.json() == made_up.json()


# --- Query counts -------------------------------------------------------------------------------


def test_the_auditor_list_costs_the_same_for_any_page_size(api, world, django_assert_num_queries):
    social = world.org("phhva-perhesosiaalityo")
    append(
        [
            AccessEvent(
                resource="case",
                action="view",
                outcome="allowed",
                controller_id=social.pk,
                user_id=uuid.uuid4(),
                organisation_id=uuid.uuid4(),
            )
            for _ in range(40)
        ]
    )
    client = api.as_user(world.user("tero.tarkastaja"))
    # 1 token and user, 1 the auditor's organisations, 1 the page; the view logs nothing shown
    # and an empty append costs nothing.
    for size in (5, 30):
        with django_assert_num_queries(3 + REQUEST):
            response = client.get(f"/api/v1/audit/events/?page_size={size}")
        assert len(response.json()["results"]) == size


def test_the_familys_history_costs_the_same_for_any_page_size(
    api, world, django_assert_num_queries
):
    for _ in range(20):  # each read by another worker of another organisation
        organisation = Organisation.objects.create(
            code=f"org-{uuid.uuid4().hex[:8]}", name="Org", kind="ngo"
        )
        worker = WorkerFactory(membership__organisation=organisation)
        add(user=worker, organisation=organisation, family_id=world.family.pk)
    client = api.as_user(world.user("hanna.huoltaja"))
    # 1 token and user, 1 the family (as its guardian), 1 its cases, 1 her access to them
    # (one union of network, guardians, handovers and posts), 1 the page, 1 the users, 1 the
    # organisations on it; then the page's own access-log event.
    for size in (3, 15):
        with django_assert_num_queries(7 + ACCESS_LOG + REQUEST):
            response = client.get(
                f"/api/v1/families/{world.family.pk}/access-history/?page_size={size}"
            )
        assert len(response.json()["results"]) == size


def test_the_case_history_costs_the_same_for_any_page_size(api, world, django_assert_num_queries):
    for _ in range(20):
        organisation = Organisation.objects.create(
            code=f"org-{uuid.uuid4().hex[:8]}", name="Org", kind="ngo"
        )
        worker = WorkerFactory(membership__organisation=organisation)
        add(user=worker, organisation=organisation, case_id=world.case.pk)
    client = api.as_user(world.user("tiina.vastuu"))
    # 1 token and user, 1 the case (through her permission row), 1 her access to it (network,
    # guardians, handovers and posts in one union), 1 the page, 1 the users, 1 the
    # organisations on it; then the page's own access-log event.
    for size in (3, 15):
        with django_assert_num_queries(6 + ACCESS_LOG + REQUEST):
            response = client.get(f"/api/v1/cases/{world.case.pk}/access-history/?page_size={size}")
        assert len(response.json()["results"]) == size


@pytest.mark.parametrize("times", [1, 4])
def test_anomalies_cost_the_same_however_many_events(api, world, times, django_assert_num_queries):
    social = world.org("phhva-perhesosiaalityo")
    for n in range(times):
        prober = WorkerFactory()
        for minute in range(5):
            add(user=prober, controller=social, role="none", outcome="denied",
                created_at=at(0, 10 + n, minute))  # fmt: skip
        add(user=WorkerFactory(), controller=social, role="handover", case_id=world.case.pk,
            created_at=at(0, 11))  # fmt: skip
        add(user=WorkerFactory(), controller=social, created_at=at(0, 22))
        add(user=WorkerFactory(), controller=social, emergency=True, created_at=at(0, 9))
    client = api.as_user(world.user("tero.tarkastaja"))
    # 1 token and user, 1 the auditor's organisations, 1 the refusals (one pass), and for each
    # of the other three kinds 1 grouped count and 1 sample ids; the view logs nothing shown
    # and an empty append costs nothing.
    with django_assert_num_queries(9 + REQUEST):
        rows = anomalies(client)
    assert len(rows) == 4 * times
