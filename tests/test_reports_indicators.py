"""The coordinators' indicators (issue 18): every indicator for the demo data, only for
coordinators, in a constant number of queries, never read from the access log."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.selectors import INDICATORS
from tests.conftest import ANNA, HANNA, JENNI, KAISA, OLLI, TERO, TIINA, ULLA
from tests.query_counts import REQUEST

pytestmark = pytest.mark.django_db

URL = "/api/v1/reports/indicators/"
CSV_URL = "/api/v1/reports/indicators.csv"
PARAMS = {"area": "north", "from": "2025-01", "to": "2026-12"}


@pytest.fixture
def kaisa_api(api, demo_world):
    return api.as_user(demo_world.users[KAISA])


def test_a_coordinator_gets_every_indicator_for_the_demo_area(kaisa_api):
    response = kaisa_api.get(URL, PARAMS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["key"] for item in body["indicators"]] == [i.key for i in INDICATORS]
    assert body["months"][0] == "2025-01" and body["months"][-1] == "2026-12"
    assert body["threshold"] == 5
    for item in body["indicators"]:
        assert len(item["values"]) == 24
        assert item["definition"]
        for entry in item["values"]:
            assert entry["suppressed"] == (entry["value"] is None)


@pytest.mark.parametrize("username", [TIINA, ANNA, OLLI, JENNI, ULLA, HANNA, TERO])
def test_every_other_role_is_refused(api, demo_world, username):
    client = api.as_user(demo_world.users[username])
    assert client.get(URL, PARAMS).status_code == 403
    assert client.get(CSV_URL, PARAMS).status_code == 403


def test_anonymous_is_refused(api, demo_world):
    assert api.get(URL, PARAMS).status_code in (401, 403)
    assert api.get(CSV_URL, PARAMS).status_code in (401, 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"area": "north", "from": "2026-13"}, "from"),
        ({"area": "north", "from": "2026-1"}, "from"),
        ({"area": "north", "organisation_kind": "bank"}, "organisation_kind"),
        ({}, "area"),
    ],
)
def test_bad_filters_answer_400_with_the_field(kaisa_api, params, field):
    response = kaisa_api.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "params",
    [{"area": "nowhere"}, {"area": "north", "municipality": "orimattila"}],
    ids=["an unknown area", "a municipality of another area"],
)
def test_what_names_no_report_of_yours_answers_404_with_a_message(kaisa_api, params):
    # Every value fits the schema's pattern: a report that does not exist, not bad input.
    response = kaisa_api.get(URL, params)
    assert response.status_code == 404
    assert response.json()["detail"] in (
        "Koordinoimiesi alueiden joukossa ei ole tällaista aluetta.",
        "Alueella ei ole tällaista kuntaa.",
    )
    assert kaisa_api.get(CSV_URL, params).status_code == 404


def test_a_range_is_read_forwards_and_answers_at_most_36_months(kaisa_api):
    backwards = kaisa_api.get(URL, {"area": "north", "from": "2026-05", "to": "2026-01"})
    assert backwards.status_code == 200
    assert backwards.json()["months"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    long = kaisa_api.get(URL, {"area": "north", "from": "2020-01", "to": "2026-01"}).json()
    assert (long["from"], long["to"], len(long["months"])) == ("2020-01", "2022-12", 36)


def test_a_bad_filter_in_the_csv_answers_its_message_not_a_repr(kaisa_api):
    response = kaisa_api.get(CSV_URL, {"area": "north", "from": "2026-13"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response.content.decode().strip() == "from,Anna kuukausi muodossa VVVV-KK."


def test_the_query_count_does_not_grow_with_the_data_or_the_months(kaisa_api, demo_world):
    def count(params):
        with CaptureQueriesContext(connection) as queries:
            assert kaisa_api.get(URL, params).status_code == 200
        assert not [q for q in queries.captured_queries if "audit_" in q["sql"]]
        return len(queries)

    # Token with its user, coordinator memberships, the area, then: municipalities and their
    # areas, cases, contact requests, first meetings, network members, referred services,
    # referrals, handovers, consent events, emergency accesses, organisations' figures,
    # feedback answers. Never the access log.
    expected = REQUEST + 3 + 12
    assert count({"area": "north", "from": "2026-01"}) == expected
    assert count(PARAMS) == expected
    # The municipality, looked up in the area.
    assert count({**PARAMS, "municipality": "asikkala", "organisation_kind": "ngo"}) == expected + 1
