"""The reports in a real browser (Debian's chromium through Playwright, on a live server),
issue 18: kaisa.koordinaattori signs in where coordinators do (the admin's sign-in) and reads
the report page; axe-core finds no violation at all on it in Finnish, Swedish and English, and
it does not scroll sideways at 390 px. hanna.huoltaja answers the feedback questions in the
portal after a network meeting. Screenshots docs/screenshots/reports-1280.png and -390.png are
written when UPDATE_SCREENSHOTS=1 (otherwise to a temporary folder)."""

import datetime
import os

import pytest
from django.utils import timezone

from cases.models import Meeting, User
from cases.seeding import demo
from reports.models import FeedbackAnswer, FeedbackPrompt
from tests.browser import axe_problems, empty_audit_tables, overflows
from tests.test_portal_browser import PASSWORD, ROOT, new_page, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(transactional_db):
    """The shared demo (tests/conftest.py) with the report's data on top."""
    case = demo.seed().case
    demo.seed_report_data()
    yield case
    empty_audit_tables()


def coordinator_page(browser, base, *, width=1280, height=900):
    page = new_page(browser, width=width, height=height)
    page.goto(f"{base}/reports/?area=south")
    # Not signed in: the admin's sign-in, then back to the report.
    assert "/admin/login/" in page.url
    page.locator("#id_username").fill("kaisa.koordinaattori")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()
    assert "/reports/" in page.url
    return page


def test_the_report_page_has_charts_and_no_violation_in_any_language(
    browser, seeded, live_server, tmp_path
):
    base = live_server.url
    page = coordinator_page(browser, base)
    problems = []
    for language in ("fi", "sv", "en"):
        page.goto(f"{base}/reports/?area=south&lang={language}")
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("svg.chart").count() > 20
        assert page.locator("svg.chart rect.bar").count() > 0
        problems += [f"[{language}] {p}" for p in axe_problems(page, every_impact=True)]
    assert not problems, "\n".join(problems)
    # The CSV link gives the same figures in the browser's session.
    page.goto(f"{base}/reports/?area=south&lang=en")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.startswith("indicators-south-")

    folder = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1280, 900)):
        shot = coordinator_page(browser, base, width=width, height=height)
        shot.goto(f"{base}/reports/?area=south&lang=en")
        if width == 390:
            assert not overflows(shot), "the report page scrolls sideways at 390 px"
        shot.screenshot(path=folder / f"reports-{width}.png", full_page=False)
    assert (folder / "reports-390.png").exists()


def test_hanna_answers_the_questions_after_a_network_meeting(browser, seeded, live_server):
    base = live_server.url
    start = timezone.now() - datetime.timedelta(hours=3)
    Meeting.objects.create(
        case=seeded,
        title="Verkostopalaveri",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        organiser=User.objects.get(username="tiina.vastuu"),
        status=Meeting.Status.HELD,
    )
    page = new_page(browser, width=390, height=844)
    sign_in(page, base)
    page.goto(f"{base}/portal/cases/{seeded.pk}/")
    page.get_by_role("link", name="Kerro, miten meni").click()
    page.wait_for_load_state()
    page.get_by_role("group", name="Saitko apua oikeaan aikaan?").get_by_label("Kyllä").check()
    page.get_by_role("group", name="Tiedätkö, kuka on vastuutyöntekijäsi?").get_by_label(
        "Kyllä"
    ).check()
    page.get_by_label("Haluatko kertoa vielä jotain?").fill("Hyvä palaveri.")
    page.get_by_role("button", name="Lähetä vastaus").click()
    page.wait_for_load_state()
    assert "Vastauksesi tallennettiin nimettömänä" in page.content()
    answer = FeedbackAnswer.objects.get(free_text="Hyvä palaveri.")
    assert (answer.help_at_right_time, answer.knows_responsible_worker) == ("yes", "yes")
    assert answer.told_story_more_than_once == ""
    assert FeedbackPrompt.objects.get(case=seeded).answered
