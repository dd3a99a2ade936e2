"""Families' strong identification through an OpenID Provider (the broker), on only when configured.

mozilla-django-oidc starts the flow (state, nonce and PKCE in the session); everything after it
is ours, to the specification (koordinointi/openid.py): discovery from `OIDC_OP_ISSUER`, every
ID-token check of OpenID Connect Core §3.1.3.7 and userinfo's `sub` compared (§5.3.2).

The broker returns the person's identity code in a claim (`OIDC_IDENTITY_CODE_CLAIM`, read from
the ID token or from userinfo: `OIDC_IDENTITY_CODE_SOURCE`). It is matched to a guardian through
the identity code's keyed blind index, under any configured key; no account is created or
changed, and the code is never logged. A worker account never enters the portal this way.

Every failure renders the sign-in page with a message (never a 500 or a bare 400). Failures of
an identified person count against that identity in django-axes (the code's blind index, or the
provider's `sub` when there is no code), never against the address: a family centre's shared
computer stays usable for everyone else. Starting an identification is rate limited per address
(`PORTAL_OIDC_START_THROTTLE_RATE`, generous: each identification costs at the broker).
"""

import hashlib
import logging
from urllib.parse import urlencode

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_login_failed
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView
from rest_framework.throttling import SimpleRateThrottle

from cases.identity_code import blind_index, identity_code_lookup_q
from cases.models import FamilyMember, User
from consent import policy
from koordinointi.openid import OpenIDError, Provider
from portal.access import portal_view
from portal.signin import render_login, safe_next_target

logger = logging.getLogger("portal.oidc")

BACKEND = "portal.oidc.GuardianOIDCBackend"


def broker() -> Provider:
    return Provider(
        issuer=str(settings.OIDC_OP_ISSUER),
        client_id=str(settings.OIDC_RP_CLIENT_ID),
        client_secret=str(settings.OIDC_RP_CLIENT_SECRET),
    )


class IdentificationFailed(Exception):
    def __init__(self, message: str, *, status: int = 400, identity: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.identity = identity


def _unavailable() -> str:
    return _(
        "The strong identification could not be completed: the identification service gave an "
        "answer that cannot be trusted or could not be reached. You have not been signed in. "
        "Please try again; if this goes on, sign in later."
    )


def _not_a_guardian() -> str:
    return _(
        "You were identified, but you are not a guardian of a family in this service. The portal "
        "shows a family's information only to its guardians. If you think this is a mistake, ask "
        "your family's responsible worker."
    )


def _worker_account() -> str:
    return _(
        "This portal is for families. Your account is not a family's portal account: workers use "
        "their organisation's own system."
    )


def _locked() -> str:
    return _(
        "Too many failed strong identifications for this person. For your safety, strong "
        "identification is paused for %(minutes)s minutes."
    ) % {"minutes": max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))}


class GuardianOIDCBackend(OIDCAuthenticationBackend):
    """Keeps the signed-in guardian's session (get_user); `identify` does the sign-in. Django's
    authenticate() never signs anyone in through it: only the callback below does."""

    def __init__(self, *args, **kwargs):
        self.UserModel = User  # mozilla's own __init__ wants the endpoints as settings

    def authenticate(self, request, **kwargs):
        return None

    def identity_code(self, claims) -> str:
        claim = getattr(settings, "OIDC_IDENTITY_CODE_CLAIM", "personal_identity_code")
        value = claims.get(claim)
        return value.strip().upper() if isinstance(value, str) else ""

    def verify_claims(self, claims) -> bool:
        return bool(self.identity_code(claims))

    def filter_users_by_claims(self, claims):
        code = self.identity_code(claims)
        if not code:
            return User.objects.none()
        # Under any configured blind-index key: a rebuild to a new key may be under way.
        return User.objects.filter(
            identity_code_lookup_q(code, prefix="family_memberships__"),
            is_active=True,
            family_memberships__role=FamilyMember.Role.GUARDIAN,
        ).distinct()

    def create_user(self, claims):
        return None  # portal accounts are linked to guardians by the service, never self-made

    def update_user(self, user, claims):
        return user  # nothing from the claims is copied into the account

    def describe_user_by_claims(self, claims) -> str:
        return "the identity code given"  # never the code itself: it would end up in logs

    def identity_key(self, claims, id_claims) -> str:
        """What failures count against: never the code or the sub themselves (axes stores it)."""
        code = self.identity_code(claims)
        if code:
            return "oidc-code:" + blind_index(code)
        subject = f"{id_claims['iss']}\n{id_claims['sub']}".encode()
        return "oidc-sub:" + hashlib.sha256(subject).hexdigest()

    def identify(self, request, *, code: str, nonce: str, code_verifier: str | None):
        """The guardian the broker identified, or IdentificationFailed."""
        provider = broker()
        redirect_uri = request.build_absolute_uri(reverse("portal:oidc_authentication_callback"))
        try:
            tokens = provider.exchange_code(
                code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
            id_claims = provider.validate_id_token(
                tokens["id_token"],
                nonce=nonce,
                access_token=tokens["access_token"],
                max_age=settings.OIDC_MAX_AGE,
            )
            claims = id_claims
            if settings.OIDC_IDENTITY_CODE_SOURCE == "userinfo":
                claims = provider.userinfo(tokens["access_token"], subject=id_claims["sub"])
        except OpenIDError as error:
            logger.warning("Strong identification refused: %s", error.reason)
            raise IdentificationFailed(_unavailable(), status=502) from None
        identity = self.identity_key(claims, id_claims)
        if AxesProxyHandler.is_locked(request, {"username": identity}):
            raise IdentificationFailed(_locked(), status=429)
        if not self.identity_code(claims):
            logger.warning("Strong identification without the identity-code claim")
            raise IdentificationFailed(
                _(
                    "The identification service did not tell us your personal identity code, "
                    "so you could not be signed in. Please try again; if this goes on, tell "
                    "your family's responsible worker."
                ),
                status=403,
                identity=identity,
            )
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) != 1:
            raise IdentificationFailed(_not_a_guardian(), status=403, identity=identity)
        user = users[0]
        if not policy.may_use_portal(user):
            raise IdentificationFailed(_worker_account(), status=403, identity=identity)
        request.session["oidc_id_token"] = tokens["id_token"]
        return user


