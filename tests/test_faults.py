"""Faults: a database error in the middle of a write leaves nothing half-written.

Every write request runs in one transaction (ATOMIC_REQUESTS). These tests make the database
fail at the k-th write statement (INSERT, UPDATE or DELETE) of a request, for every k from 1 to
the number of writes a clean run of that request makes, and compare every table of the
database, row by row, before and after: a failed request must leave no trace, and answer with an
error, never with a partial success. The fault is injected with Django's documented
instrumentation hook (`connection.execute_wrapper`), which sits between our code and the
database driver: none of our code is replaced.

The access log is written in the same transaction as the data it logs, so a read whose log
entry cannot be written fails as a whole: the data is never sent without its entry.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import IntegrityError, OperationalError, connection
from django.test import Client
from django.utils import timezone
from django.utils.translation import gettext, override
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AccessEvent, Chain
from cases import services
from cases.models import (
    Case,
    Handover,
    Meeting,
    Municipality,
    Organisation,
    Service,
    User,
)
from cases.seeding import demo
from consent.models import Consent
from tests.db_state import FailAtWrite, changed_tables, dry_run, snapshot

pytestmark = pytest.mark.django_db

TIINA = "tiina.vastuu"
ANNA = "anna.neuvola"
OLLI = "olli.opettaja"
JENNI = "jenni.jarjesto"
HANNA = "hanna.huoltaja"
KAISA = "kaisa.koordinaattori"
# What a response must not carry when its read could not be logged.
FAMILY_WORDS = ("Virtanen", "Hanna", "Aino", "Eeli")


# --- The world: the seeded demo ----------------------------------------------------------------


@dataclass
class World:
    case: Case
    users: dict[str, User]

    def client(self, username: str) -> APIClient:
        """An API client signed in by token, that answers a server error instead of raising."""
        client = APIClient(raise_request_exception=False)
        token, _created = Token.objects.get_or_create(user=self.users[username])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    def portal(self, username: str) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(self.users[username])
        return client

    def org(self, code: str) -> Organisation:
        return Organisation.objects.get(code=code)

    def consent(self, state: str) -> Consent:
        return Consent.objects.get(case=self.case, state=state)

    def member(self, username: str):
        return self.case.network.get(user=self.users[username], removed_at__isnull=True)


@pytest.fixture
def world(db, settings):
    seeded = demo.seed()
    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
    users = {user.username: user for user in User.objects.all()}
    return World(case=seeded.case, users=users)


def _future(days: int = 30, hours: int = 0) -> str:
    return (timezone.now() + datetime.timedelta(days=days, hours=hours)).isoformat()


# --- The write operations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One write request: who sends it, and how (`prepare` makes what it needs first and returns
    a function that sends it)."""

    name: str
    prepare: Callable[[World], Callable]


def _api(username, method, path, body=None):
    def prepare(world):
        client = world.client(username)
        url = path(world) if callable(path) else path
        data = body(world) if callable(body) else body

        def send():
            return getattr(client, method)(url, data, format="json")

        return send

    return prepare


def _case_url(suffix=""):
    return lambda w: f"/api/v1/cases/{w.case.pk}/{suffix}"


def _handover_accept(world):
    handover = services.handover_propose(
        actor=world.users[TIINA], case=world.case, to_worker=world.users[ANNA]
    )
    return _api(ANNA, "post", f"/api/v1/cases/{world.case.pk}/handovers/{handover.pk}/accept/")(
        world
    )


def _meeting(world) -> Meeting:
    start = timezone.now() + datetime.timedelta(days=3)
    return services.meeting_create(
        actor=world.users[TIINA],
        case=world.case,
        title="Verkostopalaveri",
        starts_at=start,
        ends_at=start + datetime.timedelta(hours=1),
        place="Perhekeskus",
    )


def _meeting_minutes(world):
    meeting = _meeting(world)
    return _api(
        TIINA,
        "post",
        f"/api/v1/cases/{world.case.pk}/meetings/{meeting.pk}/minutes/",
        {"category": "notes_general", "text": "Sovittiin seuraavista askelista."},
    )(world)


def _ngo_service(world) -> Service:
    return Service.objects.filter(organisation=world.org("mll-paijat-hame"), is_active=True).first()


def _referral_accept(world):
    # Jenni's pending invitation would be reused: withdrawn, accepting the referral invites her.
    services.invitation_withdraw(
        actor=world.users[TIINA],
        invitation=world.case.invitations.get(invited_user=world.users[JENNI]),
    )
    referral = services.referral_create(
        actor=world.users[TIINA], case=world.case, service=_ngo_service(world)
    )
    return _api(JENNI, "post", f"/api/v1/referrals/incoming/{referral.pk}/accept/", {})(world)


