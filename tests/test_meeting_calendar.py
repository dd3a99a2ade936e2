"""Network meetings as iCalendar through `icalendar`: the invitations mailed to the invited
members (METHOD:REQUEST), the cancellation (METHOD:CANCEL), SEQUENCE only on a real change, the
link from SITE_URL; each file read back by `icalendar` and by a second parser, `vobject`.

Acceptance 7 of issue 15 is
`test_the_invitation_mail_carries_a_request_and_cancelling_sends_a_cancel_with_a_higher_sequence`.
"""

import datetime

import icalendar
import pytest
import vobject
from django.core import mail
from django.utils import timezone

from cases.models import Meeting, NetworkMember, OutboundMail
from tests.conftest import persona as user

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SITE = "https://koordinointi.example.fi"
# Work addresses given here, so that the test does not lean on the demo's.
ADDRESSES = {
    "tiina.vastuu": "tiina@perhekeskus.example",
    "anna.neuvola": "anna@neuvola.example",
    "olli.opettaja": "olli@koulu.example",
}


@pytest.fixture
def case(demo_case, settings):
    settings.EMAIL_BACKEND = LOCMEM
    settings.SITE_URL = SITE
    for username, address in ADDRESSES.items():
        account = user(username)
        account.email = address
        account.save(update_fields=["email"])
    return demo_case


@pytest.fixture
def tiina(api, case):
    return api.as_user(user("tiina.vastuu"))


def member_id(case, username) -> str:
    member = NetworkMember.objects.get(case=case, user=user(username), removed_at__isnull=True)
    return str(member.pk)


def in_a_week(hour: int) -> str:
    day = timezone.localdate() + datetime.timedelta(days=7)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour))).isoformat()


