"""Root URLs: admin, health check, the API and its schema."""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means unhealthy
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def server_error(request):
    """A server error (say, the database failing mid-request: its transaction is rolled back)
    answers the API's clients in the API's JSON error format, and the portal with a page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Server error: please try again later.")}, status=500)
    return defaults.server_error(request)


handler500 = server_error


# Swagger UI comes from a CDN: its page (and only it) may load script, style and images from there.
# The split view serves its start-up script from our own origin, so no inline script is needed.
api_docs = csp_update(
    {
        "script-src": [settings.API_DOCS_CDN],
        "style-src": [settings.API_DOCS_CDN],
        "img-src": [settings.API_DOCS_CDN],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"))

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("portal/", include("portal.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="swagger-ui"),
]