def _invitation_accept(world):
    invitation = world.case.invitations.get(invited_user=world.users[JENNI])
    return _api(JENNI, "post", f"/api/v1/invitations/{invitation.pk}/accept/")(world)


def _reassign(world):
    services.worker_deactivate(actor=world.users[KAISA], worker=world.users[TIINA])
    return _api(
        KAISA,
        "post",
        f"/api/v1/coordination/reassignments/{world.case.pk}/reassign/",
        {"to_worker": str(world.users[ANNA].pk)},
    )(world)


def _plan_action_update(world):
    action = services.plan_action_create(
        actor=world.users[TIINA], case=world.case, title="Kotikäynti"
    )
    return _api(
        TIINA,
        "patch",
        f"/api/v1/cases/{world.case.pk}/plan/actions/{action.pk}/",
        {"status": "done", "responsible_member": str(world.member(ANNA).pk)},
    )(world)


def _meeting_update(world):
    meeting = _meeting(world)
    return _api(
        TIINA,
        "patch",
        f"/api/v1/cases/{world.case.pk}/meetings/{meeting.pk}/",
        {"place": "Koulu", "members": [str(world.member(ANNA).pk), str(world.member(OLLI).pk)]},
    )(world)


def _child_view(world):
    aino = world.case.family.members.get(first_name="Aino")
    return _api(
        HANNA,
        "post",
        f"/api/v1/consents/{world.consent('pending').pk}/child-view/",
        {"child": str(aino.pk), "statement": "Aino haluaa, että opettaja tietää."},
    )(world)


def _catalogue_update(world):
    service = _ngo_service(world)
    municipalities = Municipality.objects.order_by("name").values_list("pk", flat=True)[:2]
    return _api(
        KAISA,
        "patch",
        f"/api/v1/coordination/services/{service.pk}/",
        {"languages": ["fi", "sv", "en"], "municipalities": [str(pk) for pk in municipalities]},
    )(world)


def _portal(username, path, body=None):
    def prepare(world):
        client = world.portal(username)
        url = path(world)

        def send():
            return client.post(url, body or {})

        return send

    return prepare


