"""Reads of consents, filtered through the policy."""

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from cases.models import User
from consent import policy
from consent.models import Consent, ConsentEvent

_EVENTS = Prefetch("events", queryset=ConsentEvent.objects.order_by("created_at", "id"))


def _with_details(queryset: QuerySet[Consent]) -> QuerySet[Consent]:
    return queryset.select_related("requested_by", "case").prefetch_related("recipients", _EVENTS)


def consent_decided(consent: Consent, event: ConsentEvent) -> Consent:
    """The consent just decided, as the decider sees it now: the object the request already
    authorized and loaded, with the state the decision left and its events read again (one
    query, not a second authorization and fetch)."""
    consent.state = event.consent.state
    getattr(consent, "_prefetched_objects_cache", {}).pop("events", None)
    prefetch_related_objects([consent], _EVENTS)
    return consent


def consent_list(*, user: User) -> QuerySet[Consent]:
    return _with_details(policy.consents_for_user(user)).order_by("-requested_at", "id")


def case_consent_list(*, case) -> QuerySet[Consent]:
    return _with_details(case.consents.all())


def consent_get(*, user: User, consent_id) -> Consent:
    return policy.consent_for_user(
        user=user, consent_id=consent_id, queryset=_with_details(Consent.objects.all())
    )
