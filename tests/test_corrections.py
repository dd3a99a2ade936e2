"""Correction requests (issue 16, acceptance 4; GDPR Art. 16): a guardian asks in the portal to
correct one item, the responsible worker finds it on /api/v1/me/work/ and answers through the
API, the family sees the answer in the portal, and the change history keeps both."""

import pytest
from auditlog.models import LogEntry
from django.test import Client

from audit.models import AccessEvent
from cases import services
from cases.models import CorrectionRequest, FamilyMember, Note
from tests.conftest import ANNA, HANNA, JENNI, OLLI, TERO, TIINA, ULLA, persona
from tests.factories import UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

WORK = "/api/v1/me/work/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def portal_as(username_or_user) -> Client:
    user = persona(username_or_user) if isinstance(username_or_user, str) else username_or_user
    client = Client()
    client.force_login(user)
    return client


def corrections_url(case) -> str:
    return f"/portal/cases/{case.pk}/corrections/"


def child_of(case) -> FamilyMember:
    return case.family.members.get(role=FamilyMember.Role.CHILD, first_name="Aino")


def ask(client, case, item: str, wrong="Syntymäaika on väärin.", should="17.5.2013"):
    return client.post(
        corrections_url(case), {"item": item, "what_is_wrong": wrong, "should_say": should}
    )