# The write requests that make two or more writes. Those that make one (declining a handover,
# an invitation or a referral, withdrawing an invitation or a referral: a single conditional
# UPDATE) cannot be half-done.
OPERATIONS = [
    # Family registration: the family, its members, its case, the permission rows, the history.
    Operation(
        "family register",
        _api(
            TIINA,
            "post",
            "/api/v1/families/",
            lambda w: {
                "name": "Korhonen",
                "municipality": str(w.case.family.municipality_id),
                "members": [
                    {"role": "guardian", "first_name": "Kaarina", "last_name": "Korhonen"},
                    {"role": "child", "first_name": "Veeti", "last_name": "Korhonen"},
                ],
                "opening_reason": "Neuvolan ohjaama",
            },
        ),
    ),
    Operation("case close", _api(TIINA, "post", _case_url("close/"), {"reason": "Tuki päättyi"})),
    Operation(
        "network member add",
        _api(
            TIINA,
            "post",
            _case_url("members/"),
            lambda w: {"kind": "professional", "user": str(w.users[JENNI].pk), "role": "Tuki"},
        ),
    ),
    Operation(
        "network member remove",
        _api(TIINA, "delete", lambda w: f"/api/v1/cases/{w.case.pk}/members/{w.member(ANNA).pk}/"),
    ),
    Operation(
        "invitation create",
        _api(
            TIINA,
            "post",
            _case_url("invitations/"),
            lambda w: {
                "organisation": str(w.org("mll-paijat-hame").pk),
                "email": "kutsuttu@example.org",
            },
        ),
    ),
    Operation("invitation accept", _invitation_accept),
    Operation(
        "note create",
        _api(TIINA, "post", _case_url("notes/"), {"category": "notes_social", "text": "Käynti."}),
    ),
    Operation(
        "handover propose",
        _api(
            TIINA, "post", _case_url("handovers/"), lambda w: {"to_worker": str(w.users[ANNA].pk)}
        ),
    ),
    Operation("handover accept", _handover_accept),
    Operation(
        "consent request",
        _api(
            TIINA,
            "post",
            _case_url("consent-requests/"),
            lambda w: {
                "recipients": [str(w.org("mll-paijat-hame").pk)],
                "categories": ["basic", "plan"],
                "purpose_code": "family-support",
                "purpose": "Perhetyö",
                "valid_until": _future(),
            },
        ),
    ),
    Operation(
        "consent grant",
        _api(HANNA, "post", lambda w: f"/api/v1/consents/{w.consent('pending').pk}/grant/", {}),
    ),
    Operation(
        "consent revoke",
        _api(HANNA, "post", lambda w: f"/api/v1/consents/{w.consent('active').pk}/revoke/", {}),
    ),
    Operation("plan update", _api(TIINA, "patch", _case_url("plan/"), {"needs": "Arjen tuki"})),
    Operation(
        "plan action create",
        _api(
            TIINA,
            "post",
            _case_url("plan/actions/"),
            lambda w: {"title": "Kotikäynti", "responsible_member": str(w.member(ANNA).pk)},
        ),
    ),
    Operation(
        "meeting create",
        _api(
            TIINA,
            "post",
            _case_url("meetings/"),
            lambda w: {
                "title": "Verkostopalaveri",
                "starts_at": _future(),
                "ends_at": _future(hours=1),
                "place": "Perhekeskus",
                "members": [str(w.member(ANNA).pk)],
            },
        ),
    ),
    Operation("meeting with minutes", _meeting_minutes),
    Operation(
        "referral create",
        _api(
            TIINA, "post", _case_url("referrals/"), lambda w: {"service": str(_ngo_service(w).pk)}
        ),
    ),
    Operation("referral accept", _referral_accept),
    Operation(
        "worker deactivate",
        _api(
            KAISA, "post", lambda w: f"/api/v1/coordination/workers/{w.users[TIINA].pk}/deactivate/"
        ),
    ),
    Operation(
        "portal consent grant",
        _portal(HANNA, lambda w: f"/portal/consents/{w.consent('pending').pk}/grant/"),
    ),
    Operation(
        "portal consent withdraw",
        _portal(HANNA, lambda w: f"/portal/consents/{w.consent('active').pk}/withdraw/"),
    ),
    Operation(
        "family update",
        _api(TIINA, "patch", lambda w: f"/api/v1/families/{w.case.family_id}/", {"name": "Virta"}),
    ),
    Operation(
        "case update",
        _api(TIINA, "patch", lambda w: f"/api/v1/cases/{w.case.pk}/", {"opening_reason": "Uusi"}),
    ),
    Operation(
        "consent refuse",
        _api(HANNA, "post", lambda w: f"/api/v1/consents/{w.consent('pending').pk}/refuse/", {}),
    ),
    Operation("consent child view", _child_view),
    Operation("plan action update", _plan_action_update),
    Operation("meeting update", _meeting_update),
    Operation("reassign", _reassign),
    Operation("catalogue service update", _catalogue_update),
    Operation(
        "portal consent refuse",
        _portal(HANNA, lambda w: f"/portal/consents/{w.consent('pending').pk}/refuse/"),
    ),
]


def _assert_error_answer(response, url_is_api: bool) -> None:
    assert response.status_code >= 400, response.status_code
    if url_is_api:
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        assert response.json(), "an error answer says what went wrong"


@pytest.mark.parametrize("error", [OperationalError, IntegrityError], ids=lambda e: e.__name__)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_a_fault_at_any_write_leaves_nothing_half_written(world, operation, error):
    send = operation.prepare(world)
    clean, writes = dry_run(send)
    assert clean.status_code < 400, (clean.status_code, getattr(clean, "content", b"")[:300])
    assert len(writes) >= 2, f"{operation.name} makes {len(writes)} writes: {writes}"
    is_api = clean.wsgi_request.path.startswith("/api/")

    before = snapshot()
    for k in range(1, len(writes) + 1):
        fault = FailAtWrite(k, error)
        with connection.execute_wrapper(fault):
            response = send()
        assert fault.fired_on == writes[k - 1], (k, fault.fired_on, writes)
        _assert_error_answer(response, is_api)
        assert changed_tables(before, snapshot()) == [], (
            f"{operation.name}: a fault at write {k} of {len(writes)} ({writes[k - 1]}) "
            "left changes behind"
        )

    # Nothing was left locked or half-done: the same request now succeeds, and writes.
    response = send()
    assert response.status_code < 400, response.status_code
    assert changed_tables(before, snapshot()) != []


# --- The access log fails: no data goes out ----------------------------------------------------


def _log_fails():
    return FailAtWrite(1, OperationalError, only_table=AccessEvent._meta.db_table)


