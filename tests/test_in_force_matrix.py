"""What is no longer in force grants nothing, from the very next request (issue 12, acceptance 1).

DESIGN.md, "Additions: In force": organisation membership active and not ended, network
membership not removed, account active, consent within its dates, emergency access not ended.
A worker acts for a case through the organisation they are a member of on it; when that ends,
access through it ends on the next request, and the case keeps its named responsible worker and
waits in the coordinators' reassignment queue.

Each `State` below changes one fact of the authorization matrix's world
(tests/test_authorization_matrix.py: the seeded demo plus Korhonen, Nieminen, Mäkinen and Laine)
the way the clock or an administrator would, straight in the database, without calling the
service that would tidy up after it: what decides access must read the facts as they are now.
Then every /api/ route, with every method, is asked as the one persona the change concerns, and
each answer is held to the matrix's rules with that persona's rights cut down as the state says:
a read of what is no longer theirs answers 401/403/404 (the 404 exactly as for an object that does
not exist), a write is refused and leaves the domain tables as they were (`fingerprint`), and no
body carries any family data the persona may no longer see (`leaks`).
"""

import dataclasses
import datetime
import json
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from cases import services
from cases.models import (
    Case,
    CaseUserObjectPermission,
    Conversation,
    EmergencyAccess,
    Message,
    NetworkMember,
    Note,
    OrganisationMembership,
    User,
)
from consent.models import Consent
from tests.test_authorization_matrix import (
    ANNA,
    DENIED,
    JENNI,
    KAISA,
    OLLI,
    PUBLIC_KINDS,
    TABLE,
    TIINA,
    ULLA,
    Target,
    World,
    _build_world,
    api_patterns,
    base_of,
    bodies_for,
    client_for,
    describe,
    existence_shows,
    fill,
    fingerprint,
    leaks,
    send,
)

pytestmark = pytest.mark.django_db

EEVA = "eeva.paivystys"  # the on-call worker of the world, with an emergency access to Mäkinen
QUEUE = "/api/v1/coordination/reassignments/"

# Kinds of object that belong to a case (or to a family): what "nothing on any case" covers.
CASE_BOUND = frozenset(
    {
        "family",
        "case",
        "note",
        "member",
        "case_invitation",
        "handover",
        "consent",
        "plan_action",
        "meeting",
        "referral",
        "my_invitation",
        "incoming_referral",
        "queued_case",
        "conversation",  # messages (issue 17)
        "legal_basis",
        "booking",  # a booking belongs to its case (issue 17)
    }
)
ANNAS_OWN_NOTE = "Virtanen health note by anna"  # the clinic recorded it: hers without consent


def _ago(**delta) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


# --- The states -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class State:
    """One fact that stops being in force, and what the persona keeps afterwards."""

    name: str
    persona: str
    apply: Callable[[World], None]
    # keeps(kind, target, action): may the persona still do `action` on `target` (given that
    # they could before)?
    keeps: Callable[[str, Target, str], bool]
    # keeps_secret(world, value, roles): may the persona still see `value` (given that they
    # could)?
    keeps_secret: Callable[[World, str, frozenset], bool]
    # Whether the change leaves the persona seeing no case at all (then every refusal of a
    # case's object must look like the refusal of an object that does not exist).
    loses_every_case: bool = True


def _loses_cases(*, may_still_create: bool) -> Callable[[str, Target, str], bool]:
    """Nothing of any case; the directory, the catalogue and their own account stay."""

    def keeps(kind: str, target: Target, action: str) -> bool:
        if kind in CASE_BOUND:
            return False
        # Opening a family opens a case for an organisation; keeping catalogue entries is for
        # the organisation's workers (issue 17): both end with the membership.
        if action in ("create_family", "keep_entries"):
            return may_still_create
        return True

    return keeps


def _keeps_only_public(kind: str, target: Target, action: str) -> bool:
    return kind in PUBLIC_KINDS


def _sees_no_secret(world: World, value: str, roles: frozenset) -> bool:
    return False


def _annas_threads() -> set[str]:
    """The threads the family chose anna into, their subjects and their messages (issue 17)."""
    threads = Conversation.objects.filter(
        case__family__name="Virtanen", members__user__username=ANNA
    )
    texts = Message.objects.filter(conversation__in=threads).values_list("text", flat=True)
    return {str(t.pk) for t in threads} | {t.subject for t in threads} | set(texts)


