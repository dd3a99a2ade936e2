"""The service catalogue in Open Referral HSDS 3.0 JSON, under /api/v1/hsds/, as the HSDS 3.0
API specification lays it out (api/hsds_schema/openapi.json): the root with the HSDS version,
services, organizations, taxonomies, taxonomy terms and services at locations, each list in
HSDS's page envelope. Public and read-only: the catalogue is no family data, and is not logged.

The documents are built here from the catalogue's model (docs/architecture.md, 4j, maps one to
the other). Where HSDS has an object that the model keeps inline (a location's one address, a
service's municipalities as service areas, a service's taxonomy terms as attributes), the object's
id is derived from its owner's (UUID version 5), so that it stays the same from one request to
the next.
"""

import uuid
from decimal import Decimal

import django_filters
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filters import (
    AgeFilter,
    BooleanFilter,
    CodeOrIdFilter,
    FilterSet,
    IsoDateTimeFilter,
)
from api.pagination import StrictPageSizeMixin
from api.views import UUID_REGEX
from cases import selectors
from cases.models import (
    Contact,
    Location,
    Organisation,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)

HSDS_VERSION = "3.0"
HSDS_PROFILE = "https://docs.openreferral.org/en/v3.0/"
COUNTRY = "FI"

# --- The documents ---------------------------------------------------------------------------


def derived_id(owner_id, name: str) -> str:
    """A stable id for an HSDS object the model keeps inline in `owner_id`'s row."""
    return str(uuid.uuid5(uuid.UUID(str(owner_id)), name))


def taxonomy_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:koordinointi:taxonomy:{name}"))


def _text(**values) -> dict:
    """The values given that say something: HSDS types its optional fields without null, so
    an empty one is left out rather than sent as null."""
    return {key: value for key, value in values.items() if value not in (None, "")}


def _name(row) -> str:
    """The row's name in the request's language, Finnish where it has none."""
    language = (translation.get_language() or "fi")[:2]
    return getattr(row, f"name_{language}", "") or row.name_fi


def _alternate_name(row) -> str:
    return row.name_fi if _name(row) != row.name_fi else ""


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def phone_doc(phone: Phone) -> dict:
    owner = _text(
        organization_id=phone.organisation_id and str(phone.organisation_id),
        service_id=phone.service_id and str(phone.service_id),
        location_id=phone.location_id and str(phone.location_id),
        contact_id=phone.contact_id and str(phone.contact_id),
    )
    # HSDS types the extension as a number: one that is not a plain number goes in the text.
    extension = int(phone.extension) if phone.extension.isdigit() else None
    description = phone.description
    if phone.extension and extension is None:
        description = f"{description} ({phone.extension})".strip()
    return {
        "id": str(phone.id),
        **owner,
        "number": phone.number,
        **_text(extension=extension, type=phone.type, description=description),
    }


def schedule_doc(schedule: Schedule) -> dict:
    owner = _text(
        service_id=schedule.service_id and str(schedule.service_id),
        location_id=schedule.location_id and str(schedule.location_id),
        service_at_location_id=schedule.service_at_location_id
        and str(schedule.service_at_location_id),
    )
    return {
        "id": str(schedule.id),
        **owner,
        **_text(
            valid_from=schedule.valid_from and schedule.valid_from.isoformat(),
            valid_to=schedule.valid_to and schedule.valid_to.isoformat(),
            freq=schedule.freq,
            wkst="MO" if schedule.freq == Schedule.Frequency.WEEKLY else None,
            byday=schedule.byday,
            opens_at=schedule.opens_at and schedule.opens_at.strftime("%H:%M"),
            closes_at=schedule.closes_at and schedule.closes_at.strftime("%H:%M"),
            description=schedule.description,
        ),
    }


