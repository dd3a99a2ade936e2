"""API of a case's network: members, invitations, notes and the shared plan."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.relations import RelatedField
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.views import UUID_REGEX, CaseScopedMixin
from cases import selectors, services
from cases.models import FamilyMember, Invitation, NetworkMember, Note, User
from consent import policy
from consent.policy import Need
from koordinointi.vocabulary import PROTECTED, Category


class NetworkMemberViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The network around a case. The responsible worker adds and removes members."""

    serializer_class = s.NetworkMemberSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "members"

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            case, access = self.case_and_access()
            context.update(access={case.pk: access}, recorded_by=case.responsible_organisation_id)
        return context

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NetworkMember.objects.none()
        case, access = self.case_and_access()
        return selectors.network_list(case=case, access=access)

    @extend_schema(
        request=s.NetworkMemberCreateSerializer, responses={201: s.NetworkMemberSerializer}
    )
    def create(self, request, case_pk=None):
        case, access = self.case_and_access()
        self.case_and_access(need=Need.MANAGE)
        data = s.NetworkMemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if fields["kind"] == NetworkMember.Kind.PROFESSIONAL:
            member = services.network_add_professional(
                actor=request.user,
                case=case,
                user=fields["user"],
                organisation=fields["organisation"],
                role=fields["role"],
            )
        else:
            member = services.network_add_informal(
                actor=request.user,
                case=case,
                name=fields["name"],
                relationship=fields["relationship"],
                contact=fields["contact"],
            )
        return Response(self.get_serializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, case_pk=None, pk=None):
        """Remove a member: their access ends on their very next request."""
        _case, access = self.case_and_access()
        member = self.get_object()
        self.case_and_access(need=Need.MANAGE)
        services.network_remove(actor=request.user, member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseInvitationViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Invitations into a case's network, kept by the responsible worker."""

    serializer_class = s.InvitationSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "invitations"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        case, access = self.case_and_access()
        return selectors.invitation_list(case=case, access=access)

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request, case_pk=None):
        """Invite a worker by account or by e-mail; the link is sent by e-mail."""
        case, access = self.case_and_access()
        self.case_and_access(need=Need.MANAGE)
        data = s.InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            actor=request.user, case=case, **data.validated_data
        )
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, case_pk=None, pk=None):
        invitation = self.get_object()
        invitation = services.invitation_withdraw(actor=request.user, invitation=invitation)
        return Response(s.InvitationSerializer(invitation).data)


class MyInvitationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Invitations waiting for your answer. Accept or decline by the token from the e-mail, or
    by the invitation's id when it names your account."""

    serializer_class = s.InvitationSerializer
    lookup_field = "token"
    lookup_value_regex = r"[A-Za-z0-9_\-]{20,64}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return selectors.my_invitations(user=cast(User, self.request.user))

    def _invitation(self):
        return services.invitation_by_key(
            user=cast(User, self.request.user), key=self.kwargs["token"]
        )

    @extend_schema(request=None, responses=s.NetworkMemberSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, token=None):
        member = services.invitation_accept(actor=request.user, invitation=self._invitation())
        case, access = selectors.case_get(user=cast(User, request.user), case_id=member.case_id)
        context = {"access": {case.pk: access}, "recorded_by": case.responsible_organisation_id}
        return Response(s.NetworkMemberSerializer(member, context=context).data)

    @extend_schema(request=None, responses=s.InvitationSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, token=None):
        invitation = services.invitation_decline(actor=request.user, invitation=self._invitation())
        return Response(s.InvitationSerializer(invitation).data)


class NoteViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Notes of a case: your own organisation's, and those of categories consented to it."""

    serializer_class = s.NoteSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["category"]
    audit_resource = "notes"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Note.objects.none()
        case, access = self.case_and_access()
        return selectors.note_list(case=case, access=access)

    def shown_categories(self, case, access):
        if policy.shows_protected(access) and any(n.protected for n in self.shown_objects()):
            return {PROTECTED}, set()
        return set(), set()

    @extend_schema(request=s.NoteCreateSerializer, responses={201: s.NoteSerializer})
    def create(self, request, case_pk=None):
        """Write a note; it is your organisation's record, shown to others only by consent."""
        case, access = self.case_and_access()
        self.case_and_access(need=Need.CHANGE)
        data = s.NoteCreateSerializer(data=request.data)
        subject_field = cast(RelatedField, data.fields["subject"])
        subject_field.queryset = FamilyMember.objects.filter(family_id=case.family_id)
        data.is_valid(raise_exception=True)
        note = services.note_create(
            actor=request.user, case=case, access=access, **data.validated_data
        )
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class PlanView(CaseScopedMixin, APIView):
    """The shared plan of a case (data category `plan`)."""

    audit_resource = "plan"

    def action_is_list(self):
        return False

    def shown_categories(self, case, access):
        return {Category.PLAN}, {case.responsible_organisation_id}

    def _plan_case(self):
        case, access = self.case_and_access()
        if not access.can_read(Category.PLAN):
            # Answer as if there were nothing here: the category is not named to those without it.
            raise NotFound(_("Not found."))
        return case, access

    @extend_schema(responses=s.PlanSerializer)
    def get(self, request, case_pk=None):
        case, _access = self._plan_case()
        return Response(s.PlanSerializer(selectors.plan_get(case=case)).data)

    @extend_schema(request=s.PlanUpdateSerializer, responses=s.PlanSerializer)
    def patch(self, request, case_pk=None):
        case, access = self._plan_case()
        self.case_and_access(need=Need.CHANGE)
        data = s.PlanUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.plan_update(actor=request.user, case=case, data=data.validated_data)
        return Response(s.PlanSerializer(plan).data)
