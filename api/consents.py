"""API of consents: requests by the responsible worker, decisions by the family, receipts."""

import json
from typing import cast

import django_filters
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail, NotFound
from rest_framework.permissions import AllowAny
from rest_framework.relations import RelatedField
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.audit import AuditedMixin, Shown
from api.serializers import InputSerializer, OrganisationRefSerializer, UserRefSerializer
from api.views import UUID_REGEX, CaseScopedMixin
from cases.models import FamilyMember, Organisation, User
from consent import policy, receipts, selectors, services
from consent.models import Consent, ConsentEvent
from consent.policy import Need
from koordinointi.vocabulary import Category, Sector


def family_members(consent):
    """Members of the consent's own family: another family's member is as unknown as none."""
    return FamilyMember.objects.filter(family_id=consent.case.family_id)


class ConsentEventSerializer(serializers.ModelSerializer):
    grantor = serializers.UUIDField(source="grantor_id", read_only=True, allow_null=True)
    subject = serializers.UUIDField(source="subject_id", read_only=True, allow_null=True)
    actor = serializers.UUIDField(source="actor_id", read_only=True, allow_null=True)

    class Meta:
        model = ConsentEvent
        fields = ["id", "kind", "channel", "grantor", "subject", "actor", "statement", "created_at"]


class ConsentSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    recipients = OrganisationRefSerializer(many=True, read_only=True)
    requested_by = UserRefSerializer(read_only=True)
    state = serializers.ChoiceField(
        choices=Consent.State.choices,
        source="effective_state",
        read_only=True,
        help_text=_("As of now: a consent past its end date is expired."),
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), read_only=True
    )
    events = ConsentEventSerializer(many=True, read_only=True)

    class Meta:
        model = Consent
        fields = [
            "id",
            "case",
            "state",
            "recipients",
            "categories",
            "purpose_code",
            "purpose",
            "message",
            "notice_version",
            "notice_text",
            "valid_from",
            "valid_until",
            "requested_by",
            "requested_at",
            "events",
            "sector",
        ]


class ConsentRequestSerializer(InputSerializer):
    recipients = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        many=True,
        required=False,
        default=list,
        help_text=_("The organisations asked for; may be left empty for a sector-wide consent."),
    )
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=Category.choices), allow_empty=False, max_length=10
    )
    purpose_code = serializers.SlugField(max_length=50)
    purpose = serializers.CharField(max_length=2000)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    valid_from = serializers.DateTimeField(required=False, default=None)
    valid_until = serializers.DateTimeField()
    sector = serializers.ChoiceField(
        choices=Sector.choices,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "A sector-wide consent (issue 16): every organisation of the sector in the family's "
            "area, named as recipients when asked."
        ),
    )

    RECIPIENTS_NEEDED = _("Name at least one recipient organisation, or a sector.")

    def _without_recipients(self, data) -> bool:
        return isinstance(data, dict) and not data.get("recipients") and not data.get("sector")

    def to_internal_value(self, data):
        # Recipients or a sector: reported beside the other fields' errors, not after them.
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if self._without_recipients(data) and isinstance(error.detail, dict):
                error.detail.setdefault("recipients", [ErrorDetail(str(self.RECIPIENTS_NEEDED))])
            raise
        if self._without_recipients(data):
            raise serializers.ValidationError({"recipients": [self.RECIPIENTS_NEEDED]})
        return value


class DecisionSerializer(InputSerializer):
    channel = serializers.ChoiceField(
        choices=ConsentEvent.Channel.choices,
        default=ConsentEvent.Channel.API,
        help_text=_(
            "A guardian: 'api' or 'portal'. A worker recording it: 'on_behalf' or 'paper'."
        ),
    )
    grantor = serializers.PrimaryKeyRelatedField(
        queryset=FamilyMember.objects.all(),
        required=False,
        default=None,
        help_text=_("The guardian whose decision a worker records."),
    )


class ChildViewSerializer(InputSerializer):
    child = serializers.PrimaryKeyRelatedField(queryset=FamilyMember.objects.all())
    statement = serializers.CharField(max_length=4000)
    refuse_own_notes = serializers.BooleanField(default=False)


class ReceiptSerializer(serializers.Serializer):
    event = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=ConsentEvent.Kind.choices)
    created_at = serializers.DateTimeField()
    receipt = serializers.CharField(help_text=_("Compact JWS, Ed25519 (EdDSA)."))


class JWSRenderer(BaseRenderer):
    """`Accept: application/jose` or `?format=jws`: the bare compact JWS (RFC 7515 section 9);
    errors still come as JSON text."""

    media_type = "application/jose"
    format = "jws"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else json.dumps(data, default=str)


