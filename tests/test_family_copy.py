"""The family's own copy (issue 16, acceptance 3): the download holds every item the family can
see in the portal, and nothing it cannot.

The world is the demo with a marker (`zzc-<what>`) written into every text of family data the
system holds: of the Virtanen case, of things around it that the family does not see (a removed
network member, a withdrawn invitation, a person's contact details, another family's case), and
of another family. Every portal page of the case is rendered as hanna; the copy is downloaded
as JSON and as HTML (and as the one zip that holds both). Each marker must be in all of them or
in none, and exactly the expected ones are in.
"""

import datetime
import html
import io
import json
import re
import zipfile

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AccessEvent
from cases import messaging, selectors, services
from cases.models import (
    Conversation,
    CorrectionRequest,
    FamilyMember,
    Invitation,
    NetworkMember,
    Note,
    Organisation,
    Plan,
)
from consent import legal_bases
from consent.policy import Need
from koordinointi.vocabulary import MESSAGES, PROTECTED, Category
from tests.conftest import ANNA, HANNA, OLLI, TIINA, ULLA, persona
from tests.factories import UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

MARKER = re.compile(r"zzc-[a-z0-9-]+")
PAGES = ("case", "network", "notes", "requests", "consents", "history", "corrections")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


THREAD_MARKERS = (
    "zzc-thread-family",
    "zzc-msg-family",
    "zzc-msg-worker",
    "zzc-msg-member",
    "zzc-thread-worker",
    "zzc-msg-worker-start",
)


def _access(username, case, need=Need.VIEW):
    return selectors.case_get(user=persona(username), case_id=case.pk, need=need)[1]


def _threads(case, prefix="zzc"):
    """Two threads of the case with messages from the family, its worker and a chosen member."""
    hanna, tiina, anna = persona(HANNA), persona(TIINA), persona(ANNA)
    anna_member = NetworkMember.objects.get(case=case, user=anna, removed_at=None)
    thread = messaging.conversation_start(
        actor=hanna,
        case=case,
        access=_access(HANNA, case, Need.FAMILY),
        subject=f"{prefix}-thread-family",
        text=f"{prefix}-msg-family",
        members=[anna_member.pk],
    )
    for user, text in ((tiina, f"{prefix}-msg-worker"), (anna, f"{prefix}-msg-member")):
        messaging.message_post(
            actor=user,
            case=case,
            access=_access(user.username, case),
            conversation_id=thread.conversation.pk,
            text=text,
        )
    messaging.conversation_start(
        actor=tiina,
        case=case,
        access=_access(TIINA, case),
        subject=f"{prefix}-thread-worker",
        text=f"{prefix}-msg-worker-start",
    )


