"""Root URLs: admin, health check, the API and its schema."""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularSwaggerSplitView

from api import report_page, worker_signin
from api.schema import SchemaView


@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means unhealthy
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


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
    # The coordinators' report page (issue 18, api/report_page.py).
    path("reports/", report_page.report_page, name="report-page"),
    # Workers' sign-in through their organisation's identity provider (api/worker_signin.py).
    path("signin/", worker_signin.signin, name="worker-signin"),
    path("signin/callback/", worker_signin.callback, name="worker-signin-callback"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="swagger-ui"),
    # The front door (issue 17): the public contact-request form in fi, sv and en.
    path("", include("portal.contact")),
    # The public service guide (issue 17): services, organisations, meeting places, activities.
    path("", include("portal.guide")),
]

# Under /api/ even a URL that matches no route (a malformed id, say) answers in JSON, like the
# API's own errors; elsewhere Django's pages stand.
handler400 = "api.exceptions.bad_request"
handler404 = "api.exceptions.not_found"
handler500 = "api.exceptions.server_error"
