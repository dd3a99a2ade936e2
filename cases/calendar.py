"""Network meetings as iCalendar (RFC 5545) through the `icalendar` library, with the methods
of iTIP (RFC 5546): PUBLISH for the file a worker downloads, REQUEST for the invitation mailed
to the invited network members, CANCEL when the meeting is cancelled.

Calendars are outside the register, so a file carries the title, time, place and links, the
organiser and (in a mail) the invited professionals: never the agenda, the family's members or
anything else about the family. A PUBLISH file names no attendees (RFC 5546, 3.2.1), so the
download shows no one's address.
"""

import datetime
from collections.abc import Iterable

import icalendar
from django.conf import settings
from django.utils import timezone

from cases.models import Meeting, User

PRODID = "-//Koordinointi//Network meetings//FI"
PUBLISH, REQUEST, CANCEL = "PUBLISH", "REQUEST", "CANCEL"
# What a calendar copy shows: a change to any of these is a real change (SEQUENCE grows, the
# members are sent the new copy). The agenda and the minutes are not in the file.
CALENDAR_FIELDS = ("title", "starts_at", "ends_at", "place", "video_link", "status")


def meeting_link(meeting: Meeting) -> str:
    return f"{settings.SITE_URL}/api/v1/cases/{meeting.case_id}/meetings/{meeting.pk}/"


def name_of(user: User) -> str:
    return user.get_full_name() or user.username


def _address(user: User | None, *, role: str | None = None) -> icalendar.vCalAddress:
    email = (user.email if user is not None else "") or settings.DEFAULT_FROM_EMAIL
    address = icalendar.vCalAddress(f"mailto:{email}")
    if user is not None:
        address.params["CN"] = icalendar.vText(name_of(user))
    if role is not None:
        address.params["ROLE"] = icalendar.vText(role)
        address.params["PARTSTAT"] = icalendar.vText("NEEDS-ACTION")
        address.params["RSVP"] = icalendar.vText("FALSE")
    return address


def meeting_calendar(
    meeting: Meeting,
    *,
    method: str = PUBLISH,
    attendees: Iterable[User] = (),
    now: datetime.datetime | None = None,
) -> bytes:
    """The meeting as one iCalendar object. `attendees` are named in a REQUEST or a CANCEL
    only; the organiser is whoever booked the meeting."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    event = icalendar.Event()
    event.add("uid", f"{meeting.pk}@koordinointi")
    event.add("dtstamp", (now or timezone.now()).astimezone(datetime.UTC))
    event.add("dtstart", meeting.starts_at.astimezone(datetime.UTC))
    event.add("dtend", meeting.ends_at.astimezone(datetime.UTC))
    event.add("sequence", meeting.sequence)
    cancelled = method == CANCEL or meeting.status == Meeting.Status.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", meeting.title)
    if meeting.place:
        event.add("location", meeting.place)
    if meeting.video_link:
        event.add("url", meeting.video_link)
    link = meeting_link(meeting)
    event.add("description", "\n".join(filter(None, [meeting.video_link, link])))
    event.add("organizer", _address(meeting.organiser))
    if method != PUBLISH:
        for user in sorted(attendees, key=lambda user: (user.email, str(user.pk))):
            event.add("attendee", _address(user, role="REQ-PARTICIPANT"))
    calendar.add_component(event)
    return calendar.to_ical()
