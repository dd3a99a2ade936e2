"""Coordination work through the API: the shared plan, network meetings, referrals, the catalogue.

Acceptance 1 of issue 6 is `test_the_whole_flow_with_the_demo_accounts`; acceptance 5 is
`test_the_catalogue_search_is_public_paginated_and_filterable` with
`test_the_catalogue_finds_the_same_services_in_the_api_and_the_admin`.
"""

import datetime

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from audit.models import AccessEvent
from cases import services
from cases.models import (
    Case,
    FamilyMember,
    Meeting,
    NetworkMember,
    Note,
    PlanAction,
    Referral,
    Service,
)
from cases.seeding import demo
from consent.models import Consent
from tests.conftest import persona as user
from tests.factories import OrganisationFactory, ServiceFactory, WorkerFactory, access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def scenario(demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


def url(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/{suffix}"


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def in_a_week(hour=9):
    day = timezone.localdate() + datetime.timedelta(days=7)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


def events(username, resource):
    return AccessEvent.objects.filter(username=username, resource=resource)


# --- Acceptance 1 --------------------------------------------------------------------------------


def test_the_whole_flow_with_the_demo_accounts(api, scenario):
    case = scenario
    tiina, anna, jenni = user("tiina.vastuu"), user("anna.neuvola"), user("jenni.jarjesto")
    hanna_member = FamilyMember.objects.get(family=case.family, role="guardian")
    anna_member = NetworkMember.objects.get(case=case, user=anna)

    # The responsible worker writes the plan: needs in the family's own words and hers, goals,
    # and actions with who does what by when.
    client = api.as_user(tiina)
    response = client.patch(
        url(case, "plan/"),
        {
            "needs": "Arjen tuki ja Eelin koulunkäynti.",
            "family_view": "Haluamme apua iltojen arkeen.",
            "goals": "Rauhalliset illat kotona.",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    childminding = Service.objects.get(name_fi="Lastenhoitoapu")
    response = client.post(
        url(case, "plan/actions/"),
        {
            "title": "Neuvolan terveystarkastus Ainolle",
            "responsible_user": str(anna.pk),
            "due_date": str(timezone.localdate() + datetime.timedelta(days=10)),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    action = response.json()
    assert action["responsible_user"]["id"] == str(anna.pk)
    assert action["responsible_member"] == str(anna_member.pk)
    assert action["status"] == "planned" and action["overdue"] is False
    response = client.post(
        url(case, "plan/actions/"),
        {"title": "Lastenhoitoapu iltoihin", "service": str(childminding.pk)},
        format="json",
    )
    assert response.status_code == 201, response.content

    # ... books a network meeting, with a calendar file for it ...
    response = client.post(
        url(case, "meetings/"),
        {
            "title": "Verkostopalaveri",
            "starts_at": in_a_week(9).isoformat(),
            "ends_at": in_a_week(10).isoformat(),
            "place": "Vääksyn koulu, neuvotteluhuone",
            "video_link": "https://meet.example.org/verkosto-123",
            "agenda": "Eelin koulupäivät; iltojen tuki.",
            "members": [str(anna_member.pk)],
            "family_members": [str(hanna_member.pk)],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    meeting = response.json()
    assert meeting["family_members"] == [str(hanna_member.pk)]
    ics = client.get(url(case, f"meetings/{meeting['id']}/ics/"))
    assert ics.status_code == 200
    assert ics["Content-Type"].startswith("text/calendar")
    text = ics.content.decode()
    assert "BEGIN:VEVENT" in text and f"UID:{meeting['id']}@koordinointi" in text
    assert "SUMMARY:Verkostopalaveri" in text and "Eelin" not in text  # no agenda in calendars

    # ... and refers the family to the NGO's service, picked from the catalogue for this family
    # (Asikkala; children of 8 and 13: the family café for under-sevens is left out).
    found = {s["name_fi"] for s in results(client.get(url(case, "referrals/services/?q=MLL")))}
    found |= {
        s["name_fi"]
        for s in results(client.get(url(case, "referrals/services/?q=Lastensuojeluliitto")))
    }
    assert found == {"Lastenhoitoapu"}
    response = client.post(
        url(case, "referrals/"),
        {"service": str(childminding.pk), "message": "Äiti toivoo iltoihin lastenhoitoapua."},
        format="json",
    )
    assert response.status_code == 201, response.content
    referral = response.json()
    assert referral["status"] == "sent" and referral["shared_categories"] == []

    # The NGO's worker sees the referral, and of the family only what consent allows: none yet.
    ngo = api.as_user(jenni)
    [incoming] = results(ngo.get("/api/v1/referrals/incoming/"))
    assert incoming["case"] == str(case.pk)
    assert incoming["service"]["name_fi"] == "Lastenhoitoapu"
    assert "family" not in incoming and "message" not in incoming
    assert "Virtanen" not in str(incoming) and incoming["categories"] == []

    # She accepts, naming herself: she is invited (her earlier invitation is reused) and joins.
    response = ngo.post(f"/api/v1/referrals/incoming/{referral['id']}/accept/", {}, format="json")
    assert response.status_code == 200, response.content
    accepted = response.json()
    assert accepted["status"] == "accepted"
    assert accepted["accepted_worker"]["id"] == str(jenni.pk)
    response = ngo.post(f"/api/v1/invitations/{accepted['invitation']}/accept/")
    assert response.status_code == 200, response.content
    assert NetworkMember.objects.filter(case=case, user=jenni, removed_at__isnull=True).exists()

    # In the network, still without consent: the case and its worker, not the family, no plan.
    body = ngo.get(url(case)).json()
    assert body["responsible_worker"]["id"] == str(tiina.pk)
    assert "family" not in body and body["categories"] == []
    assert ngo.get(url(case, "plan/")).status_code == 404
    assert ngo.get(url(case, "plan/actions/")).status_code == 404
    assert ngo.get(url(case, "meetings/")).status_code == 404
    assert results(ngo.get(url(case, "notes/"))) == []

    # The family consents to share basic data and the plan with the NGO: she sees them now.
    consent = services_request_consent(case, tiina, "mll-paijat-hame", ["basic", "plan"])
    hanna = api.as_user(user("hanna.huoltaja"))
    response = hanna.post(f"/api/v1/consents/{consent.pk}/grant/", {}, format="json")
    assert response.status_code == 200, response.content
    ngo = api.as_user(jenni)
    assert ngo.get(url(case)).json()["family"]["name"] == "Virtanen"
    assert ngo.get(url(case, "plan/")).json()["family_view"] == "Haluamme apua iltojen arkeen."
    assert len(results(ngo.get(url(case, "plan/actions/")))) == 2
    [incoming] = results(ngo.get("/api/v1/referrals/incoming/"))
    assert incoming["family"]["name"] == "Virtanen"
    assert incoming["message"] == "Äiti toivoo iltoihin lastenhoitoapua."
    assert results(ngo.get(url(case, "notes/"))) == []  # notes are not consented

    # The family sees the whole plan in the API: needs, goals, actions and the meeting.
    hanna = api.as_user(user("hanna.huoltaja"))
    assert hanna.get(url(case, "plan/")).json()["goals"] == "Rauhalliset illat kotona."
    titles = {a["title"] for a in results(hanna.get(url(case, "plan/actions/")))}
    assert titles == {"Neuvolan terveystarkastus Ainolle", "Lastenhoitoapu iltoihin"}
    [seen] = results(hanna.get(url(case, "meetings/")))
    assert seen["agenda"] == "Eelin koulupäivät; iltojen tuki."

    # The minutes are a note in the category chosen for them: health notes reach the clinic.
    response = api.as_user(tiina).post(
        url(case, f"meetings/{meeting['id']}/minutes/"),
        {"category": "notes_general", "text": "Sovittiin iltojen tuesta."},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "held" and response.json()["minutes"]
    [as_anna] = results(api.as_user(anna).get(url(case, "meetings/")))
    assert as_anna["minutes"] is None  # anna has no consent for general notes

    # Every read was logged, with what it disclosed under which consent.
    jenni_reads = events("jenni.jarjesto", "incoming-referrals").order_by("seq")
    assert [e.categories for e in jenni_reads] == [[], ["basic", "plan"]]
    assert jenni_reads.last().consents == [str(consent.pk)]
    assert events("hanna.huoltaja", "plan-actions").exists()
    assert events("tiina.vastuu", "meetings").exists()

    # Closing needs a reason, ends the network's access, and keeps the records and the trail.
    client = api.as_user(tiina)
    assert client.post(url(case, "close/"), {"reason": ""}, format="json").status_code == 400
    response = client.post(url(case, "close/"), {"reason": "Tavoitteet saavutettu."}, format="json")
    assert response.status_code == 200, response.content
    for username in ("jenni.jarjesto", "anna.neuvola"):
        member = api.as_user(user(username))
        assert member.get(url(case)).status_code == 404
        assert member.get(url(case, "plan/actions/")).status_code == 404
    assert len(results(api.as_user(tiina).get(url(case, "plan/actions/")))) == 2
    assert PlanAction.objects.filter(case=case).count() == 2
    assert Meeting.objects.filter(case=case).count() == 1
    assert LogEntry.objects.get_for_model(PlanAction).count() == 2
    assert AccessEvent.objects.filter(case_id=case.pk, username="jenni.jarjesto").exists()


def services_request_consent(case, actor, organisation_code, categories) -> Consent:
    from cases.models import Organisation
    from consent import services as consent_services

    return consent_services.consent_request(
        actor=actor,
        case=case,
        recipients=[Organisation.objects.get(code=organisation_code)],
        categories=categories,
        purpose_code="family-centre-coordination",
        purpose="Lastenhoitoapu",
        valid_until=timezone.now() + datetime.timedelta(days=90),
    )


# --- The plan's actions --------------------------------------------------------------------------


def test_a_member_with_the_plan_writes_and_updates_actions_of_the_plan(api, scenario):
    anna = user("anna.neuvola")
    client = api.as_user(anna)
    response = client.post(
        url(scenario, "plan/actions/"),
        {"title": "Kasvuseuranta", "responsible_user": str(anna.pk)},
        format="json",
    )
    assert response.status_code == 201, response.content
    action = response.json()
    response = client.patch(
        url(scenario, f"plan/actions/{action['id']}/"), {"status": "done"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "done"
    # Olli has no consent for the plan: nothing of it, not even that it exists.
    olli = api.as_user(user("olli.opettaja"))
    assert olli.get(url(scenario, "plan/actions/")).status_code == 404
    assert olli.get(url(scenario, f"plan/actions/{action['id']}/")).status_code == 404
    assert (
        olli.post(url(scenario, "plan/actions/"), {"title": "x"}, format="json").status_code == 404
    )


def test_an_action_is_done_by_someone_in_this_network_only(api, scenario):
    client = api.as_user(user("tiina.vastuu"))
    outsider = user("ulla.ulkopuolinen")
    response = client.post(
        url(scenario, "plan/actions/"),
        {"title": "x", "responsible_user": str(outsider.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "responsible_user" in response.json()
    grandmother = services.network_add_informal(
        actor=user("tiina.vastuu"), case=scenario, name="Mummo", relationship="isoäiti"
    )
    response = client.post(
        url(scenario, "plan/actions/"),
        {"title": "Hakee Eelin koulusta tiistaisin", "responsible_member": str(grandmother.pk)},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["responsible_user"] is None


def test_a_new_due_date_re_arms_the_reminder(scenario):
    tiina = user("tiina.vastuu")
    action = services.plan_action_create(
        actor=tiina, case=scenario, title="x", due_date=timezone.localdate()
    )
    PlanAction.objects.filter(pk=action.pk).update(reminded_at=timezone.now())
    action.refresh_from_db()
    services.plan_action_update(
        actor=tiina,
        action=action,
        data={"due_date": timezone.localdate() + datetime.timedelta(days=5)},
    )
    action.refresh_from_db()
    assert action.reminded_at is None


def test_the_action_list_has_a_constant_number_of_queries(api, scenario, django_assert_num_queries):
    tiina = user("tiina.vastuu")
    services.plan_action_create(actor=tiina, case=scenario, title="first")
    client = api.as_user(user("anna.neuvola"))
    # 1 token + user, 2 case with permission join, 3 the policy's facts (memberships,
    # guardians, handovers, posts: one union), 4 child refusals, 5 consents in force with
    # their recipients, 6 count, 7 page of actions with their worker, member and service
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert client.get(url(scenario, "plan/actions/")).json()["count"] == 1
    service = Service.objects.first()
    for i in range(15):
        services.plan_action_create(
            actor=tiina, case=scenario, title=f"more {i}", responsible_user=tiina, service=service
        )
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert client.get(url(scenario, "plan/actions/")).json()["count"] == 16


# --- Meetings ------------------------------------------------------------------------------------


def test_only_the_responsible_worker_books_and_cancels_meetings(api, scenario):
    body = {
        "title": "Palaveri",
        "starts_at": in_a_week(12).isoformat(),
        "ends_at": in_a_week(13).isoformat(),
        "place": "Perhekeskus",
    }
    anna = api.as_user(user("anna.neuvola"))
    assert anna.post(url(scenario, "meetings/"), body, format="json").status_code == 403
    tiina = api.as_user(user("tiina.vastuu"))
    response = tiina.post(url(scenario, "meetings/"), {**body, "place": ""}, format="json")
    assert response.status_code == 400  # a place or a video link is needed
    response = tiina.post(
        url(scenario, "meetings/"), {**body, "ends_at": body["starts_at"]}, format="json"
    )
    assert response.status_code == 400
    meeting = tiina.post(url(scenario, "meetings/"), body, format="json").json()
    response = tiina.patch(
        url(scenario, f"meetings/{meeting['id']}/"), {"status": "cancelled"}, format="json"
    )
    assert response.status_code == 200 and response.json()["sequence"] == 1
    ics = tiina.get(url(scenario, f"meetings/{meeting['id']}/ics/")).content.decode()
    assert "STATUS:CANCELLED" in ics and "SEQUENCE:1" in ics


def test_the_calendar_file_folds_long_lines_and_escapes_text(api, scenario):
    meeting = services.meeting_create(
        actor=user("tiina.vastuu"),
        case=scenario,
        title="Palaveri; koulu, koti\nja vapaa-aika " + "ä" * 80,
        starts_at=in_a_week(9),
        ends_at=in_a_week(10),
        place="Koulu",
    )
    text = (
        api.as_user(user("tiina.vastuu"))
        .get(url(scenario, f"meetings/{meeting.pk}/ics/"), HTTP_ACCEPT="text/calendar")
        .content.decode()
    )
    assert "Palaveri\\; koulu\\, koti\\nja vapaa-aika" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert text.endswith("END:VCALENDAR\r\n")


# --- Referrals -----------------------------------------------------------------------------------


def test_a_referral_is_for_the_receiving_organisations_workers_only(api, scenario):
    referral = services.referral_create(
        actor=user("tiina.vastuu"),
        case=scenario,
        service=Service.objects.get(name_fi="Lastenhoitoapu"),
        message="Tarve iltoihin",
    )
    for username in ("anna.neuvola", "ulla.ulkopuolinen", "kaisa.koordinaattori"):
        client = api.as_user(user(username))
        assert results(client.get("/api/v1/referrals/incoming/")) == []
        assert client.get(f"/api/v1/referrals/incoming/{referral.pk}/").status_code == 404
        response = client.post(f"/api/v1/referrals/incoming/{referral.pk}/accept/")
        assert response.status_code == 404
    assert Referral.objects.get(pk=referral.pk).status == "sent"


def test_the_receiving_organisation_may_name_another_of_its_workers(api, scenario):
    ngo = user("jenni.jarjesto").memberships.get().organisation
    colleague = WorkerFactory(email="colleague@ngo.example", membership__organisation=ngo)
    referral = services.referral_create(
        actor=user("tiina.vastuu"),
        case=scenario,
        service=Service.objects.get(name_fi="Lastenhoitoapu"),
    )
    client = api.as_user(user("jenni.jarjesto"))
    stranger = user("anna.neuvola")
    response = client.post(
        f"/api/v1/referrals/incoming/{referral.pk}/accept/",
        {"worker": str(stranger.pk)},
        format="json",
    )
    assert response.status_code == 400
    response = client.post(
        f"/api/v1/referrals/incoming/{referral.pk}/accept/",
        {"worker": str(colleague.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    invitation = response.json()["invitation"]
    response = api.as_user(colleague).post(f"/api/v1/invitations/{invitation}/accept/")
    assert response.status_code == 200, response.content
    assert api.as_user(colleague).get(url(scenario)).status_code == 200
    # Answered once: a second answer is refused.
    response = client.post(f"/api/v1/referrals/incoming/{referral.pk}/decline/")
    assert response.status_code == 400


def test_a_referral_can_be_declined_or_withdrawn_and_is_made_once(api, scenario):
    tiina = api.as_user(user("tiina.vastuu"))
    service = Service.objects.get(name_fi="Lastenhoitoapu")
    first = tiina.post(url(scenario, "referrals/"), {"service": str(service.pk)}, format="json")
    assert first.status_code == 201
    again = tiina.post(url(scenario, "referrals/"), {"service": str(service.pk)}, format="json")
    assert again.status_code == 400
    response = api.as_user(user("jenni.jarjesto")).post(
        f"/api/v1/referrals/incoming/{first.json()['id']}/decline/",
        {"reason": "Ei vapaita hoitajia"},
        format="json",
    )
    assert response.json()["status"] == "declined"
    tiina = api.as_user(user("tiina.vastuu"))  # one client: it is signed in as the last user
    assert results(tiina.get(url(scenario, "referrals/")))[0]["decline_reason"] == (
        "Ei vapaita hoitajia"
    )
    second = tiina.post(url(scenario, "referrals/"), {"service": str(service.pk)}, format="json")
    response = tiina.post(url(scenario, f"referrals/{second.json()['id']}/withdraw/"))
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    anna = api.as_user(user("anna.neuvola"))
    response = anna.post(url(scenario, f"referrals/{second.json()['id']}/withdraw/"))
    assert response.status_code == 403


def test_incoming_referrals_have_a_constant_number_of_queries(
    api, scenario, municipality, django_assert_num_queries
):
    tiina = user("tiina.vastuu")
    ngo = user("jenni.jarjesto").memberships.get().organisation

    def refer(n):
        for i in range(n):
            family = services.family_create(actor=tiina, name=f"F{i}", municipality=municipality)
            services.referral_create(
                actor=tiina, case=family.cases.get(), service=ServiceFactory(organisation=ngo)
            )

    refer(1)
    client = api.as_user(user("jenni.jarjesto"))
    # 1 token + user, 2 count, 3 page of referrals with service, organisations, workers, case
    # and family, 4 the families' members, 5 consents naming the organisation, 6 non-disclosure
    # markings in force on the families
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/referrals/incoming/").json()["count"] == 1
    refer(10)
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/referrals/incoming/").json()["count"] == 11


# --- The catalogue (acceptance 5) ----------------------------------------------------------------


def catalogue_names(client, query="") -> list[str]:
    names, page = [], f"/api/v1/services/{query}"
    while page:
        response = client.get(page)
        assert response.status_code == 200, response.content
        names += [row["name_fi"] for row in response.json()["results"]]
        page = response.json()["next"]
    return names


def test_the_catalogue_search_is_public_paginated_and_filterable(scenario):
    anonymous = Client()
    body = anonymous.get("/api/v1/services/?page_size=5").json()
    assert body["count"] == Service.objects.filter(is_active=True).count() > 5
    assert len(body["results"]) == 5 and body["next"]
    assert len(catalogue_names(anonymous, "?page_size=5")) == body["count"]
    asikkala = scenario.family.municipality
    assert "Perusopetus" in catalogue_names(anonymous, f"?municipality={asikkala.pk}&age=8")
    assert "Lastenneuvola" not in catalogue_names(anonymous, "?age=8")
    assert set(catalogue_names(anonymous, "?language=ru")) == {"Monikulttuurinen perheohjaus"}
    assert "Lapsiperheiden etuudet" in catalogue_names(anonymous, "?language=sv&category=financial")
    # Every word counts, in any of the names, the description or the organisation.
    assert catalogue_names(anonymous, "?q=neuvola%20lapsen") == ["Lastenneuvola", "Perheneuvola"]
    assert set(catalogue_names(anonymous, "?q=kela")) == {
        "Kuntoutus ja sopeutumisvalmennus",
        "Lapsiperheiden etuudet",
    }
    assert anonymous.get("/api/v1/services/?language=xx").status_code == 400


@pytest.mark.parametrize(
    ("api_query", "admin_query"),
    [
        ("q=neuvola", {"q": "neuvola"}),
        ("q=perhe%20tuki", {"q": "perhe tuki"}),
        ("q=Barn", {"q": "Barn"}),
        ("q=kela", {"q": "kela"}),
        (
            "category=health&low_threshold=true",
            {"category__exact": "health", "low_threshold__exact": "1"},
        ),
        ("language=en&q=perhe", {"languages__language__exact": "en", "q": "perhe"}),
        ("age=13", {"age": "13"}),
        ("age=2&q=perhe", {"age": "2", "q": "perhe"}),
        ("municipality={asikkala}", {"municipalities__id__exact": "{asikkala}"}),
    ],
)
def test_the_catalogue_finds_the_same_services_in_the_api_and_the_admin(
    scenario, api_query, admin_query
):
    asikkala = str(scenario.family.municipality_id)
    api_query = api_query.replace("{asikkala}", asikkala)
    admin_query = {k: v.replace("{asikkala}", asikkala) for k, v in admin_query.items()}
    ServiceFactory(name_fi="Vanha perhetuki", is_active=False)  # out of the public catalogue
    from_api = catalogue_names(Client(), f"?page_size=200&{api_query}")
    admin = Client()
    admin.force_login(user("kaisa.koordinaattori"))
    response = admin.get("/admin/cases/service/", {**admin_query, "is_active__exact": "1"})
    assert response.status_code == 200
    page = response.context["cl"]
    from_admin = sorted(service.name_fi for service in page.result_list)
    assert from_admin and sorted(from_api) == from_admin


def test_coordinators_keep_the_catalogue_through_the_api(api, scenario):
    kaisa = api.as_user(user("kaisa.koordinaattori"))
    organisation = OrganisationFactory(name="Uusi järjestö")
    response = kaisa.post(
        "/api/v1/coordination/services/",
        {
            "organisation": str(organisation.pk),
            "name_fi": "Vertaisryhmä isille",
            "name_sv": "Kamratgrupp för pappor",
            "name_en": "Peer group for fathers",
            "description": "Isien vertaistukiryhmä kerran kuussa.",
            "category": "family_support",
            "municipalities": [str(scenario.family.municipality_id)],
            "languages": ["fi", "sv"],
            "low_threshold": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert sorted(created["languages"]) == ["fi", "sv"]
    public = Client().get("/api/v1/services/?language=sv&q=vertaisryhmä").json()["results"]
    assert [row["name_en"] for row in public] == ["Peer group for fathers"]
    response = kaisa.patch(
        f"/api/v1/coordination/services/{created['id']}/",
        {"is_active": False, "languages": ["fi"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Client().get("/api/v1/services/?q=vertaisryhmä").json()["count"] == 0
    response = kaisa.patch(
        f"/api/v1/coordination/services/{created['id']}/",
        {"min_age": 10, "max_age": 3},
        format="json",
    )
    assert response.status_code == 400
    # Nobody else keeps it.
    tiina = api.as_user(user("tiina.vastuu"))
    assert tiina.get("/api/v1/coordination/services/").status_code == 403
    assert tiina.post("/api/v1/coordination/services/", {}, format="json").status_code == 403
    assert Client().get("/api/v1/coordination/services/").status_code == 401


def test_seed_demo_ships_languages_for_the_catalogue(scenario):
    assert set(
        Service.objects.get(name_fi="Monikulttuurinen perheohjaus").languages.values_list(
            "language", flat=True
        )
    ) == {"fi", "en", "ru", "uk", "ar", "so"}
    assert not Service.objects.filter(languages__isnull=True).exists()
    assert demo.seed().changed is False


def test_minutes_are_kept_as_a_note_of_their_category(scenario):
    tiina = user("tiina.vastuu")
    meeting = services.meeting_create(
        actor=tiina,
        case=scenario,
        title="Palaveri",
        starts_at=in_a_week(9),
        ends_at=in_a_week(10),
        video_link="https://meet.example.org/x",
    )
    meeting = services.meeting_minutes_record(
        actor=tiina,
        meeting=meeting,
        access=access_of(tiina, scenario),
        category="notes_health",
        text="Muistio",
    )
    note = Note.objects.get(pk=meeting.minutes_id)
    assert note.category == "notes_health" and note.case_id == scenario.pk
    assert Case.objects.get(pk=scenario.pk).status == "open"


def test_the_meeting_and_referral_lists_have_a_constant_number_of_queries(
    api, scenario, django_assert_num_queries
):
    tiina, anna = user("tiina.vastuu"), user("anna.neuvola")
    anna_member = NetworkMember.objects.get(case=scenario, user=anna)
    family = list(scenario.family.members.all())
    services_list = list(Service.objects.filter(is_active=True))

    def book(n, start):
        for i in range(start, start + n):
            meeting = services.meeting_create(
                actor=tiina,
                case=scenario,
                title=f"Palaveri {i}",
                starts_at=in_a_week(9) + datetime.timedelta(days=i),
                ends_at=in_a_week(10) + datetime.timedelta(days=i),
                place="Koulu",
                members=[anna_member],
                family_members=family,
            )
            services.meeting_minutes_record(
                actor=tiina,
                meeting=meeting,
                access=access_of(tiina, scenario),
                category="notes_health",
                text="Muistio",
            )
            services.referral_create(actor=tiina, case=scenario, service=services_list[i])

    book(1, 0)
    client = api.as_user(anna)
    # 1 token + user, 2 case with permission join, 3-5 the policy's facts and consents (as for
    # notes), 6 count, 7 page of meetings with organiser, 8 their members, 9 the members'
    # accounts, 10 their organisations, 11 the family members, 12 which minutes anna may read
    with django_assert_num_queries(12 + REQUEST + ACCESS_LOG):
        body = client.get(url(scenario, "meetings/")).json()
    assert body["count"] == 1 and body["results"][0]["minutes"]  # health notes: consented
    # 1-5 as above, 6 count, 7 page of referrals with service, organisations and workers,
    # 8 consents naming the receiving organisations, 9 non-disclosure markings in force
    with django_assert_num_queries(9 + REQUEST + ACCESS_LOG):
        assert client.get(url(scenario, "referrals/")).json()["count"] == 1
    book(12, 1)
    with django_assert_num_queries(12 + REQUEST + ACCESS_LOG):
        assert client.get(url(scenario, "meetings/")).json()["count"] == 13
    with django_assert_num_queries(9 + REQUEST + ACCESS_LOG):
        assert client.get(url(scenario, "referrals/")).json()["count"] == 13
