"""Authorization matrix of the family portal: every /portal/ URL pattern, every kind of outsider.

The patterns come from Django's URL resolver, and `TABLE` must name each of them, so a new
portal page or form fails `test_every_portal_pattern_is_in_the_table` until someone decides here
who may reach it. For every pattern and every method, as another family's guardian, as workers
on and off the case, and anonymously, each page and form of the Virtanen family answers 404 (or
405 for a method the route never takes, or a sign-in redirect when nobody is signed in) exactly
as it answers for an object that does not exist, shows nothing of the family, writes nothing,
and logs no allowed read of it.
"""

import datetime
import re
import uuid

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from cases import messaging, services
from cases.models import (
    Booking,
    BookingSlot,
    Case,
    CaseUserObjectPermission,
    Conversation,
    CorrectionRequest,
    Family,
    FamilyMember,
    Message,
    Municipality,
    NetworkMember,
    Note,
    Plan,
    User,
)
from cases.seeding import demo
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from tests.conftest import HANNA, OLLI, TIINA, ULLA, persona
from tests.routes import portal_fill as fill
from tests.routes import portal_params_of as params_of
from tests.routes import portal_patterns

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KALLE = "kalle.korhonen"  # guardian of another family
# TIINA is the Virtanen case's responsible worker: the API is hers, the portal not; OLLI a
# network member; ULLA an unrelated worker (tests/conftest.py).
ANONYMOUS = "anonymous"
OUTSIDERS = (KALLE, TIINA, OLLI, ULLA, ANONYMOUS)

# Every portal route by name: the methods it takes, and the kind of object its URL names.
#   public    no object: anyone may use it, and it shows no family's data
#   own       no object: shows the signed-in guardian's own families only
#   signed_in no object: acts on the signed-in session only
#   case      names a case (case_id)
#   consent   names a consent (consent_id)
#   receipt   names a consent and one of its decision events (consent_id, event_id)
#   conversation names a case and one of its message threads (case_id, conversation_id)
TABLE = {
    "index": ("own", {"GET"}),
    "login": ("public", {"GET", "POST"}),
    "logout": ("signed_in", {"POST"}),
    "language": ("public", {"GET", "POST"}),
    "case": ("case", {"GET"}),
    "network": ("case", {"GET"}),
    "requests": ("case", {"GET"}),
    "consents": ("case", {"GET"}),
    "history": ("case", {"GET"}),
    "notes": ("case", {"GET"}),
    # The family's correction requests: the page and its form (issue 16).
    "corrections": ("case", {"GET", "POST"}),
    # The family's anonymous feedback (issue 18): the questions and the answer.
    "feedback": ("case", {"GET", "POST"}),
    # The family's own copy (issue 16): one download of both, and each alone.
    "copy": ("case", {"GET"}),
    "copy_html": ("case", {"GET"}),
    "copy_json": ("case", {"GET"}),
    # Messages (issue 17): the threads with the form to start one; one thread and its answer.
    "conversations": ("case", {"GET", "POST"}),
    "conversation": ("conversation", {"GET", "POST"}),
    "grant": ("consent", {"POST"}),
    "refuse": ("consent", {"POST"}),
    "withdraw": ("consent", {"GET", "POST"}),
    "receipt": ("receipt", {"GET"}),
    # Booking the responsible worker's free times (issue 17): the page and its form, and each
    # booking's confirmation, calendar file, cancellation and move.
    "booking": ("case", {"GET", "POST"}),
    "booking_detail": ("booking", {"GET"}),
    "booking_calendar": ("booking", {"GET"}),
    "booking_cancel": ("booking", {"GET", "POST"}),
    "booking_move": ("booking", {"POST"}),
    # Strong identification (portal/oidc.py): 404 unless PORTAL_OIDC_ENABLED, as here.
    "oidc_authentication_init": ("public", {"GET"}),
    "oidc_authentication_callback": ("public", {"GET"}),
    # A new guardian's account activation (issue 17): the one-time link is the secret. Hanna's
    # account has a password, so a link for it answers as a made-up one does: 404.
    "activate": ("activation", {"GET", "POST"}),
}
KIND_PARAMS = {
    "public": set(),
    "own": set(),
    "signed_in": set(),
    "case": {"case_id"},
    "consent": {"consent_id"},
    "receipt": {"consent_id", "event_id"},
    "conversation": {"case_id", "conversation_id"},
    "activation": {"uidb64", "token"},
    "booking": {"case_id", "booking_id"},
}


