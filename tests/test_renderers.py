"""No 500 under any renderer: every route of the API, asked with GET for HTML from the browsable
API (on while DEBUG is), answers without a server error, for every demo role.

The routes, the objects that fill their parameters and the roles come from the authorization
matrix (tests/test_authorization_matrix.py), so a new route is covered here as soon as the
matrix names it.
"""

import pytest
from django.db import transaction
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.views import APIView

from tests import test_authorization_matrix as matrix
from tests.test_authorization_matrix import (
    KAISA,
    ROLES,
    TABLE,
    TIINA,
    ULLA,
    api_patterns,
    base_of,
    client_for,
    fill,
)

pytestmark = pytest.mark.django_db

world = matrix.world  # the matrix's seeded demo and extra objects, as a fixture here too

HTML = "text/html"


@pytest.fixture
def browsable(settings, monkeypatch):
    """DEBUG on and the browsable renderer offered, whatever DEBUG was when settings loaded (the
    views read their renderers once, at import)."""
    settings.DEBUG = True
    monkeypatch.setattr(APIView, "renderer_classes", [JSONRenderer, BrowsableAPIRenderer])


def get_routes(world) -> list[tuple[str, str]]:
    """(url, target label) of every route, filled with each object the matrix probes its GET
    with. Routes without a GET are asked too: their 405 is rendered with the forms of the
    methods they do allow, which is where a view without `get_serializer` used to fail."""
    routes = []
    for template in sorted(api_patterns()):
        row = TABLE[base_of(template)]
        probe = row.get("GET") or next(iter(row.values()))
        routes += [(fill(template, t.kwargs), t.label) for t in world.targets[probe.kind]]
    return routes


def ask(client, url):
    """GET as HTML in a savepoint that is rolled back: (status, content type), or the exception
    that the view did not handle."""
    with transaction.atomic():
        try:
            response = client.get(url, HTTP_ACCEPT=HTML)
        except Exception as exc:  # the test client re-raises it
            transaction.set_rollback(True)
            return f"{type(exc).__name__}: {exc}", None
        transaction.set_rollback(True)
    return response.status_code, response.get("Content-Type", "")


def test_the_matrix_gives_every_get_route_an_object(world):
    routes = get_routes(world)
    assert len({url for url, _label in routes}) >= 40, routes
    assert any(url.endswith("/plan/") for url, _label in routes)
    assert any(url.endswith("/emergency-access/") for url, _label in routes)


def test_no_get_route_answers_500_as_html_for_any_role(world, browsable):
    clients = {role: client_for(world, role) for role in ROLES}
    failures, html = [], 0
    for url, label in get_routes(world):
        for role, client in clients.items():
            status, content_type = ask(client, url)
            if not isinstance(status, int) or status >= 500:
                failures.append(f"{role} GET {url} ({label}) -> {status}")
            elif content_type.startswith(HTML):
                html += 1
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures)
    assert html > 100  # the browsable renderer did answer (not only JSON fallbacks)


@pytest.mark.parametrize("role", [TIINA, ULLA, KAISA])
@pytest.mark.parametrize("path", ["plan/", "emergency-access/"])
def test_the_plan_and_emergency_access_render_as_html(world, browsable, role, path):
    case_pk = next(t for t in world.targets["case"] if t.label == "Virtanen case").kwargs["case_pk"]
    status, content_type = ask(client_for(world, role), f"/api/v1/cases/{case_pk}/{path}")
    assert isinstance(status, int) and status < 500, status
    assert content_type.startswith(HTML)


def test_the_audit_mixin_gives_a_plain_api_view_no_get_serializer():
    from api.emergency import EmergencyAccessOpenView
    from api.handovers import HandoverViewSet
    from api.my_work import MyWorkView
    from api.network import PlanView

    for view in (PlanView, EmergencyAccessOpenView, MyWorkView):
        assert not hasattr(view(), "get_serializer"), view
    assert callable(HandoverViewSet().get_serializer)
