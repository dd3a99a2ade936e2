"""Families' strong identification against real OpenID Providers (issue 14).

A real, certified provider (panva's oidc-provider, tests/oidc/provider.mjs) is the broker; a
misbehaving one (tests/oidc/rogue.mjs) sends, over real HTTP, what a broker must never be
trusted with: an ID token for another audience, for another client (azp), from another
issuer, expired, with a wrong nonce or at_hash, signed by a key not in its JWKS; userinfo about
someone else; error and malformed answers of its token endpoint. Each is refused on the sign-in
page with a message, never a 500, and nobody is signed in or created.

The browser tests at the end (Debian's chromium) go through the broker's own pages: sign in,
sign out at the broker too (RP-initiated logout), cancel. One provider process of each kind
and one browser serve the whole module.
"""

import html
import re

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.utils import translation

from cases.models import FamilyMember, User
from koordinointi import openid
from tests import oidc_support as op
from tests.browser import chromium, empty_audit_tables, skip_or_fail_without_browser
from tests.factories import MembershipFactory

CALLBACK = "/portal/oidc/callback/"
LOGGED_OUT = "/portal/login/"


@pytest.fixture(scope="module")
def broker(live_server):
    client = op.client_metadata(
        op.CLIENT_ID, op.CLIENT_SECRET, ["http://testserver", live_server.url], CALLBACK, LOGGED_OUT
    )
    with op.start_provider(
        port=op.BROKER_PORT,
        clients=[client],
        accounts=op.broker_accounts(),
        claims={"identity": [op.IDENTITY_CLAIM]},
    ) as provider:
        yield provider


@pytest.fixture(scope="module")
def rogue():
    with op.start_rogue() as provider:
        yield provider


def configure(settings, issuer: str, **overrides) -> None:
    values = {
        "PORTAL_OIDC_ENABLED": True,
        "OIDC_RP_CLIENT_ID": op.CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": op.CLIENT_SECRET,
        "OIDC_OP_ISSUER": issuer,
        "OIDC_RP_SCOPES": "openid identity",
        "OIDC_IDENTITY_CODE_CLAIM": op.IDENTITY_CLAIM,
        "OIDC_IDENTITY_CODE_SOURCE": "userinfo",
        "OIDC_PROMPT": "",
        "OIDC_MAX_AGE": None,
        "OIDC_UI_LOCALES": True,
        "OIDC_USE_PKCE": True,
        "OIDC_PKCE_CODE_CHALLENGE_METHOD": "S256",
        "OIDC_USE_NONCE": True,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "portal:oidc_authentication_callback",
        "AUTHENTICATION_BACKENDS": [
            *settings.AUTHENTICATION_BACKENDS,
            "portal.oidc.GuardianOIDCBackend",
        ],
    }
    values.update(overrides)
    for name, value in values.items():
        setattr(settings, name, value)


@pytest.fixture(autouse=True)
def _fresh(settings):
    cache.clear()
    openid.forget()
    yield
    cache.clear()
    openid.forget()


@pytest.fixture
def with_broker(broker, settings):
    configure(settings, broker.issuer)
    return broker


@pytest.fixture
def with_rogue(rogue, settings):
    configure(settings, rogue.issuer)
    rogue.post("/_rotate", {"key": 0})
    return rogue


def start(client, **query):
    if "django_language" not in client.cookies:
        client.cookies["django_language"] = "en"  # the messages below are read in English
    response = client.get("/portal/oidc/authenticate/", query or None)
    assert response.status_code == 302, response.content[:500]
    return response


def sign_in(client, *, login="hanna", cancel=False, tamper=None):
    """The whole flow through the provider; the callback's answer to the test client."""
    location = start(client)["Location"]
    back = op.through_provider(location, login=login, cancel=cancel)
    if tamper is not None:
        session = client.session
        tamper(session)
        session.save()
    return client.get(back)


def signed_in_as(client):
    """Who the portal serves (its first page sends a guardian on to her case), or None."""
    response = client.get("/portal/")
    if response.status_code not in (200, 302) or "/login/" in response.get("Location", ""):
        return None
    user = response.wsgi_request.user
    return user.username if user.is_authenticated else None


