"""Reads of consents, filtered through the policy."""

from django.db.models import Prefetch, QuerySet

from cases.models import User
from consent import policy
from consent.models import Consent, ConsentEvent


def _with_details(queryset: QuerySet[Consent]) -> QuerySet[Consent]:
    return queryset.select_related("requested_by", "case").prefetch_related(
        "recipients", Prefetch("events", queryset=ConsentEvent.objects.order_by("created_at", "id"))
    )


def consent_list(*, user: User) -> QuerySet[Consent]:
    return _with_details(policy.consents_for_user(user)).order_by("-requested_at", "id")


def case_consent_list(*, case) -> QuerySet[Consent]:
    return _with_details(case.consents.all())


def consent_get(*, user: User, consent_id) -> Consent:
    return policy.consent_for_user(
        user=user, consent_id=consent_id, queryset=_with_details(Consent.objects.all())
    )
