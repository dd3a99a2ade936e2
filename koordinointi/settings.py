"""Koordinointi settings: one module, every value from the environment through checked helpers.

With no environment set, it is a local demo on SQLite in the project folder (DEBUG on, fixed
insecure development keys). With DEBUG off it refuses to start without real secrets.
"""

import datetime
import os
from pathlib import Path
from typing import Any, overload

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


@overload
def env_str(name: str, default: str) -> str: ...
@overload
def env_str(name: str, default: None = None) -> str | None: ...
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


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


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
    "BLIND_INDEX_KEYS or BLIND_INDEX_KEY",
    "AUDIT_SIGNING_KEY",
    "CONSENT_SIGNING_KEY",
]
if not DEBUG:
    missing = [
        names
        for names in _REQUIRED_IN_PRODUCTION
        if not any(env_str(name) for name in names.split(" or "))
    ]
    if missing:
        raise ImproperlyConfigured(
            "DEBUG is off, so these environment variables are required: " + ", ".join(missing)
        )

SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
# Fernet keys, comma separated: the first encrypts, all decrypt (so keys can rotate).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_ENCRYPTION_KEYS)
# HMAC keys of the identity codes' blind index, comma separated: the first indexes, every one is
# searched, so lookups keep finding rows while `rebuild_blind_index` moves them to a new key.
# BLIND_INDEX_KEY, the older single-key name, alone is a list of one; beside the list it must be
# one of its keys (else the list would silently drop it).
BLIND_INDEX_KEYS = env_list("BLIND_INDEX_KEYS", [])
_blind_index_key = env_str("BLIND_INDEX_KEY")
if not BLIND_INDEX_KEYS:
    BLIND_INDEX_KEYS = [_blind_index_key or _DEV_BLIND_INDEX_KEY]
elif _blind_index_key and _blind_index_key not in BLIND_INDEX_KEYS:
    raise ImproperlyConfigured(
        "BLIND_INDEX_KEY is not one of BLIND_INDEX_KEYS: list every key in BLIND_INDEX_KEYS "
        "and remove BLIND_INDEX_KEY."
    )
BLIND_INDEX_KEY = BLIND_INDEX_KEYS[0]
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
    "axes",
    "csp",
    "auditlog",
    "cases",
    "consent",
    "audit",
    "reports",
    "api",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight after the security headers, before anything that reads the session.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.ChangeActorMiddleware",
    "audit.recorder.AccessLogMiddleware",
    # Last, so that it sees the lockout flag that a sign-in view's authenticate() call set.
    "axes.middleware.AxesMiddleware",
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
    # First: refuses every sign-in of a locked-out username and address before any password check.
    "axes.backends.AxesStandaloneBackend",
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
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer JWTs of organisations' identity providers (issue 14); other tokens pass on.
        "api.oidc_authentication.ProviderJWTAuthentication",
        "api.authentication.ExpiringTokenAuthentication",
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
    # PATCH bodies are components of their own (`Patched...`), with no field required and, by
    # api.schema.contract_for_tools, no defaults: a generated client then sends only what it set.
    "COMPONENT_SPLIT_PATCH": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # One `Authorization: Bearer` header carries either the API's own token or an
    # organisation's OpenID Provider JWT (api/oidc_authentication.py): one bearer scheme,
    # documented by the token class (api/authentication.py BEARER_DESCRIPTION).
    "AUTHENTICATION_WHITELIST": [
        "api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.document_error_responses",
        "api.schema.contract_for_tools",
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
        "DataCategoryEnum": "koordinointi.vocabulary.Category",
        "ConsentStateEnum": "consent.models.Consent.State",
        "ConsentEventKindEnum": "consent.models.ConsentEvent.Kind",
        "ConsentChannelEnum": "consent.models.ConsentEvent.Channel",
        "ContactRequestStatusEnum": "cases.models.ContactRequest.Status",
        "ContactRequestCloseReasonEnum": "cases.models.ContactRequest.CloseReason",
        "ContactRequestReachEnum": "cases.models.ContactRequest.Reach",
    },
}

# Access log (audit/): the hash chain this deployment appends to (one per wellbeing area),
# a signed checkpoint every N events, and a directory outside the database for their copies.
AUDIT_CHAIN = env_str("AUDIT_CHAIN", "paijat-hame")
AUDIT_CHECKPOINT_EVERY = env_int("AUDIT_CHECKPOINT_EVERY", 1000)
# ... and on a timer: the first append this many seconds after the last checkpoint (0: off).
AUDIT_CHECKPOINT_INTERVAL = env_int("AUDIT_CHECKPOINT_INTERVAL", 60)
# The chains this deployment declares: verify refuses any other chain it finds.
AUDIT_CHAINS = env_list("AUDIT_CHAINS", [AUDIT_CHAIN])
AUDIT_CHECKPOINT_DIR = env_str("AUDIT_CHECKPOINT_DIR", str(BASE_DIR / "audit-checkpoints"))
# How a request's events reach the chain (audit/sequencer.py): "background" inserts them into
# the intake in the request's own transaction and a sequencer (one per chain, elected through a
# PostgreSQL advisory lock; `manage.py run_sequencer` or the thread every app server starts)
# chains them in batches; "inline" chains them in the request's transaction under the chain
# head's lock (SQLite's single writer loses nothing by it).
AUDIT_SEQUENCING = env_str(
    "AUDIT_SEQUENCING",
    "background" if DATABASES["default"]["ENGINE"].endswith("postgresql") else "inline",
)
if AUDIT_SEQUENCING not in ("background", "inline"):
    raise ImproperlyConfigured("AUDIT_SEQUENCING must be 'background' or 'inline'.")