def meetings(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/meetings/{suffix}"


def book(tiina, case, capture, **extra):
    body = {
        "title": "Verkostopalaveri",
        "starts_at": in_a_week(9),
        "ends_at": in_a_week(10),
        "place": "Perhekeskus, neuvotteluhuone 2",
        "agenda": "Koulupäivät",
        "members": [member_id(case, "anna.neuvola"), member_id(case, "olli.opettaja")],
        **extra,
    }
    with capture(execute=True):
        response = tiina.post(meetings(case), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def patch(tiina, case, meeting, body, capture):
    with capture(execute=True):
        response = tiina.patch(meetings(case, f"{meeting['id']}/"), body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def calendar_of(message) -> tuple[str, bytes]:
    """(the iTIP method of the content type, the bytes): the one text/calendar part of a mail."""
    [part] = [p for p in message.message().walk() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == "invite.ics"
    return part.get_param("method"), part.get_payload(decode=True)


def parsed(ics: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    """Read by icalendar and, independently, by vobject; both must agree."""
    calendar = icalendar.Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    other = vobject.readOne(ics.decode())
    assert other.method.value == str(calendar["METHOD"])
    assert other.vevent.uid.value == str(event["UID"])
    assert int(other.vevent.sequence.value) == int(event["SEQUENCE"])
    assert other.vevent.dtstart.value == event.decoded("DTSTART")
    assert other.vevent.organizer.value == str(event["ORGANIZER"])
    attendees = getattr(other.vevent, "attendee_list", [])
    assert sorted(a.value for a in attendees) == sorted(str(a) for a in attendees_of(event))
    return calendar, event


def attendees_of(event) -> list:
    found = event.get("ATTENDEE", [])
    return found if isinstance(found, list) else [found]


def addresses_of(event) -> set[str]:
    return {str(a).removeprefix("mailto:") for a in attendees_of(event)}


def test_the_invitation_mail_carries_a_request_and_cancelling_sends_a_cancel_with_a_higher_sequence(
    tiina, case, django_capture_on_commit_callbacks
):
    meeting = book(tiina, case, django_capture_on_commit_callbacks)

    [invitation] = mail.outbox
    assert sorted(invitation.to) == sorted([ADDRESSES["anna.neuvola"], ADDRESSES["olli.opettaja"]])
    method, ics = calendar_of(invitation)
    assert method == "REQUEST"
    calendar, event = parsed(ics)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["ORGANIZER"]) == f"mailto:{ADDRESSES['tiina.vastuu']}"
    assert event["ORGANIZER"].params["CN"] == user("tiina.vastuu").get_full_name()
    assert addresses_of(event) == {ADDRESSES["anna.neuvola"], ADDRESSES["olli.opettaja"]}
    assert {a.params["ROLE"] for a in attendees_of(event)} == {"REQ-PARTICIPANT"}
    assert str(event["UID"]) == f"{meeting['id']}@koordinointi"
    assert str(event["LOCATION"]) == "Perhekeskus, neuvotteluhuone 2"
    request_sequence = int(event["SEQUENCE"])
    assert request_sequence == meeting["sequence"] == 0
    # The link comes from SITE_URL; the agenda and the family stay out of calendars.
    link = f"{SITE}/api/v1/cases/{case.pk}/meetings/{meeting['id']}/"
    assert link in str(event["DESCRIPTION"]) and link in invitation.body
    assert "Koulupäivät" not in ics.decode() and "Virtanen" not in ics.decode()

    mail.outbox.clear()
    cancelled = patch(
        tiina, case, meeting, {"status": "cancelled"}, django_capture_on_commit_callbacks
    )
    [cancellation] = mail.outbox
    assert sorted(cancellation.to) == sorted(invitation.to)
    method, ics = calendar_of(cancellation)
    assert method == "CANCEL"
    calendar, event = parsed(ics)
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["UID"]) == f"{meeting['id']}@koordinointi"
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) > request_sequence
    assert int(event["SEQUENCE"]) == cancelled["sequence"]
    assert addresses_of(event) == {ADDRESSES["anna.neuvola"], ADDRESSES["olli.opettaja"]}
    # Sent: the outbox keeps neither the addresses nor the calendar.
    sent = OutboundMail.objects.filter(kind__startswith="meeting_")
    assert list(sent.values_list("kind", "status")) == [
        ("meeting_invited", "sent"),
        ("meeting_cancelled", "sent"),
    ]
    assert not any(sent.values_list("calendar", flat=True))


def test_an_empty_or_unchanged_patch_neither_bumps_the_sequence_nor_mails(
    tiina, case, django_capture_on_commit_callbacks
):
    meeting = book(tiina, case, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    capture = django_capture_on_commit_callbacks
    assert patch(tiina, case, meeting, {}, capture)["sequence"] == 0
    same = {"place": meeting["place"], "title": meeting["title"], "members": meeting["members"]}
    assert patch(tiina, case, meeting, same, capture)["sequence"] == 0
    # The agenda is not in a calendar copy: saved, but no new copy.
    after = patch(tiina, case, meeting, {"agenda": "Iltojen tuki"}, capture)
    assert after["sequence"] == 0 and after["agenda"] == "Iltojen tuki"
    assert mail.outbox == []
    assert Meeting.objects.get(pk=meeting["id"]).sequence == 0


def test_a_real_change_bumps_the_sequence_once_and_mails_the_new_request(
    tiina, case, django_capture_on_commit_callbacks
):
    meeting = book(tiina, case, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    moved = patch(
        tiina,
        case,
        meeting,
        {"starts_at": in_a_week(13), "ends_at": in_a_week(14)},
        django_capture_on_commit_callbacks,
    )
    assert moved["sequence"] == 1
    [update] = mail.outbox
    calendar, event = parsed(calendar_of(update)[1])
    assert calendar["METHOD"] == "REQUEST" and int(event["SEQUENCE"]) == 1
    assert (
        event.decoded("DTSTART").hour
        == datetime.datetime.fromisoformat(in_a_week(13)).astimezone(datetime.UTC).hour
    )
    assert str(event["LOCATION"]) == "Perhekeskus, neuvotteluhuone 2"  # the place is kept


def test_a_member_no_longer_invited_gets_a_cancel_and_the_others_the_request(
    tiina, case, django_capture_on_commit_callbacks
):
    meeting = book(tiina, case, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    changed = patch(
        tiina,
        case,
        meeting,
        {"members": [member_id(case, "anna.neuvola")]},
        django_capture_on_commit_callbacks,
    )
    assert changed["sequence"] == 1
    by_method = {}
    for message in mail.outbox:
        calendar, event = parsed(calendar_of(message)[1])
        by_method[str(calendar["METHOD"])] = (message.to, addresses_of(event))
    assert by_method == {
        "CANCEL": ([ADDRESSES["olli.opettaja"]], {ADDRESSES["olli.opettaja"]}),
        "REQUEST": ([ADDRESSES["anna.neuvola"]], {ADDRESSES["anna.neuvola"]}),
    }


def test_the_downloaded_file_is_a_publish_with_the_organiser_and_no_attendees(
    tiina, case, django_capture_on_commit_callbacks
):
    meeting = book(tiina, case, django_capture_on_commit_callbacks)
    response = tiina.get(meetings(case, f"{meeting['id']}/ics/"), HTTP_ACCEPT="text/calendar")
    assert response.status_code == 200
    calendar, event = parsed(response.content)
    assert calendar["METHOD"] == "PUBLISH"
    assert str(event["ORGANIZER"]) == f"mailto:{ADDRESSES['tiina.vastuu']}"
    assert attendees_of(event) == []
    assert f"{SITE}/api/v1/cases/{case.pk}/meetings/{meeting['id']}/" in str(event["DESCRIPTION"])