def contact_doc(contact: Contact) -> dict:
    return {
        "id": str(contact.id),
        **_text(
            organization_id=contact.organisation_id and str(contact.organisation_id),
            service_id=contact.service_id and str(contact.service_id),
            location_id=contact.location_id and str(contact.location_id),
            name=contact.name,
            title=contact.title,
            department=contact.department,
            email=contact.email,
        ),
        "phones": [phone_doc(phone) for phone in contact.phones.all()],
    }


def address_docs(location: Location) -> list[dict]:
    """The location's one address, when it has one (HSDS requires street, city and postal
    code of an address; a region this catalogue does not keep goes as an empty string)."""
    if location.location_type == Location.LocationType.VIRTUAL or not location.address:
        return []
    city = location.city or (location.municipality.name if location.municipality else "")
    return [
        {
            "id": derived_id(location.id, "address"),
            "location_id": str(location.id),
            "address_1": location.address,
            "city": city,
            "state_province": "",
            "postal_code": location.postal_code,
            "country": COUNTRY,
            "address_type": location.location_type,
        }
    ]


def location_doc(location: Location) -> dict:
    accessibility = (
        [
            {
                "id": derived_id(location.id, "accessibility"),
                "location_id": str(location.id),
                "description": location.accessibility,
            }
        ]
        if location.accessibility
        else []
    )
    return {
        "id": str(location.id),
        "location_type": location.location_type,
        **_text(
            url=location.url,
            organization_id=str(location.organisation_id),
            name=_name(location),
            alternate_name=_alternate_name(location),
            description=location.description,
            transportation=location.transportation,
            latitude=_number(location.latitude),
            longitude=_number(location.longitude),
        ),
        "addresses": address_docs(location),
        "phones": [phone_doc(phone) for phone in location.phones.all()],
        "schedules": [schedule_doc(schedule) for schedule in location.schedules.all()],
        "accessibility": accessibility,
    }


def organization_summary(organisation: Organisation) -> dict:
    """An organization's one-to-one fields (HSDS compiled/organization_list.json)."""
    return {
        "id": str(organisation.id),
        "name": organisation.name,
        "description": organisation.description,
        **_text(email=organisation.email, website=organisation.url),
    }


def organization_doc(organisation: Organisation) -> dict:
    """A whole organization (compiled/organization.json): its phones, contacts, active
    locations and, as one-to-one summaries, its services in the catalogue."""
    return {
        **organization_summary(organisation),
        "phones": [phone_doc(phone) for phone in organisation.phones.all()]
        + (
            [{"id": derived_id(organisation.id, "phone"), "number": organisation.phone}]
            if organisation.phone
            else []
        ),
        "contacts": [contact_doc(contact) for contact in organisation.contacts.all()],
        "locations": [location_doc(location) for location in organisation.locations.all()],
        "services": [service_summary(service) for service in organisation.services.all()],
    }


def taxonomy_doc(name: str) -> dict:
    return {
        "id": taxonomy_id(name),
        "name": name,
        "description": str(_("The taxonomy of the family centres' service catalogue."))
        if name == TaxonomyTerm._meta.get_field("taxonomy").default
        else name,
    }


def taxonomy_term_doc(term: TaxonomyTerm) -> dict:
    return {
        "id": str(term.id),
        "code": term.code,
        "name": _name(term),
        "description": term.description,
        **_text(
            parent_id=term.parent_id and str(term.parent_id),
            taxonomy=term.taxonomy,
            language=(translation.get_language() or "fi")[:2],
            term_uri=term.term_uri,
        ),
        "taxonomy_id": taxonomy_id(term.taxonomy),
        "taxonomy_detail": taxonomy_doc(term.taxonomy),
    }


def service_summary(service: Service) -> dict:
    """A service's one-to-one fields (compiled/service_list.json)."""
    return {
        "id": str(service.id),
        "organization_id": str(service.organisation_id),
        "name": _name(service),
        **_text(
            alternate_name=_alternate_name(service),
            description=service.description,
            url=service.url,
            email=service.email,
        ),
        "status": service.hsds_status,
        **_text(
            application_process=service.application_process,
            fees_description=service.fees_description,
            eligibility_description=service.eligibility_description,
            alert=service.alert,
        ),
        "minimum_age": service.min_age,
        "maximum_age": service.max_age,
        "last_modified": service.updated_at.isoformat(),
    }


