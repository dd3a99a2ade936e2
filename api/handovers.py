"""Handovers of a case's responsibility to another worker."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.views import UUID_REGEX, CaseScopedMixin
from cases import selectors, services
from cases.models import Handover
from consent.policy import Need


class HandoverViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Handovers of one case: proposed by the responsible worker, accepted by the receiver."""

    serializer_class = s.HandoverSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "handovers"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Handover.objects.none()
        case, _access = self.case_and_access()
        return selectors.handover_list(case=case)

    @extend_schema(request=s.HandoverProposeSerializer, responses={201: s.HandoverSerializer})
    def create(self, request, case_pk=None):
        """Propose that another worker takes over responsibility for the case."""
        case, access = self.case_and_access()
        self.case_and_access(need=Need.MANAGE)
        data = s.HandoverProposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = services.handover_propose(actor=request.user, case=case, **data.validated_data)
        return Response(
            s.HandoverSerializer(self.get_queryset().get(pk=handover.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, case_pk=None, pk=None):
        """Accept the handover: you become the responsible worker at once."""
        handover = get_object_or_404(self.get_queryset(), pk=pk)
        services.handover_accept(actor=request.user, handover=handover)
        return Response(s.HandoverSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=None, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, case_pk=None, pk=None):
        """Decline (receiver) or withdraw (proposer) the handover."""
        handover = get_object_or_404(self.get_queryset(), pk=pk)
        handover = services.handover_decline(actor=request.user, handover=handover)
        return Response(s.HandoverSerializer(handover).data)
