"""Sign-in lockout hooks for django-axes: the username key, the answer, log lines without names."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _


def axes_username(request, credentials) -> str | None:
    """The username a failure counts against: "Hanna.Huoltaja " and "hanna.huoltaja" share one."""
    username = (credentials or {}).get("username")
    if username is None:
        data = getattr(request, "data", None) or request.POST
        username = data.get("username")
    return str(username).strip().casefold() if username is not None else None


def axes_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """What axes writes in its log lines: the path only (usernames and addresses are personal)."""
    if isinstance(path_info, tuple | list):
        path_info = path_info[0]
    return f"{{path_info: {path_info!r}}}"


def lockout_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def lockout_message() -> str:
    return _(
        "Too many failed sign-in attempts. For your safety, sign-in with this username is "
        "paused for %(minutes)s minutes."
    ) % {"minutes": lockout_minutes()}


def axes_lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """429 for a locked-out sign-in: JSON on the API, the page the view rendered in the portal
    (it shows the lockout in its own form), a plain page for the admin."""
    if original_response is not None and original_response.status_code == 429:
        return original_response
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=429)
    return HttpResponse(
        f"<!DOCTYPE html><title>{escape(_('Sign-in paused'))}</title>"
        f"<p>{escape(lockout_message())}</p>",
        status=429,
    )