NOTE_WORDS = ("kartoituksesta",)  # from the text of one of the demo's notes


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (lambda w: f"/api/v1/cases/{w.case.pk}/", FAMILY_WORDS),
        (lambda w: f"/api/v1/families/{w.case.family_id}/", FAMILY_WORDS),
        (lambda w: f"/api/v1/cases/{w.case.pk}/notes/", NOTE_WORDS),
        (lambda w: "/api/v1/families/", FAMILY_WORDS),
    ],
    ids=["case", "family", "notes", "family list"],
)
def test_a_read_whose_log_entry_fails_sends_no_data(world, path, words):
    client = world.client(TIINA)
    url = path(world)
    shown = client.get(url).content.decode()
    assert all(word in shown for word in words[:1])  # the read shows the family's data ...
    events = AccessEvent.objects.count()
    before = snapshot()

    fault = _log_fails()
    with connection.execute_wrapper(fault):
        response = client.get(url)

    assert fault.fired_on == AccessEvent._meta.db_table
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.content.decode()
    assert not any(word in body for word in words), body  # ... but not without its log
    assert AccessEvent.objects.count() == events
    assert changed_tables(before, snapshot()) == []


def test_a_portal_page_whose_log_entry_fails_is_not_shown(world):
    client = world.portal(HANNA)
    url = f"/portal/cases/{world.case.pk}/"
    assert "Eeli" in client.get(url).content.decode()
    before = snapshot()

    fault = _log_fails()
    with connection.execute_wrapper(fault):
        response = client.get(url)

    assert fault.fired_on == AccessEvent._meta.db_table
    assert response.status_code == 500
    body = response.content.decode()
    assert not any(word in body for word in FAMILY_WORDS)
    assert changed_tables(before, snapshot()) == []


def test_a_log_entry_whose_chain_head_cannot_move_is_not_kept(world):
    """Appending to the log is itself two writes (the event, then the chain's head): a fault
    between them keeps neither, and the read fails, so the chain never holds an event its head
    does not know (which would fork it)."""
    client = world.client(TIINA)
    url = f"/api/v1/cases/{world.case.pk}/"
    _response, writes = dry_run(lambda: client.get(url))
    event_table, chain_table = AccessEvent._meta.db_table, Chain._meta.db_table
    assert writes.index(event_table) < writes.index(chain_table)
    head = Chain.objects.get().head_seq
    before = snapshot()

    fault = FailAtWrite(1, OperationalError, only_table=chain_table)
    with connection.execute_wrapper(fault):
        response = client.get(url)

    assert fault.fired_on == chain_table
    assert response.status_code == 500
    assert not any(word in response.content.decode() for word in FAMILY_WORDS)
    assert Chain.objects.get().head_seq == head
    assert changed_tables(before, snapshot()) == []


# --- Nothing on the way swallows a database error ----------------------------------------------


def test_a_database_error_is_answered_as_a_server_error_not_swallowed(world):
    """The exception handler and the middleware pass a database error on: a 500 in the API's JSON
    error format, with nothing of the request kept and nothing of the error's text shown."""
    client = world.client(TIINA)
    before = snapshot()
    fault = FailAtWrite(1, OperationalError)
    with connection.execute_wrapper(fault):
        response = client.post(
            f"/api/v1/cases/{world.case.pk}/notes/",
            {"category": "notes_social", "text": "Käynti."},
            format="json",
        )
    assert fault.fired_on is not None
    assert response.status_code == 500
    with override("fi"):  # the default language; the message is translated
        assert response.json() == {"detail": gettext("Server error: please try again later.")}
    assert "injected fault" not in response.content.decode()
    assert changed_tables(before, snapshot()) == []


def test_a_handover_left_half_accepted_is_impossible(world):
    """A pointed case of the above: the case changes hands and the handover is marked accepted
    in one transaction, so a fault between them leaves the old responsible worker in charge."""
    handover = services.handover_propose(
        actor=world.users[TIINA], case=world.case, to_worker=world.users[ANNA]
    )
    client = world.client(ANNA)
    url = f"/api/v1/cases/{world.case.pk}/handovers/{handover.pk}/accept/"
    _response, writes = dry_run(lambda: client.post(url, format="json"))
    for k in range(1, len(writes) + 1):
        with connection.execute_wrapper(FailAtWrite(k, OperationalError)):
            assert client.post(url, format="json").status_code == 500
        handover.refresh_from_db()
        world.case.refresh_from_db()
        assert handover.status == Handover.Status.PROPOSED
        assert world.case.responsible_worker == world.users[TIINA]
