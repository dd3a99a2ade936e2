"""The legal bases of a case on the family's case page, in a real browser (issue 16): hanna sees
the basis recorded for the school, in Finnish, Swedish and English, with no serious axe-core
violation, and nothing of a basis withheld from the family."""

import datetime
import re

import pytest
from django.utils import timezone

from cases.models import Organisation, User
from consent import legal_bases
from tests.browser import axe_problems, new_page, overflows
from tests.factories import access_of
from tests.test_portal_browser import LANGUAGES, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

HEADING = {
    "fi": "Lain perusteella luovutetut tiedot",
    "sv": "Uppgifter som lämnas ut med stöd av lag",
    "en": "Information shared on a legal basis",
}
BASIS = {
    "fi": "Lastensuojelutarpeen selvitys",
    "sv": "Utredning av behovet av barnskydd",
    "en": "Assessment of the need for child welfare",
}
REASON = "Koulun havainnot poissaoloista"
WITHHELD = "Salainen peruste"


def test_hanna_sees_the_legal_basis_in_every_language(browser, seeded, live_server):
    case = seeded
    tiina = User.objects.get(username="tiina.vastuu")
    school = Organisation.objects.get(code="asikkala-perusopetus")
    for reason, withheld in ((REASON, False), (WITHHELD, True)):
        legal_bases.legal_basis_record(
            actor=tiina,
            case=case,
            access=access_of(tiina, case),
            organisation=school,
            categories=["basic", "plan"],
            basis="child_welfare_need_assessment",
            reason=reason,
            valid_until=timezone.now() + datetime.timedelta(days=30),
            withheld_from_family=withheld,
            withheld_reason="Vaarantaisi lapsen" if withheld else "",
        )
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
        heading = page.get_by_role("heading", name=re.compile(re.escape(HEADING[language])))
        assert heading.is_visible(), language
        section = page.locator("section", has=heading)
        text = section.inner_text()
        assert REASON in text and BASIS[language] in text and school.name in text, text
        assert "417/2007" in text
        assert WITHHELD not in page.content()
        problems += [f"[{language}] {p}" for p in axe_problems(page)]
        if overflows(narrow):
            problems.append(f"[{language}] the case page scrolls sideways at 320 px")
    assert not problems, "\n".join(problems)
