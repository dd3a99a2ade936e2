"""The family's booking pages (issue 17): the responsible worker's free times and the family's
bookings, booking one, its confirmation with the calendar file, moving and cancelling it.
Reads through cases.booking_selectors, writes through cases.booking; every page passes
`portal.access.family_page` and is access-logged."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import booking as booking_services
from cases import booking_calendar, booking_selectors
from portal.access import family_case, family_page, shown
from portal.views import _page

RESOURCE = "bookings"


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


def _act(request, action, *, failed_to: str, **target):
    """Run one write; on a refusal show its message and go back to `failed_to`."""
    try:
        return action()
    except booking_services.SlotTaken as taken:
        messages.error(request, str(taken))
    except ValidationError as error:
        messages.error(request, _errors(error))
    except (Http404, PermissionDenied):
        messages.error(request, _("That time is no longer offered. Choose another time."))
    raise _Back(redirect(failed_to, **target))


class _Back(Exception):
    def __init__(self, response):
        super().__init__()
        self.response = response


@family_page(RESOURCE)
@require_http_methods(["GET", "POST"])
def booking_page(request, case_id):
    """GET: the family's bookings and the free times of its responsible worker; POST: book one."""
    case, access = family_case(user=request.user, case_id=case_id)
    if request.method == "POST":
        try:
            made = _act(
                request,
                lambda: booking_services.booking_create(
                    actor=request.user, slot_id=request.POST.get("slot", ""), case_id=case.pk
                ),
                failed_to="portal:booking",
                case_id=case.pk,
            )
        except _Back as back:
            return back.response
        messages.success(request, _("Your time is booked."))
        return redirect("portal:booking_detail", case_id=case.pk, booking_id=made.pk)
    bookings = booking_selectors.case_bookings(case=case, access=access)
    slots = booking_selectors.case_free_slots(user=request.user, case=case)
    shown(request, case=case, access=access, resource=RESOURCE)
    return _page(
        request,
        "portal/booking.html",
        case=case,
        current="booking",
        bookings=bookings,
        slots=slots,
    )


@family_page(RESOURCE)
@require_GET
def booking_detail(request, case_id, booking_id):
    """The booking's confirmation: when, where, with whom; the calendar file; move or cancel."""
    case, access = family_case(user=request.user, case_id=case_id)
    found = booking_selectors.case_booking(user=request.user, case=case, booking_id=booking_id)
    slots = booking_selectors.case_free_slots(user=request.user, case=case)
    shown(request, case=case, access=access, resource=RESOURCE)
    return _page(
        request,
        "portal/booking_detail.html",
        case=case,
        current="booking",
        booking=found,
        slots=slots if found.cancelled_at is None else [],
    )


@family_page(RESOURCE)
@require_GET
def booking_calendar_file(request, case_id, booking_id):
    """The family's calendar copy of the booking (iCalendar, METHOD:PUBLISH)."""
    case, access = family_case(user=request.user, case_id=case_id)
    found = booking_selectors.case_booking(user=request.user, case=case, booking_id=booking_id)
    shown(request, case=case, access=access, resource=RESOURCE)
    response = HttpResponse(
        booking_calendar.booking_calendar(found, party=booking_calendar.FAMILY),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="booking-{found.pk}.ics"'
    return response


@family_page(RESOURCE)
@require_http_methods(["GET", "POST"])
def booking_cancel(request, case_id, booking_id):
    """GET: are you sure?; POST: cancel the booking (the time is free again)."""
    case, access = family_case(user=request.user, case_id=case_id)
    found = booking_selectors.case_booking(user=request.user, case=case, booking_id=booking_id)
    if request.method == "POST":
        try:
            _act(
                request,
                lambda: booking_services.booking_cancel(actor=request.user, booking_id=found.pk),
                failed_to="portal:booking_detail",
                case_id=case.pk,
                booking_id=found.pk,
            )
        except _Back as back:
            return back.response
        messages.success(request, _("The booking is cancelled."))
        return redirect("portal:booking", case_id=case.pk)
    shown(request, case=case, access=access, resource=RESOURCE)
    return _page(request, "portal/booking_cancel.html", case=case, current="booking", booking=found)


@family_page(RESOURCE)
@require_POST
def booking_move(request, case_id, booking_id):
    """Move the booking to another free time (both change, or neither)."""
    case, _access = family_case(user=request.user, case_id=case_id)
    found = booking_selectors.case_booking(user=request.user, case=case, booking_id=booking_id)
    try:
        moved = _act(
            request,
            lambda: booking_services.booking_move(
                actor=request.user, booking_id=found.pk, slot_id=request.POST.get("slot", "")
            ),
            failed_to="portal:booking_detail",
            case_id=case.pk,
            booking_id=found.pk,
        )
    except _Back as back:
        return back.response
    messages.success(request, _("Your booking is moved."))
    return redirect("portal:booking_detail", case_id=case.pk, booking_id=moved.pk)
