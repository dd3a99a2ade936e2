"""Reads of booking (issue 17): free times and bookings, each decided by `consent.policy`."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from cases.models import Booking, BookingSlot, User
from consent import policy

SLOT_RELATED = ("worker", "organisation", "service")
BOOKING_RELATED = (
    "slot__worker",
    "slot__organisation",
    "slot__service",
    "case__responsible_worker",
    "case__responsible_organisation",
    "case__family",
    "booked_by",
)


def slot_list(*, user: User) -> QuerySet[BookingSlot]:
    """A worker's own free times, a guardian's bookable ones; soonest first."""
    return policy.slots_for_user(user).select_related(*SLOT_RELATED).order_by("starts_at", "id")


def slot_get(*, user: User, slot_id) -> BookingSlot:
    """One free time the user sees (their own, or one they may book); 404 for any other."""
    try:
        return slot_list(user=user).get(pk=slot_id)
    except (BookingSlot.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def booking_list(*, user: User) -> QuerySet[Booking]:
    """Bookings the user may be shown (each settled by `booking_accesses`), newest first."""
    return policy.bookings_for_user(user).select_related(*BOOKING_RELATED)


def booking_accesses(*, user: User, bookings) -> dict:
    """{booking id: (case, access)} of those of `bookings` the user may read."""
    return policy.booking_accesses(user, bookings)


def booking_get(*, user: User, booking_id) -> tuple:
    """(booking, case, access) of a booking the user may read; 404 for any other."""
    return policy.booking_for_user(
        user=user,
        booking_id=booking_id,
        queryset=Booking.objects.select_related(*BOOKING_RELATED),
    )


def case_bookings(*, case, access) -> list[Booking]:
    """The active bookings of a case, soonest first (the family's portal page)."""
    policy.check(access, policy.Need.FAMILY)
    return list(
        Booking.objects.filter(case=case, cancelled_at__isnull=True)
        .select_related(*BOOKING_RELATED)
        .order_by("slot__starts_at", "id")
    )


def case_free_slots(*, user: User, case) -> list[BookingSlot]:
    """The free times the family of `case` may book now (the portal's list)."""
    return list(
        policy.bookable_slots(user)
        .filter(
            worker_id=case.responsible_worker_id, organisation_id=case.responsible_organisation_id
        )
        .select_related(*SLOT_RELATED)
        .order_by("starts_at", "id")
    )


def calendar_party(*, access) -> str:
    """Whose copy of a booking's calendar the reader gets: the family's, or the worker's."""
    from cases import booking_calendar

    return (
        booking_calendar.FAMILY
        if policy.has(access, policy.Need.FAMILY)
        else booking_calendar.WORKER
    )


def case_booking(*, user: User, case, booking_id) -> Booking:
    """One booking of `case` that the user may read; 404 for any other (the portal's pages)."""
    found, _case, _access = booking_get(user=user, booking_id=booking_id)
    if found.case_id != case.pk:
        raise Http404
    return found
