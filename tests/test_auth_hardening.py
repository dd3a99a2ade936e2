"""Sign-in hardening: lockout on every sign-in path, throttling, expiring tokens, sign-out, Argon2.

The lockout tests run with the real configuration (five failures, fifteen minutes); only the
failures' timestamps are moved back to stand for the cool-off passing.
"""

import datetime
import logging
import os
import subprocess
import sys

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory, WorkerFactory
from tests.test_settings import ROOT, SECRETS

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
LOGOUT_URL = "/api/v1/auth/logout/"
LOCKOUT_TEXT = "Too many failed sign-in attempts"


@pytest.fixture
def worker(db):
    return WorkerFactory(username="wilma.worker")


def portal_client(address: str) -> Client:
    """A browser that chose English in the portal (which is Finnish first)."""
    client = Client(REMOTE_ADDR=address)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def token_client(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address, HTTP_ACCEPT_LANGUAGE="en")


def sign_in(client: APIClient, username: str, password: str):
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def fail_until_locked(client, username: str):
    """The real limit: four failures answer 400, the fifth locks the pair and answers 429."""
    assert django_settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert sign_in(client, username, "wrong").status_code == 400
    return sign_in(client, username, "wrong")


def age_failures(minutes: int) -> None:
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=minutes))


# --- Lockout on the API token endpoint ----------------------------------------------------------


def test_the_token_endpoint_locks_a_username_and_address_after_five_failures(worker):
    client = token_client("192.0.2.1")
    locked = fail_until_locked(client, "wilma.worker")
    assert locked.status_code == 429
    assert LOCKOUT_TEXT in locked.json()["detail"]
    assert "15 minutes" in locked.json()["detail"]
    # Even the right password gets no token now.
    right = sign_in(client, "wilma.worker", PASSWORD)
    assert right.status_code == 429 and "token" not in right.json()


def test_the_lock_holds_only_that_username_from_that_address(worker):
    UserFactory(username="other.user")
    fail_until_locked(token_client("192.0.2.2"), "wilma.worker")
    assert sign_in(token_client("192.0.2.3"), "wilma.worker", PASSWORD).status_code == 200
    assert sign_in(token_client("192.0.2.2"), "other.user", PASSWORD).status_code == 200


def test_usernames_differing_only_in_case_and_spaces_share_one_count(worker):
    client = token_client("192.0.2.4")
    for username in ("Wilma.Worker", " wilma.worker", "WILMA.WORKER ", "wilma.worker"):
        assert sign_in(client, username, "wrong").status_code == 400
    assert sign_in(client, "wilma.Worker", "wrong").status_code == 429
    assert sign_in(client, "wilma.worker", PASSWORD).status_code == 429


def test_the_lock_ends_when_the_cool_off_is_over(worker):
    client = token_client("192.0.2.5")
    fail_until_locked(client, "wilma.worker")
    age_failures(14)
    assert sign_in(client, "wilma.worker", PASSWORD).status_code == 429
    age_failures(16)
    assert sign_in(client, "wilma.worker", PASSWORD).status_code == 200


def test_a_successful_sign_in_clears_the_failures(worker):
    client = token_client("192.0.2.6")
    for _ in range(4):
        sign_in(client, "wilma.worker", "wrong")
    assert sign_in(client, "wilma.worker", PASSWORD).status_code == 200
    for _ in range(4):
        assert sign_in(client, "wilma.worker", "wrong").status_code == 400
    assert sign_in(client, "wilma.worker", PASSWORD).status_code == 200


def test_a_lockout_is_logged_without_the_username_or_address(worker, caplog):
    caplog.set_level(logging.DEBUG)
    fail_until_locked(token_client("192.0.2.77"), "wilma.worker")
    lockouts = [r.getMessage() for r in caplog.records if "Locking out" in r.getMessage()]
    assert lockouts and TOKEN_URL in lockouts[0]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "wilma" not in everything.casefold()
    assert "192.0.2.77" not in everything


# --- Lockout on the portal and the admin --------------------------------------------------------


def test_the_portal_sign_in_locks_with_a_page_that_says_so(worker):
    client = portal_client("192.0.2.8")
    form = {"username": "wilma.worker", "password": "wrong"}
    for _ in range(4):
        assert client.post("/portal/login/", form).status_code == 400
    response = client.post("/portal/login/", form)
    assert response.status_code == 429
    assert "text/html" in response["Content-Type"]
    assert LOCKOUT_TEXT in response.content.decode()
    assert "<form" in response.content.decode()  # the sign-in page itself, with its message


def test_the_admin_sign_in_locks_too():
    UserFactory(username="kaisa.admin", is_staff=True, is_superuser=True)
    client = portal_client("192.0.2.9")
    form = {"username": "kaisa.admin", "password": "wrong", "next": "/admin/"}
    for _ in range(4):
        assert client.post("/admin/login/", form).status_code == 200  # the form, with its error
    assert client.post("/admin/login/", form).status_code == 429
    response = client.post("/admin/login/", {**form, "password": PASSWORD})
    assert response.status_code == 429
    assert LOCKOUT_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_api_and_the_portal_count_failures_of_one_username_together(worker):
    api = token_client("192.0.2.10")
    for _ in range(3):
        sign_in(api, "wilma.worker", "wrong")
    portal = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(2):
        portal.post("/portal/login/", {"username": "wilma.worker", "password": "wrong"})
    assert sign_in(api, "wilma.worker", PASSWORD).status_code == 429


# --- Throttling -------------------------------------------------------------------------------


