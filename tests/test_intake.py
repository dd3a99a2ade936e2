"""The front door (issue 17): a contact request from someone with no account, the intake queue,
and a case opened from it with a responsible worker whom the new guardian sees in the portal.

On the seeded demo: kaisa.koordinaattori takes the family centre's contact requests (an intake
membership of the wellbeing area's family centre, which has no area and so serves every
municipality); nobody else of the demo is an intake worker.
"""

import datetime
import re
import time

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AccessEvent
from cases import intake
from cases.models import (
    Case,
    ContactRequest,
    FamilyMember,
    Municipality,
    Organisation,
    OrganisationMembership,
    OutboundMail,
    User,
)
from portal.contact import started_token
from tests.conftest import ANNA, HANNA, JENNI, KAISA, OLLI, PERSONAS, TERO, TIINA, ULLA, persona
from tests.factories import AreaFactory, MembershipFactory, OrganisationFactory, UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

FORMS = {"fi": "/palvelut/ota-yhteytta/", "sv": "/tjanster/kontakt/", "en": "/services/contact/"}
QUEUE = "/api/v1/intake/contact-requests/"
NEED = "Arki kahden lapsen kanssa on raskasta, kaipaisin juttuseuraa ja neuvoja."


@pytest.fixture
def demo(demo_world, db):
    return demo_world


def form_data(**changes) -> dict:
    data = {
        "first_name": "Sanna",
        "last_name": "Salonen",
        "municipality": str(Municipality.objects.get(code="asikkala").pk),
        "need": NEED,
        "reach_by": "email",
        "phone": "040 123 4567",
        "email": "sanna.salonen@example.org",
        "website": "",
        "started": started_token(at=time.time() - 30),
    }
    data.update(changes)
    return data


def submit(client=None, language="fi", **changes):
    return (client or Client()).post(FORMS[language], form_data(**changes))


def a_request(**changes) -> ContactRequest:
    values = {
        "first_name": "Sanna",
        "last_name": "Salonen",
        "municipality": changes.pop("municipality", None)
        or Municipality.objects.get(code="asikkala"),
        "need": NEED,
        "email": "sanna.salonen@example.org",
        "phone": "",
        "reach_by": "email",
    }
    values.update(changes)
    return intake.contact_request_submit(**values)


def body_of(response) -> str:
    return response.content.decode()


# --- The public form ---------------------------------------------------------------------------


def test_a_request_sent_without_an_account_lands_in_the_intake_queue(demo, api):
    response = submit()
    assert response.status_code == 302
    assert response["Location"] == "/palvelut/ota-yhteytta/kiitos/"
    saved = ContactRequest.objects.get()
    assert (saved.first_name, saved.last_name, saved.need) == ("Sanna", "Salonen", NEED)
    assert saved.status == ContactRequest.Status.NEW and saved.language == "fi"
    assert saved.municipality.code == "asikkala" and saved.organisation is None
    # The need is stored encrypted.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT need FROM cases_contactrequest")
        assert NEED not in cursor.fetchone()[0]
    # kaisa is told that a request waits, and nothing of it.
    mail = OutboundMail.objects.get(kind="contact_request_received")
    assert mail.recipients == persona(KAISA).email
    assert "Sanna" not in mail.body and NEED not in mail.body and str(saved.pk) in mail.body

    listed = api.as_user(persona(KAISA)).get(QUEUE)
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row["id"] == str(saved.pk) and row["need"] == NEED and row["status"] == "new"
    assert row["municipality"]["code"] == "asikkala" and row["email"] == saved.email


def test_the_confirmation_says_what_happens_next_and_shows_nothing_of_the_request(demo):
    client = Client()
    page = client.get(submit(client)["Location"])
    assert page.status_code == 200
    text = body_of(page)
    assert "Sanna" not in text and NEED not in text
    assert "Kiitos" in text


@pytest.mark.parametrize(
    ("language", "heading", "done"),
    [
        ("fi", "Pyydä perhekeskukselta apua", "/palvelut/ota-yhteytta/kiitos/"),
        ("sv", "Be familjecentret om hjälp", "/tjanster/kontakt/tack/"),
        ("en", "Ask the family centre for help", "/services/contact/thanks/"),
    ],
)
def test_the_form_speaks_the_language_of_its_address(demo, language, heading, done):
    client = Client()
    client.cookies["django_language"] = "fi" if language != "fi" else "en"  # the address wins
    page = client.get(FORMS[language])
    assert page.status_code == 200 and page["Content-Language"] == language
    assert f'<html lang="{language}">' in body_of(page)
    assert heading in body_of(page)
    response = submit(client, language)
    assert response.status_code == 302 and response["Location"] == done
    assert ContactRequest.objects.get().language == language
    thanks = client.get(done)
    assert thanks.status_code == 200 and thanks["Content-Language"] == language


def test_the_swedish_form_names_municipalities_in_swedish(demo):
    page = body_of(Client().get(FORMS["sv"]))
    assert "Gustav Adolfs" in page and "Hartola" not in page


def test_no_sign_in_is_needed_and_a_signed_in_guardian_may_send_one_too(demo):
    hanna = Client()
    hanna.force_login(persona(HANNA))
    assert hanna.get(FORMS["fi"]).status_code == 200
    assert submit(hanna).status_code == 302
    assert ContactRequest.objects.count() == 1


def test_a_filled_honeypot_is_thanked_and_nothing_is_kept(demo):
    response = submit(website="http://spam.example")
    assert response.status_code == 302 and response["Location"].endswith("/kiitos/")
    assert ContactRequest.objects.count() == 0
    assert not OutboundMail.objects.filter(kind="contact_request_received").exists()


def test_the_honeypot_is_hidden_from_people(demo):
    page = body_of(Client().get(FORMS["fi"]))
    trap = re.search(r'<div class="trap" aria-hidden="true">(.*?)</div>', page, re.S)
    assert trap and 'name="website"' in trap.group(1) and 'tabindex="-1"' in trap.group(1)


def test_a_form_sent_too_quickly_is_sent_back_with_its_answers(demo):
    response = submit(started=started_token())
    assert response.status_code == 400
    text = body_of(response)
    assert "lähetettiin hyvin nopeasti" in text
    assert 'value="Sanna"' in text and NEED in text  # the answers kept
    assert ContactRequest.objects.count() == 0
    # ... with a new served time, so that sending it again a moment later works.
    token = re.search(r'name="started" value="([^"]+)"', text).group(1)
    assert token != form_data()["started"]


@pytest.mark.parametrize(
    "started",
    ["", "forged", "eyJ0IjoxfQ:1abc:forgedsignature", "OLD"],
)
def test_a_forged_missing_or_expired_served_time_is_refused(demo, started):
    if started == "OLD":
        started = started_token(at=time.time() - 25 * 3600)
    response = submit(started=started)
    assert response.status_code == 400 and "vanhentunut" in body_of(response)
    assert ContactRequest.objects.count() == 0


def test_the_form_is_rate_limited_per_address(demo, settings):
    client = Client()
    for n in range(10):
        assert submit(client, first_name=f"Sanna{n}").status_code == 302, n
    response = submit(client, first_name="Sanna10")
    assert response.status_code == 429 and "Liian monta" in body_of(response)
    assert ContactRequest.objects.count() == 10
    # Another address is not affected.
    assert Client(REMOTE_ADDR="10.1.2.3").post(FORMS["fi"], form_data()).status_code == 302


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Tämä kenttä vaaditaan"),
        ({"need": "   "}, "need", "Tämä kenttä vaaditaan"),
        ({"need": "x" * 4001}, "need", "4000"),
        ({"municipality": ""}, "municipality", "Tämä kenttä vaaditaan"),
        (
            {"municipality": "00000000-0000-4000-8000-000000000000"},
            "municipality",
            "Valitse oikea vaihtoehto",
        ),
        ({"municipality": "not-a-municipality"}, "municipality", "UUID"),
        ({"email": "", "phone": ""}, "phone", "puhelinnumero tai sähköpostiosoite"),
        ({"reach_by": "email", "email": ""}, "email", "sähköpostiosoitteesi"),
        ({"reach_by": "phone", "phone": ""}, "phone", "puhelinnumerosi"),
        ({"reach_by": "pigeon"}, "reach_by", "Valitse oikea vaihtoehto"),
        ({"email": "not an address"}, "email", "sähköpostiosoite"),
    ],
)
def test_bad_input_gets_a_clear_message(demo, changes, field, message):
    response = submit(**changes)
    assert response.status_code == 400
    text = body_of(response)
    assert message in text, text[:2000]
    assert 'role="alert"' in text
    assert ContactRequest.objects.count() == 0