def test_a_correction_goes_from_the_portal_to_the_workers_desk_and_back(api, demo_case):
    hanna = portal_as(HANNA)
    aino = child_of(demo_case)
    page = hanna.get(corrections_url(demo_case))
    assert page.status_code == 200
    assert f'value="member:{aino.pk}"' in page.content.decode()

    response = ask(hanna, demo_case, f"member:{aino.pk}")
    assert response.status_code == 302 and response["Location"] == corrections_url(demo_case)
    correction = CorrectionRequest.objects.get()
    assert (correction.item_kind, correction.item_id) == ("member", aino.pk)
    assert correction.category == "basic" and correction.status == "open"

    # On the responsible worker's desk, and nobody else's.
    tiina = persona(TIINA)
    desk = api.as_user(tiina).get(WORK).json()
    [waiting] = desk["correction_requests"]
    assert waiting["id"] == str(correction.pk) and waiting["case"] == str(demo_case.pk)
    assert waiting["what_is_wrong"] == "Syntymäaika on väärin."
    assert waiting["should_say"] == "17.5.2013"
    for other in (ANNA, OLLI):
        assert api.as_user(persona(other)).get(WORK).json()["correction_requests"] == []
    event = AccessEvent.objects.filter(username=TIINA, resource="my-work").latest("created_at")
    assert "basic" in event.categories

    # The worker refuses, with a reason the family sees.
    answer_url = f"/api/v1/cases/{demo_case.pk}/corrections/{correction.pk}/answer/"
    reason = "Tieto on väestötietojärjestelmän mukainen."
    answered = api.as_user(tiina).post(answer_url, {"outcome": "refused", "answer": reason})
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "refused" and answered.json()["answer"] == reason
    assert api.as_user(tiina).get(WORK).json()["correction_requests"] == []
    page = hanna.get(corrections_url(demo_case)).content.decode()
    assert reason in page and "Syntymäaika on väärin." in page

    # The change history keeps the request and the answer, with who made each.
    entries = list(LogEntry.objects.get_for_object(correction).order_by("timestamp", "id"))
    assert [e.action for e in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    assert entries[0].actor_id == persona(HANNA).pk
    assert entries[0].changes_dict["what_is_wrong"][1] == "Syntymäaika on väärin."
    assert entries[1].actor_id == tiina.pk
    assert entries[1].changes_dict["status"] == ["open", "refused"]
    assert entries[1].changes_dict["answer"][1] == reason


def test_a_corrected_item_says_what_was_corrected(api, demo_case):
    note = Note.objects.get(case=demo_case, category="notes_general")
    hanna = portal_as(HANNA)
    assert ask(hanna, demo_case, f"note:{note.pk}").status_code == 302
    correction = CorrectionRequest.objects.get()
    assert correction.category == "notes_general"
    tiina = persona(TIINA)
    url = f"/api/v1/cases/{demo_case.pk}/corrections/{correction.pk}/answer/"
    text = "Korjattu: syntymäaika on nyt 17.5.2013."
    assert api.as_user(tiina).post(url, {"outcome": "corrected", "answer": text}).status_code == 200
    page = hanna.get(corrections_url(demo_case)).content.decode()
    assert text in page
    # Answered once only.
    again = api.as_user(tiina).post(url, {"outcome": "refused", "answer": "Toisin."})
    assert again.status_code == 400 and "status" in again.json()


def test_the_plan_and_its_actions_can_be_named(api, demo_case):
    tiina = persona(TIINA)
    action = services.plan_action_create(actor=tiina, case=demo_case, title="Kerhopaikka")
    hanna = portal_as(HANNA)
    assert ask(hanna, demo_case, "plan").status_code == 302
    assert ask(hanna, demo_case, f"plan_action:{action.pk}").status_code == 302
    assert sorted(CorrectionRequest.objects.values_list("item_kind", "category")) == [
        ("plan", "plan"),
        ("plan_action", "plan"),
    ]
    listed = api.as_user(persona(HANNA)).get(f"/api/v1/cases/{demo_case.pk}/corrections/")
    assert listed.status_code == 200 and listed.json()["count"] == 2


def test_bad_input_gets_a_clear_400(api, demo_case):
    hanna = portal_as(HANNA)
    aino = child_of(demo_case)
    empty = ask(hanna, demo_case, f"member:{aino.pk}", wrong="  ", should="")
    assert empty.status_code == 400
    assert 'class="field-error"' in empty.content.decode()
    unknown = ask(hanna, demo_case, "member:00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 400
    long = ask(hanna, demo_case, f"member:{aino.pk}", wrong="x" * 4001)
    assert long.status_code == 400
    assert not CorrectionRequest.objects.exists()

    client = api.as_user(persona(HANNA))
    url = f"/api/v1/cases/{demo_case.pk}/corrections/"
    missing = client.post(url, {"item_kind": "member", "what_is_wrong": "x", "should_say": "y"})
    assert missing.status_code == 400 and "item" in missing.json()
    wrong_kind = client.post(url, {"item_kind": "case", "what_is_wrong": "x", "should_say": "y"})
    assert wrong_kind.status_code == 400 and "item_kind" in wrong_kind.json()
    created = client.post(
        url,
        {"item_kind": "member", "item_id": str(aino.pk), "what_is_wrong": "x", "should_say": "y"},
    )
    assert created.status_code == 201, created.content
    answer = f"{url}{created.json()['id']}/answer/"
    tiina = api.as_user(persona(TIINA))
    assert tiina.post(answer, {"outcome": "open", "answer": "x"}).status_code == 400
    assert tiina.post(answer, {"outcome": "refused", "answer": ""}).status_code == 400
    assert CorrectionRequest.objects.get().status == "open"


def test_another_familys_member_is_as_unknown_as_none(demo_case):
    ulla = persona(ULLA)
    other = services.family_create(
        actor=ulla,
        name="Muu",
        municipality=demo_case.family.municipality,
        members=[{"role": "guardian", "first_name": "Maija", "last_name": "Muu"}],
    )
    stranger = other.members.get()
    hanna = portal_as(HANNA)
    response = ask(hanna, demo_case, f"member:{stranger.pk}")
    assert response.status_code == 400
    assert not CorrectionRequest.objects.exists()


def test_workers_cannot_file_as_the_family(api, demo_case):
    aino = child_of(demo_case)
    body = {"item_kind": "member", "item_id": str(aino.pk), "what_is_wrong": "x", "should_say": "y"}
    for who in (TIINA, ANNA, OLLI, JENNI, ULLA, TERO):
        response = api.as_user(persona(who)).post(
            f"/api/v1/cases/{demo_case.pk}/corrections/", body
        )
        assert response.status_code == 404, who
        portal = portal_as(who)
        assert portal.get(corrections_url(demo_case)).status_code == 404
        assert ask(portal, demo_case, f"member:{aino.pk}").status_code == 404
    assert not CorrectionRequest.objects.exists()


def test_only_the_responsible_worker_reads_and_answers(api, demo_case):
    aino = child_of(demo_case)
    assert ask(portal_as(HANNA), demo_case, f"member:{aino.pk}").status_code == 302
    correction = CorrectionRequest.objects.get()
    base = f"/api/v1/cases/{demo_case.pk}/corrections/"
    detail, answer = f"{base}{correction.pk}/", f"{base}{correction.pk}/answer/"
    body = {"outcome": "corrected", "answer": "Korjattu."}
    # Members see the case, so they are told no (403); the rest do not know it exists (404).
    for who, status in ((ANNA, 403), (OLLI, 403), (JENNI, 404), (ULLA, 404), (TERO, 404)):
        client = api.as_user(persona(who))
        assert client.get(base).status_code == status, who
        assert client.get(detail).status_code == status, who
        assert client.post(answer, body).status_code == status, who
    # The family reads it, and may not answer its own request.
    hanna = api.as_user(persona(HANNA))
    assert hanna.get(detail).status_code == 200
    assert hanna.post(answer, body).status_code == 403
    assert CorrectionRequest.objects.get().status == "open"


def test_another_guardian_gets_404(api, demo_case):
    maija = UserFactory(username="maija")
    other = services.family_create(
        actor=persona(ULLA),
        name="Muu",
        municipality=demo_case.family.municipality,
        members=[{"role": "guardian", "first_name": "Maija", "last_name": "Muu", "user": maija}],
    )
    assert ask(portal_as(HANNA), demo_case, f"member:{child_of(demo_case).pk}").status_code == 302
    correction = CorrectionRequest.objects.get()
    client = api.as_user(maija)
    base = f"/api/v1/cases/{demo_case.pk}/corrections/"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}{correction.pk}/").status_code == 404
    assert portal_as(maija).get(corrections_url(demo_case)).status_code == 404
    # Her own case's list does not hold hanna's request.
    own = client.get(f"/api/v1/cases/{other.cases.get().pk}/corrections/")
    assert own.status_code == 200 and own.json()["count"] == 0
    own_detail = f"/api/v1/cases/{other.cases.get().pk}/corrections/{correction.pk}/"
    assert client.get(own_detail).status_code == 404


def test_the_correction_list_has_a_constant_number_of_queries(
    api, demo_case, django_assert_num_queries
):
    aino = child_of(demo_case)
    hanna = portal_as(HANNA)
    assert ask(hanna, demo_case, f"member:{aino.pk}").status_code == 302
    client = api.as_user(persona(TIINA))
    url = f"/api/v1/cases/{demo_case.pk}/corrections/"
    # 1 token + user, 2 case with permission join, 3 the policy's facts, 4 count, 5 page
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(url).json()["count"] == 1
    for _ in range(9):
        assert ask(hanna, demo_case, f"member:{aino.pk}").status_code == 302
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(url).json()["count"] == 10
