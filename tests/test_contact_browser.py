"""The front door in a real browser (issue 17, acceptance 3; Debian's chromium through Playwright,
on a live server).

- Someone with no account sends a contact request from the public form; it reaches the intake
  queue, where kaisa.koordinaattori (an intake worker) takes it and opens a case with
  tiina.vastuu as its responsible worker; the new guardian sets her password through the link
  mailed to her, and the portal shows her Tiina.
- axe-core finds no serious or critical violation on the form (with its errors too), the
  confirmation and the activation page, in Finnish, Swedish and English; none scrolls sideways
  at 320 px.
- Screenshots at 390 px and 1280 px: into docs/screenshots/ when UPDATE_SCREENSHOTS=1,
  otherwise into a temporary folder (still taken, so the code runs).

Without chromium these are skipped with the reason, unless REQUIRE_BROWSER=1 (.ci/run).
"""

import datetime
import os
import re
import time
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from cases import intake
from cases.models import ContactRequest, Municipality, User
from cases.seeding import demo
from tests.browser import (
    Api,
    axe_problems,
    new_page,
    overflows,
)

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = demo.DEMO_PASSWORD
FORMS = {"fi": "/palvelut/ota-yhteytta/", "sv": "/tjanster/kontakt/", "en": "/services/contact/"}
NEW_PASSWORD = "Kesäilta järven rannalla 2026"


@pytest.fixture(autouse=True)
def quick_form(settings):
    # A person takes longer than a second to fill the form; the test waits that long.
    settings.CONTACT_FORM_MIN_SECONDS = 1


def fill_the_form(page, *, email="sanna.salonen@example.org"):
    page.get_by_label("Etunimi").fill("Sanna")
    page.get_by_label("Sukunimi").fill("Salonen")
    page.get_by_label("Kotikuntasi").select_option(label="Asikkala")
    page.get_by_label("Missä toivoisit apua?").fill(
        "Arki kahden pienen lapsen kanssa on raskasta. Toivoisin keskusteluapua."
    )
    page.get_by_label("Sähköpostitse").check()
    page.get_by_label("Puhelin").fill("040 123 4567")
    page.get_by_label("Sähköposti", exact=True).fill(email)


def test_a_request_from_the_browser_becomes_a_case_whose_worker_the_guardian_sees(
    browser, seeded, live_server
):
    base = live_server.url
    page = new_page(browser, width=390, height=844)
    page.goto(base + FORMS["fi"])
    assert page.locator("html").get_attribute("lang") == "fi"
    assert page.get_by_role("heading", level=1).inner_text() == "Pyydä perhekeskukselta apua"
    fill_the_form(page)
    time.sleep(1.2)
    page.get_by_role("button", name="Lähetä yhteydenottopyyntö").click()
    page.wait_for_load_state()
    assert page.url == base + "/palvelut/ota-yhteytta/kiitos/"
    assert "Kiitos" in page.get_by_role("heading", level=1).inner_text()
    assert "jonossa" in page.get_by_role("status").inner_text()

    # The intake queue: kaisa takes the request and opens a case with tiina responsible.
    kaisa = Api(base, "kaisa.koordinaattori", PASSWORD)
    status, queue = kaisa.get("/api/v1/intake/contact-requests/?status=new")
    assert status == 200, queue
    [row] = queue["results"]
    assert (row["first_name"], row["last_name"], row["municipality"]["code"]) == (
        "Sanna",
        "Salonen",
        "asikkala",
    )
    url = f"/api/v1/intake/contact-requests/{row['id']}/"
    by = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()
    status, taken = kaisa.request("POST", url + "take/", {"contact_by": by})
    assert status == 200 and taken["status"] == "taken", taken
    tiina = User.objects.get(username="tiina.vastuu")
    status, opened = kaisa.request(
        "POST", url + "open-case/", {"responsible_worker": str(tiina.pk)}
    )
    assert status == 200 and opened["status"] == "opened", opened
    status, case = Api(base, "tiina.vastuu", PASSWORD).get(f"/api/v1/cases/{opened['case']}/")
    assert status == 200 and case["family"]["name"] == "Salonen"

    # The family was told who will contact them and by when; the guardian got her link.
    told = next(m for m in mail.outbox if "Kaisa Koordinaattori" in m.body)
    assert told.to == ["sanna.salonen@example.org"]
    link = next(m for m in mail.outbox if "/portal/activate/" in m.body)
    assert link.to == ["sanna.salonen@example.org"] and "Tiina Vastuu" in link.body
    path = re.search(r"/portal/activate/[^/\s]+/[^/\s]+/", link.body).group(0)

    page.goto(base + path)
    assert page.get_by_role("heading", level=1).inner_text() == "Aseta salasanasi"
    assert "sanna.salonen@example.org" in page.locator("main").inner_text()
    page.get_by_label("Uusi salasana", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Uusi salasana uudelleen").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Aseta salasana ja kirjaudu").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Asiakkuutemme"
    assert page.locator(".responsible-name").inner_text() == "Tiina Vastuu"
    assert ContactRequest.objects.get().case_id is not None

    # She signs in again later with her username and new password.
    page.get_by_role("button", name="Kirjaudu ulos").click()
    page.wait_for_load_state()
    page.get_by_label("Käyttäjätunnus").fill("sanna.salonen@example.org")
    page.get_by_label("Salasana").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_load_state()
    assert page.locator(".responsible-name").inner_text() == "Tiina Vastuu"


