"""The directory of organisations."""

import django_filters
from django.utils.translation import gettext_lazy as _
from rest_framework import viewsets

from api import serializers as s
from api.filters import CodeOrIdFilter
from api.views import UUID_REGEX
from cases import selectors
from cases.models import Organisation


class OrganisationFilter(django_filters.FilterSet):
    # By code or id, not by choice of existing rows: an unknown one finds nothing, not a 400.
    area = CodeOrIdFilter(field_name="area", noun=_("family-centre area"))
    municipality = CodeOrIdFilter(field_name="municipality", noun=_("municipality"))

    class Meta:
        model = Organisation
        fields = ["kind", "area", "municipality"]


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.organisation_list()
