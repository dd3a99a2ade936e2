"""Bad input (issue 8): every write endpoint of the demo answers malformed, oversized, mistyped,
unknown, out-of-range and overlong input with a 4xx and a JSON message, and writes nothing."""

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from cases import messaging, services
from cases.models import Municipality, Organisation, Service, User
from cases.seeding import demo
from consent.models import Consent
from tests.conftest import ANNA, HANNA, KAISA, TIINA
from tests.test_authorization_matrix import fingerprint

pytestmark = pytest.mark.django_db

ANONYMOUS = None
CAP = 1024 * 1024  # settings.REQUEST_BODY_MAX_BYTES by default


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(demo_world):
    """The seeded demo (tests/conftest.py) plus one plan action and one meeting, built once and
    rolled back with the demo world."""
    from rest_framework.authtoken.models import Token

    case = demo_world.case
    users = dict(demo_world.users)
    tiina = users[TIINA]
    start = timezone.now() + datetime.timedelta(days=7)
    action = services.plan_action_create(actor=tiina, case=case, title="Toimi")
    meeting = services.meeting_create(
        actor=tiina,
        case=case,
        title="Palaveri",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        place="Koulu",
    )
    mll = Organisation.objects.get(code="mll-paijat-hame")
    from tests.factories import access_of

    hanna = users[HANNA]
    thread = messaging.conversation_start(
        actor=hanna, case=case, access=access_of(hanna, case), subject="Aihe", text="Viesti"
    ).conversation
    # The front door (issue 17): a request in kaisa's intake queue, and another organisation's
    # intake to refer it on to.
    from cases import intake
    from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

    other_intake = OrganisationFactory(code="toinen-vastaanotto")
    MembershipFactory(user=UserFactory(), organisation=other_intake, role="intake")
    contact_request = intake.contact_request_submit(
        first_name="Sanna",
        last_name="Salonen",
        municipality=Municipality.objects.get(code="asikkala"),
        need="Apua arkeen",
        phone="040 123 4567",
    )
    ids = {
        "contact_request": str(contact_request.pk),
        "other_intake": str(other_intake.pk),
        "tiina": str(tiina.pk),
        "case": str(case.pk),
        "family": str(case.family_id),
        "lahti": str(Municipality.objects.get(code="lahti").pk),
        "mll": str(mll.pk),
        "mll_service": str(Service.objects.filter(organisation=mll).first().pk),
        "anna": str(users[ANNA].pk),
        "action": str(action.pk),
        "meeting": str(meeting.pk),
        "conversation": str(thread.pk),
        "anna_member": str(case.network.get(user=users[ANNA], removed_at=None).pk),
        "school_consent": str(
            Consent.objects.get(case=case, recipients__code="asikkala-perusopetus").pk
        ),
        "child": str(case.family.members.get(first_name="Aino").pk),
    }
    built = World(users=users, ids=ids)
    built.tokens = {
        name: Token.objects.get_or_create(user=users[name])[0].key
        for name in (TIINA, ANNA, HANNA, KAISA)
    }
    return built


def _future(days: int, hours: int = 0) -> str:
    return (timezone.now() + datetime.timedelta(days=days, hours=hours)).isoformat()


@dataclass(frozen=True)
class Write:
    """One write endpoint, the user allowed to use it, and a body it would accept."""

    method: str
    url: Callable[[World], str]
    body: Callable[[World], dict]
    user: str | None = TIINA
    texts: tuple[str, ...] = ()  # free-text fields
    ids: tuple[str, ...] = ()  # fields naming an object by UUID
    dates: tuple[str, ...] = ()
    datetimes: tuple[str, ...] = ()