def _activation_path() -> str:
    """A new guardian's activation link, made through the intake's own steps."""
    request = intake.contact_request_submit(
        first_name="Sanna",
        last_name="Salonen",
        municipality=Municipality.objects.get(code="asikkala"),
        need="Toivoisin keskusteluapua.",
        email="sanna.salonen@example.org",
        reach_by="email",
    )
    opened = intake.contact_request_open_case(
        actor=User.objects.get(username="kaisa.koordinaattori"),
        contact_request=request,
        responsible_worker=User.objects.get(username="tiina.vastuu"),
    )
    return intake.activation_path(opened.case.family.members.get().user)


def test_no_serious_accessibility_violations_in_any_language(browser, seeded, live_server):
    base = live_server.url
    activation = _activation_path()
    problems = []
    for language, form in FORMS.items():
        for width, height in ((1280, 900), (320, 640)):
            page = new_page(browser, width=width, height=height)
            page.context.add_cookies([{"name": "django_language", "value": language, "url": base}])
            page.goto(base + form)
            assert page.locator("html").get_attribute("lang") == language
            # The form sent back with its errors.
            page.locator("form.contact-form button[type=submit]").click()
            page.wait_for_load_state()
            assert page.get_by_role("alert").count() >= 1
            problems += [
                f"[{language} {width}] errors: {p}" for p in axe_problems(page, every_impact=True)
            ]
            if overflows(page):
                problems.append(f"[{language}] the form with errors scrolls sideways at {width}")
            page.goto(base + form)
            problems += [
                f"[{language} {width}] form: {p}" for p in axe_problems(page, every_impact=True)
            ]
            if overflows(page):
                problems.append(f"[{language}] the form scrolls sideways at {width}")
            page.goto(base + form + {"fi": "kiitos/", "sv": "tack/", "en": "thanks/"}[language])
            assert page.locator("html").get_attribute("lang") == language
            problems += [
                f"[{language} {width}] done: {p}" for p in axe_problems(page, every_impact=True)
            ]
            if overflows(page):
                problems.append(f"[{language}] the confirmation scrolls sideways at {width}")
            page.goto(base + activation)
            assert page.locator("html").get_attribute("lang") == language
            problems += [
                f"[{language} {width}] activate: {p}" for p in axe_problems(page, every_impact=True)
            ]
            if overflows(page):
                problems.append(f"[{language}] the activation page scrolls sideways at {width}")
            page.goto(base + "/portal/activate/bm9uZQ/x-y/")
            problems += [
                f"[{language} {width}] invalid link: {p}"
                for p in axe_problems(page, every_impact=True)
            ]
            page.context.close()
    assert not problems, "\n".join(problems)


def test_screenshots_at_390_and_1280_px(browser, seeded, live_server, tmp_path):
    """Finnish. UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/."""
    folder = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    activation = _activation_path()
    for width, height in ((390, 844), (1280, 900)):
        page = new_page(browser, width=width, height=height)
        page.goto(base + FORMS["fi"])
        page.screenshot(path=folder / f"contact-01-form-{width}.png", full_page=True)
        page.locator("form.contact-form button[type=submit]").click()
        page.wait_for_load_state()
        page.screenshot(path=folder / f"contact-02-errors-{width}.png", full_page=True)
        page.goto(base + FORMS["fi"] + "kiitos/")
        page.screenshot(path=folder / f"contact-03-thanks-{width}.png", full_page=True)
        page.goto(base + activation)
        page.screenshot(path=folder / f"contact-04-activate-{width}.png", full_page=True)
        page.context.close()
    written = sorted(p.name for p in folder.glob("contact-*.png"))
    assert len(written) == 8, written
