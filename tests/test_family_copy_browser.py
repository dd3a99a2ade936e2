"""The family's own copy and its correction requests in a real browser (Debian's chromium
through Playwright, on a live server), in Finnish, Swedish and English, with axe-core.

Hanna downloads the copy with the one button and opens its readable file; she asks for a
correction with the form (first empty, which the form refuses with its messages), tiina
answers through the API, and hanna sees the answer. axe-core finds no serious or critical
violation on the form (with and without its errors) or on the copy, in any language.
"""

import io
import zipfile
from pathlib import Path

import pytest

from cases.models import CorrectionRequest
from tests.browser import (
    Api,
    axe_problems,
    choose_language,
    new_page,
    overflows,
)
from tests.test_portal_browser import LANGUAGES, PASSWORD, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_hanna_downloads_her_copy_and_asks_for_a_correction(browser, seeded, live_server, tmp_path):
    base = live_server.url
    page = new_page(browser, width=390, height=844)
    sign_in(page, base)

    # One button: the zip of both files.
    with page.expect_download() as info:
        page.get_by_role("link", name="Lataa tietomme").click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.suffix == ".zip"
    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    readable = tmp_path / "family-copy.html"
    readable.write_bytes(archive.read("family-copy.html"))
    assert b'"format": "koordinointi-family-copy/1"' in archive.read("family-copy.json")

    # The readable file is self-contained: it opens from the disk, with nothing to fetch.
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(readable.as_uri())
    assert page.locator("h1").inner_text().startswith("Perheen Virtanen tiedot")
    assert fetched == [readable.as_uri()]
    assert not axe_problems(page)

    # The form refuses an empty request, with its messages, and takes a proper one.
    page.goto(f"{base}/portal/cases/{seeded.pk}/corrections/")
    page.get_by_role("button", name="Lähetä pyyntö").click()
    page.wait_for_load_state()
    assert page.locator(".field-error").count() == 3
    assert not axe_problems(page)
    aino = seeded.family.members.get(first_name="Aino")
    page.get_by_label("Mitä pitäisi korjata").select_option(value=f"member:{aino.pk}")
    page.get_by_label("Mikä on väärin").fill("Ainon syntymäaika on väärin.")
    page.get_by_label("Mitä siinä pitäisi lukea").fill("17.5.2013")
    page.get_by_role("button", name="Lähetä pyyntö").click()
    page.wait_for_load_state()
    assert "Pyyntönne lähetettiin" in page.get_by_role("status").inner_text()
    assert "Odottaa vastausta" in page.locator("ol.corrections").inner_text()

    # Tiina finds it on her desk and refuses it; hanna reads why.
    tiina = Api(base, "tiina.vastuu", PASSWORD)
    status, desk = tiina.get("/api/v1/me/work/")
    [waiting] = desk["correction_requests"]
    reason = "Syntymäaika on väestötietojärjestelmän mukainen."
    status, answered = tiina.request(
        "POST",
        f"/api/v1/cases/{seeded.pk}/corrections/{waiting['id']}/answer/",
        {"outcome": "refused", "answer": reason},
    )
    assert status == 200, answered
    page.reload()
    assert reason in page.locator("ol.corrections").inner_text()
    assert CorrectionRequest.objects.get().status == "refused"


def test_the_new_pages_and_the_copy_have_no_serious_violations_in_any_language(
    browser,
    seeded,
    live_server,
    tmp_path,
):
    base = live_server.url
    page = new_page(browser)
    sign_in(page, base)
    narrow = new_page(browser, width=320, height=640)
    sign_in(narrow, base)
    problems = []
    for language, label in LANGUAGES.items():
        choose_language(page, base, label)
        choose_language(narrow, base, label)
        for path in ("notes/", "corrections/"):
            page.goto(f"{base}/portal/cases/{seeded.pk}/{path}")
            assert page.locator("html").get_attribute("lang") == language
            problems += [f"[{language}] {p}" for p in axe_problems(page)]
            narrow.goto(f"{base}/portal/cases/{seeded.pk}/{path}")
            if overflows(narrow):
                problems.append(f"[{language}] {path} scrolls sideways at 320 px")
        # The form with its errors.
        page.goto(f"{base}/portal/cases/{seeded.pk}/corrections/")
        page.locator("form.stacked button[type=submit]").click()
        page.wait_for_load_state()
        problems += [f"[{language}] errors: {p}" for p in axe_problems(page)]
        # The readable copy, as downloaded.
        with page.expect_download() as info:
            page.goto(f"{base}/portal/cases/{seeded.pk}/")
            page.locator(f"a[href$='/cases/{seeded.pk}/copy.html']").click()
        copy = Path(tmp_path / f"copy-{language}.html")
        info.value.save_as(copy)
        page.goto(copy.as_uri())
        assert page.locator("html").get_attribute("lang") == language
        problems += [f"[{language}] copy: {p}" for p in axe_problems(page)]
        narrow.goto(copy.as_uri())
        if overflows(narrow):
            problems.append(f"[{language}] the copy scrolls sideways at 320 px")
    assert not problems, "\n".join(problems)
