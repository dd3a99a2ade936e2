"""Booking in a real browser (Debian's chromium through Playwright, on a live server), issue 17.

tiina.vastuu publishes two free times through the API; hanna.huoltaja books one in the portal,
reads the confirmation, downloads its calendar file (which `icalendar` parses), and tiina's API
client downloads her own copy. axe-core finds no serious or critical violation on the booking
pages in Finnish, Swedish and English, and none scrolls sideways at 320 px. Screenshots at 390
and 1280 px go to docs/screenshots/ when UPDATE_SCREENSHOTS=1 (otherwise a temporary folder).
"""

import datetime
import os
import urllib.request

import icalendar
import pytest
from django.utils import timezone

from cases.models import Booking
from tests.browser import (
    Api,
    axe_problems,
    choose_language,
    new_page,
    overflows,
)
from tests.test_portal_browser import LANGUAGES, PASSWORD, ROOT, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def at(days: int, hour: int) -> datetime.datetime:
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def publish(base) -> Api:
    tiina = Api(base, "tiina.vastuu", PASSWORD)
    for hour in (9, 13):
        status, body = tiina.request(
            "POST",
            "/api/v1/booking/slots/",
            {
                "starts_at": at(5, hour).isoformat(),
                "ends_at": at(5, hour + 1).isoformat(),
                "place": "Vääksyn perhekeskus, huone 2",
            },
        )
        assert status == 201, body
    return tiina


def test_hanna_books_a_time_and_both_get_a_calendar_file(browser, seeded, live_server, tmp_path):
    base = live_server.url
    tiina = publish(base)
    page = new_page(browser, width=390, height=844)
    sign_in(page, base)
    page.goto(f"{base}/portal/cases/{seeded.pk}/")
    page.get_by_role("link", name="Varaa aika").first.click()
    page.wait_for_load_state()
    assert page.locator("ul.slots li").count() == 2
    page.get_by_role("button", name="Varaa tämä aika").first.click()
    page.wait_for_load_state()
    assert "Aikanne on varattu" in page.get_by_role("status").inner_text()
    assert "Vääksyn perhekeskus, huone 2" in page.locator("article.booking").inner_text()
    booking = Booking.objects.get()

    with page.expect_download() as info:
        page.get_by_role("link", name="Lisää kalenteriin (.ics)").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    [event] = icalendar.Calendar.from_ical(target.read_bytes()).walk("VEVENT")
    assert event.decoded("DTSTART") == at(5, 9)
    assert "Tiina Vastuu" in str(event["SUMMARY"])

    request = urllib.request.Request(  # noqa: S310 - the test's own live server
        f"{base}/api/v1/bookings/{booking.pk}/calendar.ics/",
        headers={"Authorization": f"Token {tiina.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        [worker_event] = icalendar.Calendar.from_ical(response.read()).walk("VEVENT")
    assert str(worker_event["UID"]) == str(event["UID"])
    assert "Virtanen" not in worker_event.to_ical().decode()


def test_the_booking_pages_have_no_serious_violations_and_screenshots(
    browser, seeded, live_server, tmp_path
):
    base = live_server.url
    publish(base)
    page = new_page(browser)
    sign_in(page, base)
    narrow = new_page(browser, width=320, height=640)
    sign_in(narrow, base)
    booking_page = f"{base}/portal/cases/{seeded.pk}/booking/"
    page.goto(booking_page)
    page.get_by_role("button", name="Varaa tämä aika").first.click()
    page.wait_for_load_state()
    booking = Booking.objects.get()
    detail = f"{base}/portal/cases/{seeded.pk}/booking/{booking.pk}/"
    paths = [booking_page, detail, f"{detail}cancel/"]
    problems = []
    for language, label in LANGUAGES.items():
        choose_language(page, base, label)
        choose_language(narrow, base, label)
        for path in paths:
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language
            problems += [f"[{language}] {p}" for p in axe_problems(page, every_impact=True)]
            narrow.goto(path)
            if overflows(narrow):
                problems.append(f"[{language}] {path} scrolls sideways at 320 px")
    assert not problems, "\n".join(problems)

    folder = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1280, 900)):
        shot = new_page(browser, width=width, height=height)
        sign_in(shot, base)
        for name, path in (("booking-01-times", booking_page), ("booking-02-confirmation", detail)):
            shot.goto(path)
            shot.screenshot(path=folder / f"{name}-{width}.png", full_page=True)
    assert (folder / "booking-02-confirmation-390.png").exists()
