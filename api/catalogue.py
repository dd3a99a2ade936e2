"""The service catalogue: public to all at /api/v1/services/; kept by organisations (their own
entries) and coordinators (everyone's, and the taxonomy) at /api/v1/catalogue/…, and by
coordinators at /api/v1/coordination/services/ as before (issue 17; docs/architecture.md 4j)."""

import re
from typing import cast

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from api import serializers as s
from api.filters import CodeOrIdFilter, FilterSet, ServiceFilter
from api.views import UUID_REGEX
from cases import catalogue, selectors
from cases.models import (
    Activity,
    Contact,
    Location,
    Municipality,
    Organisation,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceLanguage,
    TaxonomyTerm,
    User,
)
from consent import policy


class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    """The public service catalogue of the family centres."""

    serializer_class = s.ServiceSerializer
    filterset_class = ServiceFilter
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing, and nothing is logged
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.service_catalogue()


class LanguageListField(serializers.ListField):
    """Languages in, as codes; a service's `ServiceLanguage` rows out, as codes."""

    child = serializers.ChoiceField(choices=ServiceLanguage.Language.choices)

    def to_representation(self, data):
        return [row.language for row in data.all()]


class _EntrySerializer(s.RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """An input and output serializer of one kind of catalogue entry."""

    def value(self, data, name):
        """A field's value after this request: the one given, else the entry's own."""
        if name in data:
            return data[name]
        return getattr(self.instance, name, None) if self.instance is not None else None

    def require_one_owner(self, data, owners):
        given = [name for name in owners if self.value(data, name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                _("Give exactly one of: %(fields)s.") % {"fields": ", ".join(owners)}
            )


class CatalogueServiceSerializer(_EntrySerializer):
    """A catalogue service as its keepers write it."""

    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    municipalities = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Municipality.objects.all(), required=False
    )
    languages = LanguageListField(required=False, max_length=len(ServiceLanguage.Language.choices))
    taxonomy_terms = serializers.PrimaryKeyRelatedField(
        many=True, queryset=TaxonomyTerm.objects.all(), required=False
    )

    class Meta:
        model = Service
        fields = [
            "id",
            "organisation",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "category",
            "min_age",
            "max_age",
            "municipalities",
            "languages",
            "contact",
            "low_threshold",
            "is_active",
            "url",
            "email",
            "eligibility_description",
            "application_process",
            "fees_description",
            "temporarily_closed",
            "alert",
            "taxonomy_terms",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "description": {"max_length": 20000},
            "eligibility_description": {"max_length": 20000},
            "application_process": {"max_length": 20000},
            "fees_description": {"max_length": 20000},
        }

    def validate(self, data):
        low = self.value(data, "min_age")
        high = self.value(data, "max_age")
        if (0 if low is None else low) > (17 if high is None else high):
            raise serializers.ValidationError({"max_age": _("The age range is empty.")})
        return data


class CatalogueLocationSerializer(_EntrySerializer):
    latitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=-90,
        max_value=90,
        required=False,
        allow_null=True,
    )
    longitude = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=-180,
        max_value=180,
        required=False,
        allow_null=True,
    )

    class Meta:
        model = Location
        fields = [
            "id",
            "organisation",
            "location_type",
            "is_meeting_place",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "transportation",
            "accessibility",
            "url",
            "address",
            "postal_code",
            "city",
            "municipality",
            "latitude",
            "longitude",
            "is_active",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "description": {"max_length": 20000},
            "transportation": {"max_length": 20000},
            "accessibility": {"max_length": 20000},
        }


class CatalogueServiceAtLocationSerializer(_EntrySerializer):
    class Meta:
        model = ServiceAtLocation
        fields = ["id", "service", "location", "description"]
        extra_kwargs = {"description": {"max_length": 20000}}


_DAY = r"(?:[+-]?[1-5])?(?:MO|TU|WE|TH|FR|SA|SU)"
BYDAY = re.compile(rf"^{_DAY}(?:,{_DAY})*$")