def _after_expiry_anna_still_sees(world: World, value: str, roles: frozenset) -> bool:
    """What olli sees without consent, her own note (whose text names Aino), and the threads
    the family chose her into (the family's choice, not the consent, lets her read them)."""
    own = Note.objects.get(case__family__name="Virtanen", author__username=ANNA)
    return OLLI in roles or value in (str(own.pk), own.text, "Aino") or value in _annas_threads()


def _end_membership(username: str) -> Callable[[World], None]:
    def apply(world: World) -> None:
        # A membership that was to end a minute ago: the clock ended it, no one called anything.
        updated = OrganisationMembership.objects.filter(
            user__username=username, role=OrganisationMembership.Role.WORKER
        ).update(started_at=_ago(days=365), ended_at=_ago(minutes=1))
        assert updated == 1

    return apply


def _deactivate_membership(username: str) -> Callable[[World], None]:
    def apply(world: World) -> None:
        # As the admin's change form would: the row saved with its flag off (and no end date).
        membership = OrganisationMembership.objects.get(
            user__username=username, role=OrganisationMembership.Role.WORKER
        )
        membership.is_active = False
        membership.save()

    return apply


def _deactivate_account(username: str) -> Callable[[World], None]:
    def apply(world: World) -> None:
        user = User.objects.get(username=username)
        user.is_active = False
        user.save()

    return apply


def _annas_network_row() -> NetworkMember:
    return NetworkMember.objects.get(
        case__family__name="Virtanen", user__username=ANNA, removed_at__isnull=True
    )


def _remove_annas_network_row(world: World) -> None:
    # Straight in the row (as the admin or a data fix would), nothing else touched. Her row
    # stays, for history, with the time it ended.
    updated = NetworkMember.objects.filter(pk=_annas_network_row().pk).update(
        removed_at=_ago(minutes=1)
    )
    assert updated == 1
    assert NetworkMember.objects.filter(case__family__name="Virtanen", user__username=ANNA).exists()


def _tiina_removes_anna(world: World) -> None:
    # The way the API does it (DELETE .../members/{pk}/): the service of the network.
    services.network_remove(actor=User.objects.get(username=TIINA), member=_annas_network_row())
    assert NetworkMember.objects.filter(case__family__name="Virtanen", user__username=ANNA).exists()


def _expire_the_clinic_consent(world: World) -> None:
    # Granted a month ago until a minute ago; still "active" in its row: no job has run.
    updated = Consent.objects.filter(
        case__family__name="Virtanen",
        recipients__code="phhva-lastenneuvola",
        state=Consent.State.ACTIVE,
    ).update(valid_from=_ago(days=30), valid_until=_ago(minutes=1))
    assert updated == 1


def _end_the_emergency_access(world: World) -> None:
    # Three hours pass (an access lasts two): the access and the rows it wrote, as in
    # tests/test_emergency_access.py `time_passes`.
    delta = datetime.timedelta(hours=3)
    grant = EmergencyAccess.objects.get(user__username=EEVA)
    EmergencyAccess.objects.filter(pk=grant.pk).update(
        started_at=grant.started_at - delta, expires_at=grant.expires_at - delta
    )
    for row in CaseUserObjectPermission.objects.filter(
        user__username=EEVA, expires_at__isnull=False
    ):
        CaseUserObjectPermission.objects.filter(pk=row.pk).update(expires_at=row.expires_at - delta)
    assert not EmergencyAccess.objects.get(pk=grant.pk).is_active()


def _after_expiry_anna_keeps(kind: str, target: Target, action: str) -> bool:
    """Like olli (a member without consent): the case's existence, its network and her own
    organisation's note; not the names, the plan, the family, nor anything else consented."""
    if kind not in CASE_BOUND:
        return True
    if kind == "note" and target.label == ANNAS_OWN_NOTE and action == "read":
        return True
    if kind == "conversation":  # the family chose her into it: no consent is asked
        return True
    return target.allows(OLLI, action)


