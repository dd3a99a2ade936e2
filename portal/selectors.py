"""Reads the portal shows in its own shape: the family's access history in plain terms (over
audit.selectors), and the facts about a consent that a guardian needs to decide."""

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit import selectors as audit_selectors
from audit.models import AccessEvent
from cases.models import Case, FamilyMember, OrganisationMembership, User
from consent import policy
from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from consent.policy import Access
from koordinointi.vocabulary import LOG_CATEGORY_CHOICES

# What each logged resource is, in words a family understands.
CASE_LABEL = _("your case and who is responsible for it")
RESOURCE_LABELS = {
    "case": CASE_LABEL,
    "family": CASE_LABEL,
    "handovers": CASE_LABEL,
    "members": _("your network"),
    "invitations": _("your network"),
    "plan": _("your plan"),
    "notes": _("notes about your family"),
    "consents": _("your consents"),
    "consent-receipt": _("your consents"),
    "access-history": _("this list of who has seen your information"),
    "emergency-access": CASE_LABEL,
}


LOG_LABELS = dict(LOG_CATEGORY_CHOICES)


def family_access_history(*, case: Case, access: Access) -> QuerySet[AccessEvent]:
    """Every logged read (and refused attempt) of the family's data, newest first: the same
    query as the API's family access history (audit.selectors), for a guardian only."""
    policy.check(access, policy.Need.FAMILY)
    return audit_selectors.access_history_for_family(family=case.family)


def describe_events(events) -> list[dict]:
    """Plain rows for a page of access events: names instead of ids, labels instead of codes."""
    events = list(events)
    people = audit_selectors.people_of(events)
    titles = {
        (user_id, organisation_id): title
        for user_id, organisation_id, title in OrganisationMembership.objects.filter(
            user_id__in={e.user_id for e in events if e.user_id},
            organisation_id__in={e.organisation_id for e in events if e.organisation_id},
        ).values_list("user_id", "organisation_id", "title")
    }
    rows = []
    for event in events:
        named = policy.reader_named(event, workers=people.workers)
        rows.append(
            {
                "event": event,
                "name": people.users.get(event.user_id, "") if named else "",
                "known": event.user_id in people.users and named,
                "organisation": people.organisations.get(event.organisation_id, ""),
                "title": titles.get((event.user_id, event.organisation_id), ""),
                "role": AccessEvent.Role(event.role).label
                if event.role in AccessEvent.Role.values
                else "",
                "resource": RESOURCE_LABELS.get(event.resource, CASE_LABEL),
                "categories": [LOG_LABELS[c] for c in event.categories if c in LOG_LABELS],
                "denied": event.outcome == AccessEvent.Outcome.DENIED,
                "emergency": event.emergency,
                "action": event.action,
            }
        )
    return rows


def case_consents(*, user: User, case: Case) -> list[Consent]:
    """The case's consents as the policy lets the user see them, newest request first."""
    consents = list(consent_selectors.consent_list(user=user).filter(case=case))
    for consent in consents:
        consent.case = case  # already loaded with its family; saves a query per consent
    return consents


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