# The sequencer looks for new events this often (seconds), and chains at most this many a batch.
AUDIT_SEQUENCER_INTERVAL = env_float("AUDIT_SEQUENCER_INTERVAL", 0.05)
AUDIT_SEQUENCER_BATCH = env_int("AUDIT_SEQUENCER_BATCH", 1000)
# Hex public keys of retired audit-signing keys: their checkpoints still verify.
AUDIT_VERIFY_KEYS = env_list("AUDIT_VERIFY_KEYS", [])

# Change history (django-auditlog).
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Closed cases are purged (`manage.py purge_closed_cases`) this many days after closing.
# Default 12 years: the longest common retention of social welfare client records after the
# client relationship ends; each organisation keeps its own register's records (child welfare
# ones longer) in that register, not here.
CASE_RETENTION_DAYS = env_int("CASE_RETENTION_DAYS", 4383)


# --- Deployment defaults (issue 8) --------------------------------------------------------------
# Secure defaults that also hold in development where they do not get in the way; with DEBUG off,
# `manage.py check --deploy` has nothing to report (tests/test_deploy.py).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # no script of ours reads it: forms carry the token in the page
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The load balancer probes the health check over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp 4): only our own origin, no inline script or style, no
# plugins, no framing. The API docs page widens script, style and image sources to the CDN that
# serves Swagger UI, on that page only (koordinointi/urls.py).
# Reports (issue 18): a figure under this count is shown as "< N" and never exported.
REPORTS_SUPPRESSION_THRESHOLD = env_int("REPORTS_SUPPRESSION_THRESHOLD", 5)
if REPORTS_SUPPRESSION_THRESHOLD < 1:
    raise ImproperlyConfigured("REPORTS_SUPPRESSION_THRESHOLD must be at least 1")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
API_DOCS_CDN = "https://cdn.jsdelivr.net"

# Static files: served by whitenoise. In production, from `collectstatic` output with hashed,
# compressed, long-cached names; in development and tests, straight from the apps' folders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "koordinointi.storage.ManifestStaticFilesStorage"
    },
}
# Development and tests (DEBUG as the environment sets it, not as the test runner does): files
# from the apps' folders, looked up per request, with no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Authentication hardening (issue 8) ------------------------------------------------------
# Passwords: Argon2 first; older hashes still verify and are upgraded at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Brute-force lockout (django-axes) on every sign-in that goes through authenticate(): the API
# token, the portal and the admin. After AXES_FAILURE_LIMIT failures one username from one
# address is locked for AXES_COOLOFF_MINUTES; a successful sign-in clears the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "koordinointi.security.axes_username"
AXES_LOCKOUT_CALLABLE = "koordinointi.security.axes_lockout_response"
# Its log lines name only the path: no username, address or user agent (personal data).
AXES_VERBOSE = False
AXES_CLIENT_STR_CALLABLE = "koordinointi.security.axes_client_str"
AXES_DISABLE_ACCESS_LOG = True  # no table of every successful sign-in
AXES_SENSITIVE_PARAMETERS = ["password"]
# Behind TRUSTED_PROXY_COUNT reverse proxies, the client is the address they add to
# X-Forwarded-For; with none, REMOTE_ADDR (which a client cannot forge).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# Rate limits per client address on the sign-in endpoints (DRF throttling, in Django's cache:
# share the cache between app servers, or each counts on its own).
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT or None
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "auth_token": env_str("API_TOKEN_THROTTLE_RATE", "30/min"),
    "portal_login": env_str("PORTAL_LOGIN_THROTTLE_RATE", "30/min"),
}

# API tokens expire this many hours after they were issued; signing out deletes them at once.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 8)

# Consent policy (DESIGN.md, "Consent").
CONSENT_JOINT_CUSTODY_REQUIRES_ALL_GUARDIANS = env_bool("CONSENT_JOINT_CUSTODY_REQUIRES_ALL", True)
CONSENT_CHILD_VIEW_AGE = env_int("CONSENT_CHILD_VIEW_AGE", 12)
CONSENT_CHILD_REFUSAL_AGE = env_int("CONSENT_CHILD_REFUSAL_AGE", 15)
INVITATION_VALID_DAYS = env_int("INVITATION_VALID_DAYS", 14)
# Emergency access (break-the-glass): how long one grant lasts, in hours (at least 1).
EMERGENCY_ACCESS_HOURS = env_int("EMERGENCY_ACCESS_HOURS", 2)
if EMERGENCY_ACCESS_HOURS < 1:
    raise ImproperlyConfigured("EMERGENCY_ACCESS_HOURS must be at least 1")