def _world(case):
    """Markers everywhere; returns (the markers the family must see, those it must not)."""
    tiina, ulla = persona(TIINA), persona(ULLA)
    family = case.family
    family.name = "zzc-family-name"
    family.save(update_fields=["name"])
    municipality = family.municipality
    municipality.name = "zzc-municipality"
    municipality.save(update_fields=["name"])
    for i, member in enumerate(family.members.order_by("id")):
        FamilyMember.objects.filter(pk=member.pk).update(
            first_name=f"zzc-first-{i}", last_name=f"zzc-last-{i}"
        )
    for note in Note.objects.filter(case=case):
        Note.objects.filter(pk=note.pk).update(text=f"zzc-note-{note.category.replace('_', '')}")
    services.plan_update(
        actor=tiina,
        case=case,
        data={"goals": "zzc-plan-goals", "needs": "zzc-plan-needs", "family_view": "zzc-plan-own"},
    )
    informal = services.network_add_informal(
        actor=tiina,
        case=case,
        name="zzc-close-name",
        relationship="zzc-close-relationship",
        contact="zzc-close-contact",  # the portal does not show contacts
    )
    gone = services.network_add_informal(actor=tiina, case=case, name="zzc-removed-member")
    services.network_remove(actor=tiina, member=gone)
    services.plan_action_create(
        actor=tiina,
        case=case,
        title="zzc-action-title",
        description="zzc-action-description",
        responsible_member=informal,
        due_date=timezone.localdate() + datetime.timedelta(days=5),
    )
    start = timezone.now() + datetime.timedelta(days=3)
    services.meeting_create(
        actor=tiina,
        case=case,
        title="zzc-meeting-title",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        place="zzc-meeting-place",
        agenda="zzc-meeting-agenda",
    )
    invitation, _token = services.invitation_create(
        actor=tiina,
        case=case,
        organisation=ulla.memberships.get().organisation,
        invited_user=ulla,
        role="zzc-invited-withdrawn",
    )
    services.invitation_withdraw(actor=tiina, invitation=invitation)
    assert Invitation.objects.filter(case=case, status=Invitation.Status.PENDING).exists()
    _case, access = selectors.case_get(user=persona(HANNA), case_id=case.pk, need=Need.FAMILY)
    member = family.members.order_by("id").first()
    services.correction_request_create(
        actor=persona(HANNA),
        case=case,
        access=access,
        item_kind=CorrectionRequest.Item.MEMBER,
        item_id=member.pk,
        what_is_wrong="zzc-correction-wrong",
        should_say="zzc-correction-should",
    )
    # Legal bases (issue 16): one the family sees, one withheld from it (with why).
    _c, tiina_access = selectors.case_get(user=tiina, case_id=case.pk)
    for withheld, reason in ((False, "zzc-basis-reason"), (True, "zzc-basis-withheld")):
        legal_bases.legal_basis_record(
            actor=tiina,
            case=case,
            access=tiina_access,
            organisation=Organisation.objects.get(code="asikkala-perusopetus"),
            categories=["basic"],
            basis="multi_professional_cooperation",
            reason=reason,
            valid_until=timezone.now() + datetime.timedelta(days=30),
            withheld_from_family=withheld,
            withheld_reason="zzc-basis-why" if withheld else "",
        )
    # Messages (issue 17): a thread hanna starts with anna chosen into it, answered by tiina and
    # anna, and one tiina starts with the family. The family reads every thread of its case.
    _threads(case)
    # Another family, with a note of every kind the family would see on its own case.
    other = services.family_create(
        actor=ulla,
        name="zzc-other-family",
        municipality=municipality,
        members=[{"role": "guardian", "first_name": "zzc-other-first", "last_name": "Muu"}],
        opening_reason="zzc-other-reason",
    )
    other_case = other.cases.get()
    _c, ulla_access = selectors.case_get(user=ulla, case_id=other_case.pk)
    services.note_create(
        actor=ulla,
        case=other_case,
        access=ulla_access,
        category=sorted(ulla_access.note_categories)[0],
        text="zzc-other-note",
    )
    Plan.objects.update_or_create(case=other_case, defaults={"goals": "zzc-other-plan"})
    # A thread the family is not part of: the other family's, with its responsible worker.
    messaging.conversation_start(
        actor=ulla,
        case=other_case,
        access=ulla_access,
        subject="zzc-other-thread",
        text="zzc-other-message",
    )
    seen = {
        "zzc-family-name",
        "zzc-municipality",
        "zzc-plan-goals",
        "zzc-plan-needs",
        "zzc-plan-own",
        "zzc-close-name",
        "zzc-close-relationship",
        "zzc-action-title",
        "zzc-action-description",
        "zzc-meeting-title",
        "zzc-meeting-place",
        "zzc-meeting-agenda",
        "zzc-correction-wrong",
        "zzc-correction-should",
        "zzc-basis-reason",
        *THREAD_MARKERS,
        *(f"zzc-first-{i}" for i in range(family.members.count())),
        *(f"zzc-last-{i}" for i in range(family.members.count())),
        *(
            f"zzc-note-{c.replace('_', '')}"
            for c in Note.objects.filter(case=case).values_list("category", flat=True)
        ),
    }
    unseen = {
        "zzc-close-contact",
        "zzc-removed-member",
        "zzc-invited-withdrawn",
        "zzc-other-family",
        "zzc-other-first",
        "zzc-other-reason",
        "zzc-other-note",
        "zzc-other-plan",
        "zzc-basis-withheld",
        "zzc-basis-why",
        "zzc-other-thread",
        "zzc-other-message",
    }
    return seen, unseen


def _hanna() -> Client:
    client = Client()
    client.force_login(persona(HANNA))
    return client