def case_url(tail: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/cases/{w.ids['case']}/{tail}"


WRITES = {
    "token": Write(
        "POST",
        lambda w: "/api/v1/auth/token/",
        lambda w: {"username": TIINA, "password": "demo-pass-2026"},
        user=ANONYMOUS,
        texts=("username", "password"),
    ),
    "family create": Write(
        "POST",
        lambda w: "/api/v1/families/",
        lambda w: {
            "name": "Uusi",
            "municipality": w.ids["lahti"],
            "members": [
                {
                    "role": "child",
                    "first_name": "Uuno",
                    "last_name": "Uusi",
                    "birth_date": "2020-01-01",
                }
            ],
            "opening_reason": "Syy",
        },
        texts=("name", "opening_reason"),
        ids=("municipality",),
    ),
    "family update": Write(
        "PATCH",
        lambda w: f"/api/v1/families/{w.ids['family']}/",
        lambda w: {"name": "Uusi nimi", "municipality": w.ids["lahti"]},
        texts=("name",),
        ids=("municipality",),
    ),
    "family lookup": Write(
        "POST",
        lambda w: "/api/v1/families/lookup/",
        lambda w: {
            "identity_code": demo.identity_code(
                demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"]
            )
        },
        texts=("identity_code",),
    ),
    "case open": Write(
        "POST",
        lambda w: "/api/v1/cases/",
        lambda w: {"family": w.ids["family"], "opening_reason": "Syy"},
        texts=("opening_reason",),
        ids=("family",),
    ),
    "case update": Write(
        "PATCH",
        case_url(""),
        lambda w: {"opening_reason": "Uusi syy"},
        texts=("opening_reason",),
    ),
    "case close": Write(
        "POST", case_url("close/"), lambda w: {"reason": "Valmis"}, texts=("reason",)
    ),
    "member": Write(
        "POST",
        case_url("members/"),
        lambda w: {
            "kind": "informal",
            "name": "Naapuri",
            "relationship": "naapuri",
            "contact": "x",
        },
        texts=("name", "relationship", "contact", "role"),
    ),
    "invitation": Write(
        "POST",
        case_url("invitations/"),
        lambda w: {"organisation": w.ids["mll"], "email": "kutsu@example.org", "message": "Tule"},
        texts=("email", "message", "role"),
        ids=("organisation",),
    ),
    "note": Write(
        "POST",
        case_url("notes/"),
        lambda w: {"category": "notes_general", "text": "Muistiinpano"},
        texts=("text",),
    ),
    # Messages (issue 17): hanna starts a thread choosing anna; tiina answers in one.
    "conversation": Write(
        "POST",
        case_url("conversations/"),
        lambda w: {"subject": "Aihe", "text": "Viesti", "members": [w.ids["anna_member"]]},
        user=HANNA,
        texts=("subject", "text"),
    ),
    "message": Write(
        "POST",
        lambda w: f"/api/v1/cases/{w.ids['case']}/conversations/{w.ids['conversation']}/messages/",
        lambda w: {"text": "Vastaus"},
        texts=("text",),
    ),
    "plan": Write(
        "PATCH",
        case_url("plan/"),
        lambda w: {"needs": "Tarpeet", "goals": "Tavoitteet", "family_view": "Näkemys"},
        texts=("needs", "goals", "family_view"),
    ),
    "consent request": Write(
        "POST",
        case_url("consent-requests/"),
        lambda w: {
            "recipients": [w.ids["mll"]],
            "categories": ["basic"],
            "purpose_code": "coordination",
            "purpose": "Tuki",
            "valid_until": _future(30),
        },
        texts=("purpose", "message", "purpose_code"),
        datetimes=("valid_until", "valid_from"),
    ),
    "consent grant": Write(
        "POST",
        lambda w: f"/api/v1/consents/{w.ids['school_consent']}/grant/",
        lambda w: {"channel": "api"},
        user=HANNA,
    ),
    "child view": Write(
        "POST",
        lambda w: f"/api/v1/consents/{w.ids['school_consent']}/child-view/",
        lambda w: {"child": w.ids["child"], "statement": "Olen samaa mieltä"},
        user=HANNA,
        texts=("statement",),
        ids=("child",),
    ),
    "handover": Write(
        "POST",
        case_url("handovers/"),
        lambda w: {"to_worker": w.ids["anna"], "message": "Siirto"},
        texts=("message",),
        ids=("to_worker",),
    ),
    "plan action": Write(
        "POST",
        case_url("plan/actions/"),
        lambda w: {"title": "Toimi", "description": "Kuvaus", "due_date": "2030-01-31"},
        texts=("title", "description"),
        dates=("due_date",),
    ),
    "plan action update": Write(
        "PATCH",
        lambda w: f"/api/v1/cases/{w.ids['case']}/plan/actions/{w.ids['action']}/",
        lambda w: {"title": "Toimi 2", "due_date": "2030-02-28"},
        texts=("title",),
        dates=("due_date",),
    ),
    "meeting": Write(
        "POST",
        case_url("meetings/"),
        lambda w: {
            "title": "Palaveri",
            "starts_at": _future(3),
            "ends_at": _future(3, hours=1),
            "place": "Koulu",
            "agenda": "Asiat",
        },
        texts=("title", "place", "agenda"),
        datetimes=("starts_at", "ends_at"),
    ),
    "meeting update": Write(
        "PATCH",
        lambda w: f"/api/v1/cases/{w.ids['case']}/meetings/{w.ids['meeting']}/",
        lambda w: {"title": "Palaveri 2", "starts_at": _future(4), "ends_at": _future(4, 1)},
        texts=("title",),
        datetimes=("starts_at", "ends_at"),
    ),
    "legal basis": Write(
        "POST",
        case_url("legal-bases/"),
        lambda w: {
            "organisation": w.ids["mll"],
            "categories": ["basic"],
            "basis": "child_welfare_need_assessment",
            "reason": "Selvitys",
            "valid_until": _future(30),
        },
        texts=("reason", "withheld_reason"),
        ids=("organisation",),
        datetimes=("valid_until", "valid_from"),
    ),
    "referral": Write(
        "POST",
        case_url("referrals/"),
        lambda w: {"service": w.ids["mll_service"], "message": "Lähete"},
        texts=("message",),
        ids=("service",),
    ),
}


def intake_url(tail: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/intake/contact-requests/{w.ids['contact_request']}/{tail}"


# The front door (issue 17): what an intake worker does with a contact request.
WRITES |= {
    "contact request take": Write(
        "POST",
        intake_url("take/"),
        lambda w: {"contact_by": (timezone.localdate() + datetime.timedelta(days=2)).isoformat()},
        user=KAISA,
        dates=("contact_by",),
    ),
    "contact request open case": Write(
        "POST",
        intake_url("open-case/"),
        lambda w: {"responsible_worker": w.ids["tiina"], "opening_reason": "Syy"},
        user=KAISA,
        texts=("opening_reason",),
        ids=("responsible_worker", "organisation"),
    ),
    "contact request refer on": Write(
        "POST",
        intake_url("refer-on/"),
        lambda w: {"organisation": w.ids["other_intake"], "note": "Siirto"},
        user=KAISA,
        texts=("note",),
        ids=("organisation",),
    ),
    "contact request close": Write(
        "POST",
        intake_url("close/"),
        lambda w: {"reason": "advised", "note": "Neuvottu"},
        user=KAISA,
        texts=("note",),
    ),
}
NAMES = sorted(WRITES)


def client_for(world: World, write: Write) -> APIClient:
    client = APIClient()
    if write.user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[write.user]}")
    return client


def send(world, write, payload, content_type="application/json"):
    """(response, whether any domain table changed) for one request, rolled back after."""
    client = client_for(world, write)
    if not isinstance(payload, bytes | str):
        payload = json.dumps(payload)
    with transaction.atomic():
        before = fingerprint()
        response = client.generic(
            write.method, write.url(world), payload, content_type=content_type
        )
        changed = fingerprint() != before
        transaction.set_rollback(True)
    return response, changed


def assert_refused(response, changed, status=400, *, mentions: str | None = None):
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body, "a clear message, not an empty body"
    if mentions is not None:
        assert mentions in json.dumps(body, ensure_ascii=False), body
    assert not changed, "a refused request wrote something"


# --- The valid body is valid: the refusals below are about the bad part only ------------------


@pytest.mark.parametrize("name", NAMES)
def test_the_plausible_body_is_accepted(world, name):
    write = WRITES[name]
    response, changed = send(world, write, write.body(world))
    # The case is open, so opening another answers 400 on the family, not on the input shape.
    if name == "case open":
        assert response.status_code == 400 and "opening_reason" not in response.json()
        return
    assert response.status_code in (200, 201), (name, response.content[:500])
    assert changed or name in ("token", "family lookup")


# --- Malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_malformed_json_is_a_400(world, name):
    response, changed = send(world, WRITES[name], b'{"name": "Virta')
    assert_refused(response, changed, mentions="JSON")


@pytest.mark.parametrize("name", NAMES)
def test_invalid_utf8_is_a_400(world, name):
    body = json.dumps(WRITES[name].body(world)).encode()
    response, changed = send(world, WRITES[name], body[:-1] + b'"\xff\xfe"}')
    assert_refused(response, changed, mentions="UTF-8")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("payload", [[1, 2], "text", 12, None, True])
def test_a_body_that_is_not_an_object_is_a_400(world, name, payload):
    response, changed = send(world, WRITES[name], payload)
    assert_refused(response, changed)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_is_a_415(world, name, content_type):
    response, changed = send(world, WRITES[name], "name=Virtanen", content_type=content_type)
    assert_refused(response, changed, status=415)


@pytest.mark.parametrize("name", NAMES)
def test_an_oversized_body_is_a_413_before_anything_is_read(world, name):
    write = WRITES[name]
    body = write.body(world)
    key = write.texts[0] if write.texts else "padding"
    body[key] = ""
    body[key] = "x" * (CAP + 1 - len(json.dumps(body)))
    raw = json.dumps(body).encode()
    assert len(raw) > CAP
    response, changed = send(world, write, raw)
    assert_refused(response, changed, status=413, mentions=str(CAP))


# --- Bad parts of a well-formed body -----------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_field_is_a_400(world, name):
    body = {**WRITES[name].body(world), "is_superuser": True}
    response, changed = send(world, WRITES[name], body)
    assert_refused(response, changed, mentions="is_superuser")


@pytest.mark.parametrize("name", NAMES)
def test_a_value_of_the_wrong_type_is_a_400_naming_the_field(world, name):
    write = WRITES[name]
    for key in write.body(world):
        body = {**write.body(world), key: {"not": ["a", "value"]}}
        response, changed = send(world, write, body)
        assert_refused(response, changed, mentions=key)


@pytest.mark.parametrize("name", [n for n in NAMES if WRITES[n].texts])
def test_a_very_long_string_is_a_400_naming_the_field(world, name):
    write = WRITES[name]
    for key in write.texts:
        body = {**write.body(world), key: "x" * 100_000}
        response, changed = send(world, write, body)
        assert_refused(response, changed, mentions=key)


@pytest.mark.parametrize("name", [n for n in NAMES if WRITES[n].ids])
@pytest.mark.parametrize("value", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", 7])
def test_an_invalid_uuid_in_the_body_is_a_400(world, name, value):
    write = WRITES[name]
    for key in write.ids:
        response, changed = send(world, write, {**write.body(world), key: value})
        assert_refused(response, changed, mentions=key)


BAD_DATES = ["0000-01-01", "10000-01-01", "2025-02-31", "2025-13-01", "31.2.2025", "tomorrow"]
BAD_DATETIMES = [
    "0000-01-01T10:00:00Z",
    "10000-01-01T10:00:00Z",
    "2025-02-31T10:00:00Z",
    "2025-01-01T25:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "31.2.2025 10:00",
]


@pytest.mark.parametrize("name", [n for n in NAMES if WRITES[n].dates])
@pytest.mark.parametrize("value", BAD_DATES)
def test_a_date_out_of_range_is_a_400(world, name, value):
    write = WRITES[name]
    for key in write.dates:
        response, changed = send(world, write, {**write.body(world), key: value})
        assert_refused(response, changed, mentions=key)


@pytest.mark.parametrize("name", [n for n in NAMES if WRITES[n].datetimes])
@pytest.mark.parametrize("value", BAD_DATETIMES)
def test_a_datetime_out_of_range_is_a_400(world, name, value):
    write = WRITES[name]
    for key in write.datetimes:
        response, changed = send(world, write, {**write.body(world), key: value})
        assert_refused(response, changed, mentions=key)


# --- Beyond the bodies: pages, filters, paths, parsing edge cases -------------------------------


def test_the_page_size_is_capped(api, organisation):
    Service.objects.bulk_create(
        Service(organisation=organisation, name_fi=f"Palvelu {i}", category="health")
        for i in range(205)
    )
    for size in ("201", "1000000", "9" * 5000, "0", "-1", "2.5", "abc"):
        response = api.get(f"/api/v1/services/?page_size={size}")
        assert response.status_code == 400, size
        assert "200" in response.json()["page_size"][0], size  # says what it takes
    assert len(api.get("/api/v1/services/?page_size=200").json()["results"]) == 200
    assert len(api.get("/api/v1/services/").json()["results"]) == 50


@pytest.mark.parametrize("page", ["abc", "0", "-1", "99999999999999999999"])
def test_a_page_out_of_range_is_a_404_with_a_message(api, page):
    response = api.get(f"/api/v1/services/?page={page}")
    assert response.status_code == 404 and response.json()["detail"]


def test_an_invalid_uuid_in_a_filter_is_a_400(api, owner, family_case):
    response = api.as_user(owner).get("/api/v1/cases/?family=not-a-uuid")
    assert response.status_code == 400 and "family" in response.json()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/cases/not-a-uuid/",
        "/api/v1/cases/12345/notes/",
        "/api/v1/families/00000000-0000-0000-0000-00000000000g/",
        "/api/v1/no-such-thing/",
    ],
)
def test_an_invalid_uuid_in_a_path_is_a_json_404(api, owner, url):
    client = api.as_user(owner)
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    # The very answer for a well-formed id of nothing.
    assert response.json() == client.get(f"/api/v1/cases/{uuid.uuid4()}/").json()


