"""Workers sign in with their own organisation's OpenID Provider (issue 14), at /signin/.

The page asks for the organisation's code or the worker's e-mail address (its domain names
the organisation, `oidc_email_domains`) and sends the browser to that organisation's provider
(authorization code flow with PKCE S256, state and nonce, client_secret_post; endpoints and keys
from the issuer's discovery). Back at the callback the ID token passes every check of
koordinointi/openid.py, and the organisation's worker claim (from the ID token, or from userinfo
when the ID token lacks it) names one existing worker in post in that organisation: the account
is linked by that claim only, never created. The worker then has a session (the API accepts it,
as it accepts the provider's access tokens: api/oidc_authentication.py). Every failure renders
the page again with a message, never a 500.
"""

import base64
import hashlib
import logging
import secrets
from urllib.parse import urlencode, urlsplit

from django.contrib import auth
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from cases.models import Organisation
from consent import policy
from koordinointi.openid import OpenIDError, Provider

logger = logging.getLogger("api.worker_signin")
SESSION_KEY = "worker_oidc_flows"


def _provider(organisation: Organisation) -> Provider:
    return Provider(
        issuer=organisation.oidc_issuer,
        client_id=organisation.oidc_client_id,
        client_secret=organisation.oidc_client_secret or "",
    )


def _page(request, *, error: str = "", status: int = 200, given: str = "") -> HttpResponse:
    response = render(
        request, "api/worker_signin.html", {"error": error, "given": given}, status=status
    )
    # The form's answer sends the browser on to an organisation's provider: the page's
    # form-action must allow their origins, or the browser stops there.
    origins = set()
    for issuer in Organisation.objects.exclude(oidc_issuer="").values_list(
        "oidc_issuer", flat=True
    ):
        parts = urlsplit(issuer)
        if parts.scheme in ("https", "http") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    if origins:
        response._csp_update = {"form-action": sorted(origins)}  # type: ignore[attr-defined]
    return response


def _organisation_for(given: str) -> Organisation | None:
    given = given.strip().casefold()
    if not given:
        return None
    with_provider = Organisation.objects.exclude(oidc_issuer="").exclude(oidc_client_id="")
    if "@" in given or "." in given:
        domain = given.rsplit("@", 1)[-1]
        for organisation in with_provider.exclude(oidc_email_domains=""):
            domains = {d.strip().casefold() for d in organisation.oidc_email_domains.split(",")}
            if domain in domains:
                return organisation
        return None
    return with_provider.filter(code=given).first()


def _unavailable() -> str:
    return _(
        "The sign-in could not be completed: your organisation's identity provider gave an "
        "answer that cannot be trusted or could not be reached. Please try again."
    )


@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    if request.method == "GET":
        return _page(request)
    given = request.POST.get("organisation", "")
    organisation = _organisation_for(given)
    if organisation is None:
        return _page(
            request,
            error=_(
                "No organisation with its own identity provider matches what you gave. Give "
                "your organisation's code or your work e-mail address."
            ),
            status=400,
            given=given[:200],
        )
    try:
        endpoint = _provider(organisation).metadata()["authorization_endpoint"]
    except OpenIDError as error:
        logger.warning("Worker sign-in cannot start: %s", error.reason)
        return _page(request, error=_unavailable(), status=502, given=given[:200])
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    flows = request.session.get(SESSION_KEY) or {}
    flows = dict(list(flows.items())[-4:])  # a few tabs at most
    flows[state] = {"organisation": str(organisation.pk), "nonce": nonce, "verifier": verifier}
    request.session[SESSION_KEY] = flows
    query = urlencode(
        {
            "response_type": "code",
            "client_id": organisation.oidc_client_id,
            "redirect_uri": request.build_absolute_uri(reverse("worker-signin-callback")),
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return redirect(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}")


@never_cache
@require_GET
def callback(request):
    flows = request.session.get(SESSION_KEY) or {}
    flow = flows.pop(request.GET.get("state", ""), None) if isinstance(flows, dict) else None
    request.session[SESSION_KEY] = flows
    if flow is None:
        return _page(
            request,
            error=_(
                "The sign-in had expired or was started in another window. Please start again."
            ),
            status=400,
        )
    if request.GET.get("error"):
        message = _("The sign-in was cancelled at your organisation.")
        return _page(request, error=message, status=400)
    organisation = Organisation.objects.filter(pk=flow["organisation"]).first()
    code = request.GET.get("code")
    if organisation is None or not code:
        return _page(request, error=_unavailable(), status=400)
    provider = _provider(organisation)
    claim = organisation.oidc_worker_claim
    try:
        tokens = provider.exchange_code(
            code=code,
            redirect_uri=request.build_absolute_uri(reverse("worker-signin-callback")),
            code_verifier=flow["verifier"],
        )
        claims = provider.validate_id_token(
            tokens["id_token"], nonce=flow["nonce"], access_token=tokens["access_token"]
        )
        if claim not in claims and provider.endpoint("userinfo_endpoint"):
            try:
                claims = {
                    **claims,
                    **provider.userinfo(tokens["access_token"], subject=claims["sub"]),
                }
            except OpenIDError as error:
                # An access token only for this API may not open userinfo: the ID token's
                # claims are all there is.
                logger.info("Worker sign-in: no userinfo (%s)", error.reason)
    except OpenIDError as error:
        logger.warning("Worker sign-in refused: %s", error.reason)
        return _page(request, error=_unavailable(), status=502)
    user = policy.worker_by_provider_claim(organisation, claims.get(claim))
    if user is None:
        return _page(
            request,
            error=_(
                "Your organisation identified you, but no worker account of that organisation "
                "matches you. Ask your organisation's administrator to add you: accounts are "
                "never made at sign-in."
            ),
            status=403,
        )
    auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("/api/v1/me/")
