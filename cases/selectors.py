"""Reads of the case domain, always given the acting user and filtered through the policy."""

from django.db.models import Q, QuerySet

from cases.models import Case, Family, Handover, Organisation, Service, User
from consent import policy


_CASE_RELATED = ("family__municipality", "responsible_worker", "responsible_organisation")


def case_list(*, user: User) -> QuerySet[Case]:
    return policy.cases_for_user(user, queryset=Case.objects.select_related(*_CASE_RELATED))


def case_get(*, user: User, case_id, need: str = policy.VIEW) -> Case:
    return policy.case_for_user(
        user=user,
        case_id=case_id,
        need=need,
        queryset=Case.objects.select_related(*_CASE_RELATED),
    )


def family_list(*, user: User) -> QuerySet[Family]:
    return (
        policy.families_for_user(user)
        .select_related("municipality", "recorded_by")
        .prefetch_related("members")
    )


def handover_list(*, case: Case) -> QuerySet[Handover]:
    return case.handovers.select_related("from_worker", "to_worker", "to_organisation", "case")


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
