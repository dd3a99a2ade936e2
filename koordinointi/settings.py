"""Koordinointi settings: one module, every value from the environment through checked helpers.

With no environment set, it is a local demo on SQLite in the project folder (DEBUG on, fixed
insecure development keys). With DEBUG off it refuses to start without real secrets.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

# Development-only values: used only while DEBUG is on, and refused otherwise.
_DEV_SECRET_KEY = "django-insecure-dev-only-koordinointi"  # noqa: S105
_DEV_FIELD_ENCRYPTION_KEYS = ["ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE="]
_DEV_BLIND_INDEX_KEY = "insecure-dev-blind-index-key"  # noqa: S105
# Raw 32-byte Ed25519 seeds, hex. Development only.
_DEV_AUDIT_SIGNING_KEY = "11" * 32
_DEV_CONSENT_SIGNING_KEY = "22" * 32

_REQUIRED_IN_PRODUCTION = [
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "BLIND_INDEX_KEY",
    "AUDIT_SIGNING_KEY",
    "CONSENT_SIGNING_KEY",
]
if not DEBUG:
    missing = [name for name in _REQUIRED_IN_PRODUCTION if not env_str(name)]
    if missing:
        raise ImproperlyConfigured(
            "DEBUG is off, so these environment variables are required: " + ", ".join(missing)
        )

SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
# Fernet keys, comma separated: the first encrypts, all decrypt (so keys can rotate).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_ENCRYPTION_KEYS)
BLIND_INDEX_KEY = env_str("BLIND_INDEX_KEY", _DEV_BLIND_INDEX_KEY)
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY", _DEV_AUDIT_SIGNING_KEY)
CONSENT_SIGNING_KEY = env_str("CONSENT_SIGNING_KEY", _DEV_CONSENT_SIGNING_KEY)
# Hex public keys of retired consent-signing keys: receipts they signed still verify.
CONSENT_VERIFY_KEYS = env_list("CONSENT_VERIFY_KEYS", [])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "auditlog",
    "cases",
    "consent",
    "audit",
    "api",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.ChangeActorMiddleware",
    "audit.recorder.AccessLogMiddleware",
]

ROOT_URLCONF = "koordinointi.urls"
WSGI_APPLICATION = "koordinointi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
# Each request is one transaction, so a read's access-log event commits with it or not at all.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock when their transaction begins and wait for one another, so
    # concurrent requests serialise instead of failing with "database is locked".
    # WAL with synchronous=NORMAL: readers never wait for the writer, and a commit (every read
    # appends to the access log) costs no fsync of the main file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not shared-cache memory, so that tests of concurrent requests lock as production does.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_DATABASE_NAME", str(BASE_DIR / "test-db.sqlite3"))
    }

AUTH_USER_MODEL = "cases.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-guardian: no anonymous user row, no monkey patching of User.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
GUARDIAN_MONKEY_PATCH_GROUP = False

LANGUAGE_CODE = "fi"
LANGUAGES = [("fi", _("Finnish")), ("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Helsinki"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Koordinointi API",
    "DESCRIPTION": "Consent-aware coordination of family cases across organisations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "FamilyMemberRoleEnum": "cases.models.FamilyMember.Role",
        "MembershipRoleEnum": "cases.models.OrganisationMembership.Role",
        "CaseStatusEnum": "cases.models.Case.Status",
        "HandoverStatusEnum": "cases.models.Handover.Status",
        "ServiceCategoryEnum": "cases.models.Service.Category",
        "OrganisationKindEnum": "cases.models.Organisation.Kind",
        "NetworkMemberKindEnum": "cases.models.NetworkMember.Kind",
        "InvitationStatusEnum": "cases.models.Invitation.Status",
        "DataCategoryEnum": "consent.categories.Category",
        "ConsentStateEnum": "consent.models.Consent.State",
        "ConsentEventKindEnum": "consent.models.ConsentEvent.Kind",
        "ConsentChannelEnum": "consent.models.ConsentEvent.Channel",
    },
}

# Access log (audit/): the hash chain this deployment appends to (one per wellbeing area),
# a signed checkpoint every N events, and a directory outside the database for their copies.
AUDIT_CHAIN = env_str("AUDIT_CHAIN", "paijat-hame")
AUDIT_CHECKPOINT_EVERY = env_int("AUDIT_CHECKPOINT_EVERY", 1000)
AUDIT_CHECKPOINT_DIR = env_str("AUDIT_CHECKPOINT_DIR", str(BASE_DIR / "audit-checkpoints"))
# Hex public keys of retired audit-signing keys: their checkpoints still verify.
AUDIT_VERIFY_KEYS = env_list("AUDIT_VERIFY_KEYS", [])

# Change history (django-auditlog).
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Secure defaults that also hold in development where they do not get in the way.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Consent policy (DESIGN.md, "Consent").
CONSENT_JOINT_CUSTODY_REQUIRES_ALL_GUARDIANS = env_bool("CONSENT_JOINT_CUSTODY_REQUIRES_ALL", True)
CONSENT_CHILD_VIEW_AGE = env_int("CONSENT_CHILD_VIEW_AGE", 12)
CONSENT_CHILD_REFUSAL_AGE = env_int("CONSENT_CHILD_REFUSAL_AGE", 15)
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 14)
# Base of links sent by e-mail (invitations).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# Family portal (portal/): session sign-in at /portal/login/, throttled per username and address.
LOGIN_URL = "portal:login"
PORTAL_LOGIN_MAX_FAILURES = env_int("PORTAL_LOGIN_MAX_FAILURES", 5)
PORTAL_LOGIN_LOCK_SECONDS = env_int("PORTAL_LOGIN_LOCK_SECONDS", 900)
# Production sign-in through an OpenID Connect broker (mozilla-django-oidc): on only when
# OIDC_RP_CLIENT_ID is set, and then every endpoint below is required.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
PORTAL_OIDC_ENABLED = OIDC_RP_CLIENT_ID is not None
if PORTAL_OIDC_ENABLED:
    _OIDC_REQUIRED = [
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    ]
    _missing_oidc = [name for name in _OIDC_REQUIRED if not env_str(name)]
    if _missing_oidc:
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_ID is set, so these are required too: " + ", ".join(_missing_oidc)
        )
    OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
    OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid")
    OIDC_IDENTITY_CODE_CLAIM = env_str("OIDC_IDENTITY_CODE_CLAIM", "personal_identity_code")
    OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
    OIDC_CREATE_USER = False
    OIDC_AUTHENTICATION_CALLBACK_URL = "portal:oidc_authentication_callback"
    LOGIN_REDIRECT_URL = "/portal/"
    LOGIN_REDIRECT_URL_FAILURE = "/portal/login/"
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("portal.oidc.GuardianOIDCBackend")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "koordinointi@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
