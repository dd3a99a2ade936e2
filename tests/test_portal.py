"""Family portal: sign-in and throttling, each page and form as hanna.huoltaja, CSRF, languages,
the access log of page reads, and consent decisions that the API follows on the next request."""

import ast
import datetime
import gettext
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent, Chain
from cases import services
from cases.seeding import demo
from consent import receipts
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from tests.conftest import persona as user
from tests.factories import UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = demo.DEMO_PASSWORD


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the sign-in rate limit counts in the cache
    yield
    cache.clear()


@pytest.fixture
def case(demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


@pytest.fixture
def hanna(case, client):
    client.force_login(user("hanna.huoltaja"))
    return client


def school_consent(case):
    return Consent.objects.get(case=case, recipients__code="asikkala-perusopetus")


def clinic_consent(case):
    return Consent.objects.get(case=case, recipients__code="phhva-lastenneuvola")


def url(name, *args):
    return reverse(f"portal:{name}", args=args)


def text(response) -> str:
    """The page's visible text, roughly: tags dropped, whitespace squeezed."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", body)


# --- Sign-in ------------------------------------------------------------------------------------


def test_hanna_signs_in_and_lands_on_her_case_with_tiina_first(case, client):
    response = client.post(url("login"), {"username": "hanna.huoltaja", "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert response.redirect_chain == [(url("case", case.pk), 302)]
    page = response.content.decode()
    assert '<html lang="fi">' in page
    # The responsible worker comes first and largest: before any other section of the page.
    assert page.index("Tiina Vastuu") < page.index('id="status-heading"')
    assert '<p class="responsible-name">Tiina Vastuu</p>' in page
    for fact in ("Sosiaalityöntekijä", "perhesosiaalityö", "03 000 1100", "tiina.vastuu@"):
        assert fact in page


def test_sign_in_returns_to_the_page_asked_for_but_never_off_the_portal(case, client):
    form = {"username": "hanna.huoltaja", "password": PASSWORD}
    asked = url("network", case.pk)
    assert client.get(asked)["Location"] == f"{url('login')}?next={asked}"
    assert client.post(url("login"), {**form, "next": asked})["Location"] == asked
    client.logout()
    for elsewhere in ("https://evil.example/", "//evil.example/portal/", "/admin/"):
        assert client.post(url("login"), {**form, "next": elsewhere})["Location"] == url("index")
        client.logout()


def test_a_wrong_password_is_refused_with_a_plain_message(case, client):
    response = client.post(url("login"), {"username": "hanna.huoltaja", "password": "nope"})
    assert response.status_code == 400
    assert "Käyttäjätunnus tai salasana on väärin." in text(response)
    assert "_auth_user_id" not in client.session


def test_a_worker_cannot_sign_in_to_the_family_portal(case, client):
    response = client.post(url("login"), {"username": "tiina.vastuu", "password": PASSWORD})
    assert response.status_code == 403
    assert "Tämä portaali on perheille" in text(response)
    assert "_auth_user_id" not in client.session


def test_anonymous_visitors_are_sent_to_sign_in(case, client):
    for name, args in [("index", ()), ("case", (case.pk,)), ("history", (case.pk,))]:
        response = client.get(url(name, *args))
        assert response.status_code == 302
        assert response["Location"].startswith(url("login"))


def test_sign_out_is_a_post_and_ends_the_session(hanna, case):
    assert hanna.get(url("logout")).status_code == 405
    response = hanna.post(url("logout"))
    assert response["Location"] == url("login")
    assert hanna.get(url("case", case.pk)).status_code == 302


# --- Throttling ---------------------------------------------------------------------------------
# django-axes with the real configuration: the fifth failure of one username from one address
# locks that pair for fifteen minutes (tests/test_auth_hardening.py covers the API and the admin).


def test_sign_in_locks_after_five_failures_for_that_username_and_address(case):
    client = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(4):
        response = client.post(url("login"), {"username": "hanna.huoltaja", "password": "x"})
        assert response.status_code == 400
    response = client.post(url("login"), {"username": "hanna.huoltaja", "password": "x"})
    assert response.status_code == 429
    # Locked: even the right password is not checked now.
    response = client.post(url("login"), {"username": "hanna.huoltaja", "password": PASSWORD})
    assert response.status_code == 429
    assert "Liian monta epäonnistunutta kirjautumisyritystä" in text(response)
    assert "_auth_user_id" not in client.session
    # The same username from another address, and another username, are not locked.
    other = Client(REMOTE_ADDR="192.0.2.11")
    assert other.post(url("login"), {"username": "hanna.huoltaja", "password": PASSWORD})[
        "Location"
    ] == url("index")
    assert (
        client.post(url("login"), {"username": "tiina.vastuu", "password": "x"}).status_code == 400
    )


def test_the_lock_ends_when_its_time_is_over(case):
    client = Client(REMOTE_ADDR="192.0.2.20")
    for _ in range(5):
        client.post(url("login"), {"username": "hanna.huoltaja", "password": "x"})
    form = {"username": "hanna.huoltaja", "password": PASSWORD}
    assert client.post(url("login"), form).status_code == 429
    # Fifteen minutes pass: the failures are older than the cool-off.
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    assert client.post(url("login"), form).status_code == 302


def test_a_successful_sign_in_clears_the_failure_count(case):
    client = Client(REMOTE_ADDR="192.0.2.30")
    wrong = {"username": "hanna.huoltaja", "password": "x"}
    right = {"username": "hanna.huoltaja", "password": PASSWORD}
    for _ in range(4):
        client.post(url("login"), wrong)
    assert client.post(url("login"), right).status_code == 302
    client.logout()
    for _ in range(4):
        assert client.post(url("login"), wrong).status_code == 400
    assert client.post(url("login"), right).status_code == 302


def test_usernames_differing_only_in_case_share_one_count(case):
    client = Client(REMOTE_ADDR="192.0.2.40")
    for username in ("Hanna.Huoltaja", "hanna.huoltaja ", "HANNA.HUOLTAJA", "hanna.Huoltaja"):
        client.post(url("login"), {"username": username, "password": "x"})
    form = {"username": "hanna.huoltaja", "password": "x"}
    assert client.post(url("login"), form).status_code == 429


# --- Pages --------------------------------------------------------------------------------------


def test_our_network_lists_members_their_organisations_roles_and_invitations(hanna, case):
    services.network_add_informal(
        actor=user("tiina.vastuu"), case=case, name="Pirkko Virtanen", relationship="Mummo"
    )
    page = text(hanna.get(url("network", case.pk)))
    for fact in (
        "Tiina Vastuu",
        "Vastuuhenkilö",
        "Anna Neuvola",
        "lastenneuvola",
        "Terveydenhoitaja, lastenneuvola",
        "Olli Opettaja",
        "Asikkalan kunta, perusopetus",
        "Eelin luokanopettaja",
        "Pirkko Virtanen",
        "Mummo",
        "Kutsuttu, ei vielä mukana",
        "Jenni Järjestö",
    ):
        assert fact in page, fact


def test_consent_requests_say_what_to_whom_why_and_until_when(hanna, case):
    consent = school_consent(case)
    page = text(hanna.get(url("requests", case.pk)))
    until = timezone.localtime(consent.valid_until)
    for fact in (
        "Pyyntö luovuttaa tietoja taholle Asikkalan kunta, perusopetus",
        "Perustiedot, Yleiset merkinnät, Suunnitelma",
        "Perheen tuen yhteensovittaminen perhekeskuksen verkostossa",
        f"{until.day}.",
        str(until.year),
        "Tiina Vastuu",
        "Anna suostumus",
        "Kieltäydy",
    ):
        assert fact in page, fact
    assert "lastenneuvola" not in page  # the clinic's consent is decided, not a request


def test_our_consents_groups_by_state_with_a_receipt_per_decision(hanna, case):
    page = hanna.get(url("consents", case.pk)).content.decode()
    active = page[page.index('id="group-active"') : page.index('id="group-refused"')]
    assert "lastenneuvola" in active
    granted = clinic_consent(case).events.get(kind=ConsentEvent.Kind.GRANTED)
    assert url("receipt", clinic_consent(case).pk, granted.pk) in active
    assert url("withdraw", clinic_consent(case).pk) in active
    assert "perusopetus" not in page.split('id="group-active"')[1]  # pending is elsewhere


def test_grant_then_withdraw_and_olli_follows_on_his_very_next_api_request(hanna, case, api):
    olli = api.as_user(user("olli.opettaja"))
    plan = f"/api/v1/cases/{case.pk}/plan/"
    assert olli.get(plan).status_code == 404
    consent = school_consent(case)

    response = hanna.post(url("grant", consent.pk), follow=True)
    assert response.redirect_chain[-1][0] == url("consents", case.pk)
    assert "Annoit suostumuksesi. Asikkalan kunta, perusopetus näkee nyt" in text(response)
    consent.refresh_from_db()
    assert consent.state == Consent.State.ACTIVE
    event = consent.events.get(kind=ConsentEvent.Kind.GRANTED)
    assert event.channel == ConsentEvent.Channel.PORTAL and event.actor == user("hanna.huoltaja")
    assert olli.get(plan).status_code == 200
    assert olli.get(f"/api/v1/cases/{case.pk}/").json()["family"]["name"] == "Virtanen"

    confirm = hanna.get(url("withdraw", consent.pk))
    assert confirm.status_code == 200
    assert "Perutaanko suostumus?" in text(confirm)
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.ACTIVE  # GET changes nothing

    response = hanna.post(url("withdraw", consent.pk), follow=True)
    assert "Perit suostumuksen." in text(response)
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.WITHDRAWN
    # Acceptance 4: the very next request of the recipient is denied.
    assert olli.get(plan).status_code == 404
    assert "family" not in olli.get(f"/api/v1/cases/{case.pk}/").json()


def test_refusing_a_request_shares_nothing(hanna, case, api):
    consent = school_consent(case)
    response = hanna.post(url("refuse", consent.pk), follow=True)
    assert "Kieltäydyit pyynnöstä." in text(response)
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.REFUSED
    olli = api.as_user(user("olli.opettaja"))
    assert olli.get(f"/api/v1/cases/{case.pk}/plan/").status_code == 404
    page = hanna.get(url("consents", case.pk)).content.decode()
    refused = page[page.index('id="group-refused"') : page.index('id="group-withdrawn"')]
    assert "perusopetus" in refused


def test_deciding_twice_shows_the_services_reason_and_changes_nothing(hanna, case):
    consent = clinic_consent(case)  # already active
    events = ConsentEvent.objects.count()
    response = hanna.post(url("grant", consent.pk), follow=True)
    assert "Tämä suostumuspyyntö ei enää odota vastausta." in text(response)
    assert ConsentEvent.objects.count() == events


def test_withdrawing_a_consent_not_in_force_is_not_offered(hanna, case):
    consent = school_consent(case)  # pending
    response = hanna.get(url("withdraw", consent.pk), follow=True)
    assert "Vain voimassa olevan suostumuksen voi perua." in text(response)
    assert hanna.post(url("withdraw", consent.pk)).status_code == 302
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.PENDING


def test_a_receipt_downloads_as_a_signed_jws_that_verifies(hanna, case):
    consent = school_consent(case)
    hanna.post(url("grant", consent.pk))
    event = consent.events.get(kind=ConsentEvent.Kind.GRANTED)
    response = hanna.get(url("receipt", consent.pk, event.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jose"
    assert response["Content-Disposition"].startswith('attachment; filename="consent-receipt-')
    assert response["Content-Disposition"].endswith('.jws"')
    payload = receipts.verify(response.content.decode())
    assert payload["decision"] == "granted" and payload["consentId"] == str(consent.pk)
    # A decision of another consent is not a receipt of this one.
    other = clinic_consent(case).events.get(kind=ConsentEvent.Kind.GRANTED)
    assert hanna.get(url("receipt", consent.pk, other.pk)).status_code == 404
    # The request event has no receipt.
    requested = consent.events.get(kind=ConsentEvent.Kind.REQUESTED)
    assert hanna.get(url("receipt", consent.pk, requested.pk)).status_code == 404


def test_who_has_seen_our_information_shows_olli_after_the_grant_newest_first(hanna, case, api):
    olli = api.as_user(user("olli.opettaja"))
    hanna.post(url("grant", school_consent(case).pk))
    olli.get(f"/api/v1/cases/{case.pk}/plan/")
    hanna.post(url("withdraw", school_consent(case).pk))
    olli.get(f"/api/v1/cases/{case.pk}/plan/")  # refused now
    page = text(hanna.get(url("history", case.pk)))
    assert "Olli Opettaja" in page
    assert "Luokanopettaja, Asikkalan kunta, perusopetus" in page
    refused = page.index("Yritti avata tietojanne, mutta pääsy estettiin.")
    seen = page.index("Tiedot: Suunnitelma")
    assert refused < seen  # newest first
    assert "Hanna Virtanen" not in page.split("Kuka on nähnyt tietojamme")[-1].split("Näki")[0]


def test_a_guardian_of_several_families_picks_one(case, client, owner, municipality):
    hanna_user = user("hanna.huoltaja")
    services.family_create(
        actor=owner,
        name="Laine",
        municipality=municipality,
        members=[
            {"role": "guardian", "first_name": "Hanna", "last_name": "Laine", "user": hanna_user}
        ],
    )
    client.force_login(hanna_user)
    response = client.get(url("index"))
    assert response.status_code == 200
    page = text(response)
    assert "Perhe Virtanen" in page and "Perhe Laine" in page
    assert AccessEvent.objects.filter(resource="family", action="list").count() == 2


def test_a_worker_signed_in_elsewhere_gets_the_families_only_page(case, client):
    client.force_login(user("tiina.vastuu"))
    response = client.get(url("index"))
    assert response.status_code == 404
    assert "Tämä portaali on perheille" in text(response)
    # Tiina is the case's responsible worker, yet its portal pages are not hers.
    assert client.get(url("case", case.pk)).status_code == 404


def test_joint_custody_shows_who_has_answered(owner, municipality, client):
    family = services.family_create(
        actor=owner,
        name="Nieminen",
        municipality=municipality,
        joint_custody=True,
        members=[
            {"role": "guardian", "first_name": "Mari", "last_name": "Nieminen"},
            {"role": "guardian", "first_name": "Jussi", "last_name": "Nieminen"},
        ],
    )
    mari, jussi = UserFactory(username="mari"), UserFactory(username="jussi")
    for member, account in zip(family.members.order_by("first_name"), (jussi, mari), strict=True):
        member.user = account
        member.save(update_fields=["user"])
    case = family.cases.get()
    nurse = WorkerFactory(username="nurse")
    services.network_add_professional(actor=owner, case=case, user=nurse)
    consent = consent_services.consent_request(
        actor=owner,
        case=case,
        recipients=[nurse.memberships.get().organisation],
        categories=["basic"],
        purpose_code="care",
        purpose="Hoito",
        valid_until=timezone.now() + datetime.timedelta(days=30),
    )
    client.force_login(mari)
    client.post(url("grant", consent.pk))
    page = text(client.get(url("requests", case.pk)))
    assert "Molemmat huoltajat päättävät" in page
    assert "Mari Nieminen (sinä): on antanut suostumuksen" in page
    assert "Jussi Nieminen: ei ole vielä vastannut" in page
    assert "Anna suostumus" not in page
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.PENDING

    client.force_login(jussi)
    client.post(url("grant", consent.pk))
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.ACTIVE


# --- CSRF ---------------------------------------------------------------------------------------


def csrf_token(client, path) -> str:
    page = client.get(path).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_every_form_needs_its_csrf_token(case):
    client = Client(enforce_csrf_checks=True)
    form = {"username": "hanna.huoltaja", "password": PASSWORD}
    assert client.post(url("login"), form).status_code == 403
    token = csrf_token(client, url("login"))
    assert client.post(url("login"), {**form, "csrfmiddlewaretoken": token}).status_code == 302

    consent = school_consent(case)
    assert client.post(url("grant", consent.pk)).status_code == 403
    assert client.post(url("refuse", consent.pk)).status_code == 403
    assert client.post(url("language"), {"language": "sv"}).status_code == 403
    assert client.post(url("logout")).status_code == 403
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.PENDING
    assert not consent.events.exclude(kind=ConsentEvent.Kind.REQUESTED).exists()

    token = csrf_token(client, url("requests", case.pk))
    response = client.post(url("grant", consent.pk), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.ACTIVE
    assert client.post(url("withdraw", consent.pk)).status_code == 403
    assert Consent.objects.get(pk=consent.pk).state == Consent.State.ACTIVE


def test_every_page_form_carries_a_csrf_token(hanna, case):
    for name in ("case", "network", "requests", "consents", "history"):
        page = hanna.get(url(name, case.pk)).content.decode()
        forms = re.findall(r"<form\b.*?</form>", page, flags=re.S)
        assert forms, name  # at least the language and sign-out forms
        for form in forms:
            assert 'method="post"' in form and "csrfmiddlewaretoken" in form, (name, form)


# --- Languages ----------------------------------------------------------------------------------


def test_finnish_is_the_default_whatever_the_browser_prefers(hanna, case):
    response = hanna.get(url("case", case.pk), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert '<html lang="fi">' in response.content.decode()
    assert "Vastuuhenkilönne" in text(response)
    assert response["Content-Language"] == "fi"


@pytest.mark.parametrize(
    ("language", "heading", "network"),
    [
        ("sv", "Er ansvariga arbetstagare", "Vårt nätverk"),
        ("en", "Your responsible worker", "Our network"),
        ("fi", "Vastuuhenkilönne", "Verkostomme"),
    ],
)
def test_the_language_switcher_changes_the_pages_language(hanna, case, language, heading, network):
    page = url("case", case.pk)
    response = hanna.post(url("language"), {"language": language, "next": page})
    assert response["Location"] == page
    response = hanna.get(page)
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert heading in text(response) and network in text(response)
    assert "Tiina Vastuu" in text(response)
    assert 'aria-current="true"' in body.split(f'value="{language}"')[1].split(">")[0]


def test_swedish_and_english_reach_the_domains_own_strings_too(hanna, case):
    hanna.post(url("language"), {"language": "sv"})
    page = text(hanna.get(url("requests", case.pk)))
    assert "Grunduppgifter, Allmänna anteckningar, Plan" in page  # consent.Category labels
    hanna.post(url("language"), {"language": "en"})
    page = text(hanna.get(url("requests", case.pk)))
    assert "Basic information, General notes, Plan" in page


def test_the_login_page_is_translated_and_labels_its_fields(client, case):
    page = client.get(url("login")).content.decode()
    assert '<label for="id_username">Käyttäjätunnus</label>' in page
    assert '<label for="id_password">Salasana</label>' in page
    client.post(url("language"), {"language": "sv"})
    page = client.get(url("login")).content.decode()
    assert '<html lang="sv">' in page and "Logga in i familjeportalen" in page


def read_po(path: Path) -> dict:
    """{msgid: msgstr} of a .po file ((msgid, n) for plural forms); untranslated and fuzzy
    entries are left out, as msgfmt leaves them out of the .mo file."""
    entries: dict = {}
    fields: dict = {}
    fuzzy = False
    last = None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            msgid = fields.get("msgid")
            if msgid and not fuzzy:
                if "msgid_plural" in fields:
                    for key, value in fields.items():
                        if key.startswith("msgstr[") and value:
                            entries[(msgid, int(key[7:-1]))] = value
                elif fields.get("msgstr"):
                    entries[msgid] = fields["msgstr"]
            fields, fuzzy, last = {}, False, None
        elif line.startswith("#,"):
            fuzzy = fuzzy or "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[last] += ast.literal_eval(line)
        else:
            last, value = line.split(" ", 1)
            fields[last] = ast.literal_eval(value)
    return entries


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_compiled_messages_in_the_tree_match_their_sources(language):
    """The .mo files are committed (no gettext needed to run): each must equal its .po."""
    folder = ROOT / "locale" / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog
    sources = read_po(folder / "django.po")
    assert len(sources) > 300
    assert {key: catalog.get(key) for key in sources} == sources
    assert set(catalog) - {""} == set(sources)


# --- The access log -----------------------------------------------------------------------------


def test_each_page_read_is_logged_as_the_guardian_in_the_requests_transaction(hanna, case):
    hanna_user = user("hanna.huoltaja")
    expected = {
        "case": ("case", ["basic", "plan"]),
        "network": ("members", []),
        "requests": ("consents", []),
        "consents": ("consents", []),
        "history": ("access-history", []),
    }
    for name, (resource, categories) in expected.items():
        before = AccessEvent.objects.count()
        response = hanna.get(url(name, case.pk))
        assert response.status_code == 200
        event = AccessEvent.objects.order_by("-seq").first()
        assert AccessEvent.objects.count() == before + 1, name
        assert (event.user_id, event.role, event.outcome) == (hanna_user.pk, "guardian", "allowed")
        assert (event.case_id, event.family_id) == (case.pk, case.family_id)
        assert (event.resource, event.categories, event.action) == (resource, categories, "view")
        assert response["X-Request-ID"] == event.request_id


def test_a_receipt_download_is_logged_as_an_export(hanna, case):
    consent = clinic_consent(case)
    event = consent.events.get(kind=ConsentEvent.Kind.GRANTED)
    hanna.get(url("receipt", consent.pk, event.pk))
    logged = AccessEvent.objects.order_by("-seq").first()
    assert (logged.resource, logged.action) == ("consent-receipt", "export")
    assert logged.case_id == case.pk


def test_a_refused_page_is_logged_as_denied(case, client):
    stranger = UserFactory(username="stranger")
    client.force_login(stranger)
    assert client.get(url("case", case.pk)).status_code == 404
    event = AccessEvent.objects.order_by("-seq").first()
    assert (event.user_id, event.outcome, event.case_id) == (stranger.pk, "denied", case.pk)
    assert event.family_id == case.family_id  # so the family sees the attempt in its history


def test_pages_cost_the_same_number_of_queries_however_many_consents(hanna, case, settings):
    def count(name):
        with CaptureQueriesContext(connection) as queries:
            assert hanna.get(url(name, case.pk)).status_code == 200
        return len(queries)

    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)  # as it is after the first append
    pages = ("requests", "consents", "history")
    before = {name: count(name) for name in pages}  # one pending request, one active consent
    tiina, hanna_user = user("tiina.vastuu"), user("hanna.huoltaja")
    school = school_consent(case).recipients.get()
    for number in range(6):
        consent = consent_services.consent_request(
            actor=tiina,
            case=case,
            recipients=[school],
            categories=["basic"],
            purpose_code="more",
            purpose=f"Tarkoitus {number}",
            valid_until=timezone.now() + datetime.timedelta(days=30),
        )
        if number % 2:
            consent_services.consent_decide(
                actor=hanna_user,
                consent=consent,
                decision=ConsentEvent.Kind.GRANTED,
                channel=ConsentEvent.Channel.PORTAL,
            )
    assert {name: count(name) for name in pages} == before


# --- OpenID Connect -----------------------------------------------------------------------------


def test_oidc_sign_in_is_off_unless_configured(client, case, settings):
    assert settings.PORTAL_OIDC_ENABLED is False
    assert "portal.oidc.GuardianOIDCBackend" not in settings.AUTHENTICATION_BACKENDS
    assert "/portal/oidc/" not in client.get(url("login")).content.decode()
    assert client.get("/portal/oidc/authenticate/").status_code == 404


OIDC_ENV = {
    "OIDC_RP_CLIENT_ID": "portal",
    "OIDC_RP_CLIENT_SECRET": "secret-for-this-test",
    "OIDC_OP_ISSUER": "https://broker.test",  # endpoints and keys from its discovery
}


def run_with_env(code: str, **env):
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "koordinointi.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_oidc_sign_in_is_on_when_the_environment_configures_it():
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings; from django.urls import reverse\n"
        "print(settings.PORTAL_OIDC_ENABLED)\n"
        "print('portal.oidc.GuardianOIDCBackend' in settings.AUTHENTICATION_BACKENDS)\n"
        "print(reverse('portal:oidc_authentication_init'))\n"
        "print(reverse(settings.OIDC_AUTHENTICATION_CALLBACK_URL))\n"
    )
    result = run_with_env(code, **OIDC_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "True",
        "/portal/oidc/authenticate/",
        "/portal/oidc/callback/",
    ]


def test_oidc_half_configured_refuses_to_start():
    env = {k: v for k, v in OIDC_ENV.items() if k != "OIDC_OP_ISSUER"}
    result = run_with_env("import django; django.setup()", **env)
    assert result.returncode != 0
    assert "OIDC_OP_ISSUER" in result.stderr


def test_the_oidc_backend_finds_the_guardian_by_identity_code_only(case, settings):
    for name, value in OIDC_ENV.items():
        setattr(settings, name, value)
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_IDENTITY_CODE_CLAIM = "hetu"
    from portal.oidc import GuardianOIDCBackend

    backend = GuardianOIDCBackend()
    hanna_code = demo.identity_code(demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"])
    assert list(backend.filter_users_by_claims({"hetu": hanna_code.lower()})) == [
        user("hanna.huoltaja")
    ]
    aino = case.family.members.get(first_name="Aino")
    assert not backend.filter_users_by_claims({"hetu": aino.identity_code})  # not a guardian
    assert not backend.verify_claims({"email": "hanna@example.org"})
    assert backend.create_user({"hetu": "010101A123N"}) is None
    assert hanna_code not in backend.describe_user_by_claims({"hetu": hanna_code})
