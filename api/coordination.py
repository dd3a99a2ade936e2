"""API of coordination work: the plan's actions, network meetings, referrals, "my work", and the
coordinators' reassignment queue, responsibility report and service catalogue.

Case-scoped views fetch the case and the user's access once (`CaseScopedMixin`) and are
access-logged; the plan's actions, meetings and referrals are data category `plan`, so that a
member without it gets 404, as for the plan itself.
"""

import datetime
import json

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.views import UUID_REGEX, CaseScopedMixin, ServiceFilter
from cases import selectors, services
from cases.models import (
    Case,
    FamilyMember,
    Meeting,
    Municipality,
    NetworkMember,
    Organisation,
    PlanAction,
    Referral,
    Service,
    ServiceLanguage,
    User,
)
from consent import policy
from consent.categories import Category

# --- Serializers -------------------------------------------------------------------------------


class ServiceRefSerializer(serializers.ModelSerializer):
    organisation = s.OrganisationRefSerializer(read_only=True)

    class Meta:
        model = Service
        fields = ["id", "name_fi", "name_sv", "name_en", "organisation"]


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

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            self.fields["responsible_member"].queryset = NetworkMember.objects.filter(
                case=case, removed_at__isnull=True
            )


class MeetingSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    organiser = s.UserRefSerializer(read_only=True)
    members = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    family_members = serializers.PrimaryKeyRelatedField(
        many=True,
        read_only=True,
        help_text=_("Family members taking part (ids: their names are basic data)."),
    )
    minutes = serializers.SerializerMethodField(
        help_text=_("The note holding the minutes, if you may read its category.")
    )

    class Meta:
        model = Meeting
        fields = [
            "id",
            "case",
            "title",
            "starts_at",
            "ends_at",
            "place",
            "video_link",
            "agenda",
            "status",
            "organiser",
            "members",
            "family_members",
            "minutes",
            "sequence",
            "created_at",
        ]

    def get_minutes(self, meeting) -> str | None:
        readable = self.context.get("readable_notes", set())
        return str(meeting.minutes_id) if meeting.minutes_id in readable else None


@extend_schema_serializer(component_name="Meeting")
class MeetingWriteSerializer(s.InputSerializer):
    title = serializers.CharField(max_length=200)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    place = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    video_link = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    agenda = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=NetworkMember.objects.none(), required=False, default=list
    )
    family_members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=FamilyMember.objects.none(), required=False, default=list
    )

    def __init__(self, *args, case=None, **kwargs):
        super().__init__(*args, **kwargs)
        if case is not None:
            self.fields["members"].child_relation.queryset = NetworkMember.objects.filter(
                case=case, removed_at__isnull=True
            )
            self.fields["family_members"].child_relation.queryset = FamilyMember.objects.filter(
                family_id=case.family_id
            )


@extend_schema_serializer(component_name="Meeting")
class MeetingUpdateSerializer(MeetingWriteSerializer):
    status = serializers.ChoiceField(choices=Meeting.Status.choices, required=False)


class MinutesSerializer(s.InputSerializer):
    category = serializers.ChoiceField(
        choices=Category.choices, help_text=_("The data category the minutes are stored in.")
    )
    text = serializers.CharField(max_length=20000)


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


class ReferralFamilyMemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = FamilyMember
        fields = ["id", "role", "first_name", "last_name", "birth_date"]


class ReferralFamilySerializer(serializers.Serializer):
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
            self.fields["worker"].queryset = User.objects.filter(
                is_active=True,
                memberships__organisation=organisation,
                memberships__role="worker",
                memberships__is_active=True,
            ).distinct()


