"""Coordination cases: list, open, change and close."""

from typing import cast

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from api import serializers as s
from api.views import UUID_REGEX, AccessContextMixin, IsWorker
from cases import selectors, services
from cases.models import Case, User
from consent.policy import Need


class CaseFilter(django_filters.FilterSet):
    # A plain UUID, not a choice among all families: an unseen family must filter exactly like
    # a missing one (an empty page), never answer differently.
    family = django_filters.UUIDFilter(field_name="family")

    class Meta:
        model = Case
        fields = ["status", "family"]


class CaseViewSet(
    AccessContextMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Coordination cases you may see; data categories you may not read are left out."""

    serializer_class = s.CaseSerializer
    filterset_class = CaseFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.case_list(user=cast(User, self.request.user))

    def access_for(self, cases):
        # A case fetched by `_case_get` comes with the access computed for it in this request:
        # computing it again would cost the same queries a second time.
        known = getattr(self, "_known_access", {})
        missing = [case for case in cases if case.pk not in known]
        return selectors.case_accesses(
            user=cast(User, self.request.user), cases=cases, known=known, missing=missing
        )

    def _case_get(self, pk):
        case, access = selectors.case_get(user=cast(User, self.request.user), case_id=pk)
        self._known_access = {case.pk: access}
        return case

    def get_object(self):
        return self._case_get(self.kwargs["pk"])

    def _fresh(self, pk):
        return self.get_serializer(self._case_get(pk))

    @extend_schema(request=s.CaseCreateSerializer, responses={201: s.CaseSerializer})
    def create(self, request):
        """Open a new case for a family whose earlier case is closed."""
        if not IsWorker().has_permission(request, self):
            raise PermissionDenied(IsWorker.message)
        data = s.CaseCreateSerializer(
            data=request.data, families=selectors.families_of_my_cases(user=request.user)
        )
        data.is_valid(raise_exception=True)
        case = services.case_open(actor=request.user, **data.validated_data)
        return Response(self._fresh(case.pk).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CaseUpdateSerializer, responses=s.CaseSerializer)
    def partial_update(self, request, pk=None):
        case, _access = selectors.case_get(user=request.user, case_id=pk, need=Need.MANAGE)
        data = s.CaseUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.case_update(actor=request.user, case=case, **data.validated_data)
        return Response(self._fresh(pk).data)

    @extend_schema(request=s.CaseCloseSerializer, responses=s.CaseSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the case with a reason; the network's access ends, the records are kept."""
        case, _access = selectors.case_get(user=request.user, case_id=pk, need=Need.MANAGE)
        data = s.CaseCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.case_close(actor=request.user, case=case, reason=data.validated_data["reason"])
        return Response(self._fresh(pk).data)