def service_at_location_doc(at: ServiceAtLocation, *, with_service: bool = False) -> dict:
    doc = {
        "id": str(at.id),
        "service_id": str(at.service_id),
        "location_id": str(at.location_id),
        **_text(description=at.description),
        "schedules": [schedule_doc(schedule) for schedule in at.schedules.all()],
        "location": location_doc(at.location),
    }
    if with_service:
        doc["service"] = service_summary(at.service)
    return doc


def service_doc(service: Service) -> dict:
    """A whole service (compiled/service.json)."""
    return {
        **service_summary(service),
        "organization": organization_summary(service.organisation),
        "service_at_locations": [service_at_location_doc(at) for at in service.at_locations.all()],
        "phones": [phone_doc(phone) for phone in service.phones.all()],
        "schedules": [schedule_doc(schedule) for schedule in service.schedules.all()],
        "contacts": [contact_doc(contact) for contact in service.contacts.all()],
        "languages": [
            {
                "id": str(row.id),
                "service_id": str(service.id),
                "name": row.get_language_display(),
                "code": row.language,
            }
            for row in service.languages.all()
        ],
        "service_areas": [
            {
                "id": derived_id(service.id, f"service_area:{municipality.id}"),
                "service_id": str(service.id),
                "name": municipality.name,
                "extent_type": "municipality",
            }
            for municipality in service.municipalities.all()
        ],
        "attributes": [
            {
                "id": derived_id(service.id, f"attribute:{term.id}"),
                "link_id": str(service.id),
                "link_type": "service",
                "link_entity": "service",
                "taxonomy_term_id": str(term.id),
                "taxonomy_term": taxonomy_term_doc(term),
            }
            for term in service.taxonomy_terms.all()
        ],
    }


# --- Pages, filters and views ----------------------------------------------------------------


