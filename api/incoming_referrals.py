"""Incoming referrals: the receiving organisation's side of a referral, accepted or declined."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.relations import RelatedField
from rest_framework.response import Response

from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.serializers import ServiceRefSerializer
from api.views import UUID_REGEX
from cases import selectors, services
from cases.models import PROTECTED_FAMILY_FIELDS, FamilyMember, Referral, User
from consent import policy
from koordinointi.vocabulary import Category


class ReferralFamilyMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = FamilyMember
        fields = ["id", "role", "first_name", "last_name", "birth_date"]


class ReferralFamilySerializer(s.ProtectedFieldsMixin, serializers.Serializer):
    protected_fields = PROTECTED_FAMILY_FIELDS

    id = serializers.UUIDField()
    name = serializers.CharField()
    municipality = s.MunicipalityRefSerializer()
    members = ReferralFamilyMemberSerializer(many=True, source="members.all")


class IncomingReferralSerializer(s.GatedSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    # A plain string here: each choice set may name one component's `status` only (the
    # ReferralSerializer's), or the schema needs an ENUM_NAME_OVERRIDES entry.
    status = serializers.CharField(
        read_only=True, help_text=_("sent, accepted, declined or withdrawn")
    )
    service = ServiceRefSerializer(read_only=True)
    organisation = s.OrganisationRefSerializer(read_only=True)
    referred_by = s.UserRefSerializer(read_only=True)
    referred_by_organisation = s.OrganisationRefSerializer(read_only=True)
    accepted_worker = s.UserRefSerializer(read_only=True, allow_null=True)
    invitation = serializers.UUIDField(source="invitation_id", read_only=True, allow_null=True)
    family = ReferralFamilySerializer(
        source="case.family",
        read_only=True,
        help_text=_("Only where a consent in force names your organisation for `basic`."),
    )
    categories = serializers.SerializerMethodField(
        help_text=_("The data categories of the family that a consent lets you see here.")
    )
    gated_fields = {"family": Category.BASIC, "message": Category.PLAN}

    class Meta:
        model = Referral
        fields = [
            "id",
            "case",
            "service",
            "organisation",
            "status",
            "referred_by",
            "referred_by_organisation",
            "created_at",
            "decided_at",
            "decline_reason",
            "accepted_worker",
            "invitation",
            "categories",
            "family",
            "message",
        ]
        extra_kwargs = {
            "message": {"help_text": _("Only where a consent in force names you for `plan`.")}
        }

    def protect(self, data, *, hide):
        return s.protect_family(data.get("family"), hide=hide)

    def get_categories(self, referral) -> list[str]:
        access = self.context["access"].get(referral.pk)
        return sorted(access.categories) if access else []


class ReferralAcceptSerializer(s.InputSerializer):
    worker = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The worker of your organisation who joins the network; you by default."),
    )
    role = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def __init__(self, *args, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisation is not None:
            cast(RelatedField, self.fields["worker"]).queryset = selectors.workers_of(
                organisation=organisation
            )


class ReferralDeclineSerializer(s.InputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class IncomingReferralViewSet(
    AuditedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Referrals to the organisations you work for. Each names the case and the service; the
    family and the message show only as far as a consent in force names your organisation."""

    serializer_class = IncomingReferralSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["status"]
    audit_resource = "incoming-referrals"
    audit_case_kwarg = None  # the URL names a referral

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return selectors.incoming_referral_list(user=cast(User, self.request.user))

    def get_object(self):
        return selectors.incoming_referral_get(
            user=cast(User, self.request.user), referral_id=self.kwargs["pk"]
        )

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            referrals = list(instance) if kwargs.get("many") else [instance]
            self._access = policy.referral_access(referrals)
            kwargs["context"] = {**self.get_serializer_context(), "access": self._access}
        return super().get_serializer(instance, *args, **kwargs)

    def audit_shown(self):
        shown = []
        for referral in self.shown_objects():
            access = self._access[referral.pk]
            case = referral.case
            sources = set()
            if Category.BASIC in access.categories:
                sources.add(case.family.recorded_by_id)
            if Category.PLAN in access.categories:
                sources.add(case.responsible_organisation_id)
            shown.append(Shown(case, access, access.categories, sources))
        return shown

    def _answered(self, referral):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=ReferralAcceptSerializer, responses=IncomingReferralSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept: the worker you name (you by default) is invited into the family's network,
        and joins when they accept the invitation."""
        referral = self.get_object()
        data = ReferralAcceptSerializer(data=request.data, organisation=referral.organisation)
        data.is_valid(raise_exception=True)
        services.referral_accept(actor=request.user, referral=referral, **data.validated_data)
        return self._answered(referral)

    @extend_schema(request=ReferralDeclineSerializer, responses=IncomingReferralSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        referral = self.get_object()
        data = ReferralDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.referral_decline(actor=request.user, referral=referral, **data.validated_data)
        return self._answered(referral)
