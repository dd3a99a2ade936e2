"""Reads the portal shows in its own shape: the facts about a consent that a guardian needs to
decide; the family's access history and consents, from cases.family_view (which the family's
copy is built of too)."""

from django.utils import timezone

from cases import family_view
from cases.models import Case, FamilyMember, User
from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.models import Consent, ConsentEvent

# The family's pages are built in cases.family_view, which the family's copy is made of too.
RESOURCE_LABELS = family_view.RESOURCE_LABELS
family_access_history = family_view.access_history
describe_events = family_view.describe_events
case_consents = family_view.case_consents


def pending_count(*, user: User, case: Case) -> int:
    return (
        consent_selectors.consent_list(user=user)
        .filter(case=case, state=Consent.State.PENDING, valid_until__gt=timezone.now())
        .count()
    )


def guardian_answers(*, consent: Consent, guardians: list[FamilyMember], required: set) -> list:
    """For joint custody: each guardian whose grant is needed, and whether they have given it."""
    if not required:
        return []
    granted = {e.grantor_id for e in consent.events.all() if e.kind == ConsentEvent.Kind.GRANTED}
    return [
        {"member": guardian, "granted": guardian.pk in granted}
        for guardian in guardians
        if guardian.pk in required
    ]


def decision_context(*, case: Case, consents: list[Consent]) -> tuple[list, set]:
    """The family's guardians and the ids of those whose grant a consent needs (one rule, from
    consent.services)."""
    guardians = list(
        FamilyMember.objects.filter(family_id=case.family_id, role=FamilyMember.Role.GUARDIAN)
        .select_related("user")
        .order_by("id")
    )
    required = consent_services.required_guardians(consents[0]) if consents else set()
    return guardians, required
