"""The sign-in page, shared by the password form (portal/views.py) and strong identification
(portal/oidc.py)."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from portal.forms import LoginForm


def safe_next_target(request, target: str | None) -> str:
    """`target` when it is a portal page of this host, else the portal's first page."""
    target = target or ""
    if target.startswith("/portal/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal:index")


def render_login(request, *, form=None, status: int = 200, oidc_errors=()) -> HttpResponse:
    """The sign-in page; `oidc_errors` are what went wrong in a strong identification."""
    return render(
        request,
        "portal/login.html",
        {
            "form": form if form is not None else LoginForm(),
            "next": request.POST.get("next") or request.GET.get("next") or "",
            "oidc_enabled": getattr(settings, "PORTAL_OIDC_ENABLED", False),
            "oidc_errors": list(oidc_errors),
        },
        status=status,
    )
