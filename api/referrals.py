"""Referrals of a case to catalogue services (data category `plan`), and the services that fit
the family.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import serializers as s
from api.filters import ServiceFilter
from api.serializers import ServiceRefSerializer
from api.views import UUID_REGEX, PlanScopedMixin
from cases import selectors, services
from cases.models import Referral, Service, ServiceLanguage
from consent import policy
from consent.policy import Need
from koordinointi.vocabulary import Category


class ReferralSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    service = ServiceRefSerializer(read_only=True)
    organisation = s.OrganisationRefSerializer(read_only=True)
    referred_by = s.UserRefSerializer(read_only=True)
    referred_by_organisation = s.OrganisationRefSerializer(read_only=True)
    decided_by = s.UserRefSerializer(read_only=True, allow_null=True)
    accepted_worker = s.UserRefSerializer(read_only=True, allow_null=True)
    invitation = serializers.UUIDField(source="invitation_id", read_only=True, allow_null=True)
    shared_categories = serializers.SerializerMethodField(
        help_text=_(
            "What the receiving organisation sees of the family by a consent in force: "
            "`basic` (the family) and `plan` (the message)."
        )
    )

    class Meta:
        model = Referral
        fields = [
            "id",
            "case",
            "service",
            "organisation",
            "message",
            "status",
            "referred_by",
            "referred_by_organisation",
            "created_at",
            "decided_at",
            "decided_by",
            "decline_reason",
            "accepted_worker",
            "invitation",
            "shared_categories",
        ]

    def get_shared_categories(self, referral) -> list[str]:
        access = self.context.get("referral_access", {}).get(referral.pk)
        return sorted(access.categories) if access else []


class ReferralCreateSerializer(s.InputSerializer):
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.filter(is_active=True))
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=4000,
        help_text=_("Shown to the receiving organisation only with a consent for `plan`."),
    )


class ReferralViewSet(
    PlanScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Referrals (ohjaus) of a case to catalogue services, made by the responsible worker."""

    serializer_class = ReferralSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["status"]
    audit_resource = "referrals"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        case, _access = self.plan_case()
        return selectors.referral_list(case=case)

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            referrals = list(instance) if kwargs.get("many") else [instance]
            if all(isinstance(r, Referral) for r in referrals):
                kwargs["context"] = {
                    **self.get_serializer_context(),
                    "referral_access": policy.referral_access(referrals),
                }
        return super().get_serializer(instance, *args, **kwargs)

    def shown_categories(self, case, access):
        if self.action == "services":  # the family's municipality and children's ages
            return {Category.BASIC}, {case.family.recorded_by_id}
        return super().shown_categories(case, access)

    @extend_schema(request=ReferralCreateSerializer, responses={201: ReferralSerializer})
    def create(self, request, case_pk=None):
        """Refer the family to a service; its organisation sees the referral in its incoming
        list (and is told by e-mail)."""
        case, access = self.plan_case()
        self.case_and_access(need=Need.MANAGE)
        data = ReferralCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = services.referral_create(actor=request.user, case=case, **data.validated_data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=referral.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=ReferralSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, case_pk=None, pk=None):
        _case, access = self.plan_case()
        referral = self.get_object()
        self.case_and_access(need=Need.MANAGE)
        services.referral_withdraw(actor=request.user, referral=referral)
        return Response(self.get_serializer(self.get_queryset().get(pk=referral.pk)).data)

    @extend_schema(
        responses=s.ServiceSerializer(many=True),
        parameters=[
            OpenApiParameter("category", str, enum=Service.Category.values),
            OpenApiParameter("language", str, enum=ServiceLanguage.Language.values),
            OpenApiParameter("low_threshold", bool),
            OpenApiParameter("organisation", OpenApiTypes.UUID),
            OpenApiParameter("q", str, description="Free text"),
        ],
    )
    @action(detail=False, methods=["get"])
    def services(self, request, case_pk=None):
        """Catalogue services for this family: offered in its municipality, to one of its
        children's ages; filter further as the public catalogue (category, language, …)."""
        case, access = self.plan_case()
        self.case_and_access(need=Need.MANAGE)
        found = selectors.services_for_case(case=case, queryset=selectors.service_catalogue())
        found = ServiceFilter(request.query_params, queryset=found, request=request)
        if not found.is_valid():
            raise serializers.ValidationError(found.errors)
        page = self.paginate_queryset(found.qs)
        return self.get_paginated_response(s.ServiceSerializer(page, many=True).data)
