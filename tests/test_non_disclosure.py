"""Non-disclosure for personal safety (turvakielto, issue 16, acceptance 2).

Eeli, a child of the demo family, is marked under non-disclosure by tiina (the responsible
worker), who names anna (the child health clinic) to see the protected data. Hanna has granted
the school's request, so olli reads `basic`, `plan` and `notes_general` but is not named. Then
every read route of the API and every portal page (from the route inventory, tests/routes.py, as
the disclosure-parity test enumerates them: a route added later is asked too) is asked as every
persona, with every object of the world: the protected values (the family's municipality, the
members' addresses, contact details and schools, a protected note and a protected plan action)
appear only for tiina and anna, and exactly the responses that show them carry the `protected`
category in their access-log entries. Mail and the coordinators' report are looked at too.
"""

import datetime
import re
import uuid

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AccessEvent
from cases import notifications, services
from cases.models import (
    Case,
    FamilyMember,
    NetworkMember,
    NonDisclosure,
    OutboundMail,
    PlanAction,
    Service,
)
from consent import policy
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from koordinointi.vocabulary import PROTECTED
from tests.conftest import ANNA, HANNA, KAISA, OLLI, PERSONAS, TERO, TIINA, ULLA
from tests.factories import WorkerFactory, access_of
from tests.routes import fill, portal_fill
from tests.test_disclosure_parity import (
    _build_world,
    api_fills,
    api_reads,
    body_text,
    portal_fills,
    portal_reads,
)

pytestmark = pytest.mark.django_db

SEE = {TIINA, ANNA}  # the responsible worker and the member she named
SECRET = re.compile(r"zp-[a-z0-9]+-zp")


def secret(what: str) -> str:
    return f"zp-{what}-zp"


def _protect(world) -> dict:
    """Markers over what a marking protects; Eeli marked, anna named. Returns the values."""
    users = world.users
    tiina, hanna = users[TIINA], users[HANNA]
    case = Case.objects.get(pk=world.cases[0])
    family = case.family
    municipality = family.municipality
    municipality.name = secret("municipality")
    municipality.save(update_fields=["name"])
    for n, member in enumerate(family.members.order_by("pk")):
        member.address = secret(f"address{n}")
        member.contact = secret(f"contact{n}")
        member.school = secret(f"school{n}")
        member.save(update_fields=["address", "contact", "school"])
    school = Consent.objects.get(case=case, state=Consent.State.PENDING)
    consent_services.consent_decide(actor=hanna, consent=school, decision=ConsentEvent.Kind.GRANTED)
    access = access_of(tiina, case)
    for category in ("notes_general", "notes_health"):
        services.note_create(
            actor=tiina,
            case=case,
            access=access,
            category=category,
            text=secret(f"note{category[6:]}"),
            protected=True,
        )
    services.plan_action_create(
        actor=tiina,
        case=case,
        title=secret("action"),
        description=secret("actiondesc"),
        responsible_user=tiina,
        due_date=timezone.localdate() + datetime.timedelta(days=1),
        protected=True,
        access=access,
    )
    eeli = family.members.get(role=FamilyMember.Role.CHILD, birth_date__year__gt=2015)
    services.non_disclosure_mark(
        actor=tiina,
        case=case,
        access=access,
        member=eeli,
        readers=[NetworkMember.objects.get(case=case, user=users[ANNA])],
    )
    # Detail routes of what was added.
    world.objects["notes"][str(case.pk)] = [
        str(pk) for pk in case.notes.values_list("pk", flat=True)
    ]
    world.objects["actions"][str(case.pk)] = [
        str(pk) for pk in case.plan_actions.values_list("pk", flat=True)
    ]
    return {"municipality_id": str(municipality.pk), "case": case, "eeli": eeli}


@pytest.fixture(scope="module")
def world(demo_world):
    world = _build_world(demo_world)
    world.protected = _protect(world)
    return world


def secrets_in(text: str, world) -> set[str]:
    found = set(SECRET.findall(text))
    if world.protected["municipality_id"] in text:
        found.add("municipality-id")
    return found


def _check(world, persona, label, response, request_id) -> list[str]:
    assert response.status_code < 500, (label, response.status_code)
    found = secrets_in(body_text(response), world)
    problems = []
    if found and persona not in SEE:
        problems.append(f"{label}: shows {sorted(found)}")
    is_flagged = _flagged(request_id)
    if bool(found) != is_flagged:
        problems.append(f"{label}: shows {sorted(found)} but flagged in the log: {is_flagged}")
    return problems


