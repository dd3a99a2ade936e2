"""One error format: DRF's, with Django's ValidationError and PermissionDenied mapped onto it."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections
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