def test_every_portal_pattern_is_in_the_table():
    patterns = portal_patterns()
    assert set(patterns) == set(TABLE), (
        "Each portal URL needs a row in TABLE (decide who may reach it): "
        f"missing {sorted(set(patterns) - set(TABLE))}, stale {sorted(set(TABLE) - set(patterns))}"
    )
    for name, route in patterns.items():
        kind, _methods = TABLE[name]
        assert params_of(route) == KIND_PARAMS[kind], (name, route)


# --- The world ------------------------------------------------------------------------------------


@pytest.fixture
def world(demo_case):
    """The demo, plus the Korhonen family whose guardian Kalle has a portal account."""
    case = demo_case
    ulla = persona(ULLA)
    kalle = User.objects.create_user(username=KALLE, password=demo.DEMO_PASSWORD)
    korhonen = services.family_create(
        actor=ulla,
        name="Korhonen",
        municipality=Municipality.objects.get(code="lahti"),
        members=[
            {"role": "guardian", "first_name": "Kalle", "last_name": "Korhonen", "user": kalle}
        ],
    ).cases.get()
    k_consent = consent_services.consent_request(
        actor=ulla,
        case=korhonen,
        recipients=[ulla.memberships.get().organisation],
        categories=["basic"],
        purpose_code="care",
        purpose="Korhosten tuki",
        valid_until=case.consents.first().valid_until,
    )
    school = Consent.objects.get(case=case, recipients__code="asikkala-perusopetus")
    clinic = Consent.objects.get(case=case, recipients__code="phhva-lastenneuvola")
    granted = clinic.events.get(kind=ConsentEvent.Kind.GRANTED)
    thread = virtanen_thread(case)
    hanna_booking = booked(case)
    return {
        "case": case,
        "korhonen": korhonen,
        "k_consent": k_consent,
        # Each kind's objects of the Virtanen family, as URL parameter values.
        "targets": {
            "case": [{"case_id": case.pk}],
            "consent": [{"consent_id": school.pk}, {"consent_id": clinic.pk}],
            "receipt": [{"consent_id": clinic.pk, "event_id": granted.pk}],
            "conversation": [{"case_id": case.pk, "conversation_id": thread.pk}],
            "booking": [{"case_id": case.pk, "booking_id": hanna_booking.pk}],
            "public": [{}],
            "own": [{}],
            "signed_in": [{}],
            "activation": [_activation_parts(persona(HANNA))],
        },
    }


def virtanen_thread(case: Case) -> Conversation:
    """Hanna's thread with tiina and anna (issue 17), made once per world."""
    from tests.factories import access_of

    found = Conversation.objects.filter(case=case).first()
    if found is not None:
        return found
    hanna = User.objects.get(username=HANNA)
    anna = NetworkMember.objects.get(case=case, user__username="anna.neuvola", removed_at=None)
    return messaging.conversation_start(
        actor=hanna,
        case=case,
        access=access_of(hanna, case),
        subject="Viestiketju: Eelin iltapäivät",
        text="Viesti: Eeli väsyy iltapäivisin",
        members=[anna.pk],
    ).conversation


def _activation_parts(user) -> dict:
    from cases import intake

    _empty, _portal, _activate, uidb64, token, _end = intake.activation_path(user).split("/")
    return {"uidb64": uidb64, "token": token}