def test_outside_the_api_a_404_stays_a_page(client):
    response = client.get("/portal/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def _family_create(api, owner, municipality, members):
    from cases.models import Family, FamilyMember

    before = (Family.objects.count(), FamilyMember.objects.count())
    response = api.as_user(owner).post(
        "/api/v1/families/",
        {"name": "Uusi", "municipality": str(municipality.pk), "members": members},
        format="json",
    )
    assert (Family.objects.count(), FamilyMember.objects.count()) == before or (
        response.status_code == 201
    )
    return response


@pytest.mark.parametrize(
    "code",
    [
        "131052-308U",  # wrong check character
        "131352-308T",  # month 13
        "310299A123T",  # 31 February
        "131052*308T",  # unknown century sign
        "131052-001T",  # individual number below 002
        "1310523-308T",
        "",
    ],
)
def test_an_invalid_identity_code_is_a_400_that_does_not_repeat_it(api, owner, municipality, code):
    member = {"role": "child", "first_name": "Uuno", "last_name": "Uusi", "identity_code": code}
    response = _family_create(api, owner, municipality, [member])
    if code == "":
        assert response.status_code == 201  # no code at all is allowed
        return
    assert response.status_code == 400, response.content
    assert "identity_code" in json.dumps(response.json())
    assert code not in response.content.decode()


def test_an_unknown_field_inside_a_nested_member_is_a_400(api, owner, municipality):
    member = {"role": "child", "first_name": "Uuno", "last_name": "Uusi", "hetu": "x"}
    response = _family_create(api, owner, municipality, [member])
    assert response.status_code == 400 and "hetu" in json.dumps(response.json())


def raw_post(api, user, body: bytes, content_type="application/json"):
    return api.as_user(user).generic("POST", "/api/v1/families/", body, content_type=content_type)


def test_json_nested_too_deeply_is_a_400(api, owner):
    body = b"[" * 100_000 + b"]" * 100_000
    response = raw_post(api, owner, body)
    assert response.status_code == 400 and response.json()["detail"]


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_without_numbers_nan_and_infinity(api, owner, constant):
    response = raw_post(api, owner, b'{"name": ' + constant + b"}")
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_a_charset_that_names_no_codec_does_not_break_parsing(api, owner, municipality):
    body = json.dumps({"name": "Ääninen", "municipality": str(municipality.pk)}).encode()
    response = raw_post(api, owner, body, content_type="application/json; charset=no-such-codec")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Ääninen"


def test_a_content_length_over_the_cap_is_refused_whatever_follows(api, owner, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100
    client = api.as_user(owner)
    small = client.post("/api/v1/families/lookup/", {"identity_code": "x"}, format="json")
    assert small.status_code == 400  # under the cap: validated as usual
    response = client.post("/api/v1/families/lookup/", {"identity_code": "x" * 100}, format="json")
    assert response.status_code == 413
    assert "100" in response.json()["detail"]  # says what the cap is


def test_portal_forms_are_capped_too(client, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_MAX_BYTES
    response = client.post("/portal/login/", {"username": "x" * CAP, "password": "y"})
    assert response.status_code == 413


# --- Every input serializer: no unknown keys, no unbounded strings ------------------------------


def input_serializers():
    """The serializers the API's views build from request data (`Serializer(data=...)`)."""
    import importlib
    import inspect
    import re

    found = {}
    for module_name in (
        "api.auth_views",
        "api.cases",
        "api.catalogue",
        "api.consents",
        "api.families",
        "api.handovers",
        "api.incoming_referrals",
        "api.intake",
        "api.meetings",
        "api.network",
        "api.plan_actions",
        "api.reassignments",
        "api.referrals",
        "api.workers",
    ):
        module = importlib.import_module(module_name)
        source = inspect.getsource(module)
        for name in re.findall(r"([\w.]+Serializer)\(\s*(?:[\w.]+,\s*)?data=", source):
            owner_name, _, class_name = name.rpartition(".")
            owner = getattr(module, owner_name) if owner_name else module
            found[class_name] = getattr(owner, class_name)
    return found


def unbounded_strings(serializer, path="") -> list[str]:
    from rest_framework import serializers

    problems = []
    for name, fld in serializer.fields.items():
        if fld.read_only:
            continue
        if isinstance(fld, serializers.ListSerializer):
            fld = fld.child
        if isinstance(fld, serializers.ListField):
            fld = fld.child
        if isinstance(fld, serializers.Serializer):
            problems += unbounded_strings(fld, f"{path}{name}.")
        elif isinstance(fld, serializers.CharField) and fld.max_length is None:
            problems.append(f"{path}{name}")
    return problems


def test_every_input_serializer_refuses_unknown_keys_and_bounds_its_strings():
    from api.serializers import RejectUnknownFieldsMixin

    found = input_serializers()
    assert len(found) >= 20, sorted(found)  # the scan sees the API's input serializers
    problems = []
    for name, cls in sorted(found.items()):
        if not issubclass(cls, RejectUnknownFieldsMixin):
            problems.append(f"{name} does not refuse unknown keys")
        problems += [f"{name}.{field} has no max_length" for field in unbounded_strings(cls())]
    assert not problems, "\n".join(problems)