def refusal(response, status: int) -> str:
    """The sign-in page, with the status and a message in its alert: the message."""
    assert response.status_code == status, response.content[:800]
    body = response.content.decode()
    assert 'id="oidc-errors"' in body, body[:2000]
    match = re.search(r'id="oidc-errors">\s*<p>(.*?)</p>', body, re.S)
    assert match
    return html.unescape(match.group(1))


# --- the happy path, and what it must not do -------------------------------------------------


@pytest.mark.django_db
def test_hanna_is_identified_through_discovery_with_pkce_and_lands_on_her_case(
    demo_case, client, with_broker
):
    response = start(client)
    location = response["Location"]
    assert location.startswith(with_broker.issuer + "/auth?")  # from discovery, not a setting
    assert "code_challenge_method=S256" in location and "nonce=" in location
    assert "scope=openid+identity" in location
    users = User.objects.count()

    back = client.get(op.through_provider(location))

    assert back.status_code == 302 and back["Location"] == "/portal/"
    assert signed_in_as(client) == "hanna.huoltaja"
    assert User.objects.count() == users


@pytest.mark.django_db
def test_prompt_and_max_age_are_sent_when_configured(demo_case, client, with_broker, settings):
    settings.OIDC_PROMPT = "login"
    settings.OIDC_MAX_AGE = 300
    location = start(client)["Location"]
    assert "prompt=login" in location and "max_age=300" in location
    client.get(op.through_provider(location))
    assert signed_in_as(client) == "hanna.huoltaja"  # auth_time is checked against max_age


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ("stranger-1", "not a guardian"),
        ("aino", "not a guardian"),  # a child's identity code
        ("nobody-without-a-code", "did not tell us your personal identity code"),
    ],
)
def test_an_identified_person_who_is_no_guardian_gets_a_message_and_nothing_is_made(
    demo_case, client, with_broker, login, expected
):
    users, members = User.objects.count(), FamilyMember.objects.count()

    message = refusal(sign_in(client, login=login), 403)

    assert expected in message
    assert signed_in_as(client) is None
    assert (User.objects.count(), FamilyMember.objects.count()) == (users, members)


@pytest.mark.django_db
def test_the_default_scope_openid_alone_gets_no_code_and_says_so(
    demo_case, client, with_broker, settings
):
    settings.OIDC_RP_SCOPES = "openid"
    assert "did not tell us your personal identity code" in refusal(sign_in(client), 403)


@pytest.mark.django_db
def test_a_worker_account_linked_to_a_guardian_never_enters_the_portal(
    demo_case, client, with_broker
):
    hanna = User.objects.get(username="hanna.huoltaja")
    MembershipFactory(user=hanna)

    message = refusal(sign_in(client), 403)

    assert "workers use their organisation's own system" in message
    assert signed_in_as(client) is None


@pytest.mark.django_db
def test_cancelling_at_the_provider_returns_with_a_message(demo_case, client, with_broker):
    message = refusal(sign_in(client, cancel=True), 400)
    assert "was cancelled" in message


@pytest.mark.django_db
def test_a_tampered_pkce_verifier_is_refused_by_the_provider_and_shown_not_a_500(
    demo_case, client, with_broker
):
    def tamper(session):
        for entry in session["oidc_states"].values():
            entry["code_verifier"] = "x" * 64

    message = refusal(sign_in(client, tamper=tamper), 502)
    assert "could not be completed" in message
    assert signed_in_as(client) is None


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_the_messages_are_translated(demo_case, client, with_broker, language):
    client.cookies["django_language"] = language
    message = refusal(sign_in(client, login="stranger-2"), 403)
    with translation.override(language):
        from portal.oidc import _not_a_guardian

        assert message == _not_a_guardian()
    if language != "en":
        with translation.override("en"):
            assert message != _not_a_guardian()


# --- lockout per identity, rate per address (acceptance 4) --------------------------------------


@pytest.mark.django_db
def test_a_guardian_still_signs_in_after_twenty_failures_by_others_from_her_address(
    demo_case, client, with_broker
):
    for n in range(20):
        other = client.__class__()
        login = f"stranger-{n}" if n % 2 else f"nobody-{n}"
        assert other.get("/portal/").status_code == 302
        refusal(sign_in(other, login=login), 403)

    sign_in(client)

    assert signed_in_as(client) == "hanna.huoltaja"


