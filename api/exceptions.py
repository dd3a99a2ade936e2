"""One error format: DRF's, with Django's ValidationError and PermissionDenied mapped onto it;
and JSON for the errors Django answers itself under /api/ (no route, a bad request, a crash)."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from api.authentication import TokenExpired


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": " ".join(exc.messages)})
    elif isinstance(exc, DjangoPermissionDenied) and exc.args:
        exc = exceptions.PermissionDenied(str(exc.args[0]))
    response = drf_exception_handler(exc, context)
    if isinstance(exc, TokenExpired):
        # Nothing but the expired token's deletion happened before authentication failed: keep it.
        for connection in connections.all(initialized_only=True):
            if connection.settings_dict["ATOMIC_REQUESTS"] and connection.in_atomic_block:
                connection.set_rollback(False)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": _("Bad request.")}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """A server error (say, the database failing mid-request: its transaction is rolled back)
    answers the API's clients in the API's JSON error format, and the portal with a page."""
    if _is_api(request):
        return JsonResponse({"detail": _("Server error: please try again later.")}, status=500)
    return defaults.server_error(request)