def booked(case: Case) -> Booking:
    """Hanna's booking of a free time of the case's responsible worker (made once)."""
    found = Booking.objects.filter(case=case).first()
    if found is None:
        start = timezone.now() + datetime.timedelta(days=10)
        slot = BookingSlot.objects.create(
            worker=case.responsible_worker,
            organisation=case.responsible_organisation,
            starts_at=start,
            ends_at=start + datetime.timedelta(hours=1),
            place="Perhekeskus, vastaanotto",
        )
        found = Booking.objects.create(
            slot=slot, case=case, booked_by=User.objects.get(username=HANNA)
        )
    return found


def secrets_of(case: Case) -> list[str]:
    """Strings that show the Virtanen family's data, or that it exists."""
    family = case.family
    plan = Plan.objects.get(case=case)
    values = [family.name, str(case.pk), str(family.pk), plan.goals[:30], plan.needs[:30]]
    values += [m.first_name for m in family.members.all()]
    values += [c.purpose[:30] for c in case.consents.all()] + [
        str(c.pk) for c in case.consents.all()
    ]
    values += ["Tiina Vastuu", "Anna Neuvola", "Olli Opettaja"]
    for thread in Conversation.objects.filter(case=case):
        values += [str(thread.pk), thread.subject]
        values += list(thread.messages.values_list("text", flat=True))
    return values


def state_of_the_world() -> tuple:
    """Everything a portal form could change; the access log is checked on its own."""
    return (
        tuple(Consent.objects.order_by("pk").values_list("pk", "state")),
        ConsentEvent.objects.count(),
        CaseUserObjectPermission.objects.count(),
        tuple(Case.objects.order_by("pk").values_list("pk", "status", "responsible_worker_id")),
        NetworkMember.objects.filter(removed_at__isnull=True).count(),
        Note.objects.count(),
        Family.objects.count(),
        FamilyMember.objects.exclude(user=None).count(),
        tuple(Plan.objects.order_by("pk").values_list("pk", "updated_at")),
        CorrectionRequest.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        tuple(Booking.objects.order_by("pk").values_list("pk", "slot_id", "cancelled_at")),
        BookingSlot.objects.filter(withdrawn_at__isnull=True).count(),
    )


def normalised(body: bytes, *ids) -> str:
    text = body.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    for value in ids:
        text = text.replace(str(value), "{id}")
    return text


def send(client_class, method, path, role):
    """One probe, from a fresh session: no message or sign-out of an earlier probe carries over."""
    client = client_class()
    if role != ANONYMOUS:
        client.force_login(User.objects.get(username=role))
    return getattr(client, method.lower())(path)