class HsdsPagination(StrictPageSizeMixin, PageNumberPagination):
    """HSDS's page envelope: `total_items`, `total_pages`, `page_number`, `size`,
    `first_page`, `last_page`, `empty` and the page's `contents`; `page` and `per_page`."""

    page_size = 50
    page_size_query_param = "per_page"
    max_page_size = 200

    def get_paginated_response(self, data):
        page = self.page
        assert page is not None
        return Response(
            {
                "total_items": page.paginator.count,
                "total_pages": page.paginator.num_pages,
                "page_number": page.number,
                "size": len(data),
                "first_page": not page.has_previous(),
                "last_page": not page.has_next(),
                "empty": page.paginator.count == 0,
                "contents": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [*PAGE_FIELDS, "contents"],
            "properties": {**PAGE_FIELDS, "contents": schema},
        }


PAGE_FIELDS = {
    "total_items": {"type": "integer", "description": "The number of entities in all pages."},
    "total_pages": {"type": "integer", "description": "The number of pages."},
    "page_number": {"type": "integer", "description": "The number of this page, from 1."},
    "size": {"type": "integer", "description": "The number of entities in this page."},
    "first_page": {"type": "boolean", "description": "Whether this is the first page."},
    "last_page": {"type": "boolean", "description": "Whether this is the last page."},
    "empty": {"type": "boolean", "description": "Whether there are no entities at all."},
}


def _document(build, description: str):
    """A read-only serializer whose representation is `build(row)`, documented in the schema
    as the HSDS object it is (the full HSDS schemas are in api/hsds_schema/)."""

    class Document(serializers.BaseSerializer):
        def to_representation(self, instance):
            return build(instance)

    Document.__doc__ = description
    return Document


def _hsds_page(name: str, file: str):
    return {
        200: HsdsPagination().get_paginated_response_schema(
            {"type": "array", "items": _hsds_object(name, file)}
        )
    }


def _hsds_one(name: str, file: str):
    return {200: _hsds_object(name, file)}


def _hsds_object(name: str, file: str):
    return {
        "type": "object",
        "description": f"An HSDS 3.0 {name}: api/hsds_schema/{file} (Open Referral HSDS 3.0).",
        "additionalProperties": {},
    }


class HsdsServiceFilter(FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Full text search")
    taxonomy_term_id = CodeOrIdFilter(field_name="taxonomy_terms", noun=_("taxonomy term"))
    taxonomy_id = django_filters.UUIDFilter(method="filter_taxonomy", label="A taxonomy's id")
    organization_id = CodeOrIdFilter(field_name="organisation", noun=_("organisation"))
    municipality = CodeOrIdFilter(field_name="municipalities", noun=_("municipality"))
    age = AgeFilter(method="filter_age", label="Child's age in years")
    modified_after = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    full = BooleanFilter(method="filter_nothing", label="Fully nested services (true/false)")

    class Meta:
        model = Service
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return selectors.service_catalogue_search(queryset, value)

    def filter_taxonomy(self, queryset, name, value):
        return selectors.services_in_taxonomy(queryset, str(value), taxonomy_id=taxonomy_id)

    def filter_age(self, queryset, name, value):
        return selectors.service_by_age(queryset, value)

    def filter_nothing(self, queryset, name, value):
        return queryset  # read by the view: it chooses the document, not the rows


class HsdsServiceAtLocationFilter(HsdsServiceFilter):
    """The same filters, on the service of each service at a location."""

    class Meta:
        model = ServiceAtLocation
        fields: list[str] = []

    def filter_queryset(self, queryset):
        services = super().filter_queryset(selectors.service_catalogue())
        return queryset.filter(service__in=services.values("pk"))


class SearchFilter(FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Full text search")

    def filter_search(self, queryset, name, value):
        return selectors.catalogue_name_search(queryset, value)


class HsdsOrganisationFilter(SearchFilter):
    class Meta:
        model = Organisation
        fields: list[str] = []


class HsdsTaxonomyTermFilter(SearchFilter):
    taxonomy_id = django_filters.UUIDFilter(method="filter_taxonomy", label="A taxonomy's id")
    parent_id = django_filters.UUIDFilter(field_name="parent")
    top_only = BooleanFilter(method="filter_top", label="Only terms without a parent")

    class Meta:
        model = TaxonomyTerm
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return selectors.taxonomy_term_search(queryset, value)

    def filter_taxonomy(self, queryset, name, value):
        names = [n for n in selectors.taxonomy_names() if taxonomy_id(n) == str(value)]
        return queryset.filter(taxonomy__in=names)

    def filter_top(self, queryset, name, value):
        return queryset.filter(parent__isnull=True) if value else queryset


@extend_schema_view(
    list=extend_schema(
        summary="Services (HSDS 3.0), one-to-one fields; `full=true` for whole services",
        responses=_hsds_one("service", "compiled/service_list.json"),
    ),
    retrieve=extend_schema(
        summary="One service (HSDS 3.0), fully nested",
        responses=_hsds_one("service", "compiled/service.json"),
    ),
)
class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged
    pagination_class = HsdsPagination
    lookup_value_regex = UUID_REGEX
    filterset_class = HsdsServiceFilter

    def _full(self) -> bool:
        return self.action == "retrieve" or self.request.query_params.get("full") == "true"

    def get_queryset(self):
        if self._full():
            return selectors.service_catalogue().order_by("name_fi", "id")
        return selectors.service_catalogue_summaries()

    def get_serializer_class(self):
        if self._full():
            return _document(service_doc, "A whole HSDS service.")
        return _document(service_summary, "An HSDS service's one-to-one fields.")


@extend_schema_view(
    list=extend_schema(
        summary="Organizations (HSDS 3.0), one-to-one fields",
        responses=_hsds_one("organization", "compiled/organization_list.json"),
    ),
    retrieve=extend_schema(
        summary="One organization (HSDS 3.0), with its locations and services",
        responses=_hsds_one("organization", "compiled/organization.json"),
    ),
)
class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged
    pagination_class = HsdsPagination
    lookup_value_regex = UUID_REGEX
    filterset_class = HsdsOrganisationFilter

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.catalogue_organisations_detailed()
        return selectors.catalogue_organisations()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return _document(organization_doc, "A whole HSDS organization.")
        return _document(organization_summary, "An HSDS organization's one-to-one fields.")


@extend_schema_view(
    list=extend_schema(
        summary="Taxonomy terms (HSDS 3.0)",
        responses=_hsds_one("taxonomy term", "taxonomy_term.json"),
    ),
    retrieve=extend_schema(
        summary="One taxonomy term (HSDS 3.0)",
        responses=_hsds_one("taxonomy term", "taxonomy_term.json"),
    ),
)
class TaxonomyTermViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged
    pagination_class = HsdsPagination
    lookup_value_regex = UUID_REGEX
    filterset_class = HsdsTaxonomyTermFilter

    def get_queryset(self):
        return selectors.taxonomy_terms()

    def get_serializer_class(self):
        return _document(taxonomy_term_doc, "An HSDS taxonomy term.")


@extend_schema_view(
    list=extend_schema(
        summary="Services at locations (HSDS 3.0)",
        responses=_hsds_one("service at location", "compiled/service_at_location_list.json"),
    ),
    retrieve=extend_schema(
        summary="One service at a location (HSDS 3.0)",
        responses=_hsds_one("service at location", "compiled/service_at_location.json"),
    ),
)
class ServiceAtLocationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged
    pagination_class = HsdsPagination
    lookup_value_regex = UUID_REGEX
    filterset_class = HsdsServiceAtLocationFilter

    def get_queryset(self):
        return selectors.catalogue_services_at_locations()

    def get_serializer_class(self):
        return _document(
            lambda at: service_at_location_doc(at, with_service=True),
            "An HSDS service at a location.",
        )


class TaxonomyListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged

    @extend_schema(
        summary="Taxonomies (HSDS 3.0)",
        operation_id="hsds_taxonomies_list",
        parameters=[
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1}, description="Page number, from 1."
            ),
            OpenApiParameter(
                "per_page",
                {"type": "integer", "minimum": 1, "maximum": 200},
                description="Entities in a page, 1 to 200.",
            ),
        ],
        responses=_hsds_page("taxonomy", "taxonomy.json"),
    )
    def get(self, request):
        paginator = HsdsPagination()
        names: list[str] = (
            paginator.paginate_queryset(
                selectors.taxonomy_names(),  # type: ignore[arg-type]  # a list pages as well
                request,
                view=self,
            )
            or []
        )
        return paginator.get_paginated_response([taxonomy_doc(name) for name in names])


class TaxonomyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged

    @extend_schema(
        summary="One taxonomy (HSDS 3.0)", responses=_hsds_one("taxonomy", "taxonomy.json")
    )
    def get(self, request, pk):
        for name in selectors.taxonomy_names():
            if taxonomy_id(name) == str(pk):
                return Response(taxonomy_doc(name))
        raise Http404


class RootView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing; nothing is logged
    """What this API is: HSDS 3.0, and where its OpenAPI schema is."""

    @extend_schema(
        summary="This API's HSDS version and schema (HSDS 3.0 root)",
        responses={
            200: {
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "profile": {"type": "string", "format": "uri"},
                    "openapi_url": {"type": "string", "format": "uri"},
                },
            }
        },
    )
    def get(self, request):
        return Response(
            {
                "version": HSDS_VERSION,
                "profile": HSDS_PROFILE,
                "openapi_url": request.build_absolute_uri(reverse("schema")),
            }
        )