# --- The queue: who sees what ------------------------------------------------------------------


def test_only_intake_workers_see_the_queue(demo, api):
    contact_request = a_request()
    for username in PERSONAS:
        client = api.as_user(persona(username))
        listed = client.get(QUEUE)
        one = client.get(f"{QUEUE}{contact_request.pk}/")
        if username == KAISA:
            assert listed.status_code == 200 and one.status_code == 200
            continue
        # The same answer for everyone else, whatever the request: that none is theirs to see.
        assert listed.status_code == 403, username
        assert one.status_code == 403, username
        assert "Sanna" not in body_of(one) and "Sanna" not in body_of(listed)
    anonymous = Client()
    assert anonymous.get(QUEUE).status_code == 401
    assert anonymous.get(f"{QUEUE}{contact_request.pk}/").status_code == 401


def _other_intake(*, area=None) -> tuple[Organisation, User]:
    organisation = OrganisationFactory(name="Toinen perhekeskus", area=area)
    worker = UserFactory(username="irja.intake", email="irja@example.org")
    MembershipFactory(user=worker, organisation=organisation, role="intake")
    return organisation, worker


def test_an_intake_worker_sees_the_queue_of_their_area_only(demo, api):
    south = AreaFactory(code="etela-test")
    organisation, irja = _other_intake(area=south)
    municipality = Municipality.objects.create(code="testila", name="Testilä")
    municipality.areas.add(south)
    theirs = a_request(municipality=municipality)
    asikkala = a_request(first_name="Aapo")
    client = api.as_user(irja)
    assert [r["id"] for r in client.get(QUEUE).json()["results"]] == [str(theirs.pk)]
    missing = client.get(f"{QUEUE}00000000-0000-4000-8000-000000000000/")
    unseen = client.get(f"{QUEUE}{asikkala.pk}/")
    assert unseen.status_code == missing.status_code == 404
    assert unseen.content == missing.content
    # kaisa's family centre has no area: it serves every municipality.
    kaisa = api.as_user(persona(KAISA))
    assert {r["id"] for r in kaisa.get(QUEUE).json()["results"]} == {
        str(theirs.pk),
        str(asikkala.pk),
    }


