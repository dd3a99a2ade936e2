"""Network meetings of a case (data category `plan`), and each as an iCalendar file."""

import json
from typing import cast

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.relations import ManyRelatedField
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from api import serializers as s
from api.views import UUID_REGEX, PlanScopedMixin
from cases import calendar, selectors, services
from cases.models import FamilyMember, Meeting, NetworkMember
from consent.policy import Need
from koordinointi.vocabulary import Category


class MeetingSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", read_only=True)
    organiser = s.UserRefSerializer(read_only=True)
    members: serializers.PrimaryKeyRelatedField[NetworkMember] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    family_members: serializers.PrimaryKeyRelatedField[FamilyMember] = (
        serializers.PrimaryKeyRelatedField(
            many=True,
            read_only=True,
            help_text=_("Family members taking part (ids: their names are basic data)."),
        )
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
            members = cast(ManyRelatedField, self.fields["members"]).child_relation
            members.queryset = NetworkMember.objects.filter(case=case, removed_at__isnull=True)
            family = cast(ManyRelatedField, self.fields["family_members"]).child_relation
            family.queryset = FamilyMember.objects.filter(family_id=case.family_id)


@extend_schema_serializer(component_name="Meeting")
class MeetingUpdateSerializer(MeetingWriteSerializer):
    status = serializers.ChoiceField(choices=Meeting.Status.choices, required=False)


class MinutesSerializer(s.InputSerializer):
    category = serializers.ChoiceField(
        choices=Category.choices, help_text=_("The data category the minutes are stored in.")
    )
    text = serializers.CharField(max_length=20000)


class ICalendarRenderer(BaseRenderer):
    """Lets a client ask for text/calendar; errors still come as JSON text."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else json.dumps(data)


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
        self.case_and_access(need=Need.MANAGE)
        data = MeetingWriteSerializer(data=request.data, case=case)
        data.is_valid(raise_exception=True)
        meeting = services.meeting_create(actor=request.user, case=case, **data.validated_data)
        return Response(self._fresh(meeting.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=MeetingUpdateSerializer(partial=True), responses=MeetingSerializer)
    def partial_update(self, request, case_pk=None, pk=None):
        """Reschedule, change or cancel (`status: cancelled`) a meeting."""
        case, access = self.plan_case()
        meeting = self.get_object()
        self.case_and_access(need=Need.MANAGE)
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
        self.case_and_access(need=Need.MANAGE)
        data = MinutesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.meeting_minutes_record(
            actor=request.user, meeting=meeting, access=access, **data.validated_data
        )
        return Response(self._fresh(meeting.pk))

    @extend_schema(
        responses={(200, "text/calendar"): OpenApiTypes.STR},
        description=(
            "The meeting as an iCalendar file (METHOD:PUBLISH: title, time, place, links and "
            "the organiser; no attendees, no agenda)."
        ),
        # Always iCalendar (errors in JSON to a client that asks for it): no `format` to choose.
        parameters=[OpenApiParameter("format", exclude=True)],
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ICalendarRenderer])
    def ics(self, request, case_pk=None, pk=None):
        meeting = self.get_object()
        response = HttpResponse(
            calendar.meeting_calendar(meeting), content_type="text/calendar; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="meeting-{meeting.pk}.ics"'
        return response
