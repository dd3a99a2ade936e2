"""manage.py seed_scale (cases.seeding.scale): deterministic, complete, and correct by the policy.

A small data set (30 families) stands in for the 100 000 of the benchmark: the same seed gives
the same rows, every consent state and note category occurs, guardian's permission rows are
what the policy computes, the access log's chain verifies, and the API works on it.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from audit import verify
from audit.models import AccessEvent
from cases.models import Case, Family, FamilyMember, NetworkMember, Note, User
from cases.seeding import scale
from consent import policy
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from koordinointi.vocabulary import Category

pytestmark = pytest.mark.django_db

FAMILIES, WORKERS, SEED = 30, 20, 7


class _Undo(Exception):
    pass


def _generate(*, seed=SEED, now=None, keep=True):
    """Generate the small data set; with keep=False, return its digest and roll it back."""
    now = now or scale.default_now()
    if keep:
        return scale.generate(families=FAMILIES, workers=WORKERS, seed=seed, now=now), None
    found = {}
    try:
        with transaction.atomic():
            found["result"] = scale.generate(families=FAMILIES, workers=WORKERS, seed=seed, now=now)
            found["digest"] = scale.digest()
            raise _Undo
    except _Undo:
        pass
    assert not Case.objects.exists()  # rolled back: the next run starts from an empty database
    return found["result"], found["digest"]


@pytest.fixture
def data_set():
    result, _ = _generate()
    return result


def test_same_seed_same_data_set():
    now = scale.default_now()
    first, first_digest = _generate(now=now, keep=False)
    second, second_digest = _generate(now=now, keep=False)
    assert first.counts == second.counts
    assert first.probe_case_ids == second.probe_case_ids
    assert first_digest == second_digest
    _other, other_digest = _generate(seed=SEED + 1, now=now, keep=False)
    assert other_digest != first_digest


def test_counts_and_shape(data_set):
    assert Family.objects.count() == Case.objects.count() == FAMILIES
    assert data_set.counts["audit.AccessEvent"] == AccessEvent.objects.count() == FAMILIES * 10
    assert User.objects.filter(username__startswith="worker").count() == WORKERS
    for family in Family.objects.prefetch_related("members"):
        members = list(family.members.all())
        assert 1 <= len(members) <= 5
        guardians = [m for m in members if m.role == FamilyMember.Role.GUARDIAN]
        assert 1 <= len(guardians) <= 2
        if family.joint_custody:
            assert len(guardians) == 2
    for case in Case.objects.prefetch_related("network"):
        assert 1 <= len(case.network.all()) <= 8
    professionals = NetworkMember.objects.filter(kind=NetworkMember.Kind.PROFESSIONAL)
    organisations = set(professionals.values_list("organisation_id", flat=True))
    assert len(organisations) > 3  # networks span organisations
    assert NetworkMember.objects.filter(kind=NetworkMember.Kind.INFORMAL).exists()
    if scale.PlanAction is not None:  # plan actions, where the app has them
        assert scale.PlanAction.objects.exists()
    coded = FamilyMember.objects.exclude(identity_code_index="")
    for member in coded:  # the few identity codes are valid and indexed
        from cases.identity_code import blind_index, validate_identity_code

        validate_identity_code(member.identity_code, allow_temporary=True)  # seeded 950-999
        assert member.identity_code_index == blind_index(member.identity_code)


def test_every_consent_state_and_note_category(data_set):
    assert set(Consent.objects.values_list("state", flat=True)) == set(Consent.State.values)
    assert set(Note.objects.values_list("category", flat=True)) == set(Category.values)
    kinds = set(ConsentEvent.objects.values_list("kind", flat=True))
    assert {"requested", "granted", "refused", "revoked", "expired"} <= kinds


def test_consent_states_follow_their_events(data_set):
    consents = Consent.objects.select_related("case__family").prefetch_related("events")
    for consent in consents:
        events = list(consent.events.all())
        assert events[0].kind == ConsentEvent.Kind.REQUESTED
        assert consent_services.derive_state(consent, events) == consent.state
        assert consent.recipients.exists()


def test_permission_rows_are_the_policys(data_set):
    cases = list(Case.objects.all())
    assert any(policy.stored_permissions(case) for case in cases)
    for case in cases:
        assert policy.stored_permissions(case) == policy.case_permissions(case), case.pk


def test_access_log_chain_verifies(data_set):
    results = verify.verify_all()
    assert results and all(result.ok for result in results), [str(r) for r in results]
    assert sum(result.events for result in results) == FAMILIES * 10


def test_the_api_works_on_it(api, data_set):
    member = User.objects.get(username=scale.MEMBER_USERNAME)
    client = api.as_user(member)
    response = client.get("/api/v1/cases/")
    assert response.status_code == 200
    assert response.json()["count"] == len(data_set.probe_case_ids) == FAMILIES
    listed = {item["id"] for item in response.json()["results"]}
    assert listed == set(data_set.probe_case_ids)
    case_id = data_set.probe_case_ids[0]
    detail = client.get(f"/api/v1/cases/{case_id}/").json()
    assert set(scale.PROBE_CATEGORIES) <= set(detail["categories"])
    assert "family" in detail  # basic data is consented to the member's organisation
    assert client.get(f"/api/v1/cases/{case_id}/notes/").status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}/plan/").status_code == 200

    worker = (
        User.objects.filter(username__startswith="worker", network_memberships__isnull=False)
        .order_by("username")
        .first()
    )
    client = api.as_user(worker)
    listed = {item["id"] for item in client.get("/api/v1/cases/?page_size=200").json()["results"]}
    assert listed == {str(pk) for pk in policy.cases_for_user(worker).values_list("pk", flat=True)}


def test_refuses_a_database_with_data(data_set):
    with pytest.raises(scale.NotEmpty):
        _generate()


def test_command(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_scale", families=5, workers=5, stdout=StringIO())
    out = StringIO()
    call_command("seed_scale", families=5, workers=5, force=True, digest=True, stdout=out)
    assert Case.objects.count() == 5
    assert "digest " in out.getvalue()
    with pytest.raises(CommandError, match="empty"):
        call_command("seed_scale", families=5, workers=5, force=True, stdout=StringIO())
