"""Workers sign in with their organisation's OpenID Provider, and the API takes its access tokens.

The school's provider is a real one (panva's oidc-provider, tests/oidc/provider.mjs) that issues
JWT access tokens for this API (resource indicators); a second organisation's provider is the
misbehaving one (tests/oidc/rogue.mjs), which signs whatever access token the test asks for, so
that a token for another audience, an expired one, one signed by a key not in its JWKS, and one
of that organisation's provider naming a worker of another organisation can all be refused.
"""

import base64
import hashlib
import json
import re
import secrets
import urllib.parse

import pytest
import requests
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from cases.models import Organisation, OrganisationMembership, User
from cases.seeding import demo
from koordinointi import openid
from tests import oidc_support as op
from tests.browser import chromium, empty_audit_tables, skip_or_fail_without_browser
from tests.factories import WorkerFactory

API = "https://api.koordinointi.test"
CLIENT = "koordinointi-workers"
SECRET = "a-worker-client-secret-for-the-tests-only-987654"
FRONTEND = "worker-frontend"
FRONTEND_SECRET = "a-frontend-secret-for-the-tests-only-123456"
FRONTEND_CALLBACK = "http://testserver/frontend/callback"
OLLI_EMAIL = f"olli.opettaja@{demo.EMAIL_DOMAIN}"


