"""A cap on the size of request bodies, answered before any view reads one."""

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _


class RequestBodySizeMiddleware:
    """413 for a request whose Content-Length is over `REQUEST_BODY_MAX_BYTES`.

    Django's own DATA_UPLOAD_MAX_MEMORY_SIZE guards `request.body` and forms only; DRF parses
    JSON from the stream itself. Django reads no further than Content-Length (its LimitedStream),
    so a body without one is empty, and checking the header is enough.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_BODY_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # as Django reads it: no body
        if length > limit:
            return JsonResponse(
                {
                    "detail": _("The request body is too large: at most %(limit)d bytes.")
                    % {"limit": limit}
                },
                status=413,
            )
        return self.get_response(request)