class CaseConsentViewSet(CaseScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Consent requests of one case, made by the responsible worker."""

    serializer_class = ConsentSerializer
    audit_resource = "consents"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Consent.objects.none()
        case, access = self.case_and_access()
        self.case_and_access(need=Need.MANAGE)
        return selectors.case_consent_list(case=case)

    @extend_schema(request=ConsentRequestSerializer, responses={201: ConsentSerializer})
    def create(self, request, case_pk=None):
        """Ask the family for consent; it is pending until a guardian answers."""
        case, access = self.case_and_access()
        self.case_and_access(need=Need.MANAGE)
        data = ConsentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consent = services.consent_request(actor=request.user, case=case, **data.validated_data)
        consent = selectors.consent_get(user=request.user, consent_id=consent.pk)
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case")  # unseen and missing cases look alike

    class Meta:
        model = Consent
        fields = ["case", "state"]


class ConsentViewSet(
    AuditedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Consents: a guardian sees their family's, a responsible worker their cases'."""

    serializer_class = ConsentSerializer
    filterset_class = ConsentFilter
    lookup_value_regex = UUID_REGEX
    audit_resource = "consents"
    audit_case_kwarg = None  # the URL names a consent; a refused attempt is logged without case

    def audit_shown(self):
        consents = self.shown_objects()
        cases = {consent.case_id: consent.case for consent in consents}
        accesses = policy.access_for(self.request.user, cases.values())
        return [Shown(case, accesses[case_id]) for case_id, case in cases.items()]

    def get_queryset(self):
        return selectors.consent_list(user=cast(User, self.request.user))

    def get_object(self):
        return selectors.consent_get(
            user=cast(User, self.request.user), consent_id=self.kwargs["pk"]
        )

    def _decide(self, request, decision):
        consent = self.get_object()
        data = DecisionSerializer(data=request.data)
        cast(RelatedField, data.fields["grantor"]).queryset = family_members(consent)
        data.is_valid(raise_exception=True)
        event = services.consent_decide(
            actor=request.user, consent=consent, decision=decision, **data.validated_data
        )
        return Response(ConsentSerializer(selectors.consent_decided(consent, event)).data)

    @extend_schema(request=DecisionSerializer, responses=ConsentSerializer)
    @action(detail=True, methods=["post"])
    def grant(self, request, pk=None):
        """Give the consent (a guardian; both guardians where joint custody requires it)."""
        return self._decide(request, ConsentEvent.Kind.GRANTED)

    @extend_schema(request=DecisionSerializer, responses=ConsentSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        return self._decide(request, ConsentEvent.Kind.REFUSED)

    @extend_schema(request=DecisionSerializer, responses=ConsentSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Withdraw a consent in force; it stops granting anything on the very next request."""
        return self._decide(request, ConsentEvent.Kind.REVOKED)

    @extend_schema(request=ChildViewSerializer, responses=ConsentSerializer)
    @action(detail=True, methods=["post"], url_path="child-view")
    def child_view(self, request, pk=None):
        """Record a child's view (12+), or a 15+ child's refusal to share notes about them."""
        consent = self.get_object()
        data = ChildViewSerializer(data=request.data)
        cast(RelatedField, data.fields["child"]).queryset = family_members(consent)
        data.is_valid(raise_exception=True)
        event = services.consent_child_view(
            actor=request.user, consent=consent, **data.validated_data
        )
        return Response(ConsentSerializer(selectors.consent_decided(consent, event)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "event", str, description="Id of a decision event; the latest by default"
            )
        ],
        responses={
            (200, "application/json"): ReceiptSerializer,
            (200, "application/jose"): OpenApiTypes.STR,
        },
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, JWSRenderer])
    def receipt(self, request, pk=None):
        """The signed receipt of a decision on this consent: JSON with the compact JWS in
        `receipt`, or with `Accept: application/jose` (or `?format=jws`) the bare JWS as a
        `.jws` download, which `manage.py verify_receipt` checks offline."""
        consent = self.get_object()
        signed = [event for event in consent.events.all() if event.receipt]
        wanted = request.query_params.get("event")
        if wanted:
            signed = [event for event in signed if str(event.id) == wanted]
        if not signed:
            raise NotFound(_("There is no signed decision on this consent yet."))
        event = signed[-1]
        if request.accepted_renderer.format == JWSRenderer.format:
            response = HttpResponse(event.receipt, content_type=JWSRenderer.media_type)
            response["Content-Disposition"] = (
                f'attachment; filename="consent-receipt-{str(event.pk)[:8]}.jws"'
            )
            return response
        return Response(
            {
                "event": event.id,
                "kind": event.kind,
                "created_at": event.created_at,
                "receipt": event.receipt,
            }
        )


class PublicKeySerializer(serializers.Serializer):
    """One Ed25519 public key as a JWK (RFC 8037)."""

    kty = serializers.ChoiceField(choices=["OKP"])
    crv = serializers.ChoiceField(choices=["Ed25519"])
    x = serializers.CharField(help_text=_("The public key, base64url without padding."))
    kid = serializers.CharField(help_text=_("Key id: the `kid` in a receipt's header."))
    use = serializers.ChoiceField(choices=["sig"])
    alg = serializers.ChoiceField(choices=["EdDSA"])


class PublicKeyView(APIView):
    """The public keys that verify consent receipts (JWK set)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: a stale token in the request changes nothing

    @extend_schema(
        responses=inline_serializer("ConsentPublicKeys", {"keys": PublicKeySerializer(many=True)}),
        auth=[],
    )
    def get(self, request):
        return Response(receipts.public_key_document())
