"""The portal's notice of a non-disclosure marking in a real browser: shown on the case page in
Finnish, Swedish and English, with no serious axe-core violation and nothing protected on it."""

import re

import pytest

from cases import services
from cases.models import FamilyMember, User
from tests.browser import axe_problems, new_page, overflows
from tests.factories import access_of
from tests.test_portal_browser import LANGUAGES, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

NOTICE = {
    "fi": "Turvakielto turvallisuutenne vuoksi",
    "sv": "Spärrmarkering för er säkerhet",
    "en": "Non-disclosure for your safety",
}


def test_the_marking_notice_is_accessible_in_every_language(browser, seeded, live_server):
    case = seeded
    tiina = User.objects.get(username="tiina.vastuu")
    eeli = case.family.members.filter(role=FamilyMember.Role.CHILD).order_by("-birth_date")[0]
    eeli.address = "Salainen katu 1"
    eeli.save(update_fields=["address"])
    services.non_disclosure_mark(actor=tiina, case=case, access=access_of(tiina, case), member=eeli)
    base = live_server.url
    page = new_page(browser)
    sign_in(page, base)
    narrow = new_page(browser, width=320, height=640)
    sign_in(narrow, base)
    problems = []
    for language, label in LANGUAGES.items():
        for p in (page, narrow):
            p.goto(f"{base}/portal/login/")
            p.get_by_role("button", name=label).click()
            p.wait_for_load_state()
            p.goto(f"{base}/portal/cases/{case.pk}/")
            p.wait_for_load_state()
        heading = page.get_by_role("heading", name=re.compile(re.escape(NOTICE[language])))
        assert heading.is_visible(), language
        assert "Salainen katu" not in page.content()
        problems += [f"[{language}] {p}" for p in axe_problems(page)]
        if overflows(narrow):
            problems.append(f"[{language}] the case page scrolls sideways at 320 px")
    assert not problems, "\n".join(problems)
