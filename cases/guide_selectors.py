"""Reads of the public service guide (issue 17): the catalogue's services, organisations,
locations and meeting places, and the open activities of the family centre.

All of it is public, non-family data: these take no user, decide no access and log nothing
(DESIGN.md, "Audit"). What they do promise: an inactive service or location never comes out,
an unknown or inactive id raises Http404, and each page costs the same number of queries
however many rows it shows (tests/test_guide.py pins them).
"""

import datetime
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cases.models import (
    Activity,
    Contact,
    Location,
    Municipality,
    Organisation,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceLanguage,
    TaxonomyTerm,
)

# The free-text search: every word must occur in one of these (as in the catalogue's API).
SEARCH_FIELDS = (
    "name_fi",
    "name_sv",
    "name_en",
    "description",
    "eligibility_description",
    "organisation__name",
)
# How far ahead the calendar and a meeting place's page look.
ACTIVITY_DAYS = 28


@dataclass(frozen=True)
class ServiceFilters:
    """What a family searches the guide by; None or empty: not filtered by it."""

    municipality: Municipality | None = None
    age: int | None = None
    term: TaxonomyTerm | None = None
    language: str = ""
    low_threshold: bool = False
    text: str = ""


def municipality_choices() -> QuerySet[Municipality]:
    return Municipality.objects.order_by("name")


def taxonomy_choices() -> QuerySet[TaxonomyTerm]:
    return TaxonomyTerm.objects.order_by("code")


def _active_locations() -> QuerySet[Location]:
    return Location.objects.filter(is_active=True).select_related("municipality")


def _schedules() -> Prefetch:
    return Prefetch("schedules", queryset=Schedule.objects.order_by("opens_at", "byday"))


def service_search(filters: ServiceFilters) -> list[Service]:
    """Active services matching every given filter, with their organisation, languages and
    topics; three queries whatever the number found."""
    queryset = Service.objects.filter(is_active=True)
    if filters.municipality is not None:
        queryset = queryset.filter(
            Exists(
                Service.municipalities.through.objects.filter(
                    service_id=OuterRef("pk"), municipality_id=filters.municipality.pk
                )
            )
        )
    if filters.age is not None:
        queryset = queryset.filter(min_age__lte=filters.age, max_age__gte=filters.age)
    if filters.term is not None:
        queryset = queryset.filter(
            Exists(
                Service.taxonomy_terms.through._default_manager.filter(
                    service_id=OuterRef("pk"), taxonomyterm_id=filters.term.pk
                )
            )
        )
    if filters.language:
        queryset = queryset.filter(
            Exists(
                ServiceLanguage.objects.filter(service_id=OuterRef("pk"), language=filters.language)
            )
        )
    if filters.low_threshold:
        queryset = queryset.filter(low_threshold=True)
    for word in filters.text.split():
        matches = Q()
        for name in SEARCH_FIELDS:
            matches |= Q(**{f"{name}__icontains": word})
        queryset = queryset.filter(matches)
    return list(
        queryset.select_related("organisation")
        .prefetch_related("languages", "taxonomy_terms")
        .order_by("name_fi", "organisation__name", "pk")
    )


def _id(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def service_get(service_id) -> Service:
    """An active service with everything its page shows; Http404 when unknown or inactive.

    `service.at_locations` holds only its active locations, each with the location's own opening
    hours and phones and the service's hours there."""
    at_locations = ServiceAtLocation.objects.filter(location__is_active=True).select_related(
        "location__municipality"
    )
    service = (
        Service.objects.filter(pk=_id(service_id), is_active=True)
        .select_related("organisation")
        .prefetch_related(
            "languages",
            "taxonomy_terms",
            "municipalities",
            "phones",
            _schedules(),
            Prefetch("contacts", queryset=Contact.objects.prefetch_related("phones")),
            Prefetch("at_locations", queryset=at_locations.order_by("location__name_fi")),
            Prefetch("at_locations__schedules", queryset=Schedule.objects.order_by("opens_at")),
            Prefetch(
                "at_locations__location__schedules",
                queryset=Schedule.objects.order_by("opens_at", "byday"),
            ),
            "at_locations__location__phones",
        )
        .first()
    )
    if service is None:
        raise Http404
    return service


def organisation_get(organisation_id) -> Organisation:
    """An organisation with its active services (`guide_services`) and active locations
    (`guide_locations`, with their opening hours); Http404 when unknown."""
    organisation = (
        Organisation.objects.filter(pk=_id(organisation_id))
        .select_related("municipality")
        .prefetch_related(
            Prefetch(
                "services",
                queryset=Service.objects.filter(is_active=True).order_by("name_fi", "pk"),
                to_attr="guide_services",
            ),
            Prefetch(
                "locations",
                queryset=_active_locations()
                .prefetch_related(_schedules(), "phones")
                .order_by("name_fi", "pk"),
                to_attr="guide_locations",
            ),
            "phones",
        )
        .first()
    )
    if organisation is None:
        raise Http404
    return organisation


def meeting_places(*, municipality: Municipality | None = None) -> list[Location]:
    """The family centre's active meeting places, with their opening hours."""
    queryset = _active_locations().filter(is_meeting_place=True)
    if municipality is not None:
        queryset = queryset.filter(municipality=municipality)
    return list(
        queryset.select_related("organisation")
        .prefetch_related(_schedules())
        .order_by("municipality__name", "name_fi", "pk")
    )


def _coming_activities(*, now: datetime.datetime, days: int) -> QuerySet[Activity]:
    return (
        Activity.objects.filter(
            is_cancelled=False,
            location__is_active=True,
            ends_at__gte=now,
            starts_at__lt=now + datetime.timedelta(days=days),
        )
        .select_related("location__municipality", "organisation")
        .prefetch_related(
            Prefetch("service", queryset=Service.objects.filter(is_active=True)),
        )
        .order_by("starts_at", "name_fi", "pk")
    )


def meeting_place_get(location_id, *, now: datetime.datetime | None = None) -> Location:
    """An active meeting place with its opening hours, phones, and its activities of the coming
    weeks (`coming`); Http404 when unknown, inactive or not a meeting place."""
    now = now or timezone.now()
    place = (
        _active_locations()
        .filter(pk=_id(location_id), is_meeting_place=True)
        .select_related("organisation")
        .prefetch_related(
            _schedules(),
            "phones",
            Prefetch(
                "activities",
                queryset=_coming_activities(now=now, days=ACTIVITY_DAYS),
                to_attr="coming",
            ),
        )
        .first()
    )
    if place is None:
        raise Http404
    return place


def activity_calendar(
    *,
    municipality: Municipality | None = None,
    age: int | None = None,
    now: datetime.datetime | None = None,
    days: int = ACTIVITY_DAYS,
) -> list[Activity]:
    """Open activities from now to `days` ahead at active places, in time order."""
    queryset = _coming_activities(now=now or timezone.now(), days=days)
    if municipality is not None:
        queryset = queryset.filter(location__municipality=municipality)
    if age is not None:
        queryset = queryset.filter(min_age__lte=age, max_age__gte=age)
    return list(queryset)
