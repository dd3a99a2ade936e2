"""Deployment defaults: with production environment variables `check --deploy` is clean, every
response carries the security headers, cookies are Secure, HttpOnly and SameSite, whitenoise
serves collected static files, and gunicorn starts from the repository's configuration.

Production settings are decided when the settings module is imported, so these tests start Django
(and gunicorn) in a subprocess with exactly the environment of a production server.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.conf import settings
from django.test import Client

from tests.test_settings import ROOT, SECRETS

PRODUCTION_SECRET_KEY = secrets.token_urlsafe(50)


def production_env(tmp_path, **extra) -> dict:
    dropped = {*SECRETS, "DEBUG", "DATABASE_URL", "STATIC_ROOT", "ALLOWED_HOSTS"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return {
        **clean,
        **SECRETS,
        "SECRET_KEY": PRODUCTION_SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        **extra,
    }


def run(args, env, timeout=300):
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


# What a production server answers, observed in a fresh interpreter with production settings.
PROBE = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client
from cases.models import User

call_command("collectstatic", "--noinput", verbosity=0)
call_command("migrate", verbosity=0)
User.objects.create_superuser("admin.probe", password="probe-pass-2026-long")

def cookie(response, name):
    morsel = response.cookies[name]
    return {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"]}

https = Client(HTTP_X_FORWARDED_PROTO="https")
out = {}
login = https.get("/portal/login/")
out["login"] = {"status": login.status_code, "headers": dict(login.headers),
                "csrf_cookie": cookie(login, "csrftoken")}
api = https.post("/api/v1/auth/token/", {}, content_type="application/json")
out["api"] = {"status": api.status_code, "headers": dict(api.headers)}
admin = https.post("/admin/login/?next=/admin/",
                   {"username": "admin.probe", "password": "probe-pass-2026-long"})
out["admin_login"] = {"status": admin.status_code, "session_cookie": cookie(admin, "sessionid")}
language = https.post("/portal/language/", {"language": "sv", "next": "/portal/login/"})
out["language_cookie"] = cookie(language, "django_language")
docs = https.get("/api/docs/")
out["docs"] = {"status": docs.status_code, "csp": docs.headers.get("Content-Security-Policy"),
               "body": docs.content.decode()}
script = https.get("/api/docs/?script=")
out["docs_script"] = {"status": script.status_code, "type": script.headers["Content-Type"]}
css = static("portal/portal.css")
served = https.get(css, HTTP_ACCEPT_ENCODING="gzip")
out["static"] = {"url": css, "status": served.status_code, "headers": dict(served.headers)}
plain = Client()
out["http_redirect"] = {"status": plain.get("/portal/login/").status_code,
                        "location": plain.get("/portal/login/").headers.get("Location")}
out["http_healthz"] = plain.get("/healthz").status_code
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("production")
    env = production_env(tmp_path)
    result = run(["-c", PROBE], {**env, "DJANGO_SETTINGS_MODULE": "koordinointi.settings"})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("PROBE"))
    return {"env": env, "tmp_path": tmp_path, **json.loads(line[len("PROBE") :])}


# --- check --deploy ---------------------------------------------------------------------------


def test_check_deploy_reports_nothing_with_production_environment(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], production_env(tmp_path)
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNINGS" not in output and "?: (" not in output


def test_check_deploy_does_report_a_development_configuration(tmp_path):
    """The check above can fail: the development defaults are reported."""
    env = {k: v for k, v in production_env(tmp_path).items() if k != "DEBUG"}
    result = run(["manage.py", "check", "--deploy"], env)
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W018"):
        assert warning in output


# --- Headers and cookies ----------------------------------------------------------------------


def csp_directives(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.parametrize("page", ["login", "api"])
def test_every_response_carries_the_security_headers(production, page):
    headers = production[page]["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]


def test_the_api_docs_may_load_swagger_ui_from_its_cdn_and_nothing_inline(production):
    docs = production["docs"]
    assert docs["status"] == 200
    csp = csp_directives(docs["csp"])
    assert csp["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    assert csp["style-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in docs["csp"]
    # No inline script or style: the start-up script is a file of our own origin.
    assert not re.search(r"<script>|<style", docs["body"])
    assert 'src="/api/docs/?script="' in docs["body"]
    assert production["docs_script"] == {"status": 200, "type": "application/javascript"}


def test_cookies_are_secure_httponly_and_samesite(production):
    assert production["login"]["csrf_cookie"] == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }
    assert production["admin_login"]["status"] == 302
    assert production["admin_login"]["session_cookie"] == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }
    assert production["language_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}


def test_plain_http_is_redirected_to_https_but_the_health_check_answers(production):
    assert production["http_redirect"]["status"] == 301
    assert production["http_redirect"]["location"] == "https://testserver/portal/login/"
    assert production["http_healthz"] == 200


def test_whitenoise_serves_collected_static_files_with_hashed_names(production):
    static = production["static"]
    assert re.fullmatch(r"/static/portal/portal\.[0-9a-f]{12}\.css", static["url"])
    assert static["status"] == 200
    assert static["headers"]["Cache-Control"] == "max-age=315360000, public, immutable"
    assert static["headers"]["Content-Encoding"] == "gzip"
    assert (production["tmp_path"] / "static" / "staticfiles.json").exists()


def test_signed_in_portal_pages_carry_the_strict_policy_too(db):
    """In-process, with the test settings: the CSP middleware is on for every page."""
    from cases.seeding import demo

    case = demo.seed().case
    client = Client()
    client.post("/portal/login/", {"username": "hanna.huoltaja", "password": demo.DEMO_PASSWORD})
    response = client.get(f"/portal/cases/{case.pk}/")
    assert response.status_code == 200
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    body = response.content.decode()
    assert "<script" not in body and "<style" not in body and " style=" not in body


NO_COLLECTSTATIC = r"""
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
login = Client(HTTP_X_FORWARDED_PROTO="https").get("/portal/login/")
print("STATUS", login.status_code)
"""


def test_without_collectstatic_the_sign_in_page_answers_and_the_log_says_why(tmp_path):
    env = {**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "koordinointi.settings"}
    result = run(["-c", NO_COLLECTSTATIC], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STATUS 200" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    assert "collectstatic" in result.stderr


def test_tests_use_plain_static_storage_and_production_the_manifest():
    assert settings.STORAGES["staticfiles"]["BACKEND"].endswith(".StaticFilesStorage")


# --- gunicorn ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_starts_from_the_repository_config_and_logs_no_query_strings(production):
    port = free_port()
    env = {**production["env"], "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    check = subprocess.run(  # noqa: S603 - gunicorn of our own venv
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz?name=Hanna-Virtanen", timeout=5) as r:  # noqa: S310
                    assert r.status == 200
                    assert json.load(r) == {"status": "ok"}
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        request = urllib.request.Request(  # noqa: S310
            f"{base}{production['static']['url']}", headers={"X-Forwarded-Proto": "https"}
        )
        with urllib.request.urlopen(request, timeout=5) as r:  # noqa: S310
            assert r.status == 200 and b"body" in r.read()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    # The worker class the configuration names (gthread, chosen by measurement: docs/benchmarks.md).
    assert "Booting worker" in output and "Using worker: gthread" in output
    access = [line for line in output.splitlines() if '"GET /healthz' in line]
    assert access, output
    assert "Hanna-Virtanen" not in output
    assert "?" not in access[0]