def _portal_text(client, case) -> str:
    bodies = []
    for name in PAGES:
        response = client.get(
            f"/portal/cases/{case.pk}/{name}/" if name != "case" else f"/portal/cases/{case.pk}/"
        )
        assert response.status_code == 200, (name, response.status_code)
        bodies.append(html.unescape(response.content.decode()))
    # The messages: the thread list and every thread's page.
    pages = [f"/portal/cases/{case.pk}/conversations/"] + [
        f"/portal/cases/{case.pk}/conversations/{pk}/"
        for pk in Conversation.objects.filter(case=case).values_list("pk", flat=True)
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        bodies.append(html.unescape(response.content.decode()))
    return "\n".join(bodies)


def _markers(text: str) -> set:
    return set(MARKER.findall(text))


def test_the_copy_holds_exactly_what_the_portal_shows(demo_case):
    seen, unseen = _world(demo_case)
    client = _hanna()
    portal = _portal_text(client, demo_case)

    as_json = client.get(f"/portal/cases/{demo_case.pk}/copy.json")
    assert as_json.status_code == 200
    assert as_json["Content-Disposition"].startswith('attachment; filename="family-copy-')
    document = as_json.json()
    as_html = client.get(f"/portal/cases/{demo_case.pk}/copy.html")
    assert as_html.status_code == 200 and as_html["Content-Type"].startswith("text/html")
    packed = client.get(f"/portal/cases/{demo_case.pk}/copy.zip")
    assert packed.status_code == 200 and packed["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(packed.content))
    assert sorted(archive.namelist()) == ["family-copy.html", "family-copy.json"]

    in_portal = _markers(portal)
    in_json = _markers(json.dumps(document, ensure_ascii=False))
    in_html = _markers(html.unescape(as_html.content.decode()))
    in_zip_json = _markers(archive.read("family-copy.json").decode())
    in_zip_html = _markers(html.unescape(archive.read("family-copy.html").decode()))

    assert in_portal == seen, (sorted(seen - in_portal), sorted(in_portal - seen))
    assert in_json == in_portal, (sorted(in_portal - in_json), sorted(in_json - in_portal))
    assert in_html == in_portal, (sorted(in_portal - in_html), sorted(in_html - in_portal))
    assert in_zip_json == in_json and in_zip_html == in_html
    assert not unseen & (in_portal | in_json | in_html)
    # The health note (anna's, of the child health clinic) is one the family reads, as the
    # policy has it (note_list for the family's access): it is in both, or the check above fails.
    assert "zzc-note-noteshealth" in in_json


# --- Messages (issue 17) ------------------------------------------------------------------------


def _copies(client, case) -> dict:
    """The copy's text in every format: JSON, HTML, the zip's two files, and the API's."""
    base = f"/portal/cases/{case.pk}"
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/copy.zip").content))
    from_api = _api_as(HANNA).get(f"/api/v1/cases/{case.pk}/family-copy/")
    assert from_api.status_code == 200
    return {
        "json": client.get(f"{base}/copy.json").content.decode(),
        "html": html.unescape(client.get(f"{base}/copy.html").content.decode()),
        "zip json": archive.read("family-copy.json").decode(),
        "zip html": html.unescape(archive.read("family-copy.html").decode()),
        "api": from_api.content.decode(),
    }


def test_the_familys_messages_are_in_the_copy_in_every_format(demo_case):
    _threads(demo_case)
    client = _hanna()
    for name, text in _copies(client, demo_case).items():
        assert _markers(text) == set(THREAD_MARKERS), name
    document = client.get(f"/portal/cases/{demo_case.pk}/copy.json").json()
    by_subject = {t["subject"]: t for t in document["conversations"]}
    family = by_subject["zzc-thread-family"]
    assert [m["text"] for m in family["messages"]] == [
        "zzc-msg-family",
        "zzc-msg-worker",
        "zzc-msg-member",
    ]
    # As the thread page shows them: the family's own words as the family's, the workers named.
    assert [m["from_family"] for m in family["messages"]] == [True, False, False]
    assert family["messages"][1]["author"] == persona(TIINA).get_full_name()
    assert [m["name"] for m in family["members"]] == [persona(ANNA).get_full_name()]
    assert by_subject["zzc-thread-worker"]["members"] == []


def test_a_thread_the_family_is_not_part_of_is_not_in_its_copy(demo_case):
    seen, unseen = _world(demo_case)
    assert {"zzc-other-thread", "zzc-other-message"} <= unseen
    for name, text in _copies(_hanna(), demo_case).items():
        assert not _markers(text) & unseen, name
        assert set(THREAD_MARKERS) <= _markers(text), name


def test_the_copy_logs_its_messages_as_the_thread_pages_do(demo_case):
    _threads(demo_case)
    client = _hanna()
    _portal_text(client, demo_case)
    pages = AccessEvent.objects.filter(
        username=HANNA, case_id=demo_case.pk, resource="conversations"
    )
    logged = set().union(*(set(e.categories) for e in pages))
    assert MESSAGES in logged and Category.BASIC in logged  # hanna's own name on her message
    client.get(f"/portal/cases/{demo_case.pk}/copy.json")
    copy = AccessEvent.objects.get(resource="family-copy", case_id=demo_case.pk)
    assert logged <= set(copy.categories)


def test_under_non_disclosure_what_the_portal_hides_the_copy_hides(demo_case):
    _threads(demo_case)
    tiina = persona(TIINA)
    guardian = demo_case.family.members.get(role=FamilyMember.Role.GUARDIAN)
    anna = NetworkMember.objects.get(case=demo_case, user__username=ANNA, removed_at=None)
    services.non_disclosure_mark(
        actor=tiina,
        case=demo_case,
        access=_access(TIINA, demo_case),
        member=guardian,
        readers=[anna],
    )
    thread = Conversation.objects.get(case=demo_case, subject="zzc-thread-family")
    for text, protected in (("zzc-secret-address", True), ("zzc-open-answer", False)):
        messaging.message_post(
            actor=tiina,
            case=demo_case,
            access=_access(TIINA, demo_case),
            conversation_id=thread.pk,
            text=text,
            protected=protected,
        )
    client = _hanna()
    portal = _markers(_portal_text(client, demo_case))
    assert "zzc-open-answer" in portal and "zzc-secret-address" not in portal
    for name, text in _copies(client, demo_case).items():
        found = _markers(text)
        assert "zzc-open-answer" in found and "zzc-secret-address" not in found, name
        assert found & set(THREAD_MARKERS) == portal & set(THREAD_MARKERS), name
    # Nor does the log say the family saw protected text, in the copy or on the pages.
    events = AccessEvent.objects.filter(username=HANNA, case_id=demo_case.pk)
    assert events.filter(resource="family-copy").exists()
    assert not any(PROTECTED in e.categories for e in events)
    # The responsible worker does read it (the test can fail: the text is there).
    body = _api_as(TIINA).get(f"/api/v1/cases/{demo_case.pk}/conversations/{thread.pk}/")
    assert "zzc-secret-address" in body.content.decode()


def _api_as(username) -> APIClient:
    api = APIClient()
    api.force_authenticate(persona(username))
    return api


def test_the_copy_is_structured_and_names_what_the_family_has(demo_case):
    _world(demo_case)
    document = _hanna().get(f"/portal/cases/{demo_case.pk}/copy.json").json()
    assert document["format"] == "koordinointi-family-copy/1"
    assert document["case"]["id"] == str(demo_case.pk)
    assert document["case"]["responsible_worker"]["name"]
    assert {m["role"] for m in document["family"]["members"]} == {"guardian", "child"}
    assert {n["category"] for n in document["notes"]} == set(
        Note.objects.filter(case=demo_case).values_list("category", flat=True)
    )
    # Consents with their signed receipts: the active one has its grant's receipt.
    active = [c for c in document["consents"] if c["state"] == "active"]
    assert active and all(d["receipt"].count(".") == 2 for d in active[0]["decisions"])
    assert [c["what_is_wrong"] for c in document["corrections"]] == ["zzc-correction-wrong"]
    assert document["network"]["close_to_family"][0]["name"] == "zzc-close-name"


def test_the_download_is_access_logged_as_an_export_of_what_it_holds(demo_case):
    _world(demo_case)
    client = _hanna()
    for suffix in ("copy.json", "copy.html", "copy.zip"):
        response = client.get(f"/portal/cases/{demo_case.pk}/{suffix}")
        assert response.status_code == 200
    events = AccessEvent.objects.filter(resource="family-copy", case_id=demo_case.pk)
    assert events.count() == 3
    categories = set(Note.objects.filter(case=demo_case).values_list("category", flat=True))
    for event in events:
        assert event.action == AccessEvent.Action.EXPORT
        assert event.username == HANNA and event.role == AccessEvent.Role.GUARDIAN
        assert set(event.categories) == categories | {Category.BASIC, Category.PLAN, MESSAGES}


def test_the_api_copy_is_the_portal_copy_for_a_guardian(api, demo_case):
    _world(demo_case)
    portal = _hanna().get(f"/portal/cases/{demo_case.pk}/copy.json").json()
    response = api.as_user(persona(HANNA)).get(f"/api/v1/cases/{demo_case.pk}/family-copy/")
    assert response.status_code == 200
    body = response.json()
    for document in (portal, body):
        document.pop("generated_at")
        # The API's own read of the copy is the family's, not in its history; the portal's
        # download neither: the histories are the same.
    assert body == portal
    event = AccessEvent.objects.filter(resource="family-copy").order_by("-created_at").first()
    assert event.action == AccessEvent.Action.EXPORT and event.username == HANNA


@pytest.mark.parametrize("who", [TIINA, ANNA, OLLI, ULLA])
def test_nobody_but_the_family_gets_the_copy(api, demo_case, who):
    user = persona(who)
    response = api.as_user(user).get(f"/api/v1/cases/{demo_case.pk}/family-copy/")
    assert response.status_code == 404
    client = Client()
    client.force_login(user)
    for suffix in ("copy.json", "copy.html", "copy.zip"):
        assert client.get(f"/portal/cases/{demo_case.pk}/{suffix}").status_code == 404


def test_another_familys_guardian_gets_404(api, demo_case):
    guardian = UserFactory(username="maija")
    other = services.family_create(
        actor=persona(ULLA),
        name="Muu",
        municipality=demo_case.family.municipality,
        members=[{"role": "guardian", "first_name": "Maija", "last_name": "Muu", "user": guardian}],
    )
    assert (
        api.as_user(guardian).get(f"/api/v1/cases/{demo_case.pk}/family-copy/").status_code == 404
    )
    own = api.as_user(guardian).get(f"/api/v1/cases/{other.cases.get().pk}/family-copy/")
    assert own.status_code == 200 and own.json()["family"]["name"] == "Muu"
    client = Client()
    client.force_login(guardian)
    assert client.get(f"/portal/cases/{demo_case.pk}/copy.json").status_code == 404


def test_the_copy_has_a_constant_number_of_queries(api, demo_case):
    _world(demo_case)
    tiina = persona(TIINA)
    api.as_user(tiina).get(f"/api/v1/cases/{demo_case.pk}/")  # someone in the history
    client = api.as_user(persona(HANNA))
    url = f"/api/v1/cases/{demo_case.pk}/family-copy/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(url).status_code == 200
        return len(context.captured_queries)

    # 1 token + user, 2 case with permission join, 3 the policy's facts; the case page: 4 plan,
    # 5 the responsible worker's post, 6 actions, 7 meetings, 8-9 their members, 10 family
    # members, 11 the legal bases (issue 16); the network page: 12 members, 13 invitations;
    # the notes page: 14 notes; the consents: 15 consents, 16 recipients, 17 events, 18 their
    # grantors; the corrections page: 19 requests, 20-23 the items it names (members, plan,
    # actions, notes); the messages (issue 17: 27 before them, 4 more, however many threads and
    # messages): 24 the threads with their unread counts, 25 their chosen members, 26 the
    # messages of them all, 27 the family's guardians (who wrote as the family); the history: 28
    # events, 29 readers, 30 their organisations, 31 their titles.
    assert queries() == 31 + REQUEST + ACCESS_LOG
    for i in range(5):
        services.network_add_informal(actor=tiina, case=demo_case, name=f"Lähellä {i}")
        services.plan_action_create(actor=tiina, case=demo_case, title=f"Toimi {i}")
        api.as_user(persona(ANNA)).get(f"/api/v1/cases/{demo_case.pk}/")
        _threads(demo_case, prefix=f"more{i}")
    client = api.as_user(persona(HANNA))
    assert queries() == 31 + REQUEST + ACCESS_LOG
