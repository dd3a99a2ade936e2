"""Organisations' own monthly figures (issue 18): a worker enters only their organisation's,
through the API (and the admin); the figures show beside the area's, suppressed the same way."""

import pytest

from cases.models import Organisation, Service
from reports.models import OrganisationFigure
from tests.conftest import JENNI, KAISA, TIINA

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/organisation-figures/"


def _ngo_service(demo_world):
    jenni = demo_world.users[JENNI]
    organisation = Organisation.objects.get(memberships__user=jenni, memberships__role="worker")
    return organisation, Service.objects.filter(organisation=organisation).first()


def test_a_worker_enters_and_corrects_their_organisations_figures(api, demo_world):
    organisation, service = _ngo_service(demo_world)
    client = api.as_user(demo_world.users[JENNI])
    body = {
        "service": str(service.pk),
        "month": "2026-10",
        "participants": 12,
        "sessions": 4,
        "new_families": 6,
    }
    response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["month_of"] == "2026-10"
    response = client.post(URL, {**body, "participants": 14}, format="json")
    assert response.status_code == 201
    figure = OrganisationFigure.objects.get(service=service)
    assert (figure.organisation, figure.participants) == (organisation, 14)
    listed = client.get(URL).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [row["participants"] for row in rows] == [14]


def test_a_worker_of_another_organisation_cannot_enter_them(api, demo_world):
    _, service = _ngo_service(demo_world)
    client = api.as_user(demo_world.users[TIINA])
    body = {"service": str(service.pk), "month": "2026-10", "participants": 1, "sessions": 1}
    response = client.post(URL, {**body, "new_families": 1}, format="json")
    assert response.status_code == 403
    assert not OrganisationFigure.objects.exists()
    # And she lists only her own organisations' figures: none.
    OrganisationFigure.objects.create(
        organisation=service.organisation, service=service, month="2026-10-01", participants=9
    )
    listed = client.get(URL).json()
    assert (listed["results"] if isinstance(listed, dict) else listed) == []


def test_a_coordinator_is_no_writer_and_bad_months_are_refused(api, demo_world):
    _, service = _ngo_service(demo_world)
    body = {"service": str(service.pk), "participants": 1, "sessions": 1, "new_families": 1}
    assert api.as_user(demo_world.users[KAISA]).post(URL, body, format="json").status_code == 403
    client = api.as_user(demo_world.users[JENNI])
    for month in ("2026-13", "2026-1", "", "2026-10-01"):
        response = client.post(URL, {**body, "month": month}, format="json")
        assert response.status_code == 400
        assert "month" in response.json()


def test_the_figures_show_beside_the_areas_suppressed_the_same_way(api, demo_world):
    organisation, service = _ngo_service(demo_world)
    OrganisationFigure.objects.create(
        organisation=organisation,
        service=service,
        month="2026-10-01",
        participants=12,
        sessions=3,
        new_families=0,
    )
    # Jenni's NGO serves the whole region: its figures show in every area.
    assert organisation.area is None and organisation.municipality is None
    area = "east"
    client = api.as_user(demo_world.users[KAISA])
    body = client.get("/api/v1/reports/indicators/", {"area": area, "from": "2026-10"}).json()
    values = {item["key"]: item["values"][0]["value"] for item in body["indicators"]}
    assert values["organisation_participants"] == 12
    # 3 sessions and 0 new families are under the threshold.
    assert values["organisation_sessions"] is None
    assert values["organisation_new_families"] is None


def test_the_figure_list_has_a_constant_number_of_queries(
    api, demo_world, django_assert_num_queries
):
    from tests.query_counts import REQUEST

    organisation, service = _ngo_service(demo_world)
    client = api.as_user(demo_world.users[JENNI])
    # Token with its user, the worker's organisations, the page's count and its rows.
    for months in (1, 6):
        OrganisationFigure.objects.all().delete()
        for month in range(1, months + 1):
            OrganisationFigure.objects.create(
                organisation=organisation, service=service, month=f"2026-{month:02d}-01"
            )
        with django_assert_num_queries(4 + REQUEST):
            assert client.get(URL).status_code == 200
