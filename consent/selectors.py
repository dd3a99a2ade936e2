"""Reads of consents, filtered through the policy."""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404

from cases.models import User
from consent import policy
from consent.models import Consent, ConsentEvent, LegalBasis

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


# --- Legal bases (issue 16) ---------------------------------------------------------------------


def legal_basis_list(*, case, access) -> QuerySet[LegalBasis]:
    """The case's legal bases that the policy lets this access see, newest first."""
    return (
        policy.legal_bases_for(case=case, access=access)
        .select_related("organisation", "recorded_by", "ended_by")
        .order_by("-recorded_at", "id")
    )


def legal_basis_get(*, case, access, basis_id) -> LegalBasis:
    """One of them; 404 for any other id, alike for one that does not exist."""
    try:
        return legal_basis_list(case=case, access=access).get(pk=basis_id)
    except (LegalBasis.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def legal_bases_withheld(*, user, organisations=None) -> QuerySet[LegalBasis]:
    """The bases withheld from families within the auditor's organisations, newest first."""
    return (
        policy.legal_bases_withheld_for_auditor(user, organisations=organisations)
        .select_related("organisation", "recorded_by")
        .order_by("-recorded_at", "id")
    )
