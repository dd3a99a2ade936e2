"""Reads of the case domain, always given the acting user and filtered through the policy."""

from dataclasses import replace

from django.db.models import Q, QuerySet

from cases.models import (
    Case,
    Family,
    Handover,
    Invitation,
    NetworkMember,
    Note,
    Organisation,
    Plan,
    Service,
    User,
)
from consent import policy
from consent.categories import Category
from consent.policy import Access

_CASE_RELATED = ("family__municipality", "responsible_worker", "responsible_organisation")


def case_list(*, user: User) -> QuerySet[Case]:
    return policy.cases_for_user(user, queryset=Case.objects.select_related(*_CASE_RELATED))


def case_get(*, user: User, case_id) -> tuple[Case, Access]:
    """The case and the user's access to it; 404 for a case the user may not see."""
    return policy.case_for_user(
        user=user, case_id=case_id, queryset=Case.objects.select_related(*_CASE_RELATED)
    )


def family_list(*, user: User) -> QuerySet[Family]:
    return (
        policy.families_for_user(user)
        .select_related("municipality", "recorded_by")
        .prefetch_related("members")
    )


def families_of_my_cases(*, user: User) -> QuerySet[Family]:
    """Families for which the user is (or was, until closing) the responsible worker."""
    mine = policy.cases_for_user(user).filter(responsible_worker=user)
    return Family.objects.filter(pk__in=mine.values("family_id"))


def family_access(*, user: User, families) -> dict:
    """{family id: (case, Access)}: the family's case the user sees (an open one first), with
    the data categories merged over all of the family's cases that the user may see."""
    cases = list(
        policy.cases_for_user(user)
        .filter(family__in=list(families))
        .select_related("family")
        .order_by("family_id", "-status", "-opened_at")  # "open" sorts after "closed"
    )
    accesses = policy.access_for(user, cases)
    merged: dict = {}
    for case in cases:
        access = accesses[case.pk]
        if case.family_id not in merged:
            merged[case.family_id] = (case, access)
        else:
            first, previous = merged[case.family_id]
            merged[case.family_id] = (
                first,
                replace(previous, categories=previous.categories | access.categories),
            )
    return merged


def handover_list(*, case: Case) -> QuerySet[Handover]:
    return case.handovers.select_related("from_worker", "to_worker", "to_organisation", "case")


def network_list(*, case: Case, access: Access) -> QuerySet[NetworkMember]:
    """Active members; people close to the family only for those who may read basic data."""
    members = case.network.filter(removed_at__isnull=True).select_related("user", "organisation")
    if not access.can_read(Category.BASIC):
        members = members.filter(kind=NetworkMember.Kind.PROFESSIONAL)
    return members


def invitation_list(*, case: Case) -> QuerySet[Invitation]:
    return case.invitations.select_related("organisation", "invited_user", "invited_by")


def my_invitations(*, user: User) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        invited_user=user, status=Invitation.Status.PENDING
    ).select_related("organisation", "invited_user", "invited_by")


def note_list(*, case: Case, access: Access) -> QuerySet[Note]:
    """Notes of the user's own organisation, and of consented categories (less withheld ones)."""
    visible = Q(organisation__in=access.organisations) | (
        Q(category__in=access.categories) & ~Q(subject__in=access.withheld_subjects)
    )
    if access.is_family:
        visible = Q()
    return case.notes.filter(visible).select_related("author", "organisation")


def plan_get(*, case: Case) -> Plan:
    return Plan.objects.select_related("updated_by").filter(case=case).first() or Plan(case=case)


def organisation_list() -> QuerySet[Organisation]:
    return Organisation.objects.select_related("area", "municipality")


def service_list() -> QuerySet[Service]:
    return (
        Service.objects.filter(is_active=True)
        .select_related("organisation")
        .prefetch_related("municipalities")
    )


def service_search(queryset: QuerySet[Service], text: str) -> QuerySet[Service]:
    return queryset.filter(
        Q(name_fi__icontains=text)
        | Q(name_sv__icontains=text)
        | Q(name_en__icontains=text)
        | Q(description__icontains=text)
    )


def worker_list() -> QuerySet[User]:
    return (
        User.objects.filter(is_active=True, memberships__role="worker", memberships__is_active=True)
        .distinct()
        .order_by("last_name", "first_name", "id")
    )
