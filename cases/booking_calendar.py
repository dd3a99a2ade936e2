"""A booked free time as iCalendar (RFC 5545) through `icalendar`, one copy for each party.

Calendars are outside the register. The family's copy names the worker, their organisation and
the place; the worker's copy says only that a time of theirs is booked, where, and the link to
the booking: never the family, its members, where they live or anything else about them (so a
family under a non-disclosure marking leaks nothing through it). PUBLISH is the file one
downloads; the mails carry REQUEST (to the family, naming them as the attendee) and CANCEL.
"""

import datetime

import icalendar
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.calendar import CANCEL, PUBLISH, REQUEST, _address, name_of
from cases.models import Booking, User

PRODID = "-//Koordinointi//Booking//FI"
FAMILY, WORKER = "family", "worker"

__all__ = ["CANCEL", "FAMILY", "PUBLISH", "REQUEST", "WORKER", "booking_calendar"]


def booking_link(booking: Booking, party: str) -> str:
    if party == FAMILY:
        return f"{settings.SITE_URL}/portal/cases/{booking.case_id}/booking/{booking.pk}/"
    return f"{settings.SITE_URL}/api/v1/bookings/{booking.pk}/"


def booking_calendar(
    booking: Booking,
    *,
    party: str,
    method: str = PUBLISH,
    attendee: User | None = None,
    now: datetime.datetime | None = None,
) -> bytes:
    """The booking as one iCalendar object for `party` (FAMILY or WORKER)."""
    slot = booking.slot
    worker = slot.worker
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    event = icalendar.Event()
    event.add("uid", f"booking-{booking.pk}@koordinointi")
    event.add("dtstamp", (now or timezone.now()).astimezone(datetime.UTC))
    event.add("dtstart", slot.starts_at.astimezone(datetime.UTC))
    event.add("dtend", slot.ends_at.astimezone(datetime.UTC))
    cancelled = method == CANCEL or booking.cancelled_at is not None
    event.add("sequence", 1 if cancelled else 0)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if party == FAMILY:
        summary = _("Appointment with %(worker)s") % {"worker": name_of(worker)}
        about = [slot.organisation.name, slot.service.name_fi if slot.service else ""]
    else:
        summary = _("Booked appointment")
        about = []
    event.add("summary", summary)
    if slot.place:
        event.add("location", slot.place)
    if slot.video_link:
        event.add("url", slot.video_link)
    link = booking_link(booking, party)
    event.add("description", "\n".join(filter(None, [*about, slot.video_link, link])))
    event.add("organizer", _address(worker))
    if method != PUBLISH and attendee is not None:
        event.add("attendee", _address(attendee, role="REQ-PARTICIPANT"))
    calendar.add_component(event)
    return calendar.to_ical()
