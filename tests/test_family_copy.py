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

from audit.models import AccessEvent
from cases import selectors, services
from cases.models import CorrectionRequest, FamilyMember, Invitation, Note, Organisation, Plan
from consent import legal_bases
from consent.policy import Need
from koordinointi.vocabulary import Category
from tests.conftest import ANNA, HANNA, OLLI, TIINA, ULLA, persona
from tests.factories import UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

MARKER = re.compile(r"zzc-[a-z0-9-]+")
PAGES = ("case", "network", "notes", "requests", "consents", "history", "corrections")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
        assert set(event.categories) == categories | {Category.BASIC, Category.PLAN}


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
    # actions, notes); the history: 24 events, 25 readers, 26 their organisations, 27 their
    # titles.
    assert queries() == 27 + REQUEST + ACCESS_LOG
    for i in range(5):
        services.network_add_informal(actor=tiina, case=demo_case, name=f"Lähellä {i}")
        services.plan_action_create(actor=tiina, case=demo_case, title=f"Toimi {i}")
        api.as_user(persona(ANNA)).get(f"/api/v1/cases/{demo_case.pk}/")
    client = api.as_user(persona(HANNA))
    assert queries() == 27 + REQUEST + ACCESS_LOG