def test_the_token_endpoint_is_throttled_per_address():
    # 30 a minute: different usernames, so that no lockout gets there first.
    client = token_client("192.0.2.11")
    for n in range(30):
        assert sign_in(client, f"nobody{n}", "wrong").status_code == 400
    response = sign_in(client, "nobody-else", "wrong")
    assert response.status_code == 429
    assert "throttled" in response.json()["detail"].lower()
    assert int(response["Retry-After"]) > 0
    assert sign_in(token_client("192.0.2.12"), "nobody", "wrong").status_code == 400


def test_the_portal_sign_in_is_throttled_per_address():
    client = portal_client("192.0.2.13")
    for n in range(30):
        response = client.post("/portal/login/", {"username": f"nobody{n}", "password": "x"})
        assert response.status_code == 400
    response = client.post("/portal/login/", {"username": "nobody-else", "password": "x"})
    assert response.status_code == 429
    assert "Too many sign-in attempts from your address" in response.content.decode()
    other = Client(REMOTE_ADDR="192.0.2.14")
    assert other.post("/portal/login/", {"username": "x", "password": "x"}).status_code == 400


def test_rates_limits_and_lifetimes_come_from_the_environment():
    code = (
        "import koordinointi.settings as s; "
        "print(s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'], s.AXES_FAILURE_LIMIT, "
        "s.AXES_COOLOFF_TIME.total_seconds(), s.API_TOKEN_TTL_HOURS)"
    )
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "DEBUG"}
    env.update(
        API_TOKEN_THROTTLE_RATE="7/min",
        PORTAL_LOGIN_THROTTLE_RATE="9/hour",
        AXES_FAILURE_LIMIT="3",
        AXES_COOLOFF_MINUTES="60",
        API_TOKEN_TTL_HOURS="2",
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("} ")[1].split() == ["3", "3600.0", "2"]
    assert "'auth_token': '7/min'" in result.stdout
    assert "'portal_login': '9/hour'" in result.stdout


# --- Tokens expire ----------------------------------------------------------------------------


def _token(user, *, age: datetime.timedelta) -> Token:
    token = Token.objects.create(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - age)
    return token


def _me(token: Token):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client.get("/api/v1/me/")


def test_a_token_works_until_its_time_to_live_is_over(worker):
    token = _token(worker, age=datetime.timedelta(hours=7, minutes=59))
    assert _me(token).status_code == 200


def test_an_expired_token_answers_401_and_is_deleted(worker):
    token = _token(worker, age=datetime.timedelta(hours=8, minutes=1))
    response = _me(token)
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired. Sign in again for a new one."
    assert response["WWW-Authenticate"] == "Token"
    assert not Token.objects.filter(key=token.key).exists()


def test_the_time_to_live_is_configurable(worker, settings):
    settings.API_TOKEN_TTL_HOURS = 1
    token = _token(worker, age=datetime.timedelta(minutes=61))
    assert _me(token).status_code == 401


def test_signing_in_again_gives_a_fresh_token_after_the_old_one_expired(worker):
    old = _token(worker, age=datetime.timedelta(hours=9))
    response = sign_in(token_client("192.0.2.15"), "wilma.worker", PASSWORD)
    assert response.status_code == 200
    fresh = response.json()["token"]
    assert fresh != old.key
    expires_at = datetime.datetime.fromisoformat(response.json()["expires_at"])
    assert abs(expires_at - (timezone.now() + datetime.timedelta(hours=8))).total_seconds() < 60
    assert _me(Token.objects.get(key=fresh)).status_code == 200


def test_signing_in_while_the_token_is_valid_gives_the_same_token(worker):
    current = _token(worker, age=datetime.timedelta(hours=1))
    response = sign_in(token_client("192.0.2.16"), "wilma.worker", PASSWORD)
    assert response.json()["token"] == current.key


# --- Sign-out revokes -------------------------------------------------------------------------


def test_signing_out_deletes_the_token(api, worker):
    client = api.as_user(worker)
    key = Token.objects.get(user=worker).key
    assert client.get("/api/v1/me/").status_code == 200
    assert client.post(LOGOUT_URL).status_code == 204
    assert not Token.objects.filter(key=key).exists()
    assert client.get("/api/v1/me/").status_code == 401
    assert client.post(LOGOUT_URL).status_code == 401


def test_signing_out_needs_a_signed_in_caller(worker):
    Token.objects.create(user=worker)
    assert APIClient().post(LOGOUT_URL).status_code == 401
    assert Token.objects.filter(user=worker).exists()


def test_portal_sign_out_flushes_the_session(db):
    from cases.seeding import demo

    demo.seed()
    client = Client()
    response = client.post(
        "/portal/login/", {"username": "hanna.huoltaja", "password": demo.DEMO_PASSWORD}
    )
    assert response.status_code == 302
    key = client.session.session_key
    assert SessionStore().exists(key)
    client.post("/portal/logout/")
    assert not SessionStore().exists(key)
    assert client.get("/portal/").status_code == 302


# --- Argon2 -----------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(worker):
    worker.set_password("a-new-password-2026")
    worker.save(update_fields=["password"])
    worker.refresh_from_db()
    assert worker.password.startswith("argon2$")
    response = sign_in(token_client("192.0.2.17"), "wilma.worker", "a-new-password-2026")
    assert response.status_code == 200


def test_an_older_hash_is_upgraded_to_argon2_at_the_next_sign_in(worker):
    worker.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    worker.save(update_fields=["password"])
    assert sign_in(token_client("192.0.2.18"), "wilma.worker", PASSWORD).status_code == 200
    worker.refresh_from_db()
    assert worker.password.startswith("argon2$")
