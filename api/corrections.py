"""API of correction requests (GDPR Art. 16): the family asks to correct one item of its data,
the responsible worker answers (corrected, or refused with a reason the family sees)."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.serializers import InputSerializer
from api.views import UUID_REGEX, CaseScopedMixin
from cases import selectors, services
from cases.models import CorrectionRequest, User
from consent.policy import Need


class CorrectionSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    item_id = serializers.UUIDField(read_only=True, allow_null=True)
    requested_by = serializers.UUIDField(source="requested_by_id", read_only=True)
    answered_by = serializers.UUIDField(source="answered_by_id", read_only=True, allow_null=True)

    class Meta:
        model = CorrectionRequest
        fields = [
            "id",
            "case",
            "item_kind",
            "item_id",
            "category",
            "what_is_wrong",
            "should_say",
            "requested_by",
            "created_at",
            "status",
            "answer",
            "answered_by",
            "answered_at",
        ]
        read_only_fields = fields


class CorrectionCreateSerializer(InputSerializer):
    item_kind = serializers.ChoiceField(choices=CorrectionRequest.Item.choices)
    item_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text=_("The family member, plan action or note; none for the plan."),
    )
    what_is_wrong = serializers.CharField(max_length=services.CORRECTION_TEXT_LIMIT)
    should_say = serializers.CharField(max_length=services.CORRECTION_TEXT_LIMIT)


class CorrectionAnswerSerializer(InputSerializer):
    outcome = serializers.ChoiceField(
        choices=[
            (CorrectionRequest.Status.CORRECTED, CorrectionRequest.Status.CORRECTED.label),
            (CorrectionRequest.Status.REFUSED, CorrectionRequest.Status.REFUSED.label),
        ]
    )
    answer = serializers.CharField(
        max_length=services.CORRECTION_TEXT_LIMIT,
        help_text=_("The correction made (or how it was made), or why it is refused."),
    )


class CorrectionViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """A case's correction requests: the family files them, the responsible worker answers."""

    serializer_class = CorrectionSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "corrections"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CorrectionRequest.objects.none()
        case, access = self.case_and_access()
        return selectors.correction_list(case=case, access=access)

    def shown_categories(self, case, access):
        shown = self.shown_objects()
        return {c.category for c in shown}, ({case.responsible_organisation_id} if shown else set())

    @extend_schema(request=CorrectionCreateSerializer, responses={201: CorrectionSerializer})
    def create(self, request, case_pk=None):
        """Ask for a correction (a guardian of the family; anyone else gets 404)."""
        case, access = self.case_and_access(need=Need.FAMILY)
        data = CorrectionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        correction = services.correction_request_create(
            actor=cast(User, request.user), case=case, access=access, **data.validated_data
        )
        return Response(CorrectionSerializer(correction).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CorrectionAnswerSerializer, responses=CorrectionSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request, case_pk=None, pk=None):
        """Answer a request (the responsible worker): corrected, or refused with the reason."""
        correction = self.get_object()
        self.case_and_access(need=Need.MANAGE)
        data = CorrectionAnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        correction = services.correction_answer(
            actor=cast(User, request.user), correction=correction, **data.validated_data
        )
        return Response(CorrectionSerializer(correction).data)