def test_an_ended_intake_membership_sees_nothing(demo, api):
    a_request()
    OrganisationMembership.objects.filter(user=persona(KAISA), role="intake").update(
        ended_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert api.as_user(persona(KAISA)).get(QUEUE).status_code == 403


def test_the_queue_filters_by_status_and_refuses_a_bad_one(demo, api):
    a_request()
    client = api.as_user(persona(KAISA))
    assert client.get(f"{QUEUE}?status=new").json()["count"] == 1
    assert client.get(f"{QUEUE}?status=closed").json()["count"] == 0
    bad = client.get(f"{QUEUE}?status=nonsense")
    assert bad.status_code == 400 and "status" in bad.json()


def test_the_intake_queue_has_a_constant_number_of_queries(demo, api, django_assert_num_queries):
    a_request()
    client = api.as_user(persona(KAISA))
    # 1 token + user, 2 intake memberships with organisations, 3 count, 4 the page of requests
    # with municipality, organisation, workers and case
    with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
        assert client.get(QUEUE).json()["count"] == 1
    for n in range(6):
        a_request(first_name=f"Nimi{n}")
    with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
        assert client.get(QUEUE).json()["count"] == 7


def test_one_request_costs_a_constant_number_of_queries(demo, api, django_assert_num_queries):
    contact_request = a_request()
    client = api.as_user(persona(KAISA))
    # 1 token + user, 2 intake memberships, 3 the request with its related rows
    with django_assert_num_queries(3 + REQUEST + ACCESS_LOG):
        assert client.get(f"{QUEUE}{contact_request.pk}/").status_code == 200


# --- The access log ----------------------------------------------------------------------------


def test_every_read_of_a_request_is_in_the_access_log(demo, api):
    first, second = a_request(), a_request(first_name="Aapo")
    kaisa = persona(KAISA)
    family_centre = Organisation.objects.get(code="phhva-perhekeskus")
    client = api.as_user(kaisa)
    before = AccessEvent.objects.count()
    client.get(QUEUE)
    listed = AccessEvent.objects.order_by("seq")[before:]
    assert {e.purpose for e in listed} == {
        f"contact-request:{first.pk}",
        f"contact-request:{second.pk}",
    }
    for event in listed:
        assert (event.user_id, event.organisation_id, event.role) == (
            kaisa.pk,
            family_centre.pk,
            "intake",
        )
        assert event.resource == "contact-request" and event.action == "list"
        assert event.outcome == "allowed"
    before = AccessEvent.objects.count()
    client.get(f"{QUEUE}{first.pk}/")
    [viewed] = AccessEvent.objects.order_by("seq")[before:]
    assert viewed.action == "view" and viewed.purpose == f"contact-request:{first.pk}"
    # Refused attempts are logged too.
    before = AccessEvent.objects.count()
    api.as_user(persona(ULLA)).get(f"{QUEUE}{first.pk}/")
    [refused] = AccessEvent.objects.order_by("seq")[before:]
    assert refused.outcome == "denied" and refused.resource == "contact-request"


# --- What intake does with a request ------------------------------------------------------------


def test_taking_a_request_tells_the_family_who_will_contact_them_and_by_when(demo, api):
    contact_request = a_request()
    client = api.as_user(persona(KAISA))
    by = timezone.localdate() + datetime.timedelta(days=3)
    response = client.post(
        f"{QUEUE}{contact_request.pk}/take/", {"contact_by": by.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "taken"
    assert response.json()["taken_by"]["name"] == "Kaisa Koordinaattori"
    mail = OutboundMail.objects.get(kind="contact_request_taken")
    assert mail.recipients == "sanna.salonen@example.org"
    assert "Kaisa Koordinaattori" in mail.body and by.strftime("%d.%m.%Y") in mail.body
    assert NEED not in mail.body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "contact_by"),
        ({"contact_by": "tomorrow"}, "contact_by"),
        ({"contact_by": "2001-01-01"}, "menneisyydessä"),
        ({"contact_by": "2999-01-01"}, "30"),
        ({"contact_by": "2030-01-01", "extra": 1}, "extra"),
    ],
)
def test_taking_refuses_bad_input_with_a_message(demo, api, body, message):
    contact_request = a_request()
    response = api.as_user(persona(KAISA)).post(
        f"{QUEUE}{contact_request.pk}/take/", body, format="json", HTTP_ACCEPT_LANGUAGE="fi"
    )
    assert response.status_code == 400
    assert message in response.content.decode(), response.content
    assert ContactRequest.objects.get().status == "new"


