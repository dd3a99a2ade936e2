"""Booking (issue 17): workers publish free times, guardians book, move and cancel them, and both
parties see their bookings, each with an iCalendar file of their own."""

from typing import cast

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.meetings import ICalendarRenderer
from api.views import UUID_REGEX, IsWorker
from cases import booking, booking_calendar, booking_selectors
from cases.models import Booking, BookingSlot, Service, User
from consent import policy


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This time has just been booked by someone else. Choose another time.")
    default_code = "conflict"


TAKEN = OpenApiResponse(description="The time is booked: someone else was first")


class IsFamily(BasePermission):
    """A family's guardian, as the policy says."""

    message = _("Only a family's guardian can book a time.")

    def has_permission(self, request, view):
        return policy.may_book(request.user)


class SlotSerializer(serializers.ModelSerializer):
    worker = s.UserRefSerializer(read_only=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    organisation_name = serializers.CharField(source="organisation.name", read_only=True)
    service = serializers.UUIDField(source="service_id", read_only=True, allow_null=True)
    is_booked = serializers.SerializerMethodField(
        help_text=_("Whether the time is booked (on your own free times; others see free ones).")
    )

    class Meta:
        model = BookingSlot
        fields = [
            "id",
            "worker",
            "organisation",
            "organisation_name",
            "service",
            "starts_at",
            "ends_at",
            "place",
            "video_link",
            "is_booked",
        ]
        read_only_fields = fields

    def get_is_booked(self, slot) -> bool:
        return bool(getattr(slot, "is_booked", False))


class SlotCreateSerializer(s.InputSerializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    place = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    video_link = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    organisation = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The organisation you publish for; needed only if you work for several."),
    )
    service = serializers.PrimaryKeyRelatedField(
        queryset=Service.objects.all(), required=False, allow_null=True, default=None
    )


class BookSerializer(s.InputSerializer):
    case = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Your family's case; needed only if the time fits several of them."),
    )


class MoveSerializer(s.InputSerializer):
    slot = serializers.UUIDField(
        required=False, allow_null=True, help_text=_("The free time to move the booking to.")
    )


class BookingSerializer(serializers.ModelSerializer):
    slot = SlotSerializer(read_only=True)
    case = serializers.UUIDField(source="case_id", read_only=True)
    # Ids only: the booking tells that the family has an appointment, not who they are.
    booked_by = serializers.UUIDField(source="booked_by_id", read_only=True)
    cancelled_by = serializers.UUIDField(source="cancelled_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Booking
        fields = ["id", "slot", "case", "booked_by", "booked_at", "cancelled_at", "cancelled_by"]
        read_only_fields = fields


class SlotViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Free times: a worker's own (published here), or those a guardian may book."""

    serializer_class = SlotSerializer
    lookup_value_regex = UUID_REGEX

    def get_permissions(self):
        # Who may write is refused before the body is read: a 403, not a 400 for the body.
        extra: dict[str, list[BasePermission]] = {
            "create": [IsWorker()],
            "destroy": [IsWorker()],
            "book": [IsFamily()],
        }
        return [IsAuthenticated(), *extra.get(getattr(self, "action", None) or "", [])]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return BookingSlot.objects.none()
        return booking_selectors.slot_list(user=cast(User, self.request.user))

    @extend_schema(request=SlotCreateSerializer, responses={201: SlotSerializer})
    def create(self, request):
        """Publish a free time (a worker, for an organisation they work for)."""
        data = SlotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        slot = booking.slot_publish(
            actor=cast(User, request.user),
            organisation_id=values.pop("organisation"),
            **values,
        )
        fresh = booking_selectors.slot_get(user=cast(User, request.user), slot_id=slot.pk)
        return Response(SlotSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 409: TAKEN})
    def destroy(self, request, pk=None):
        """Withdraw one of your free times that nobody has booked (409 if booked)."""
        slot = self.get_object()
        try:
            booking.slot_withdraw(actor=cast(User, request.user), slot=slot)
        except booking.SlotTaken:
            raise Conflict(_("This time is booked: cancel the booking first.")) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=BookSerializer,
        responses={201: BookingSerializer, 409: TAKEN},
        description="Book a free time (a guardian). 409 if someone else booked it first.",
    )
    @action(detail=True, methods=["post"])
    def book(self, request, pk=None):
        data = BookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            made = booking.booking_create(
                actor=cast(User, request.user), slot_id=pk, case_id=data.validated_data["case"]
            )
        except booking.SlotTaken as taken:
            raise Conflict(str(taken)) from None
        return Response(BookingSerializer(made).data, status=status.HTTP_201_CREATED)


class BookingViewSet(
    AuditedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Bookings: the family's own, and those of your free times on cases you are responsible
    for."""

    serializer_class = BookingSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "bookings"
    audit_case_kwarg = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        return booking_selectors.booking_list(user=cast(User, self.request.user))

    def _readable(self, bookings) -> list:
        self._case_access = booking_selectors.booking_accesses(
            user=cast(User, self.request.user), bookings=bookings
        )
        return [b for b in bookings if b.pk in self._case_access]

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            if kwargs.get("many"):
                instance = self._readable(list(instance))
        return super().get_serializer(instance, *args, **kwargs)

    def get_object(self):
        found, case, access = booking_selectors.booking_get(
            user=cast(User, self.request.user), booking_id=self.kwargs["pk"]
        )
        self._case_access = {found.pk: (case, access)}
        self._shown_objects = [found]
        return found

    def audit_shown(self):
        shown = []
        for obj in self.shown_objects():
            case, access = getattr(self, "_case_access", {}).get(obj.pk, (None, None))
            if case is not None:
                # That the family booked this time: no data category is shown (ids, the
                # worker's time and place), as when a case is seen without its data.
                shown.append(Shown(case, access))
        return shown

    @extend_schema(request=None, responses=BookingSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a booking (the family, or the worker whose time it is): the time is free again."""
        cancelled = booking.booking_cancel(actor=cast(User, request.user), booking_id=pk)
        self._shown_objects = []
        return Response(BookingSerializer(cancelled).data)

    @extend_schema(request=MoveSerializer, responses={200: BookingSerializer, 409: TAKEN})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move a booking to another free time (the family): both change, or neither."""
        data = MoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            moved = booking.booking_move(
                actor=cast(User, request.user),
                booking_id=pk,
                slot_id=data.validated_data.get("slot"),
            )
        except booking.SlotTaken as taken:
            raise Conflict(str(taken)) from None
        return Response(BookingSerializer(moved).data)

    @extend_schema(
        responses={(200, "text/calendar"): OpenApiTypes.STR},
        description=(
            "The booking as an iCalendar file (METHOD:PUBLISH): the family's copy names the "
            "worker and the place; the worker's copy names nobody of the family."
        ),
        parameters=[OpenApiParameter("format", exclude=True)],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="calendar.ics",
        renderer_classes=[JSONRenderer, ICalendarRenderer],
    )
    def calendar(self, request, pk=None):
        found = self.get_object()
        _case, access = self._case_access[found.pk]
        party = booking_selectors.calendar_party(access=access)
        response = HttpResponse(
            booking_calendar.booking_calendar(found, party=party),
            content_type="text/calendar; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="booking-{found.pk}.ics"'
        return response
