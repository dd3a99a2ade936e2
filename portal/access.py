"""The portal's one gate and one access-log writer: every page of family data passes `family_page`.

The gate asks consent.policy (through the case and consent selectors, as the API does) and then
lets through only the family: a worker who may see the case through the API still gets 404 here.
A page notes what it showed with `shown(...)`; the decorator writes those notes to the access log
inside the request's transaction, or, when the page answers 404, notes a refused attempt that
AccessLogMiddleware writes after the rollback (as api/audit.py does for the API).
"""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.utils import translation

from audit.models import AccessEvent
from audit.recorder import recorder_for
from cases import selectors as case_selectors
from consent import selectors as consent_selectors
from consent.policy import Need

READS = {"GET", "HEAD"}


def portal_language(request) -> str:
    """Finnish unless the person chose another language with the switcher (its cookie).

    The browser's Accept-Language is not followed on purpose: the service is Finnish first, and
    each page offers Swedish and English one click away.
    """
    language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _allow_signing_out_at_the_broker(response) -> None:
    """The sign-out form's answer sends the browser on to the broker's end_session_endpoint
    (portal/oidc.py): the page's form-action must allow that origin, or the browser stops."""
    if not getattr(settings, "PORTAL_OIDC_ENABLED", False):
        return
    issuer = urlsplit(getattr(settings, "OIDC_OP_ISSUER", "") or "")
    if issuer.scheme in ("https", "http") and issuer.netloc:
        response._csp_update = {"form-action": [f"{issuer.scheme}://{issuer.netloc}"]}


def portal_view(view):
    """Any portal view: rendered in the portal's language, which ends with the view."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        language = portal_language(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Language", language)
        _allow_signing_out_at_the_broker(response)
        return response

    return wrapper


def family_case(*, user, case_id):
    """(case, access) for a guardian of the case's family; 404 for everyone else."""
    return case_selectors.case_get(user=user, case_id=case_id, need=Need.FAMILY)


def family_consent(*, user, consent_id):
    """(consent, case, access) for a guardian of the consent's family; 404 for everyone else."""
    consent = consent_selectors.consent_get(user=user, consent_id=consent_id)
    case, access = family_case(user=user, case_id=consent.case_id)
    return consent, case, access


def shown(
    request,
    *,
    case,
    access,
    resource: str,
    categories=(),
    sources=(),
    action: str = AccessEvent.Action.VIEW,
) -> None:
    """Note that this response showed `categories` of `case` (written by `family_page`)."""
    recorder_for(request).allowed(
        case=case,
        access=access,
        resource=resource,
        action=action,
        categories=categories,
        sources=sources,
    )


def not_found(request):
    """The one answer for a page that does not exist and for one that is not yours."""
    return render(request, "portal/not_found.html", status=404)


def family_page(resource: str):
    """Decorate a portal view that shows or changes family data.

    Sign-in required; the view raises Http404 for what the user may not reach (through
    `family_case` / `family_consent`) and notes what it showed through `shown`.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            recorder = recorder_for(request)
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                if transaction.get_connection().in_atomic_block:
                    transaction.set_rollback(True)  # nothing the view did is kept
                recorder.pending = []
                recorder.denied(
                    resource=resource,
                    action=(
                        AccessEvent.Action.VIEW
                        if request.method in READS
                        else AccessEvent.Action.WRITE
                    ),
                    case_id=kwargs.get("case_id"),
                )
                return not_found(request)
            # A form sent back with its errors (400) shows the page's data too.
            if response.status_code < 400 or response.status_code == 400:
                recorder.flush()  # inside the request's transaction: no page without its log
            return response

        return portal_view(login_required(wrapper, login_url="portal:login"))

    return decorator
