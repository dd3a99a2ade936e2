"""Messages in a real browser (issue 17, acceptance 4): Debian's chromium through Playwright on a
live server, in Finnish, Swedish and English, with axe-core.

Hanna starts a thread in the portal choosing anna (first with an empty form, which is refused
with its messages); tiina reads it through the API and answers; hanna sees the answer, marked
new, and answers back; olli, whom hanna did not choose, gets 404 for the thread. axe-core finds
no serious or critical violation on the pages, in any language, and neither page scrolls
sideways at 320 px. Screenshots at 390 and 1280 px go to docs/screenshots/ with
UPDATE_SCREENSHOTS=1 (to a temporary folder otherwise).
"""

import os
from pathlib import Path

import pytest

from audit.models import AccessEvent
from cases.models import Conversation, Message, NetworkMember
from tests.browser import (
    Api,
    axe_problems,
    choose_language,
    new_page,
    overflows,
)
from tests.test_portal_browser import LANGUAGES, PASSWORD, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
FIRST = "Eeli väsyy iltapäivisin. Voisimmeko sopia tapaamisen koulun kanssa?"
ANSWER = "Kiitos viestistä. Kysyn opettajalta sopivia aikoja ja palaan asiaan."


def test_hanna_and_tiina_exchange_messages(browser, seeded, live_server):
    base = live_server.url
    page = new_page(browser, width=390, height=844)
    sign_in(page, base)
    page.goto(f"{base}/portal/cases/{seeded.pk}/")
    page.get_by_role("link", name="Viestit").click()
    page.wait_for_load_state()
    assert "Teillä ei ole vielä viestejä." in page.content()

    page.get_by_role("button", name="Lähetä").click()
    page.wait_for_load_state()
    assert page.locator(".field-error").count() == 2
    assert not axe_problems(page, every_impact=True)
    page.get_by_label("Aihe").fill("Eelin iltapäivät")
    page.get_by_label("Viesti").fill(FIRST)
    page.get_by_label("Anna Neuvola", exact=False).check()
    page.get_by_role("button", name="Lähetä").click()
    page.wait_for_load_state()
    assert "Viestinne lähetettiin." in page.get_by_role("status").inner_text()
    assert FIRST in page.locator("ol.chat").inner_text()
    conversation = Conversation.objects.get()
    anna = NetworkMember.objects.get(case=seeded, user__username="anna.neuvola", removed_at=None)
    assert list(conversation.members.all()) == [anna]

    # Tiina reads it through the API, sees it unread, and answers.
    tiina = Api(base, "tiina.vastuu", PASSWORD)
    url = f"/api/v1/cases/{seeded.pk}/conversations/"
    status, threads = tiina.get(url)
    assert status == 200 and threads["results"][0]["unread"] == 1
    status, thread = tiina.get(f"{url}{conversation.pk}/")
    assert status == 200 and thread["messages"][0]["text"] == FIRST
    status, posted = tiina.request("POST", f"{url}{conversation.pk}/messages/", {"text": ANSWER})
    assert status == 201, posted

    # Hanna sees the answer, new; and answers back.
    page.reload()
    chat = page.locator("ol.chat").inner_text()
    assert ANSWER in chat and "Tiina Vastuu" in chat and "Uusi" in chat
    page.get_by_label("Vastauksenne").fill("Kiitos, odotan tietoa.")
    page.get_by_role("button", name="Lähetä").click()
    page.wait_for_load_state()
    assert "Kiitos, odotan tietoa." in page.locator("ol.chat").inner_text()
    status, thread = tiina.get(f"{url}{conversation.pk}/")
    assert [m["text"] for m in thread["messages"]][-1] == "Kiitos, odotan tietoa."

    # Olli was not chosen: 404, as for a thread that does not exist.
    olli = Api(base, "olli.opettaja", PASSWORD)
    status, body = olli.get(f"{url}{conversation.pk}/")
    assert status == 404, body
    status, listed = olli.get(url)
    assert status == 200 and listed["count"] == 0 and listed["results"] == []
    assert Message.objects.count() == 3

    # Every read is in the access log: hanna's pages, tiina's reads, olli's refused attempt.
    reads = AccessEvent.objects.filter(resource="conversations", case_id=seeded.pk)
    assert reads.filter(username="hanna.huoltaja", outcome="allowed").count() >= 3
    assert reads.filter(username="tiina.vastuu", outcome="allowed").count() == 3
    assert reads.filter(username="olli.opettaja", outcome="denied").count() == 1


def test_the_message_pages_have_no_serious_violations_in_any_language(
    browser, seeded, live_server, tmp_path
):
    base = live_server.url
    tiina = Api(base, "tiina.vastuu", PASSWORD)
    status, thread = tiina.request(
        "POST",
        f"/api/v1/cases/{seeded.pk}/conversations/",
        {"subject": "Tapaaminen ensi viikolla", "text": "Sopisiko tiistai kello 14?"},
    )
    assert status == 201, thread
    pages = {
        "list": f"{base}/portal/cases/{seeded.pk}/conversations/",
        "thread": f"{base}/portal/cases/{seeded.pk}/conversations/{thread['id']}/",
    }
    page = new_page(browser)
    sign_in(page, base)
    narrow = new_page(browser, width=320, height=640)
    sign_in(narrow, base)
    problems = []
    for language, label in LANGUAGES.items():
        choose_language(page, base, label)
        choose_language(narrow, base, label)
        for name, url in pages.items():
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == language
            problems += [f"[{language}] {name}: {p}" for p in axe_problems(page, every_impact=True)]
            narrow.goto(url)
            if overflows(narrow):
                problems.append(f"[{language}] {name} scrolls sideways at 320 px")
        # Both forms with their errors.
        for name in ("list", "thread"):
            page.goto(pages[name])
            page.locator("form.stacked button[type=submit]").click()
            page.wait_for_load_state()
            problems += [
                f"[{language}] {name} with errors: {p}"
                for p in axe_problems(page, every_impact=True)
            ]
    assert not problems, "\n".join(problems)

    folder = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1280, 900)):
        shot = new_page(browser, width=width, height=height)
        sign_in(shot, base)
        for number, name in ((8, "list"), (9, "thread")):
            shot.goto(pages[name])
            path = folder / f"portal-{number:02d}-messages-{name}-{width}.png"
            shot.screenshot(path=path, full_page=True)
            assert path.exists()
        shot.context.close()
