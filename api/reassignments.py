"""The coordinators' reassignment queue: open cases whose responsible worker has left."""

from typing import cast

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.views import UUID_REGEX
from api.workers import WorkerStateSerializer
from cases import selectors, services
from cases.models import Case, Organisation, User
from consent import policy


class ReassignmentEntrySerializer(serializers.ModelSerializer):
    responsible_worker = WorkerStateSerializer(read_only=True, allow_null=True)
    responsible_organisation = s.OrganisationRefSerializer(read_only=True, allow_null=True)
    reason = serializers.SerializerMethodField()
    waiting_handover = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id",
            "status",
            "opened_at",
            "responsible_worker",
            "responsible_organisation",
            "reason",
            "waiting_handover",
        ]

    def get_reason(self, case) -> str:
        return policy.reassignment_reason(case)

    @extend_schema_field(s.HandoverSerializer(allow_null=True))
    def get_waiting_handover(self, case):
        waiting = getattr(case, "waiting_handovers", [])
        return s.HandoverSerializer(waiting[0]).data if waiting else None


class ReassignSerializer(s.InputSerializer):
    to_worker = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    to_organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, default=None
    )
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReassignmentViewSet(
    AuditedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Coordinators: open cases whose responsible worker has left (a deactivated account or an
    ended membership). Each stays with its worker until the new worker you propose accepts."""

    serializer_class = ReassignmentEntrySerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "reassignments"
    audit_case_kwarg = "pk"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
        cases, self._memberships = selectors.reassignment_list(user=cast(User, self.request.user))
        return cases

    def get_object(self):
        case, self._coordinator_access = policy.reassignment_case_for_user(
            user=self.request.user,
            case_id=self.kwargs["pk"],
            queryset=selectors.reassignment_list(user=cast(User, self.request.user))[0],
        )
        return case

    def audit_shown(self):
        access = getattr(self, "_coordinator_access", None)
        if access is None:
            access = policy.coordinator_access(getattr(self, "_memberships", []))
        return [Shown(case, access) for case in self.shown_objects()]

    @extend_schema(request=ReassignSerializer, responses={201: s.HandoverSerializer})
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        """Propose a new responsible worker on the departed worker's behalf; the case moves when
        they accept the handover (POST …/handovers/{id}/accept/)."""
        case = self.get_object()
        data = ReassignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = services.handover_reassign(actor=request.user, case=case, **data.validated_data)
        handover = selectors.handover_list(case=case).get(pk=handover.pk)
        return Response(s.HandoverSerializer(handover).data, status=status.HTTP_201_CREATED)