class ReferralDeclineSerializer(s.InputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ConsentRequestBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    case = serializers.UUIDField(source="case_id")
    categories = serializers.ListField(child=serializers.CharField())
    recipients = serializers.SerializerMethodField()
    requested_at = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()

    def get_recipients(self, consent) -> list[dict]:
        organisations = self.context["consent_recipients"].get(consent.pk, [])
        return s.OrganisationRefSerializer(organisations, many=True).data


class MyWorkSerializer(serializers.Serializer):
    responsible_cases = s.CaseSerializer(many=True)
    member_cases = s.CaseSerializer(many=True)
    invitations = s.InvitationSerializer(many=True)
    handovers = s.HandoverSerializer(many=True, help_text=_("Handovers waiting for your answer."))
    actions_overdue = PlanActionSerializer(many=True)
    actions_due_soon = PlanActionSerializer(many=True)
    consent_requests = ConsentRequestBriefSerializer(
        many=True, help_text=_("Consents you asked for that the family has not answered yet.")
    )


class WorkerStateSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "is_active"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class ReassignmentEntrySerializer(serializers.ModelSerializer):
    responsible_worker = WorkerStateSerializer(read_only=True)
    responsible_organisation = s.OrganisationRefSerializer(read_only=True)
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
        return "account_inactive" if not case.responsible_worker.is_active else "membership_ended"

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


class ResponsibilityReportSerializer(serializers.Serializer):
    open_cases = serializers.IntegerField()
    without_responsible_worker = serializers.IntegerField(
        help_text=_("Open cases without a responsible worker: always 0.")
    )
    waiting_for_reassignment = serializers.IntegerField(
        help_text=_("Open cases whose responsible worker has left; they stay theirs meanwhile.")
    )
    reassignment_proposed = serializers.IntegerField()
    generated_at = serializers.DateTimeField()


class LanguageListField(serializers.ListField):
    """Languages in, as codes; a service's `ServiceLanguage` rows out, as codes."""

    child = serializers.ChoiceField(choices=ServiceLanguage.Language.choices)

    def to_representation(self, data):
        return [row.language for row in data.all()]


class CatalogueServiceSerializer(s.RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A catalogue entry as coordinators keep it."""

    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    municipalities = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Municipality.objects.all(), required=False
    )
    languages = LanguageListField(required=False, max_length=len(ServiceLanguage.Language.choices))

    class Meta:
        model = Service
        fields = [
            "id",
            "organisation",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "category",
            "min_age",
            "max_age",
            "municipalities",
            "languages",
            "contact",
            "low_threshold",
            "is_active",
        ]
        extra_kwargs = {"description": {"max_length": 20000}}

    def validate(self, data):
        instance = self.instance
        low = data.get("min_age", instance.min_age if instance else 0)
        high = data.get("max_age", instance.max_age if instance else 17)
        if low > high:
            raise serializers.ValidationError({"max_age": _("The age range is empty.")})
        return data


# --- Network meetings as iCalendar ------------------------------------------------------------


def _ics_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _ics_fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545, 3.1)."""
    encoded, parts = line.encode(), []
    while len(encoded) > 75:
        cut = 75 if not parts else 74
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:  # never inside a UTF-8 character
            cut -= 1
        parts.append(encoded[:cut].decode())
        encoded = encoded[cut:]
    parts.append(encoded.decode())
    return "\r\n ".join(parts)


def _ics_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(meeting: Meeting) -> str:
    """One meeting as an iCalendar file. Calendars are outside the register: the file carries
    the title, time, place and link, never the agenda, the participants or the family."""
    link = f"{settings.PUBLIC_BASE_URL}/api/v1/cases/{meeting.case_id}/meetings/{meeting.pk}/"
    description = "\n".join(filter(None, [meeting.video_link, link]))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Koordinointi//Network meetings//FI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{meeting.pk}@koordinointi",
        f"DTSTAMP:{_ics_time(timezone.now())}",
        f"DTSTART:{_ics_time(meeting.starts_at)}",
        f"DTEND:{_ics_time(meeting.ends_at)}",
        f"SEQUENCE:{meeting.sequence}",
        "STATUS:" + ("CANCELLED" if meeting.status == Meeting.Status.CANCELLED else "CONFIRMED"),
        f"SUMMARY:{_ics_text(meeting.title)}",
    ]
    if meeting.place:
        lines.append(f"LOCATION:{_ics_text(meeting.place)}")
    if meeting.video_link:
        lines.append(f"URL:{meeting.video_link}")
    lines += [f"DESCRIPTION:{_ics_text(description)}", "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_ics_fold(line) for line in lines) + "\r\n"


class ICalendarRenderer(BaseRenderer):
    """Lets a client ask for text/calendar; errors still come as JSON text."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else json.dumps(data)


# --- Case-scoped views: the plan's actions, meetings, referrals ---------------------------------


class PlanScopedMixin(CaseScopedMixin):
    """Parts of the plan (data category `plan`): 404 for those who may not read it, as for the
    plan itself; the plan is the responsible organisation's record."""

    def plan_case(self):
        case, access = self.case_and_access()
        if not access.can_read(Category.PLAN):
            raise NotFound(_("Not found."))
        return case, access

    def shown_categories(self, case, access):
        return {Category.PLAN}, {case.responsible_organisation_id}


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
        case, _access = self.plan_case()
        return selectors.plan_action_list(case=case)

    @extend_schema(request=PlanActionWriteSerializer, responses={201: PlanActionSerializer})
    def create(self, request, case_pk=None):
        case, access = self.plan_case()
        policy.require(access, "change")
        data = PlanActionWriteSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        action = services.plan_action_create(actor=request.user, case=case, **data.validated_data)
        return Response(
            PlanActionSerializer(self.get_queryset().get(pk=action.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=PlanActionWriteSerializer(partial=True), responses=PlanActionSerializer)
    def partial_update(self, request, case_pk=None, pk=None):
        case, access = self.plan_case()
        action = self.get_object()
        policy.require(access, "change")
        data = PlanActionWriteSerializer(data=request.data, case=case, partial=True)
        data.is_valid(raise_exception=True)
        fields = {
            name: data.validated_data[name]
            for name in data.initial_data
            if name in data.validated_data
        }
        services.plan_action_update(actor=request.user, action=action, data=fields)
        return Response(PlanActionSerializer(self.get_queryset().get(pk=action.pk)).data)


class MeetingViewSet(
    PlanScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Network meetings (verkostopalaveri) of a case, booked by the responsible worker."""

    serializer_class = MeetingSerializer
    lookup_value_regex = UUID_REGEX
    filterset_fields = ["status"]
    audit_resource = "meetings"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Meeting.objects.none()
        case, _access = self.plan_case()
        return selectors.meeting_list(case=case)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "_case_and_access") and hasattr(self, "_minutes"):
            context["readable_notes"] = self._minutes
        return context

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            meetings = list(instance) if kwargs.get("many") else [instance]
            case, access = self.case_and_access()
            self._minutes = selectors.readable_notes(
                case=case, access=access, note_ids=[m.minutes_id for m in meetings]
            )
        return super().get_serializer(instance, *args, **kwargs)

    def _fresh(self, pk):
        return self.get_serializer(self.get_queryset().get(pk=pk)).data

    @extend_schema(request=MeetingWriteSerializer, responses={201: MeetingSerializer})
    def create(self, request, case_pk=None):
        """Book a meeting; give a place, a video link or both."""
        case, access = self.plan_case()
        policy.require(access, "manage")
        data = MeetingWriteSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        meeting = services.meeting_create(actor=request.user, case=case, **data.validated_data)
        return Response(self._fresh(meeting.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=MeetingUpdateSerializer(partial=True), responses=MeetingSerializer)
    def partial_update(self, request, case_pk=None, pk=None):
        """Reschedule, change or cancel (`status: cancelled`) a meeting."""
        case, access = self.plan_case()
        meeting = self.get_object()
        policy.require(access, "manage")
        data = MeetingUpdateSerializer(data=request.data, case=case, partial=True)
        data.is_valid(raise_exception=True)
        fields = {
            name: data.validated_data[name]
            for name in data.initial_data
            if name in data.validated_data
        }
        services.meeting_update(actor=request.user, meeting=meeting, data=fields)
        return Response(self._fresh(meeting.pk))

    @extend_schema(request=MinutesSerializer, responses=MeetingSerializer)
    @action(detail=True, methods=["post"])
    def minutes(self, request, case_pk=None, pk=None):
        """Record the minutes as a note of the case, in the category you choose for them."""
        case, access = self.plan_case()
        meeting = self.get_object()
        policy.require(access, "manage")
        data = MinutesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.meeting_minutes_record(
            actor=request.user, meeting=meeting, access=access, **data.validated_data
        )
        return Response(self._fresh(meeting.pk))

    @extend_schema(
        responses={(200, "text/calendar"): OpenApiTypes.STR},
        description="The meeting as an iCalendar file (title, time, place and link only).",
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ICalendarRenderer])
    def ics(self, request, case_pk=None, pk=None):
        meeting = self.get_object()
        response = HttpResponse(meeting_ics(meeting), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="meeting-{meeting.pk}.ics"'
        return response


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
        policy.require(access, "manage")
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
        policy.require(access, "manage")
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
        policy.require(access, "manage")
        found = selectors.services_for_case(case=case, queryset=selectors.service_catalogue())
        found = ServiceFilter(request.query_params, queryset=found, request=request)
        if not found.is_valid():
            raise serializers.ValidationError(found.errors)
        page = self.paginate_queryset(found.qs)
        return self.get_paginated_response(s.ServiceSerializer(page, many=True).data)


# --- Incoming referrals: the receiving organisation's side --------------------------------------


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
        return selectors.incoming_referral_list(user=self.request.user)

    def get_object(self):
        return selectors.incoming_referral_get(
            user=self.request.user, referral_id=self.kwargs["pk"]
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


# --- My work ------------------------------------------------------------------------------------


class MyWorkView(AuditedMixin, APIView):
    """Everything waiting for you as a worker, in one request: your open cases as responsible
    worker and as member, invitations and handovers waiting for your answer, plan actions due
    within 14 days or overdue, and consent requests still waiting for the family."""

    audit_resource = "my-work"
    audit_case_kwarg = None

    def action_is_list(self):
        return True

    def audit_shown(self):
        work = getattr(self, "_work", None)
        if work is None:
            return []
        with_actions = {a.case_id for a in work.overdue + work.due_soon}
        shown = []
        for case in work.cases:
            access = work.access[case.pk]
            categories, sources = set(), set()
            if access.can_read(Category.BASIC) and access.role != "handover":
                categories.add(Category.BASIC)
                sources.add(case.family.recorded_by_id)
            if case.pk in with_actions:
                categories.add(Category.PLAN)
                sources.add(case.responsible_organisation_id)
            shown.append(Shown(case, access, categories, sources))
        return shown

    @extend_schema(responses=MyWorkSerializer)
    def get(self, request):
        work = self._work = selectors.my_work(user=request.user)
        context = {
            "request": request,
            "access": work.access,
            "consent_recipients": work.consent_recipients,
        }
        body = MyWorkSerializer(
            {
                "responsible_cases": work.cases_as("responsible"),
                "member_cases": work.cases_as("member"),
                "invitations": work.invitations,
                "handovers": work.handovers,
                "actions_overdue": work.overdue,
                "actions_due_soon": work.due_soon,
                "consent_requests": work.consent_requests,
            },
            context=context,
        )
        return Response(body.data)


# --- Coordinators: the reassignment queue, the report, deactivation, the catalogue --------------


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
        cases, self._memberships = selectors.reassignment_list(user=self.request.user)
        return cases

    def get_object(self):
        case, self._coordinator_access = policy.reassignment_case_for_user(
            user=self.request.user,
            case_id=self.kwargs["pk"],
            queryset=selectors.reassignment_list(user=self.request.user)[0],
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


class ResponsibilityReportView(APIView):
    """Coordinators: figures that show every open case in your area has its responsible worker."""

    @extend_schema(responses=ResponsibilityReportSerializer)
    def get(self, request):
        memberships = policy.require_coordinator(request.user)
        report = selectors.responsibility_report(cases=policy.coordinated_cases(memberships))
        return Response(ResponsibilityReportSerializer(report).data)


class WorkerDeactivateView(APIView):
    """Coordinators: close a worker's account. Their open cases wait in the reassignment queue
    and stay theirs until a new responsible worker accepts."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "DeactivatedWorker",
                {
                    "worker": WorkerStateSerializer(),
                    "cases_waiting_for_reassignment": serializers.IntegerField(),
                },
            ),
            404: OpenApiResponse(description="No such worker"),
        },
    )
    def post(self, request, pk=None):
        policy.require_coordinator(request.user)  # before the lookup: 403 whoever is named
        worker = User.objects.filter(pk=pk).first()
        if worker is None:
            raise NotFound(_("Not found."))
        policy.require_may_deactivate(user=request.user, worker=worker)
        worker = services.worker_deactivate(actor=request.user, worker=worker)
        waiting = policy.cases_without_worker_in_post(
            Case.objects.filter(responsible_worker=worker)
        ).count()
        return Response(
            {
                "worker": WorkerStateSerializer(worker).data,
                "cases_waiting_for_reassignment": waiting,
            }
        )


class CatalogueFilter(ServiceFilter):
    class Meta(ServiceFilter.Meta):
        fields = [*ServiceFilter.Meta.fields, "is_active"]


class CatalogueViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Coordinators keep the service catalogue here (and in the admin): inactive services too.
    A service is never deleted (referrals name it): set `is_active` false to take it out."""

    serializer_class = CatalogueServiceSerializer
    filterset_class = CatalogueFilter
    lookup_value_regex = UUID_REGEX

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not policy.may_keep_catalogue(request.user):
            raise PermissionDenied

    def get_queryset(self):
        return (
            Service.objects.select_related("organisation")
            .prefetch_related("municipalities", "languages")
            .order_by("name_fi", "id")
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.service_save(actor=self.request.user, data=data)

    @extend_schema(request=CatalogueServiceSerializer(partial=True))
    def partial_update(self, request, pk=None):
        service = self.get_object()
        data = CatalogueServiceSerializer(service, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        service = services.service_save(
            actor=request.user, service=service, data=dict(data.validated_data)
        )
        return Response(CatalogueServiceSerializer(self.get_queryset().get(pk=service.pk)).data)