STATES = [
    State(
        "a1 tiina's membership ended a minute ago",
        TIINA,
        _end_membership(TIINA),
        _loses_cases(may_still_create=False),
        _sees_no_secret,
    ),
    State(
        "a2 tiina's membership is_active=False",
        TIINA,
        _deactivate_membership(TIINA),
        _loses_cases(may_still_create=False),
        _sees_no_secret,
    ),
    State(
        "b1 anna's clinic membership ended a minute ago",
        ANNA,
        _end_membership(ANNA),
        _loses_cases(may_still_create=False),
        _sees_no_secret,
    ),
    State(
        "b2 anna's clinic membership is_active=False",
        ANNA,
        _deactivate_membership(ANNA),
        _loses_cases(may_still_create=False),
        _sees_no_secret,
    ),
    State(
        "c1 anna's network row removed (removed_at set in the row)",
        ANNA,
        _remove_annas_network_row,
        # Still a nurse of the clinic: she may open a family of her own.
        _loses_cases(may_still_create=True),
        _sees_no_secret,
    ),
    State(
        "c2 anna removed from the network by tiina (services.network_remove)",
        ANNA,
        _tiina_removes_anna,
        _loses_cases(may_still_create=True),
        _sees_no_secret,
    ),
    State(
        "d1 tiina's account deactivated",
        TIINA,
        _deactivate_account(TIINA),
        _keeps_only_public,
        _sees_no_secret,
    ),
    State(
        "d2 anna's account deactivated",
        ANNA,
        _deactivate_account(ANNA),
        _keeps_only_public,
        _sees_no_secret,
    ),
    State(
        "e anna's consent expired",
        ANNA,
        _expire_the_clinic_consent,
        _after_expiry_anna_keeps,
        _after_expiry_anna_still_sees,
        loses_every_case=False,
    ),
    State(
        "f eeva's emergency access ended",
        EEVA,
        _end_the_emergency_access,
        # She still holds the emergency permission: a new access, for a new reason, she may open.
        lambda kind, target, action: (
            action == "break_glass" or _loses_cases(may_still_create=True)(kind, target, action)
        ),
        _sees_no_secret,
    ),
]


# The front door (issue 17): kaisa's intake membership ends; the queue and its requests are no
# longer hers, and the rest of her coordinator's work stays.
def _end_kaisas_intake(world: World) -> None:
    updated = OrganisationMembership.objects.filter(
        user__username=KAISA, role=OrganisationMembership.Role.INTAKE
    ).update(started_at=_ago(days=365), ended_at=_ago(minutes=1))
    assert updated == 1


def _kaisa_keeps_all_but_intake(kind: str, target: Target, action: str) -> bool:
    return kind != "contact_request" and action != "intake"


def _kaisa_sees_no_contact_request(world: World, value: str, roles: frozenset) -> bool:
    from cases.models import ContactRequest

    requests = ContactRequest.objects.all()
    return value not in {str(v) for r in requests for v in (r.pk, r.last_name, r.email, r.need)}


STATES.append(
    State(
        "g kaisa's intake membership ended a minute ago",
        KAISA,
        _end_kaisas_intake,
        _kaisa_keeps_all_but_intake,
        _kaisa_sees_no_contact_request,
        loses_every_case=False,
    )
)


# The catalogue (issue 17): jenni, MLL's worker, keeps MLL's entries while her membership is in
# force; from the next request after it ends, another organisation's public entries are 403 to
# her, as to any worker who does not keep them, and the lists are 403 as to anyone who keeps none.
# Her pending invitation into the Virtanen network goes with the membership too: it is for MLL,
# and it names the case (a my_invitation is case-bound).
STATES.append(
    State(
        "h jenni's MLL membership ended a minute ago",
        JENNI,
        _end_membership(JENNI),
        _loses_cases(may_still_create=False),
        _sees_no_secret,
    )
)
TIINA_LEAVES = [state for state in STATES if state.persona == TIINA]


# --- The world ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(demo_world):
    """The authorization matrix's world on the demo (tests/conftest.py), built once for this
    module inside the demo world's transaction; each test below changes it inside its own
    transaction, rolled back when the test ends."""
    built = _build_world(demo_world)
    eeva = User.objects.get(username=EEVA)
    built.tokens[EEVA] = Token.objects.create(user=eeva).key
    return built


