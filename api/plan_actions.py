"""The plan's actions: who does what by when (data category `plan`)."""

from typing import cast

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.relations import RelatedField
from rest_framework.response import Response

from api import serializers as s
from api.serializers import ServiceRefSerializer
from api.views import UUID_REGEX, PlanScopedMixin
from cases import selectors, services
from cases.models import NetworkMember, PlanAction, Service, User
from consent import policy
from consent.policy import Need
from koordinointi.vocabulary import PROTECTED


class PlanActionSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    responsible_user = s.UserRefSerializer(read_only=True, allow_null=True)
    responsible_member = serializers.UUIDField(
        source="responsible_member_id",
        read_only=True,
        allow_null=True,
        help_text=_("The network member who does it (see the case's members)."),
    )
    service = ServiceRefSerializer(read_only=True, allow_null=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = PlanAction
        fields = [
            "id",
            "case",
            "title",
            "description",
            "responsible_user",
            "responsible_member",
            "due_date",
            "status",
            "overdue",
            "service",
            "protected",
            "created_at",
            "updated_at",
        ]

    def get_overdue(self, action) -> bool:
        return bool(
            action.due_date
            and action.status in PlanAction.OPEN_STATUSES
            and action.due_date < timezone.localdate()
        )


# Input serializers share the component name of their output (PlanActionRequest beside
# PlanAction), so that each `status` choice set belongs to one component in the schema.
@extend_schema_serializer(component_name="PlanAction")
class PlanActionWriteSerializer(s.InputSerializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20000
    )
    responsible_user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("A worker: the responsible worker or a professional in the network."),
    )
    responsible_member = serializers.PrimaryKeyRelatedField(
        queryset=NetworkMember.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("A member of the network, also someone close to the family."),
    )
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    status = serializers.ChoiceField(
        choices=PlanAction.Status.choices, required=False, default=PlanAction.Status.PLANNED
    )
    service = serializers.PrimaryKeyRelatedField(
        queryset=Service.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
    )
    protected = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Under a non-disclosure marking, only the responsible worker and the members they "
            "name see this action."
        ),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            cast(
                RelatedField, self.fields["responsible_member"]
            ).queryset = NetworkMember.objects.filter(case=case, removed_at__isnull=True)


class PlanActionViewSet(
    PlanScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The plan's actions: who does what by when. Whoever may write the plan adds and updates
    them; an action is never deleted (mark it `dropped`)."""

    serializer_class = PlanActionSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["status"]
    audit_resource = "plan-actions"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PlanAction.objects.none()
        case, access = self.plan_case()
        return selectors.plan_action_list(case=case, access=access)

    def shown_categories(self, case, access):
        categories, sources = super().shown_categories(case, access)
        if policy.shows_protected(access) and any(a.protected for a in self.shown_objects()):
            categories = categories | {PROTECTED}
        return categories, sources

    @extend_schema(request=PlanActionWriteSerializer, responses={201: PlanActionSerializer})
    def create(self, request, case_pk=None):
        case, access = self.plan_case()
        self.case_and_access(need=Need.CHANGE)
        data = PlanActionWriteSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        action = services.plan_action_create(
            actor=request.user, case=case, access=access, **data.validated_data
        )
        return Response(
            PlanActionSerializer(self.get_queryset().get(pk=action.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=PlanActionWriteSerializer(partial=True), responses=PlanActionSerializer)
    def partial_update(self, request, case_pk=None, pk=None):
        case, access = self.plan_case()
        action = self.get_object()
        self.case_and_access(need=Need.CHANGE)
        data = PlanActionWriteSerializer(data=request.data, case=case, partial=True)
        data.is_valid(raise_exception=True)
        fields = {
            name: data.validated_data[name]
            for name in data.initial_data
            if name in data.validated_data
        }
        services.plan_action_update(actor=request.user, action=action, data=fields, access=access)
        return Response(PlanActionSerializer(self.get_queryset().get(pk=action.pk)).data)