def test_a_case_opened_from_a_request_has_its_responsible_worker_and_the_guardian_an_account(
    demo, api
):
    contact_request = a_request()
    tiina = persona(TIINA)
    client = api.as_user(persona(KAISA))
    response = client.post(
        f"{QUEUE}{contact_request.pk}/open-case/",
        {"responsible_worker": str(tiina.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "opened"
    case = Case.objects.get(pk=response.json()["case"])
    assert case.responsible_worker == tiina
    assert case.responsible_organisation.code == "phhva-perhesosiaalityo"
    assert case.family.name == "Salonen" and case.family.municipality.code == "asikkala"
    assert case.opening_reason == NEED
    guardian = case.family.members.get()
    assert guardian.role == FamilyMember.Role.GUARDIAN and guardian.first_name == "Sanna"
    account = guardian.user
    assert account.email == "sanna.salonen@example.org" and not account.has_usable_password()
    # tiina sees her new case; kaisa, who opened it, does not.
    assert api.as_user(tiina).get(f"/api/v1/cases/{case.pk}/").status_code == 200
    assert api.as_user(persona(KAISA)).get(f"/api/v1/cases/{case.pk}/").status_code == 404
    # Mail: the guardian's link, and tiina's notice.
    mail = OutboundMail.objects.get(kind="guardian_activation")
    assert mail.recipients == account.email and "Tiina Vastuu" in mail.body
    assert account.username in mail.body
    assert OutboundMail.objects.get(kind="case_opened_for_worker").recipients == tiina.email

    # The guardian sets a password through the link and sees her responsible worker.
    path = re.search(r"/portal/activate/[^/\s]+/[^/\s]+/", mail.body).group(0)
    browser = Client()
    page = browser.get(path)
    assert page.status_code == 200 and account.username in body_of(page)
    done = browser.post(
        path, {"new_password1": "Kesä-ilta 2026 on!", "new_password2": "Kesä-ilta 2026 on!"}
    )
    assert done.status_code == 302 and done["Location"] == "/portal/"
    portal = browser.get("/portal/", follow=True)
    assert portal.status_code == 200
    assert '<p class="responsible-name">Tiina Vastuu</p>' in body_of(portal)
    # The link works once.
    assert Client().get(path).status_code == 404
    # kaisa's reads of the request, once it has a case, are in the family's history.
    api.as_user(persona(KAISA)).get(f"{QUEUE}{contact_request.pk}/")
    history = body_of(browser.get(f"/portal/cases/{case.pk}/history/"))
    assert "Kaisa Koordinaattori" in history and "yhteydenottopyyntönne" in history
    # And she signs in later with her username and password.
    signed_in = Client().post(
        "/portal/login/", {"username": account.username, "password": "Kesä-ilta 2026 on!"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/portal/"


def test_the_activation_page_refuses_a_weak_password_with_a_message(demo, api):
    contact_request = a_request()
    api.as_user(persona(KAISA)).post(
        f"{QUEUE}{contact_request.pk}/open-case/",
        {"responsible_worker": str(persona(TIINA).pk)},
        format="json",
    )
    account = User.objects.get(email="sanna.salonen@example.org")
    path = intake.activation_path(account)
    response = Client().post(path, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 400 and 'class="field-error"' in body_of(response)
    account.refresh_from_db()
    assert not account.has_usable_password()


@pytest.mark.parametrize(
    "path",
    [
        "/portal/activate/bm9uZQ/abc-def/",
        "/portal/activate/!!!/abc/",
        "/portal/activate/MDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAw/x-y/",
    ],
)
def test_a_made_up_activation_link_is_refused(demo, path):
    response = Client().get(path)
    assert response.status_code == 404 and "Linkki ei toimi" in body_of(response)


def test_an_activation_link_never_opens_a_workers_or_an_active_account(demo):
    for username in (TIINA, HANNA):  # a worker's account; a guardian with a password
        path = intake.activation_path(persona(username))
        assert Client().get(path).status_code == 404, username
        assert Client().post(path, {"new_password1": "x", "new_password2": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "vastuullisen organisaation"),  # kaisa is no worker: name one
        ({"responsible_worker": "00000000-0000-4000-8000-000000000000"}, "responsible_worker"),
        ({"responsible_worker": "nonsense"}, "responsible_worker"),
        ({"responsible_worker": "TERO"}, "vastuullisen organisaation"),
        ({"responsible_worker": "TIINA", "organisation": "MLL"}, "vastuullisen organisaation"),
        ({"responsible_worker": "OLLI_ELSEWHERE"}, "kuntaa"),
        ({"responsible_worker": "TIINA", "opening_reason": "x" * 4001}, "opening_reason"),
    ],
)
def test_opening_a_case_refuses_bad_input_with_a_message(demo, api, body, message):
    contact_request = a_request()
    names = {
        "TIINA": str(persona(TIINA).pk),
        "TERO": str(persona(TERO).pk),
        "MLL": str(Organisation.objects.get(code="mll-paijat-hame").pk),
    }
    if body.get("responsible_worker") == "OLLI_ELSEWHERE":
        # olli's school serves the north area; the request comes from a municipality elsewhere.
        contact_request = a_request(municipality=Municipality.objects.get(code="orimattila"))
        names["OLLI_ELSEWHERE"] = str(persona(OLLI).pk)
    body = {key: names.get(value, value) for key, value in body.items()}
    response = api.as_user(persona(KAISA)).post(
        f"{QUEUE}{contact_request.pk}/open-case/", body, format="json", HTTP_ACCEPT_LANGUAGE="fi"
    )
    assert response.status_code == 400, response.content
    assert message in response.content.decode(), response.content
    assert not Case.objects.filter(family__name="Salonen").exists()
    assert ContactRequest.objects.get(pk=contact_request.pk).status == "new"


def test_a_request_without_an_e_mail_address_opens_a_case_without_an_account(demo, api):
    contact_request = a_request(email="", phone="040 765 4321", reach_by="phone")
    response = api.as_user(persona(KAISA)).post(
        f"{QUEUE}{contact_request.pk}/open-case/",
        {"responsible_worker": str(persona(TIINA).pk)},
        format="json",
    )
    assert response.status_code == 200
    guardian = Case.objects.get(pk=response.json()["case"]).family.members.get()
    assert guardian.user is None and guardian.contact == "040 765 4321"
    assert not OutboundMail.objects.filter(kind="guardian_activation").exists()


def test_a_second_request_with_the_same_address_gets_its_own_account(demo, api):
    client = api.as_user(persona(KAISA))
    for first_name in ("Sanna", "Sami"):
        contact_request = a_request(first_name=first_name)
        response = client.post(
            f"{QUEUE}{contact_request.pk}/open-case/",
            {"responsible_worker": str(persona(TIINA).pk)},
            format="json",
        )
        assert response.status_code == 200
    assert sorted(
        User.objects.filter(email="sanna.salonen@example.org").values_list("username", flat=True)
    ) == ["sanna.salonen@example.org", "sanna.salonen@example.org-2"]


def test_a_request_referred_on_leaves_the_queue_for_the_other_organisations(demo, api):
    contact_request = a_request()
    organisation, irja = _other_intake()
    kaisa = api.as_user(persona(KAISA))
    response = kaisa.post(
        f"{QUEUE}{contact_request.pk}/refer-on/",
        {"organisation": str(organisation.pk), "note": "Ruotsinkielinen palvelu"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["organisation"]["id"] == str(organisation.pk)
    assert response.json()["status"] == "new"
    assert kaisa.get(f"{QUEUE}{contact_request.pk}/").status_code == 404
    assert api.as_user(irja).get(f"{QUEUE}{contact_request.pk}/").status_code == 200
    mail = OutboundMail.objects.get(kind="contact_request_referred")
    assert mail.recipients == "irja@example.org" and "Kaisa Koordinaattori" in mail.body


def test_referring_on_needs_an_organisation_that_takes_requests(demo, api):
    contact_request = a_request()
    client = api.as_user(persona(KAISA))
    for body, message in (
        ({"organisation": str(Organisation.objects.get(code="mll-paijat-hame").pk)}, "ei ota"),
        ({"organisation": "00000000-0000-4000-8000-000000000000"}, "organisation"),
        ({}, "organisation"),
    ):
        response = client.post(
            f"{QUEUE}{contact_request.pk}/refer-on/",
            body,
            format="json",
            HTTP_ACCEPT_LANGUAGE="fi",
        )
        assert response.status_code == 400 and message in response.content.decode(), body
    assert ContactRequest.objects.get().organisation is None


def test_a_request_is_closed_with_a_reason_and_then_nothing_more_is_done(demo, api):
    contact_request = a_request()
    client = api.as_user(persona(KAISA))
    url = f"{QUEUE}{contact_request.pk}/"
    bad = client.post(url + "close/", {"reason": "bored"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    assert client.post(url + "close/", {}, format="json").status_code == 400
    response = client.post(
        url + "close/", {"reason": "advised", "note": "Neuvottu puhelimessa"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert response.json()["close_reason"] == "advised"
    for action, body in (
        ("take/", {"contact_by": timezone.localdate().isoformat()}),
        ("open-case/", {"responsible_worker": str(persona(TIINA).pk)}),
        ("close/", {"reason": "duplicate"}),
    ):
        again = client.post(url + action, body, format="json", HTTP_ACCEPT_LANGUAGE="fi")
        assert again.status_code == 400 and "jo käsitelty" in again.content.decode(), action


def test_nobody_but_an_intake_worker_acts_on_a_request(demo, api):
    contact_request = a_request()
    url = f"{QUEUE}{contact_request.pk}/"
    bodies = {
        "take/": {"contact_by": timezone.localdate().isoformat()},
        "open-case/": {"responsible_worker": str(persona(TIINA).pk)},
        "refer-on/": {"organisation": str(Organisation.objects.get(code="mll-paijat-hame").pk)},
        "close/": {"reason": "advised"},
    }
    for username in (TIINA, ANNA, OLLI, JENNI, ULLA, HANNA, TERO):
        client = api.as_user(persona(username))
        for action, body in bodies.items():
            assert client.post(url + action, body, format="json").status_code == 403
    assert (
        ContactRequest.objects.get().status == "new"
        and not Case.objects.filter(family__name="Salonen").exists()
    )