class StartThrottle(SimpleRateThrottle):
    """Starts of strong identification per client address."""

    scope = "portal_oidc_start"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _login_page(request, message: str, status: int):
    return render_login(request, oidc_errors=[message], status=status)


class StrongIdentificationStart(OIDCAuthenticationRequestView):
    """Redirects to the broker's authorization endpoint (from discovery) with state, nonce,
    PKCE (S256), and `prompt` / `max_age` when configured."""

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_OP_AUTH_ENDPOINT = ""

    def get_extra_params(self, request):
        params = {}
        if settings.OIDC_PROMPT:
            params["prompt"] = settings.OIDC_PROMPT
        if settings.OIDC_MAX_AGE is not None:
            params["max_age"] = str(settings.OIDC_MAX_AGE)
        if settings.OIDC_UI_LOCALES:
            params["ui_locales"] = getattr(request, "LANGUAGE_CODE", "") or "fi"
        return params

    def get(self, request):
        if not getattr(settings, "PORTAL_OIDC_ENABLED", False):
            raise Http404
        if not StartThrottle().allow_request(request, None):  # type: ignore[arg-type]
            return _login_page(
                request,
                _("Too many sign-in attempts from your address. Try again shortly."),
                429,
            )
        try:
            self.OIDC_OP_AUTH_ENDPOINT = broker().metadata()["authorization_endpoint"]
        except OpenIDError as error:
            logger.warning("Strong identification cannot start: %s", error.reason)
            return _login_page(request, _unavailable(), 502)
        return super().get(request)


class StrongIdentificationCallback(View):
    """Where the broker sends the browser back: the code exchanged and checked, the guardian
    signed in, or the sign-in page with what went wrong."""

    def get(self, request):
        if not getattr(settings, "PORTAL_OIDC_ENABLED", False):
            raise Http404
        states = request.session.get("oidc_states") or {}
        state = request.GET.get("state", "")
        entry = states.pop(state, None) if isinstance(states, dict) and state else None
        if entry is not None:
            request.session["oidc_states"] = states
            request.session.save()
        if entry is None:
            return _login_page(
                request,
                _(
                    "The sign-in could not be completed: it had expired or was started in "
                    "another window. Please start the strong identification again."
                ),
                400,
            )
        error = request.GET.get("error")
        if error:
            if error in {"access_denied", "login_required", "interaction_required"}:
                message = _("The strong identification was cancelled. You have not been signed in.")
            else:
                message = _unavailable()
            logger.info("Strong identification ended by the provider: %.40s", error)
            return _login_page(request, message, 400)
        code = request.GET.get("code")
        if not code:
            return _login_page(request, _unavailable(), 400)
        if request.user.is_authenticated:
            auth.logout(request)  # no one continues another's session on a shared device
        backend = GuardianOIDCBackend()
        try:
            user = backend.identify(
                request,
                code=code,
                nonce=entry.get("nonce", ""),
                code_verifier=entry.get("code_verifier"),
            )
        except IdentificationFailed as failure:
            if failure.identity is not None:
                user_login_failed.send(
                    sender=GuardianOIDCBackend,
                    credentials={"username": failure.identity},
                    request=request,
                )
                if getattr(request, "axes_locked_out", False):
                    return _login_page(request, _locked(), 429)
            return _login_page(request, failure.message, failure.status)
        id_token = request.session.get("oidc_id_token")
        auth.login(request, user, backend=BACKEND)
        request.session["oidc_id_token"] = id_token
        return redirect(safe_next_target(request, request.session.pop("oidc_login_next", "")))


start_view = portal_view(never_cache(StrongIdentificationStart.as_view()))
callback_view = portal_view(never_cache(StrongIdentificationCallback.as_view()))


def end_session_url(request, id_token: str | None) -> str | None:
    """The broker's end_session_endpoint (RP-initiated logout 1.0) to send the browser to, so
    that the next person at a shared device is asked to identify again."""
    if not getattr(settings, "PORTAL_OIDC_ENABLED", False) or not id_token:
        return None
    try:
        endpoint = broker().endpoint("end_session_endpoint")
    except OpenIDError:
        return None
    if endpoint is None:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("portal:login")),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
