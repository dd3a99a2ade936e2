"""The coordinators' report page at /reports/ (issue 18): server-rendered charts with a table
beside each, the same suppressed figures as the API, for coordinators only, CSP-safe."""

import pytest
from django.test import Client

from cases.seeding import demo
from tests.conftest import HANNA, KAISA, TERO, TIINA

pytestmark = pytest.mark.django_db


@pytest.fixture
def reported(demo_world):
    demo.seed_report_data()
    return demo_world


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_coordinator_sees_charts_and_tables_of_the_south_area(reported, api):
    client = _client(reported.users[KAISA])
    response = client.get("/reports/", {"area": "south"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") == html.count('<table class="figures">')
    assert html.count('role="img"') == html.count("<svg") > 20
    # CSP-safe: no script, no inline style, no event handler attribute.
    assert "<script" not in html and "style=" not in html and " on" + "click" not in html
    assert "Content-Security-Policy" in response.headers
    assert "/api/v1/reports/indicators.csv?area=south" in html
    # The report's demo cases: nine a month, shown, not withheld.
    report = api.as_user(reported.users[KAISA]).get(
        "/api/v1/reports/indicators/", {"area": "south"}
    )
    new_cases = next(i for i in report.json()["indicators"] if i["key"] == "cases_new")
    assert new_cases["values"][0]["value"] == 9


@pytest.mark.parametrize(
    ("lang", "title"), [("fi", "Mittarit"), ("sv", "Indikatorer"), ("en", "Indicators")]
)
def test_it_speaks_finnish_swedish_and_english(reported, lang, title):
    response = _client(reported.users[KAISA]).get("/reports/", {"area": "south", "lang": lang})
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.content.decode()
    assert f"<h1>{title}</h1>" in response.content.decode()


@pytest.mark.parametrize("username", [TIINA, HANNA, TERO])
def test_anyone_but_a_coordinator_is_refused(reported, username):
    response = _client(reported.users[username]).get("/reports/", {"area": "south"})
    assert response.status_code == 403
    assert "<svg" not in response.content.decode()


def test_anonymous_is_sent_to_sign_in(reported):
    response = Client().get("/reports/?area=south")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_bad_filters_answer_400_with_the_message(reported):
    response = _client(reported.users[KAISA]).get(
        "/reports/", {"area": "south", "from": "x", "lang": "en"}
    )
    assert response.status_code == 400
    assert "YYYY-MM" in response.content.decode()
