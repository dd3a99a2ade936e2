"""The directory of organisations."""

import django_filters
from rest_framework import viewsets

from api import serializers as s
from api.views import UUID_REGEX
from cases import selectors
from cases.models import Organisation


class OrganisationFilter(django_filters.FilterSet):
    # By id, not by choice of existing rows: an unknown id finds nothing rather than a 400.
    area = django_filters.UUIDFilter(field_name="area")
    municipality = django_filters.UUIDFilter(field_name="municipality")

    class Meta:
        model = Organisation
        fields = ["kind", "area", "municipality"]


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.organisation_list()