@pytest.mark.django_db
def test_one_identity_failing_again_and_again_is_locked_on_a_translated_page(
    demo_case, client, with_broker, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refusal(sign_in(client, login="stranger-3"), 403)
    client.cookies["django_language"] = "sv"
    message = refusal(sign_in(client, login="stranger-3"), 429)
    assert "identifiering" in message.lower()
    assert refusal(sign_in(client, login="stranger-3"), 429)
    # Stored under the identity's blind index, never the code itself.
    usernames = set(AccessAttempt.objects.values_list("username", flat=True))
    assert usernames and all(name.startswith("oidc-code:") for name in usernames)
    assert op.stranger_code(3) not in str(usernames)
    sign_in(client)  # Hanna on the same browser and address
    assert signed_in_as(client) == "hanna.huoltaja"


@pytest.mark.django_db
def test_starts_are_rate_limited_per_address_with_a_page_not_a_bare_429(
    demo_case, client, with_broker, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "portal_oidc_start": "3/min",
        },
    }
    from portal.oidc import StartThrottle

    StartThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        for _ in range(3):
            start(client)
        client.cookies["django_language"] = "en"
        assert "Too many sign-in attempts" in refusal(client.get("/portal/oidc/authenticate/"), 429)
    finally:
        from rest_framework.settings import api_settings

        StartThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


# --- what a broker must never be trusted with (the misbehaving provider) ---------------------


def rogue_sign_in(client, rogue, scenario: dict):
    rogue.post("/_next", {"claims": {op.IDENTITY_CLAIM: op.hanna_code()}, **scenario})
    location = start(client)["Location"]
    return client.get(op.through_provider(location, login=None))


@pytest.mark.django_db
def test_the_rogue_provider_signs_hanna_in_when_it_behaves(demo_case, client, with_rogue):
    rogue_sign_in(client, with_rogue, {})
    assert signed_in_as(client) == "hanna.huoltaja"


REFUSED = {
    "wrong aud": {"id_token": {"aud": "another-client"}},
    "another client's azp": {
        "id_token": {"aud": ["portal", "another-client"], "azp": "another-client"}
    },
    "several aud, no azp": {"id_token": {"aud": ["portal", "another-client"]}},
    "wrong iss": {"id_token": {"iss": "http://127.0.0.1:9499"}},
    "expired": {"id_token": {"exp": 1_000_000_000, "iat": 999_999_000}},
    "issued long ago": {"id_token": {"iat": 1_000_000_000}},
    "issued in the future": {"id_token": {"iat": 4_000_000_000}},
    "no exp": {"id_token": {"exp": None}},
    "wrong nonce": {"id_token": {"nonce": "not-the-one-we-sent"}},
    "no nonce": {"id_token": {"nonce": None}},
    "wrong at_hash": {"id_token": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}},
    "key not in its JWKS": {"sign_with": 2},
    "userinfo about someone else": {"userinfo": {"sub": "someone-else"}},
    "userinfo error": {"userinfo_status": 500, "userinfo_body": "<html>oops</html>"},
    "userinfo not JSON": {"userinfo_status": 200, "userinfo_body": "not json"},
    "token endpoint error": {"token_status": 400, "token_body": '{"error":"invalid_grant"}'},
    "token endpoint 500 HTML": {"token_status": 500, "token_body": "<html>down</html>"},
    "token endpoint not JSON": {"token_status": 200, "token_body": "not json"},
    "token endpoint without id_token": {"token_status": 200, "token_body": '{"access_token":"x"}'},
    "malformed id_token": {
        "token_status": 200,
        "token_body": '{"access_token":"x","id_token":"a.b.c"}',
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", list(REFUSED), ids=list(REFUSED))
def test_what_a_broker_must_not_be_trusted_with_is_refused_on_the_sign_in_page(
    demo_case, client, with_rogue, scenario
):
    users = User.objects.count()

    message = refusal(rogue_sign_in(client, with_rogue, REFUSED[scenario]), 502)

    assert "could not be completed" in message
    assert signed_in_as(client) is None
    assert User.objects.count() == users
    assert not AccessAttempt.objects.exists()  # nothing is counted against anyone


@pytest.mark.django_db
def test_the_code_can_be_read_from_the_id_token_when_configured(
    demo_case, client, with_rogue, settings
):
    settings.OIDC_IDENTITY_CODE_SOURCE = "id_token"
    scenario = {"claims": {}, "id_token": {op.IDENTITY_CLAIM: op.hanna_code()}}
    with_rogue.post("/_next", scenario)
    client.get(op.through_provider(start(client)["Location"], login=None))
    assert signed_in_as(client) == "hanna.huoltaja"


@pytest.mark.django_db
def test_keys_rotated_at_the_provider_are_fetched_by_kid(
    demo_case, client, with_rogue, monkeypatch
):
    monkeypatch.setattr(openid, "JWKS_REFETCH_SECONDS", 0)
    rogue_sign_in(client, with_rogue, {})
    assert signed_in_as(client) == "hanna.huoltaja"
    client.post("/portal/logout/")
    with_rogue.post("/_rotate", {"key": 1})

    rogue_sign_in(client, with_rogue, {})

    assert signed_in_as(client) == "hanna.huoltaja"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "callback",
    [
        "?code=abc&state=never-issued",
        "?error=server_error&state=never-issued",
        "",
        "?state=&code=",
    ],
)
def test_a_callback_of_no_flow_of_ours_is_a_message(demo_case, client, with_rogue, callback):
    refusal(client.get(CALLBACK + callback), 400)


