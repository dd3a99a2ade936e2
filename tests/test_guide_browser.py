"""The public service guide in a real browser (issue 17, acceptance 1; Debian's chromium through
Playwright, on a live server with the seeded demo).

- With no account, "Asikkala, age 8" typed into the search form lists the demo's services for
  that municipality and age; a service page opened from the results shows its locations and
  opening hours.
- axe-core finds no serious or critical violation on any of the guide's pages (front page,
  results, the form with its errors, a service, an organisation, the meeting places, a meeting
  place, the calendar, the not-found page) in Finnish, Swedish and English; none scrolls sideways
  at 320 px.
- Screenshots at 390 px and 1280 px of the front page, a results page, a service page, a
  meeting place and the calendar: into docs/screenshots/ (guide-*.png) when UPDATE_SCREENSHOTS=1,
  otherwise into a temporary folder (still taken, so the code runs).

Without chromium these are skipped with the reason, unless REQUIRE_BROWSER=1 (.ci/run).
"""

import os
import uuid
from pathlib import Path

import pytest

from cases.models import Location, Service
from tests.browser import axe_problems, new_page, overflows
from tests.test_guide import ASIKKALA_8, CALENDAR, GUIDE, ORGANISATIONS, PLACES

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


def test_asikkala_age_8_in_a_browser_and_a_service_page(browser, seeded, live_server):
    base = live_server.url
    page = new_page(browser, width=390, height=844)
    page.goto(base + GUIDE["fi"])
    assert page.locator("html").get_attribute("lang") == "fi"
    assert page.get_by_role("heading", level=1).inner_text() == "Etsi palveluita perheellesi"
    page.get_by_label("Kunta").select_option(label="Asikkala")
    page.get_by_label("Lapsen ikä (vuotta)").fill("8")
    page.get_by_role("button", name="Hae", exact=True).click()
    page.wait_for_load_state()
    assert "municipality=asikkala" in page.url and "age=8" in page.url
    results = page.locator("ul.results > li h3")
    names = set(results.all_inner_texts())
    assert names == {name for _code, name in ASIKKALA_8}
    assert results.count() == len(ASIKKALA_8)

    page.get_by_role("link", name="Aamu- ja iltapäivätoiminta").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Aamu- ja iltapäivätoiminta"
    location = page.locator("article.location").first
    assert location.get_by_role("heading", level=3).inner_text() == "Pulkkilanharjun koulu"
    assert "Koulutie 2, 17200 Vääksy" in location.inner_text()
    assert "ma–pe 7.00–17.00" in location.inner_text()
    assert "ma–pe 8.00–15.00" in location.inner_text()
    assert "openstreetmap.org" in location.get_by_role("link", name="Näytä kartalla").get_attribute(
        "href"
    )

    # The same page in Swedish, through the language links.
    page.get_by_role("link", name="Svenska").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "sv"
    assert "Morgon- och eftermiddagsverksamhet" in page.get_by_role("heading", level=1).inner_text()
    assert "mån–fre 7.00–17.00" in page.locator("article.location").first.inner_text()

    # From a service to the contact-request form.
    page.get_by_role("link", name="Skicka en kontaktbegäran").click()
    page.wait_for_load_state()
    assert page.url == base + "/tjanster/kontakt/"


def _pages(language: str) -> dict[str, str]:
    aip = Service.objects.get(name_fi="Aamu- ja iltapäivätoiminta")
    closed = Service.objects.get(name_fi="Puheterapia")
    vaaksy = Location.objects.get(name_fi="Kohtaamispaikka Vääksy")
    return {
        "front": GUIDE[language],
        "results": GUIDE[language] + "?municipality=asikkala&age=8",
        "errors": GUIDE[language] + "?age=99&municipality=x",
        "service": f"{GUIDE[language]}{aip.pk}/",
        "closed": f"{GUIDE[language]}{closed.pk}/",
        "organisation": f"{ORGANISATIONS[language]}{aip.organisation_id}/",
        "places": PLACES[language],
        "place": f"{PLACES[language]}{vaaksy.pk}/",
        "calendar": CALENDAR[language],
        "calendar-filtered": CALENDAR[language] + "?municipality=asikkala&age=8",
        "not-found": f"{GUIDE[language]}{uuid.uuid4()}/",
    }


def test_no_accessibility_violation_in_any_language(browser, seeded, live_server):
    """axe-core finds no violation of any impact (issue 17: "axe finds no violation")."""
    base = live_server.url
    problems = []
    for language in ("fi", "sv", "en"):
        pages = _pages(language)
        for width, height in ((1280, 900), (320, 640)):
            page = new_page(browser, width=width, height=height)
            for name, url in pages.items():
                page.goto(base + url)
                assert page.locator("html").get_attribute("lang") == language, url
                problems += [
                    f"[{language} {width}] {name}: {p}"
                    for p in axe_problems(page, every_impact=True)
                ]
                if overflows(page):
                    problems.append(f"[{language}] {name} scrolls sideways at {width} px")
            page.context.close()
    assert not problems, "\n".join(problems)


def test_screenshots_at_390_and_1280_px(browser, seeded, live_server, tmp_path):
    """Finnish. UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    pages = _pages("fi")
    shots = [
        ("01-front", pages["front"]),
        ("02-results", pages["results"]),
        ("03-service", pages["service"]),
        ("04-meeting-place", pages["place"]),
        ("05-calendar", pages["calendar"]),
    ]
    for width, height in ((390, 844), (1280, 900)):
        page = new_page(browser, width=width, height=height)
        for name, url in shots:
            page.goto(base + url)
            page.screenshot(path=folder / f"guide-{name}-{width}.png", full_page=True)
        page.context.close()
    written = sorted(p.name for p in folder.glob("guide-*.png"))
    assert len(written) == 10, written
