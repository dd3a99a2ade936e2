"""Families with a case you may see, and registering a new family."""

from typing import cast

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from api import serializers as s
from api.views import UUID_REGEX, AccessContextMixin, IsWorker
from audit.models import AccessEvent
from cases import selectors, services
from cases.models import Family, User
from consent import policy


class FamilyFilter(django_filters.FilterSet):
    # A family under a non-disclosure marking is not found by its municipality by anyone who
    # may not see where it is: the filter would tell it.
    municipality = django_filters.UUIDFilter(field_name="municipality", method="in_municipality")

    def in_municipality(self, queryset, name, value):
        return selectors.families_in_municipality(
            user=cast(User, self.request.user), queryset=queryset, municipality_id=value
        )

    class Meta:
        model = Family
        fields = ["municipality"]


class FamilyViewSet(
    AccessContextMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Families with a case you may see; their data shows only where you may read `basic`."""

    serializer_class = s.FamilySerializer
    filterset_class = FamilyFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.family_list(user=cast(User, self.request.user))

    audit_resource = "family"
    audit_case_kwarg = None
    audit_family_kwarg = "pk"

    def access_for(self, families):
        return selectors.family_access(user=cast(User, self.request.user), families=families)

    @extend_schema(request=s.FamilyCreateSerializer, responses={201: s.FamilySerializer})
    def create(self, request):
        """Register a family and open its case, with you as the responsible worker."""
        if not IsWorker().has_permission(request, self):
            raise PermissionDenied(IsWorker.message)
        data = s.FamilyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        family = services.family_create(actor=request.user, **data.validated_data)
        family = self.get_queryset().get(pk=family.pk)
        return Response(self.get_serializer(family).data, status=status.HTTP_201_CREATED)

    audit_read_actions = {"lookup": AccessEvent.Action.SEARCH}

    @extend_schema(
        request=s.FamilyLookupSerializer, responses=s.FamilySerializer(many=True), filters=False
    )
    # A plain list, as the schema says: a search by one identity code finds a handful at most.
    @action(detail=False, methods=["post"], pagination_class=None)
    def lookup(self, request):
        """Find families by a member's personal identity code. The code goes in the body, never
        in a URL (URLs reach server and proxy logs). Only families whose basic data you may read
        are found; any other answers as no match at all."""
        data = s.FamilyLookupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        families = selectors.family_lookup(
            user=request.user, identity_code=data.validated_data["identity_code"]
        )
        return Response(self.get_serializer(families, many=True).data)

    @extend_schema(request=s.FamilyUpdateSerializer, responses=s.FamilySerializer)
    def partial_update(self, request, pk=None):
        family = self.get_object()
        if not policy.may_change_family(request.user, family):
            raise PermissionDenied(_("Only the responsible worker can change the family."))
        data = s.FamilyUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.family_update(actor=request.user, family=family, data=data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=family.pk)).data)