class CatalogueScheduleSerializer(_EntrySerializer):
    OWNERS = ("service", "location", "service_at_location")

    class Meta:
        model = Schedule
        fields = [
            "id",
            "service",
            "location",
            "service_at_location",
            "freq",
            "byday",
            "opens_at",
            "closes_at",
            "valid_from",
            "valid_to",
            "description",
        ]

    def validate_byday(self, value):
        value = value.strip().upper()
        if value and not BYDAY.match(value):
            raise serializers.ValidationError(
                _(
                    "Give the days as RFC 5545 BYDAY: two-letter days separated by commas, "
                    "e.g. MO,TU,WE."
                )
            )
        return value

    def validate(self, data):
        self.require_one_owner(data, self.OWNERS)
        opens, closes = self.value(data, "opens_at"), self.value(data, "closes_at")
        if opens is not None and closes is not None and opens >= closes:
            raise serializers.ValidationError(
                {"closes_at": _("Closing time must be after opening time.")}
            )
        start, end = self.value(data, "valid_from"), self.value(data, "valid_to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"valid_to": _("The period ends before it begins.")})
        return data


class CatalogueContactSerializer(_EntrySerializer):
    OWNERS = ("organisation", "service", "location")

    class Meta:
        model = Contact
        fields = ["id", "organisation", "service", "location", "name", "title", "department"]
        fields += ["email"]

    def validate(self, data):
        self.require_one_owner(data, self.OWNERS)
        return data


class CataloguePhoneSerializer(_EntrySerializer):
    OWNERS = ("organisation", "service", "location", "contact")

    class Meta:
        model = Phone
        fields = ["id", "organisation", "service", "location", "contact", "number", "extension"]
        fields += ["type", "description"]

    def validate_number(self, value):
        if not re.fullmatch(r"\+?[0-9][0-9 ()-]{2,40}", value.strip()):
            raise serializers.ValidationError(
                _(
                    "Give a telephone number: digits, spaces, brackets and dashes, "
                    "e.g. +358 3 123 4567."
                )
            )
        return value.strip()

    def validate(self, data):
        self.require_one_owner(data, self.OWNERS)
        return data


class CatalogueActivitySerializer(_EntrySerializer):
    class Meta:
        model = Activity
        fields = [
            "id",
            "organisation",
            "location",
            "service",
            "kind",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "starts_at",
            "ends_at",
            "min_age",
            "max_age",
            "is_cancelled",
        ]
        extra_kwargs = {"description": {"max_length": 20000}}

    def validate(self, data):
        starts, ends = self.value(data, "starts_at"), self.value(data, "ends_at")
        if starts is not None and ends is not None and starts >= ends:
            raise serializers.ValidationError(
                {"ends_at": _("The activity must end after it starts.")}
            )
        low, high = self.value(data, "min_age"), self.value(data, "max_age")
        if (0 if low is None else low) > (17 if high is None else high):
            raise serializers.ValidationError({"max_age": _("The age range is empty.")})
        return data


class CatalogueTaxonomyTermSerializer(_EntrySerializer):
    class Meta:
        model = TaxonomyTerm
        fields = ["id", "code", "taxonomy", "name_fi", "name_sv", "name_en", "description"]
        fields += ["parent", "term_uri"]


class CatalogueFilter(ServiceFilter):
    class Meta(ServiceFilter.Meta):
        fields = [*ServiceFilter.Meta.fields, "is_active"]


class OrganisationEntryFilter(FilterSet):
    organisation = CodeOrIdFilter(field_name="organisation", noun=_("organisation"))


class LocationFilter(OrganisationEntryFilter):
    class Meta:
        model = Location
        fields = ["organisation", "is_meeting_place", "is_active"]


class ActivityFilter(OrganisationEntryFilter):
    class Meta:
        model = Activity
        fields = ["organisation", "kind", "is_cancelled"]


class _EntryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """One kind of catalogue entry, kept by its organisation's workers and by coordinators:
    a list of those the user keeps; one they keep to read, change or (where the kind allows)
    delete; 403 for one the public catalogue shows but they do not keep, 404 for any other."""

    lookup_value_regex = UUID_REGEX
    queryset: models.QuerySet  # every entry of the kind, with what its answer shows

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not policy.may_keep_catalogue_entries(request.user):
            raise PermissionDenied

    def get_queryset(self):
        return policy.catalogue_entries_for_user(self.request.user, self.queryset.all())

    def get_object(self):
        return policy.catalogue_entry_for_user(
            user=self.request.user, queryset=self.queryset.all(), pk=self.kwargs["pk"]
        )

    def save(self, data, entry=None):
        return catalogue.entry_save(
            actor=cast(User, self.request.user), model=self.queryset.model, data=data, entry=entry
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = self.save(dict(serializer.validated_data))
        return Response(self.get_serializer(entry).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        entry = self.get_object()
        serializer = self.get_serializer(entry, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        entry = self.save(dict(serializer.validated_data), entry=entry)
        return Response(self.get_serializer(self.queryset.get(pk=entry.pk)).data)


class _DeletableEntryViewSet(_EntryViewSet):
    def destroy(self, request, pk=None):
        catalogue.entry_delete(actor=cast(User, request.user), entry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CatalogueServiceViewSet(_EntryViewSet):
    """Services the user keeps (inactive ones too). A service is never deleted (referrals name
    it): set `is_active` false to take it out of the catalogue."""

    serializer_class = CatalogueServiceSerializer
    filterset_class = CatalogueFilter
    queryset = (
        Service.objects.select_related("organisation")
        .prefetch_related("municipalities", "languages", "taxonomy_terms")
        .order_by("name_fi", "id")
    )

    def save(self, data, entry=None):
        return catalogue.service_save(actor=cast(User, self.request.user), data=data, service=entry)

    @extend_schema(request=CatalogueServiceSerializer(partial=True))
    def partial_update(self, request, pk=None):
        return super().partial_update(request, pk=pk)


class CatalogueViewSet(CatalogueServiceViewSet):
    """Coordinators keep the whole service catalogue here (and in the admin): inactive services
    too. A service is never deleted (referrals name it): set `is_active` false to take it out."""

    def initial(self, request, *args, **kwargs):
        viewsets.GenericViewSet.initial(self, request, *args, **kwargs)
        if not policy.may_keep_catalogue(request.user):
            raise PermissionDenied


class CatalogueLocationViewSet(_EntryViewSet):
    """Locations and meeting places the user keeps; `is_active` false takes one out."""

    serializer_class = CatalogueLocationSerializer
    filterset_class = LocationFilter
    queryset = Location.objects.order_by("name_fi", "id")


class CatalogueServiceAtLocationViewSet(_DeletableEntryViewSet):
    """Where the user's services are given: at their organisation's own locations or at the
    family centre's meeting places."""

    serializer_class = CatalogueServiceAtLocationSerializer
    filterset_class = None
    queryset = ServiceAtLocation.objects.order_by("service__name_fi", "location__name_fi", "id")


class CatalogueScheduleViewSet(_DeletableEntryViewSet):
    """Opening hours of the user's services, locations and services at locations."""

    serializer_class = CatalogueScheduleSerializer
    filterset_class = None
    queryset = Schedule.objects.order_by("opens_at", "id")


class CatalogueContactViewSet(_DeletableEntryViewSet):
    serializer_class = CatalogueContactSerializer
    filterset_class = None
    queryset = Contact.objects.order_by("name", "id")


class CataloguePhoneViewSet(_DeletableEntryViewSet):
    serializer_class = CataloguePhoneSerializer
    filterset_class = None
    queryset = Phone.objects.order_by("number", "id")


class CatalogueActivityViewSet(_EntryViewSet):
    """Open activities the user's organisation holds; `is_cancelled` true cancels one."""

    serializer_class = CatalogueActivitySerializer
    filterset_class = ActivityFilter
    queryset = Activity.objects.order_by("starts_at", "id")


class CatalogueTaxonomyTermViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The taxonomy: every keeper of entries reads it (to tag services); coordinators alone
    add and change its terms."""

    serializer_class = CatalogueTaxonomyTermSerializer
    filterset_class = None
    lookup_value_regex = UUID_REGEX

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not policy.may_keep_catalogue_entries(request.user):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD", "OPTIONS") and not policy.may_keep_taxonomy(
            request.user
        ):
            raise PermissionDenied(_("Only coordinators keep the taxonomy."))

    def get_queryset(self):
        return selectors.taxonomy_terms()

    def perform_create(self, serializer):
        serializer.instance = catalogue.taxonomy_term_save(
            actor=cast(User, self.request.user), data=dict(serializer.validated_data)
        )

    @extend_schema(request=CatalogueTaxonomyTermSerializer(partial=True))
    def partial_update(self, request, pk=None):
        term = self.get_object()
        serializer = self.get_serializer(term, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        term = catalogue.taxonomy_term_save(
            actor=request.user, term=term, data=dict(serializer.validated_data)
        )
        return Response(self.get_serializer(term).data)