# --- The matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", OUTSIDERS)
def test_outsiders_reach_nothing_of_the_virtanen_family(world, role, client_class):
    patterns = portal_patterns()
    me = User.objects.filter(username=role).first()
    own_name = me.get_full_name() if me else None  # the header names whoever is signed in
    secrets = [s for s in secrets_of(world["case"]) if s != own_name]
    virtanen = world["case"].family_id
    problems = []
    for name, route in sorted(patterns.items()):
        kind, methods = TABLE[name]
        for values in world["targets"][kind]:
            path = fill(route, values)
            for method in METHODS:
                before = state_of_the_world()
                last_seq = AccessEvent.objects.order_by("-seq").values_list("seq", flat=True)
                last_seq = last_seq.first() or 0
                response = send(client_class, method, path, role)
                where = f"{role} {method} {path} ({name})"
                status = response.status_code
                csrf_refused = getattr(client_class, "csrf", False) and method != "GET"
                if csrf_refused:  # the CSRF check comes first, for every object alike
                    if status != 403:
                        problems.append(f"{where}: answered {status} without a CSRF token")
                elif kind in ("case", "consent", "receipt", "conversation", "booking"):
                    if role == ANONYMOUS:
                        ok = status == 302 and response["Location"].startswith("/portal/login/")
                    else:
                        ok = status == (404 if method in methods else 405)
                    if not ok:
                        problems.append(f"{where}: answered {status}")
                if kind in ("case", "consent", "receipt", "conversation", "booking"):
                    # The same answer as for an object that does not exist.
                    made_up = {key: uuid.uuid4() for key in values}
                    missing = send(client_class, method, fill(route, made_up), role)
                    if missing.status_code != status or normalised(
                        missing.content, *made_up.values()
                    ) != normalised(response.content, *values.values()):
                        problems.append(f"{where}: answers unlike a missing object")
                elif kind == "own" and role not in (KALLE, ANONYMOUS) and method in methods:
                    if status != 404:  # a worker: "this portal is for families"
                        problems.append(f"{where}: answered {status}")
                elif status >= 500:
                    problems.append(f"{where}: answered {status}")
                body = response.content.decode(errors="replace") + response.get("Location", "")
                asked = {str(value) for value in values.values()}  # echoed back: not a leak
                leaked = [s for s in secrets if s and s in body and s not in asked]
                if leaked:
                    problems.append(f"{where}: shows {leaked}")
                if method != "GET" or kind != "public":
                    if state_of_the_world() != before:
                        problems.append(f"{where}: changed data")
                read = AccessEvent.objects.filter(
                    seq__gt=last_seq, family_id=virtanen, outcome=AccessEvent.Outcome.ALLOWED
                )
                if read.exists():
                    problems.append(f"{where}: logged an allowed read of the family")
                if role == ANONYMOUS or response.status_code != 404:
                    continue
                denied = AccessEvent.objects.filter(seq__gt=last_seq, outcome="denied")
                if (
                    kind in ("case", "consent", "receipt", "conversation", "booking")
                    and not denied.exists()
                ):
                    problems.append(f"{where}: the refused attempt was not logged")
    assert not problems, "\n".join(problems)


@pytest.fixture(params=["plain", "csrf"])
def client_class(request):
    """Every probe runs with and without CSRF enforcement: the gate, not the token, refuses."""
    from django.test import Client

    if request.param == "plain":
        return Client

    def enforcing():
        return Client(enforce_csrf_checks=True)

    enforcing.csrf = True
    return enforcing


def test_the_refused_attempts_show_in_the_familys_history(world, client):
    """A refused attempt names the case asked for, so the family sees it."""
    client.force_login(User.objects.get(username=KALLE))
    assert client.get(f"/portal/cases/{world['case'].pk}/").status_code == 404
    client.force_login(User.objects.get(username=HANNA))
    page = client.get(f"/portal/cases/{world['case'].pk}/history/").content.decode()
    assert "Yritti avata tietojanne, mutta pääsy estettiin." in page


def test_hanna_reaches_every_page_of_her_own_family(world, client):
    """The positive control: the matrix above refuses outsiders, not everyone."""
    client.force_login(User.objects.get(username=HANNA))
    patterns = portal_patterns()
    for name, route in sorted(patterns.items()):
        kind, methods = TABLE[name]
        if "GET" not in methods or kind == "signed_in":
            continue
        for values in world["targets"][kind]:
            response = client.get(fill(route, values))
            expected = {
                "index": 302,
                "language": 302,
                "oidc_authentication_init": 404,  # off unless configured
                "oidc_authentication_callback": 404,
                "activate": 404,  # her account has a password: the link no longer works
            }.get(name, 200)
            if (
                name == "withdraw"
                and values["consent_id"] != world["targets"]["receipt"][0]["consent_id"]
            ):
                expected = 302  # the pending consent is not in force: back to the list
            assert response.status_code == expected, (name, values, response.status_code)


def test_kalle_sees_his_own_family_and_nothing_of_hannas(world, client):
    client.force_login(User.objects.get(username=KALLE))
    korhonen = world["korhonen"]
    assert client.get("/portal/")["Location"] == f"/portal/cases/{korhonen.pk}/"
    page = client.get(f"/portal/cases/{korhonen.pk}/requests/").content.decode()
    assert "Korhosten tuki" in page
    for secret in secrets_of(world["case"]):
        assert secret not in page
    assert client.get(f"/portal/cases/{world['case'].pk}/").status_code == 404