def _makinen_targets() -> dict[str, list[Target]]:
    """The Mäkinen case that eeva opened in an emergency: the whole case, read only."""
    grant = EmergencyAccess.objects.select_related("case").get(user__username=EEVA)
    case_id, family_id = str(grant.case_id), str(grant.case.family_id)
    reads = {"read": {EEVA}, "read_plan": {EEVA}, "break_glass": {EEVA}}
    return {
        "case": [
            Target("Mäkinen case (eeva's emergency)", {"pk": case_id, "case_pk": case_id}, reads)
        ],
        "family": [
            Target(
                "Mäkinen family (eeva's emergency)",
                {"pk": family_id},
                {"read": {EEVA}},
                refs={"family": family_id},
            )
        ],
    }


def _targets_for(world: World, persona: str) -> dict[str, list[Target]]:
    targets = {kind: list(found) for kind, found in world.targets.items()}
    if persona == EEVA:
        for kind, extra in _makinen_targets().items():
            targets[kind] += extra
    return targets


def _could(persona: str, kind: str, target: Target, action: str) -> bool:
    """What the persona could do before the change. Eeva is no demo role: outside the case she
    opened she is a worker of another organisation, as ulla is outside hers."""
    if persona == EEVA and kind not in CASE_BOUND:
        return target.allows(ULLA, action)
    return target.allows(persona, action)


def _had_anything(target: Target, persona: str) -> bool:
    return any(persona in roles for roles in target.may.values())


# --- The matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES, ids=[s.name.split()[0] for s in STATES])
def test_what_is_no_longer_in_force_grants_nothing_on_the_very_next_request(world, state):
    persona = state.persona
    targets = _targets_for(world, persona)
    with transaction.atomic():
        state.apply(world)
        failures, counts = _probe_every_route(world, state, targets)
        transaction.set_rollback(True)
    print(f"\n{state.name}: {dict(counts)}")
    if failures:  # in full: an assert's message would be cut short
        pytest.fail(
            f"{state.name}: {len(failures)} failures as {persona}:\n" + "\n".join(failures),
            pytrace=False,
        )
    assert counts["denied"] > 50, counts


def _probe_every_route(world: World, state: State, targets: dict) -> tuple[list[str], Counter]:
    persona = state.persona
    client = client_for(world, persona)
    baseline = fingerprint()
    view = dataclasses.replace(
        world,
        secrets={
            value: (
                roles
                if persona not in roles or state.keeps_secret(world, value, roles)
                else roles - {persona}
            )
            for value, roles in world.secrets.items()
        },
    )

    def may(kind: str, target: Target, action: str) -> bool:
        return _could(persona, kind, target, action) and state.keeps(kind, target, action)

    readable = {t.kwargs["pk"] for t in targets["case"] if may("case", t, "read")}
    if state.loses_every_case:
        assert not readable, readable
    failures: list[str] = []
    counts: Counter = Counter()
    considered: set[str] = set()
    for template in sorted(api_patterns()):
        base = base_of(template)
        for method, probe in TABLE[base].items():
            # The objects this persona had to do with (and every object of a route where none
            # was): the full matrix covers the objects that were never theirs.
            chosen = [t for t in targets[probe.kind] if _had_anything(t, persona)]
            if probe.kind in ("public", "signed_in"):
                chosen = targets[probe.kind]
            for target in chosen or targets[probe.kind]:
                considered.add(template)
                url = fill(template, target.kwargs)
                allowed = may(probe.kind, target, probe.action)
                if allowed and not (method == "GET" or probe.safe):
                    continue  # a write the persona may still make: other tests cover it
                seen = may(probe.kind, target, probe.seen_by)
                for body in bodies_for(base, method, world, target):
                    outcome = send(client, method, url, body, baseline)
                    counts["allowed" if allowed else "denied"] += 1
                    what = describe(persona, method, url, body, target, outcome)
                    if outcome.error or outcome.status >= 500:
                        failures.append(f"SERVER ERROR {what}")
                        continue
                    if outcome.changed:
                        failures.append(f"WROTE {outcome.changed}: {what}")
                    request_text = url + ("" if body is None else json.dumps(body))
                    leaked = leaks(view, persona, outcome.text, request_text)
                    if leaked:
                        failures.append(f"LEAKED {leaked}: {what}")
                    if allowed:
                        continue
                    also = {status for status, _reason in probe.also}
                    expected = ({403} if seen else DENIED) | also
                    if outcome.status not in expected:
                        failures.append(f"EXPECTED {sorted(expected)}: {what}")
                        continue
                    if seen or target.existence_exempt or outcome.status == 401:
                        continue
                    # No longer theirs: answered as for an object that does not exist.
                    shows = existence_shows(
                        client,
                        method,
                        template,
                        target,
                        body,
                        outcome,
                        baseline,
                        readable=readable,
                        what=what,
                        counts=counts,
                    )
                    if shows:
                        failures.append(shows)
    unprobed = sorted(set(api_patterns()) - considered)
    assert not unprobed, f"routes never asked as {persona}: {unprobed}"
    return failures, counts