@pytest.fixture(scope="module")
def idp(live_server):
    ours = op.client_metadata(
        CLIENT, SECRET, ["http://testserver", live_server.url], "/signin/callback/", "/signin/"
    )
    frontend = {
        "client_id": FRONTEND,
        "client_secret": FRONTEND_SECRET,
        "redirect_uris": [FRONTEND_CALLBACK],
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    with op.start_provider(
        port=op.WORKER_IDP_PORT,
        clients=[ours, frontend],
        accounts={"olli": {"email": OLLI_EMAIL}, "stranger": {"email": "x@example.org"}},
        claims={"email": ["email"]},
        api=API,
        token_claims=["email"],
    ) as provider:
        yield provider


@pytest.fixture(scope="module")
def rogue():
    with op.start_rogue() as provider:
        yield provider


@pytest.fixture(autouse=True)
def _fresh():
    cache.clear()
    openid.forget()
    yield
    openid.forget()


def olli_org() -> Organisation:
    membership = OrganisationMembership.objects.filter(
        user__username="olli.opettaja", role=OrganisationMembership.Role.WORKER
    ).first()
    assert membership is not None
    return membership.organisation


def configure_school(idp):
    school = olli_org()
    school.oidc_issuer = idp.issuer
    school.oidc_client_id = CLIENT
    school.oidc_client_secret = SECRET
    school.oidc_worker_claim = "email"
    school.oidc_email_domains = demo.EMAIL_DOMAIN
    school.oidc_api_audience = API
    school.save()
    return school


def configure_other(rogue) -> tuple[Organisation, User]:
    other = Organisation.objects.exclude(pk=olli_org().pk).order_by("code").first()
    other.oidc_issuer = rogue.issuer
    other.oidc_client_id = "other-client"
    other.oidc_worker_claim = "employee_id"
    other.oidc_api_audience = API
    other.save()
    worker = WorkerFactory(membership__organisation=other)
    OrganisationMembership.objects.filter(user=worker).update(provider_identifier="E-1001")
    return other, worker


def frontend_access_token(idp, login="olli") -> str:
    """What the worker's own front-end holds: an access token for this API from the school's
    provider (authorization code + PKCE, resource indicator)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = urllib.parse.urlencode(
        {
            "client_id": FRONTEND,
            "response_type": "code",
            "scope": "openid email api",
            "redirect_uri": FRONTEND_CALLBACK,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
            "resource": API,
            "state": "s",
        }
    )
    back = op.through_provider(f"{idp.issuer}/auth?{query}", login=login)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["code"][0]
    response = requests.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": FRONTEND_CALLBACK,
            "client_id": FRONTEND,
            "client_secret": FRONTEND_SECRET,
            "code_verifier": verifier,
            "resource": API,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert token.count(".") == 2  # a JWT for the API
    return token


def me(client, token):
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")


def rogue_token(rogue, key=0, **claims) -> str:
    response = requests.post(
        f"{rogue.issuer}/_sign", json={"claims": claims, "key": key}, timeout=10
    )
    return response.json()["token"]


# --- the API and the providers' access tokens (acceptance 2) ----------------------------------


@pytest.mark.django_db
def test_the_school_providers_access_token_names_olli_to_the_api(demo_case, client, idp):
    configure_school(idp)
    response = me(client, frontend_access_token(idp))
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "olli.opettaja"


@pytest.mark.django_db
def test_a_token_of_the_school_provider_for_someone_who_is_no_worker_is_refused(
    demo_case, client, idp
):
    configure_school(idp)
    response = me(client, frontend_access_token(idp, login="stranger"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_tokens_of_another_organisations_provider(demo_case, client, idp, rogue):
    configure_school(idp)
    other, worker = configure_other(rogue)
    rogue.post("/_rotate", {"key": 0})

    good = rogue_token(rogue, sub="w", aud=API, employee_id="E-1001")
    assert me(client, good).json()["username"] == worker.username  # the control: it works

    refused = {
        "another audience": rogue_token(
            rogue, sub="w", aud="https://other.api", employee_id="E-1001"
        ),
        "expired": rogue_token(rogue, sub="w", aud=API, employee_id="E-1001", exp=1_000_000_000),
        "key not in its JWKS": rogue_token(rogue, key=2, sub="w", aud=API, employee_id="E-1001"),
        "a worker of the school": rogue_token(rogue, sub="o", aud=API, email=OLLI_EMAIL),
        "nobody": rogue_token(rogue, sub="n", aud=API, employee_id="E-9999"),
        "no such issuer": rogue_token(rogue, sub="w", aud=API, iss="http://127.0.0.1:9498"),
    }
    for name, token in refused.items():
        response = me(client, token)
        assert response.status_code == 401, (name, response.content)
        assert "detail" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["a.b.c", "eyJhbGciOiJub25lIn0.e30.", "ä.ö.å"])
def test_a_malformed_bearer_jwt_is_a_401_not_a_500(demo_case, client, value):
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_our_own_tokens_still_work_beside_the_providers(demo_case, client):
    olli = User.objects.get(username="olli.opettaja")
    token = Token.objects.create(user=olli)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_schema_documents_the_providers_bearer_jwt(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    # One bearer scheme for the one header: the API's own token or the provider's JWT.
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert "JWT" in scheme["description"] and "OpenID Provider" in scheme["description"]
    me_security = schema["paths"]["/api/v1/me/"]["get"]["security"]
    assert {"bearerAuth": []} in me_security


@pytest.mark.django_db
def test_password_sign_in_can_be_switched_off_for_workers(demo_case, client, settings):
    settings.WORKER_PASSWORD_SIGN_IN = False
    data = {"username": "olli.opettaja", "password": demo.DEMO_PASSWORD}
    response = client.post("/api/v1/auth/token/", data, content_type="application/json")
    assert response.status_code == 403
    assert "/signin/" in response.json()["detail"]  # in the default language of the API
    settings.WORKER_PASSWORD_SIGN_IN = True
    response = client.post("/api/v1/auth/token/", data, content_type="application/json")
    assert response.status_code == 200


# --- the sign-in page -----------------------------------------------------------------------


def worker_sign_in(client, given, login="olli"):
    response = client.post("/signin/", {"organisation": given})
    assert response.status_code == 302, response.content[:500]
    return client.get(op.through_provider(response["Location"], login=login))


@pytest.mark.django_db
@pytest.mark.parametrize("given", [OLLI_EMAIL, "school-code"])
def test_a_worker_signs_in_by_email_domain_or_organisation_code(demo_case, client, idp, given):
    school = configure_school(idp)
    if given == "school-code":
        given = school.code
    response = worker_sign_in(client, given)
    assert response.status_code == 302 and response["Location"] == "/api/v1/me/"
    assert client.get("/api/v1/me/").json()["username"] == "olli.opettaja"


@pytest.mark.django_db
def test_a_person_the_provider_knows_but_we_do_not_is_never_given_an_account(
    demo_case, client, idp
):
    configure_school(idp)
    users = User.objects.count()
    response = worker_sign_in(client, OLLI_EMAIL, login="stranger")
    assert response.status_code == 403
    assert "luoda kirjautumisen yhteydessä" in response.content.decode()  # Finnish first
    assert User.objects.count() == users
    assert client.get("/api/v1/me/").status_code in (401, 403)


@pytest.mark.django_db
def test_an_unknown_organisation_is_a_message(demo_case, client, idp):
    configure_school(idp)
    response = client.post("/signin/", {"organisation": "someone@nowhere.example"})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


@pytest.mark.django_db
def test_a_worker_signed_in_by_the_provider_still_never_enters_the_portal(demo_case, client, idp):
    configure_school(idp)
    worker_sign_in(client, OLLI_EMAIL)
    response = client.get("/portal/")
    assert response.status_code in (302, 404)
    assert "/portal/cases/" not in response.get("Location", "")


# --- in the browser -------------------------------------------------------------------------


@pytest.fixture
def seeded(transactional_db):
    yield demo.seed().case
    empty_audit_tables()


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_olli_signs_in_at_his_school_and_his_front_end_calls_the_api(
    seeded, live_server, idp
):
    skip_or_fail_without_browser()
    configure_school(idp)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/signin/")
        page.get_by_label(re.compile("Organisation|Organisaatio")).fill(OLLI_EMAIL)
        page.get_by_role("button").click()
        page.locator('input[name="login"]').fill("olli")
        page.locator('input[name="password"]').fill("any")
        page.get_by_role("button", name="Sign-in").click()
        page.wait_for_url(f"{live_server.url}/api/v1/me/")
        assert "olli.opettaja" in page.content()
    status, body = api_call(live_server.url, frontend_access_token(idp))
    assert status == 200 and body["username"] == "olli.opettaja"


def api_call(base, token):
    response = requests.get(
        f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code, response.json()
