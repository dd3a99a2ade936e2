"""Legal bases of a case (issue 16): statutory reasons that allow a disclosure to an
organisation without consent. The responsible worker records and ends them; the family, and
the members who read under one, list them; the auditors review those withheld from families."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.audit_views import DENIED, AuditorMixin
from api.serializers import InputSerializer, OrganisationRefSerializer, UserRefSerializer
from api.views import UUID_REGEX, CaseScopedMixin
from cases.models import Organisation, User
from consent import legal_bases, policy
from consent import selectors as consent_selectors
from consent.models import LegalBasis
from consent.policy import Need
from koordinointi.vocabulary import Category, StatutoryBasis


class LegalBasisSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), read_only=True
    )
    basis_label = serializers.CharField(source="get_basis_display", read_only=True)
    statute = serializers.CharField(read_only=True, help_text=_("The statute reference."))
    recorded_by = UserRefSerializer(read_only=True)
    ended_by = UserRefSerializer(read_only=True, allow_null=True)
    in_force = serializers.SerializerMethodField()
    withheld_reason = serializers.SerializerMethodField(
        help_text=_("Why the family is not told; shown to the responsible worker only.")
    )

    class Meta:
        model = LegalBasis
        fields = [
            "id",
            "case",
            "organisation",
            "categories",
            "basis",
            "basis_label",
            "statute",
            "reason",
            "valid_from",
            "valid_until",
            "recorded_by",
            "recorded_at",
            "ended_at",
            "ended_by",
            "in_force",
            "withheld_from_family",
            "withheld_reason",
        ]
        read_only_fields = fields

    def get_in_force(self, basis) -> bool:
        return basis.is_in_force()

    def get_withheld_reason(self, basis) -> str:
        access = self.context.get("case_access")
        if access is None or not policy.shows_why_withheld(access):
            return ""
        return basis.withheld_reason


class LegalBasisRecordSerializer(InputSerializer):
    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), allow_empty=False, max_length=10
    )
    basis = serializers.ChoiceField(choices=StatutoryBasis.choices)
    reason = serializers.CharField(max_length=4000)
    valid_from = serializers.DateTimeField(required=False, default=None)
    valid_until = serializers.DateTimeField()
    withheld_from_family = serializers.BooleanField(
        default=False,
        help_text=_("Telling the family now would endanger the child (say why)."),
    )
    withheld_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=4000
    )


class LegalBasisViewSet(CaseScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Legal bases of the case: disclosures that a law allows without consent. The responsible
    worker sees every one; the family those not withheld from it; a network member those in
    force for their organisation."""

    serializer_class = LegalBasisSerializer
    audit_resource = "legal-bases"
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LegalBasis.objects.none()
        case, access = self.case_and_access()
        return consent_selectors.legal_basis_list(case=case, access=access)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "_case_and_access"):
            context["case_access"] = self._case_and_access[1]
        return context

    def _shown(self, basis, code=status.HTTP_200_OK):
        return Response(self.get_serializer(self.get_queryset().get(pk=basis.pk)).data, status=code)

    @extend_schema(request=LegalBasisRecordSerializer, responses={201: LegalBasisSerializer})
    def create(self, request, case_pk=None):
        """Record a legal basis (the responsible worker only): the organisation reads the named
        categories from the very next request, as under a consent, until it ends."""
        case, access = self.case_and_access(need=Need.MANAGE)
        data = LegalBasisRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        basis = legal_bases.legal_basis_record(
            actor=cast(User, request.user), case=case, access=access, **data.validated_data
        )
        return self._shown(basis, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=LegalBasisSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, case_pk=None, pk=None):
        """End a legal basis now (the responsible worker only): it allows nothing from the very
        next request."""
        case, access = self.case_and_access(need=Need.MANAGE)
        basis = consent_selectors.legal_basis_get(case=case, access=access, basis_id=pk)
        basis = legal_bases.legal_basis_end(
            actor=cast(User, request.user), case=case, access=access, legal_basis=basis
        )
        return self._shown(basis)


class WithheldLegalBasisSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), read_only=True
    )
    statute = serializers.CharField(read_only=True)
    recorded_by = UserRefSerializer(read_only=True)

    class Meta:
        model = LegalBasis
        fields = [
            "id",
            "case",
            "organisation",
            "categories",
            "basis",
            "statute",
            "valid_from",
            "valid_until",
            "recorded_by",
            "recorded_at",
            "ended_at",
            "withheld_reason",
        ]
        read_only_fields = fields


@extend_schema(responses={200: WithheldLegalBasisSerializer(many=True), **DENIED})
class WithheldLegalBasisListView(AuditorMixin, generics.ListAPIView):
    """Legal bases withheld from the family within your organisations, with the worker's
    reason, newest first, for review (auditors only)."""

    serializer_class = WithheldLegalBasisSerializer
    filterset_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LegalBasis.objects.none()
        return consent_selectors.legal_bases_withheld(
            user=self.request.user, organisations=self.organisations
        )
