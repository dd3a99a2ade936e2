"""Emergency access (break-the-glass): a worker opens a case outside their network for a limited
time by giving a reason, and auditors list the accesses opened within their organisations.

Who may do it is decided in consent.policy (`emergency_case_for_user`); the grant is written by
cases.services.emergency_access_open. Opening one is logged as a read of the case under the new
access (resource "emergency-access", flagged, with the reason as its purpose); every read while
it lasts is flagged the same way by audit.recorder.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from api.audit import AuditedMixin
from api.audit_views import DENIED, AuditorMixin
from api.pagination import StrictPageSizeMixin
from cases import services
from cases.models import EmergencyAccess, Organisation
from consent import policy

RESOURCE = "emergency-access"


class EmergencyAccessOpenSerializer(serializers.Serializer):
    reason = serializers.CharField(
        min_length=services.EMERGENCY_REASON_MIN_LENGTH,
        max_length=services.EMERGENCY_REASON_MAX_LENGTH,
        help_text=_("Why the case must be opened now (shown to auditors and in the access log)."),
    )
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        help_text=_("The organisation you act for, if you work for several."),
    )


class EmergencyAccessSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    user = serializers.UUIDField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = EmergencyAccess
        fields = [
            "id",
            "case",
            "user",
            "username",
            "organisation",
            "reason",
            "started_at",
            "expires_at",
            "active",
        ]
        read_only_fields = fields

    def get_active(self, grant) -> bool:
        return grant.is_active(self.context.get("now"))


class EmergencyAccessOpenView(AuditedMixin, APIView):
    """Open a case outside your network for EMERGENCY_ACCESS_HOURS (2), for a reason you give
    (10-200 characters). Only workers with the emergency access permission; the case must be
    open. A grant is never extended: another one takes a reason you have not given for this
    case before. Every read under it is flagged in the access log."""

    audit_resource = RESOURCE

    def audit_shown(self):
        return []  # a write: the opening is logged by the service that opens it

    @extend_schema(
        request=EmergencyAccessOpenSerializer,
        responses={
            201: EmergencyAccessSerializer,
            400: OpenApiResponse(description="No reason, or one given for this case before"),
            401: OpenApiResponse(description="Not signed in"),
            403: OpenApiResponse(
                description="No emergency access permission on a case you see, or a case you "
                "already reach through its network"
            ),
            404: OpenApiResponse(description="A case you cannot see, closed, or no such case"),
        },
    )
    def post(self, request, case_pk):
        case, _access = policy.emergency_case_for_user(user=request.user, case_id=case_pk)
        data = EmergencyAccessOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.emergency_access_open(actor=request.user, case=case, **data.validated_data)
        grant = EmergencyAccess.objects.select_related("user").get(pk=grant.pk)
        return Response(EmergencyAccessSerializer(grant).data, status=status.HTTP_201_CREATED)


class EmergencyAccessPagination(StrictPageSizeMixin, CursorPagination):
    ordering = ("-started_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(responses={200: EmergencyAccessSerializer(many=True), **DENIED})
class EmergencyAccessListView(AuditorMixin, generics.ListAPIView):
    """Emergency accesses opened within your organisations (by a worker acting for one of them,
    or to a case one of them is responsible for), newest first (auditors only)."""

    serializer_class = EmergencyAccessSerializer
    pagination_class = EmergencyAccessPagination
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return EmergencyAccess.objects.none()
        return policy.emergency_accesses_for_auditor(
            self.request.user, organisations=self.organisations
        ).select_related("user")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}