# The address where people reach this service, without a trailing slash: the base of every link
# in a mail (invitations, notifications) and of a meeting's link in its calendar file (README,
# Configuration). The older, undocumented PUBLIC_BASE_URL is still read when SITE_URL is unset.
SITE_URL = env_str("SITE_URL", env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("SITE_URL must start with http:// or https://")

# Family portal (portal/): session sign-in at /portal/login/ (locked out and throttled as above).
LOGIN_URL = "portal:login"

# The front door (issue 17, portal/contact.py): the public contact-request form is rate limited
# per client address, refuses a form sent sooner than this many seconds after it was served (a
# signed time in the form), or later than CONTACT_FORM_MAX_HOURS after.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["contact_request"] = env_str(
    "CONTACT_REQUEST_THROTTLE_RATE", "10/hour"
)
CONTACT_FORM_MIN_SECONDS = env_int("CONTACT_FORM_MIN_SECONDS", 3)
CONTACT_FORM_MAX_HOURS = env_int("CONTACT_FORM_MAX_HOURS", 24)
# Production sign-in through an OpenID Connect broker of strong identification (portal/oidc.py,
# README "Strong identification for families"): on only when OIDC_RP_CLIENT_ID is set, and then
# the issuer and the secret are required. Endpoints and keys come from the issuer's discovery
# document; the client authenticates at the token endpoint with client_secret_post.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
PORTAL_OIDC_ENABLED = OIDC_RP_CLIENT_ID is not None
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["portal_oidc_start"] = env_str(
    "PORTAL_OIDC_START_THROTTLE_RATE", "60/min"
)
if PORTAL_OIDC_ENABLED:
    _OIDC_REQUIRED = ["OIDC_RP_CLIENT_SECRET", "OIDC_OP_ISSUER"]
    _missing_oidc = [name for name in _OIDC_REQUIRED if not env_str(name)]
    if _missing_oidc:
        raise ImproperlyConfigured(
            "OIDC_RP_CLIENT_ID is set, so these are required too: " + ", ".join(_missing_oidc)
        )
    OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER")
    OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid")
    OIDC_IDENTITY_CODE_CLAIM = env_str("OIDC_IDENTITY_CODE_CLAIM", "personal_identity_code")
    # Where the claim is read: "userinfo" (a conforming provider puts scope claims there when
    # it issues an access token) or "id_token".
    OIDC_IDENTITY_CODE_SOURCE = env_str("OIDC_IDENTITY_CODE_SOURCE", "userinfo")
    if OIDC_IDENTITY_CODE_SOURCE not in ("userinfo", "id_token"):
        raise ImproperlyConfigured("OIDC_IDENTITY_CODE_SOURCE is userinfo or id_token")
    # "login" makes the broker ask again every time (a shared device); max_age in seconds.
    OIDC_PROMPT = env_str("OIDC_PROMPT", "")
    _max_age = env_int("OIDC_MAX_AGE", -1)
    OIDC_MAX_AGE: int | None = None if _max_age < 0 else _max_age
    OIDC_UI_LOCALES = env_bool("OIDC_UI_LOCALES", True)
    OIDC_USE_PKCE = True
    OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
    OIDC_USE_NONCE = True
    OIDC_CREATE_USER = False
    OIDC_AUTHENTICATION_CALLBACK_URL = "portal:oidc_authentication_callback"
    LOGIN_REDIRECT_URL = "/portal/"
    LOGIN_REDIRECT_URL_FAILURE = "/portal/login/"
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("portal.oidc.GuardianOIDCBackend")

# Workers sign in with their organisation's OpenID Provider (/signin/, api/worker_signin.py) and
# call the API with its access tokens (api/oidc_authentication.py); the providers are set per
# organisation (issuer, client, worker claim, API audience). With WORKER_PASSWORD_SIGN_IN=false
# a worker's username and password no longer get an API token.
WORKER_PASSWORD_SIGN_IN = env_bool("WORKER_PASSWORD_SIGN_IN", True)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "koordinointi@localhost")

# --- Bad input and personal data out of logs (issue 8, h-input) ----------------------------------
# Request bodies are capped: DRF reads JSON straight from the stream, past Django's own
# DATA_UPLOAD_MAX_MEMORY_SIZE check, so a middleware answers 413 for any larger Content-Length
# before a view reads a byte. The same cap holds for forms (the portal) through Django's setting.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "koordinointi.limits.RequestBodySizeMiddleware",
)
# The API takes JSON only (anything else is 415), through a parser that also refuses nesting too
# deep for the decoder instead of failing with a server error.
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["api.parsers.JSONParser"]
# Error reports never carry request bodies, POST parameters nor the local variables of frames:
# any of them may hold an identity code, a name or a note.
DEFAULT_EXCEPTION_REPORTER_FILTER = "koordinointi.log.PersonalDataExceptionReporterFilter"
# Logs are one JSON object a line with the request's method, path, status and id, never its body
# nor query string; identity codes that slip into a message anyway are masked.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"personal_data": {"()": "koordinointi.log.PersonalDataFilter"}},
    "formatters": {"json": {"()": "koordinointi.log.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