# --- Positive controls: each state takes away something that was there -------------------------


def _status(world: World, persona: str, url: str) -> int:
    return client_for(world, persona).get(url).status_code


def _virtanen(world: World) -> str:
    return next(t for t in world.targets["case"] if t.label == "Virtanen case").kwargs["pk"]


def _note(world: World, label: str) -> str:
    return next(t for t in world.targets["note"] if t.label == label).kwargs["pk"]


def test_before_any_change_each_persona_reaches_what_the_states_take_away(world):
    case = _virtanen(world)
    assert client_for(world, TIINA).get(f"/api/v1/cases/{case}/").json()["family"]["name"] == (
        "Virtanen"
    )
    assert _status(world, TIINA, f"/api/v1/cases/{case}/notes/") == 200
    health = _note(world, ANNAS_OWN_NOTE)
    assert _status(world, ANNA, f"/api/v1/cases/{case}/notes/{health}/") == 200
    assert _status(world, ANNA, f"/api/v1/cases/{case}/plan/") == 200
    assert "family" in client_for(world, ANNA).get(f"/api/v1/cases/{case}/").json()
    makinen = _makinen_targets()["case"][0].kwargs["pk"]
    assert _status(world, EEVA, f"/api/v1/cases/{makinen}/") == 200
    assert _status(world, EEVA, f"/api/v1/cases/{makinen}/plan/") == 200
    assert _status(world, KAISA, f"{QUEUE}{case}/") == 404  # tiina is in post
    # State g takes away the intake queue (issue 17).
    assert _status(world, KAISA, "/api/v1/intake/contact-requests/") == 200


def test_after_expiry_anna_still_sees_the_case_and_her_own_note_but_nothing_consented(world):
    """State e from the inside: what she keeps answers 200, without the consented data."""
    case = _virtanen(world)
    health = _note(world, ANNAS_OWN_NOTE)
    anna = client_for(world, ANNA)
    with transaction.atomic():
        _expire_the_clinic_consent(world)
        detail = anna.get(f"/api/v1/cases/{case}/")
        own_note = anna.get(f"/api/v1/cases/{case}/notes/{health}/").status_code
        plan = anna.get(f"/api/v1/cases/{case}/plan/").status_code
        transaction.set_rollback(True)
    assert detail.status_code == 200, detail.content
    assert "family" not in detail.json() and detail.json()["categories"] == []
    assert own_note == 200
    assert plan in (403, 404)


# --- The responsible worker who leaves stays named; the case waits for the coordinator ----------


@pytest.mark.parametrize("state", TIINA_LEAVES, ids=[s.name.split()[0] for s in TIINA_LEAVES])
def test_the_case_keeps_tiina_as_responsible_and_waits_in_kaisas_queue(world, state):
    case = _virtanen(world)
    kaisa = client_for(world, KAISA)
    with transaction.atomic():
        state.apply(world)
        queue = kaisa.get(QUEUE)
        entry = kaisa.get(f"{QUEUE}{case}/")
        responsible = Case.objects.get(pk=case).responsible_worker.username
        tiina_reads = _status(world, TIINA, f"/api/v1/cases/{case}/")
        transaction.set_rollback(True)
    assert responsible == TIINA  # an open case is never without its named worker
    assert queue.status_code == 200, queue.content
    rows = {row["id"]: row for row in queue.json()["results"]}
    assert case in rows, f"the Virtanen case is not in the queue: {sorted(rows)}"
    assert rows[case]["responsible_worker"]["username"] == TIINA
    assert "Virtanen" not in queue.content.decode()  # the coordinator sees no family data
    assert entry.status_code == 200, entry.content
    assert tiina_reads in DENIED  # ... and tiina sees nothing of it
