"""Settings come from the environment; production mode refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "SECRET_KEY": "a-real-secret-for-this-test-only-0123456789",
    "FIELD_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE=",
    "BLIND_INDEX_KEY": "blind-index-key-for-this-test",
    "AUDIT_SIGNING_KEY": "33" * 32,
    "CONSENT_SIGNING_KEY": "44" * 32,
}


def load_settings(**env):
    """Import the settings module in a fresh interpreter with exactly this environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in SECRETS and k not in {"DEBUG", "DATABASE_URL"}
    }
    code = "import koordinointi.settings as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'])"
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_environment_it_is_a_local_demo_on_sqlite():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3"]


def test_production_mode_refuses_to_start_without_secrets():
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    for name in SECRETS:
        assert name in result.stderr


def test_production_mode_names_each_missing_secret():
    partial = {k: v for k, v in SECRETS.items() if k != "CONSENT_SIGNING_KEY"}
    result = load_settings(DEBUG="false", **partial)
    assert result.returncode != 0
    assert "CONSENT_SIGNING_KEY" in result.stderr
    assert "SECRET_KEY," not in result.stderr.split("required:")[-1]


def test_production_mode_starts_with_its_secrets_and_database_url():
    result = load_settings(
        DEBUG="false", DATABASE_URL="postgres://user:pw@db.example:5432/koordinointi", **SECRETS
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.postgresql"]


def test_a_malformed_boolean_is_refused_loudly():
    result = load_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr
