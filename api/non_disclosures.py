"""Non-disclosure markings (turvakielto) of a case's family members: that one exists is shown to
whoever sees the case; the responsible worker marks, names who may see, and lifts."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.relations import ManyRelatedField, RelatedField
from rest_framework.response import Response

from api import serializers as s
from api.views import CaseScopedMixin
from cases import selectors, services
from cases.models import FamilyMember, NetworkMember, NonDisclosure
from consent import policy
from consent.policy import Need


class NonDisclosureSerializer(serializers.ModelSerializer):
    member = serializers.UUIDField(source="member_id", read_only=True)
    marked_by = s.UserRefSerializer(read_only=True)
    lifted_by = s.UserRefSerializer(read_only=True, allow_null=True)
    readers = serializers.SerializerMethodField(
        help_text=_(
            "The network members named to see the protected data (ids); shown only to those "
            "who may see it."
        )
    )

    class Meta:
        model = NonDisclosure
        fields = ["id", "member", "marked_at", "marked_by", "lifted_at", "lifted_by", "readers"]

    def get_readers(self, marking) -> list[str]:
        if not policy.may_see_protected(self.context["case_access"]):
            return []
        return sorted(str(reader.pk) for reader in marking.readers.all())


class NonDisclosureMarkSerializer(s.InputSerializer):
    member = serializers.PrimaryKeyRelatedField(queryset=FamilyMember.objects.none())
    readers = serializers.PrimaryKeyRelatedField(
        queryset=NetworkMember.objects.none(),
        many=True,
        required=False,
        default=list,
        help_text=_("Network members (professionals) who may see the protected data."),
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            cast(RelatedField, self.fields["member"]).queryset = FamilyMember.objects.filter(
                family_id=case.family_id
            )
            readers = cast(ManyRelatedField, self.fields["readers"]).child_relation
            readers.queryset = NetworkMember.objects.filter(case=case)


class NonDisclosureLiftSerializer(s.InputSerializer):
    member = serializers.PrimaryKeyRelatedField(queryset=FamilyMember.objects.none())

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            cast(RelatedField, self.fields["member"]).queryset = FamilyMember.objects.filter(
                family_id=case.family_id
            )


class NonDisclosureViewSet(CaseScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Non-disclosure markings of the family's members. Under one, where the family is (its
    municipality, its members' addresses, contact details, schools and day cares) and text
    flagged as protected show only to the responsible worker and the members they name."""

    serializer_class = NonDisclosureSerializer
    pagination_class = None
    audit_resource = "non-disclosures"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NonDisclosure.objects.none()
        case, _access = self.case_and_access()
        return selectors.non_disclosure_list(case=case)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "_case_and_access"):
            context["case_access"] = self._case_and_access[1]
        return context

    def _marking(self, marking, code=status.HTTP_200_OK):
        return Response(
            self.get_serializer(self.get_queryset().get(pk=marking.pk)).data, status=code
        )

    @extend_schema(
        request=NonDisclosureMarkSerializer,
        responses={200: NonDisclosureSerializer, 201: NonDisclosureSerializer},
    )
    def create(self, request, case_pk=None):
        """Mark a family member under non-disclosure (201), or change whom the marking in
        force names (200). The responsible worker only."""
        case, access = self.case_and_access(need=Need.MANAGE)  # the responsible worker's
        data = NonDisclosureMarkSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        marking, created = services.non_disclosure_mark(
            actor=request.user, case=case, access=access, **data.validated_data
        )
        return self._marking(marking, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=NonDisclosureLiftSerializer, responses=NonDisclosureSerializer)
    @action(detail=False, methods=["post"])
    def lift(self, request, case_pk=None):
        """Lift a member's marking in force. The responsible worker only."""
        case, access = self.case_and_access(need=Need.MANAGE)  # the responsible worker's
        data = NonDisclosureLiftSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        marking = services.non_disclosure_lift(
            actor=request.user, case=case, access=access, **data.validated_data
        )
        return self._marking(marking)