def _flagged(request_id: str) -> bool:
    return any(
        PROTECTED in event.categories
        for event in AccessEvent.objects.filter(
            request_id=request_id, outcome=AccessEvent.Outcome.ALLOWED
        )
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_protected_values_appear_only_for_the_responsible_worker_and_named_members(world, persona):
    """Every read route of the API and every portal page, as `persona`, with every object."""
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
    portal = Client()
    portal.force_login(world.users[persona])
    problems: list[str] = []
    seen: set[str] = set()
    for method, template in api_reads():
        for kwargs in api_fills(world, template):
            url = fill(template, kwargs)
            request_id = uuid.uuid4().hex
            if method == "POST":
                response = api.post(
                    url, world.lookup_body, format="json", HTTP_X_REQUEST_ID=request_id
                )
            else:
                response = api.get(url, HTTP_X_REQUEST_ID=request_id)
            problems += _check(world, persona, f"{method} {url}", response, request_id)
            seen |= secrets_in(body_text(response), world)
    for _name, route in portal_reads():
        for values in portal_fills(world, route):
            url = portal_fill(route, values)
            request_id = uuid.uuid4().hex
            response = portal.get(url, HTTP_X_REQUEST_ID=request_id)
            problems += _check(world, persona, f"GET {url}", response, request_id)
            seen |= secrets_in(body_text(response), world)
    assert not problems, f"as {persona}:\n" + "\n".join(problems)
    # Not vacuous: those who may see do see what they may read.
    if persona == TIINA:
        assert {
            "zp-municipality-zp",
            "municipality-id",
            "zp-address0-zp",
            "zp-school2-zp",
            "zp-notegeneral-zp",
            "zp-notehealth-zp",
            "zp-action-zp",
        } <= seen, seen
    if persona == ANNA:  # consent for basic, plan and notes_health
        assert {"zp-municipality-zp", "zp-address1-zp", "zp-notehealth-zp", "zp-action-zp"} <= (
            seen
        ), seen
        assert "zp-notegeneral-zp" not in seen


def test_others_see_that_a_marking_exists(world):
    case = world.protected["case"]
    for persona in (OLLI, HANNA):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
        if persona == OLLI:
            body = client.get(f"/api/v1/cases/{case.pk}/").json()
            assert body["non_disclosure"] is True
            assert "municipality" not in body["family"]
            assert body["family"]["name"]  # basic data other than where: still shown
        markings = client.get(f"/api/v1/cases/{case.pk}/non-disclosures/").json()
        assert [m["member"] for m in markings] == [str(world.protected["eeli"].pk)]
        assert markings[0]["readers"] == []  # whom she named is not theirs to know
    for language, text in {
        "fi": "Turvakielto suojaa perhettänne",
        "sv": "Spärrmarkeringen skyddar er familj",
        "en": "A non-disclosure marking protects your family",
    }.items():
        portal = Client()
        portal.force_login(world.users[HANNA])
        page_url = f"/portal/cases/{case.pk}/"
        portal.post("/portal/language/", {"language": language, "next": page_url})
        page = portal.get(page_url)
        assert page.status_code == 200
        assert text in page.content.decode(), language


def test_mail_carries_nothing_protected(world):
    case = world.protected["case"]
    tiina, anna = world.users[TIINA], world.users[ANNA]
    OutboundMail.objects.all().delete()
    start = timezone.now() + datetime.timedelta(days=3)
    services.meeting_create(
        actor=tiina,
        case=case,
        title="Verkostopalaveri",
        place="Perhekeskus",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        members=[NetworkMember.objects.get(case=case, user=anna)],
    )
    services.referral_create(
        actor=tiina,
        case=case,
        service=Service.objects.exclude(pk__in=case.referrals.values("service_id")).first(),
        message="Ohjaus",
    )
    PlanAction.objects.filter(case=case).update(reminded_at=None)
    notifications.send_action_reminders(days=3)
    mails = list(OutboundMail.objects.all())
    assert mails
    for mail in mails:
        text = "\n".join([mail.subject, mail.body, mail.calendar])
        assert not secrets_in(text, world), (mail.kind, text)


def test_the_report_counts_the_family_at_area_level_only(world):
    """The coordinators' report has area totals only: no count by municipality to locate a
    family with. The marked family is counted like any other."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[KAISA]}")
    report = client.get("/api/v1/coordination/report/")
    assert report.status_code == 200, report.content
    assert set(report.json()) == {
        "open_cases",
        "without_responsible_worker",
        "waiting_for_reassignment",
        "reassignment_proposed",
        "generated_at",
    }


def test_a_filter_by_municipality_does_not_find_a_marked_family(world):
    case = world.protected["case"]
    municipality = world.protected["municipality_id"]
    found = {}
    for persona in (TIINA, ANNA, OLLI):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
        body = client.get(f"/api/v1/families/?municipality={municipality}").json()
        found[persona] = [f["id"] for f in body["results"]]
    assert found == {
        TIINA: [str(case.family_id)],
        ANNA: [str(case.family_id)],
        OLLI: [],
    }


# --- Marking and lifting ---------------------------------------------------------------------


def _url(case) -> str:
    return f"/api/v1/cases/{case.pk}/non-disclosures/"


def test_only_the_responsible_worker_marks_and_lifts(world):
    case = world.protected["case"]
    aino = case.family.members.get(role=FamilyMember.Role.CHILD, birth_date__year__lt=2015)
    body = {"member": str(aino.pk)}
    for persona, code in {
        ANNA: 403,
        OLLI: 403,
        HANNA: 403,
        ULLA: 404,
        TERO: 404,
        KAISA: 404,
    }.items():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
        assert client.post(_url(case), body, format="json").status_code == code, persona
        assert client.post(_url(case) + "lift/", body, format="json").status_code == code
    assert not NonDisclosure.objects.filter(member=aino).exists()

    tiina = APIClient()
    tiina.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[TIINA]}")
    marked = tiina.post(_url(case), body, format="json")
    assert marked.status_code == 201, marked.content
    assert marked.json()["marked_by"]["id"] == str(world.users[TIINA].pk)
    olli_member = NetworkMember.objects.get(case=case, user=world.users[OLLI])
    renamed = tiina.post(_url(case), {**body, "readers": [str(olli_member.pk)]}, format="json")
    assert renamed.status_code == 200 and renamed.json()["readers"] == [str(olli_member.pk)]
    lifted = tiina.post(_url(case) + "lift/", body, format="json")
    assert lifted.status_code == 200 and lifted.json()["lifted_at"]
    assert lifted.json()["lifted_by"]["id"] == str(world.users[TIINA].pk)
    again = tiina.post(_url(case) + "lift/", body, format="json")
    assert again.status_code == 400
    marking = NonDisclosure.objects.get(member=aino)
    history = LogEntry.objects.get_for_object(marking)
    assert history.count() >= 3  # marked, named readers, lifted
    other_family = FamilyMember.objects.exclude(family=case.family).first()
    stranger = tiina.post(_url(case), {"member": str(other_family.pk)}, format="json")
    assert stranger.status_code == 400


def test_lifting_shows_the_location_again_on_the_next_request(world):
    case = world.protected["case"]
    eeli = world.protected["eeli"]
    olli = APIClient()
    olli.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[OLLI]}")
    assert "municipality" not in olli.get(f"/api/v1/cases/{case.pk}/").json()["family"]
    services.non_disclosure_lift(
        actor=world.users[TIINA], case=case, access=access_of(world.users[TIINA], case), member=eeli
    )
    body = olli.get(f"/api/v1/cases/{case.pk}/").json()
    assert body["family"]["municipality"]["name"] == "zp-municipality-zp"
    assert body["non_disclosure"] is False


def test_a_worker_who_may_not_see_cannot_flag_text_protected(world):
    case = world.protected["case"]
    olli = world.users[OLLI]
    with pytest.raises(policy.PermissionDenied):
        services.note_create(
            actor=olli,
            case=case,
            access=access_of(olli, case),
            category="notes_education",
            text="x",
            protected=True,
        )


def test_the_access_log_flags_reads_of_protected_fields(world):
    case = world.protected["case"]
    events = {}
    for persona in (TIINA, ANNA, OLLI):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[persona]}")
        request_id = uuid.uuid4().hex
        response = client.get(f"/api/v1/cases/{case.pk}/", HTTP_X_REQUEST_ID=request_id)
        assert response.status_code == 200
        events[persona] = AccessEvent.objects.get(request_id=request_id).categories
    assert PROTECTED in events[TIINA] and PROTECTED in events[ANNA]
    assert PROTECTED not in events[OLLI] and "basic" in events[OLLI]


# --- Query counts ----------------------------------------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_query_counts_do_not_grow_with_markings_or_named_members(world):
    case = world.protected["case"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[ANNA]}")
    urls = [
        "/api/v1/cases/",
        f"/api/v1/cases/{case.pk}/",
        "/api/v1/families/",
        f"/api/v1/cases/{case.pk}/notes/",
        f"/api/v1/cases/{case.pk}/plan/actions/",
        "/api/v1/me/work/",
    ]
    before = [_count(client, url) for url in urls]
    tiina = world.users[TIINA]
    for n in range(4):
        worker = WorkerFactory(
            membership__organisation=case.responsible_organisation, username=f"named{n}"
        )
        services.network_add_professional(actor=tiina, case=case, user=worker)
    readers = list(NetworkMember.objects.filter(case=case, kind="professional"))
    for member in case.family.members.all():
        services.non_disclosure_mark(
            actor=tiina, case=case, access=access_of(tiina, case), member=member, readers=readers
        )
    assert [_count(client, url) for url in urls] == before


def test_the_list_of_markings_has_a_constant_number_of_queries(world, django_assert_num_queries):
    from tests.query_counts import ACCESS_LOG, REQUEST

    case = world.protected["case"]
    tiina = world.users[TIINA]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[ANNA]}")
    # 1 token + user, 2 case with permission join, 3-5 the policy's facts and consents (as for
    # notes), 6 markings with who marked and lifted, 7 their named members
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert len(client.get(_url(case)).json()) == 1
    for member in case.family.members.exclude(pk=world.protected["eeli"].pk):
        marking, _new = services.non_disclosure_mark(
            actor=tiina,
            case=case,
            access=access_of(tiina, case),
            member=member,
            readers=list(NetworkMember.objects.filter(case=case, kind="professional")),
        )
        services.non_disclosure_lift(
            actor=tiina, case=case, access=access_of(tiina, case), member=member
        )
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert len(client.get(_url(case)).json()) == 3