@pytest.mark.django_db
def test_a_provider_error_at_the_callback_is_a_message(demo_case, client, with_rogue):
    location = start(client)["Location"]
    state = re.search(r"state=([^&]+)", location).group(1)
    assert "could not be completed" in refusal(
        client.get(f"{CALLBACK}?error=temporarily_unavailable&state={state}"), 400
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "issuer",
    ["http://127.0.0.1:9498", f"http://127.0.0.1:{op.ROGUE_PORT}/other"],
    ids=["unreachable", "mismatched"],  # the same ids on every xdist worker, whatever its port
)
def test_an_unreachable_or_mismatched_issuer_is_a_message_at_the_start(
    demo_case, client, rogue, settings, issuer
):
    configure(settings, issuer)
    client.cookies["django_language"] = "en"
    assert "could not be completed" in refusal(client.get("/portal/oidc/authenticate/"), 502)


# --- in the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    skip_or_fail_without_browser()
    with chromium() as browser:
        yield browser


@pytest.fixture
def seeded(transactional_db):
    from cases.seeding import demo

    yield demo.seed().case
    empty_audit_tables()


def strong_button(page):
    return page.get_by_role("link", name=re.compile("vahva", re.I))


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_hanna_signs_in_and_out_and_the_broker_asks_again(
    browser, seeded, live_server, broker, settings
):
    configure(settings, broker.issuer)
    context = browser.new_context(locale="fi-FI")
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/login/")
    strong_button(page).click()
    page.locator('input[name="login"]').fill("hanna")
    page.locator('input[name="password"]').fill("any")
    page.get_by_role("button", name="Sign-in").click()
    page.wait_for_url(f"{live_server.url}/portal/**")
    assert "Virtanen" in page.content()

    page.get_by_role("button", name=re.compile("Kirjaudu ulos")).click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the broker's own page
    page.wait_for_url(f"{live_server.url}/portal/login/")
    assert "Olet kirjautunut ulos" in page.content()

    strong_button(page).click()
    page.wait_for_load_state()
    assert page.url.startswith(broker.issuer)  # asked again, not straight back in
    assert page.locator('input[name="login"]').count() == 1
    context.close()


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_cancelling_at_the_broker_says_so(
    browser, seeded, live_server, broker, settings
):
    configure(settings, broker.issuer)
    context = browser.new_context(locale="fi-FI")
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/login/")
    strong_button(page).click()
    page.get_by_role("link", name="[ Cancel ]").click()
    page.wait_for_url(f"{live_server.url}/portal/oidc/callback/**")
    alert = page.locator("#oidc-errors")
    assert "keskeytettiin" in alert.inner_text()
    context.close()
