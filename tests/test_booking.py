"""Booking (issue 17): the responsible worker publishes free times, a guardian books, moves or
cancels one, and both get an `.ics` that `icalendar` parses; a taken time answers 409.

The same free time booked twice at once by two connections: tests/test_booking_concurrency.py.
"""

import datetime

import icalendar
import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AccessEvent
from cases import services
from cases.models import Booking, BookingSlot, FamilyMember, NetworkMember
from tests.conftest import ANNA, HANNA, OLLI, TIINA, ULLA
from tests.conftest import persona as user
from tests.factories import access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SITE = "https://koordinointi.example.fi"
ADDRESSES = {
    TIINA: "tiina@perhekeskus.example",
    HANNA: "hanna@koti.example",
    ANNA: "anna@neuvola.example",
}
SLOTS = "/api/v1/booking/slots/"
BOOKINGS = "/api/v1/bookings/"


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
def as_(api, case):
    """`as_(username)`: a client of its own, signed in as that persona."""

    def sign_in(username):
        token, _new = Token.objects.get_or_create(user=user(username))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return sign_in


def at(days: int, hour: int) -> datetime.datetime:
    day = timezone.localdate() + datetime.timedelta(days=days)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def publish(client, *, days=7, hour=9, **extra) -> dict:
    body = {
        "starts_at": at(days, hour).isoformat(),
        "ends_at": at(days, hour + 1).isoformat(),
        "place": "Perhekeskus, huone 4",
        **extra,
    }
    response = client.post(SLOTS, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def book(client, slot, **body):
    return client.post(f"{SLOTS}{slot['id']}/book/", body, format="json")


def calendar_of(message) -> tuple[str, bytes]:
    [part] = [p for p in message.message().walk() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), part.get_payload(decode=True)


def event_of(ics: bytes) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(ics)
    [event] = calendar.walk("VEVENT")
    return event


def test_a_guardian_books_a_free_time_and_both_parties_get_an_ics(
    as_, case, django_capture_on_commit_callbacks
):
    slot = publish(as_(TIINA))
    hanna = as_(HANNA)
    listed = hanna.get(SLOTS).json()["results"]
    assert [s["id"] for s in listed] == [slot["id"]]
    assert listed[0]["worker"]["name"] == "Tiina Vastuu"

    with django_capture_on_commit_callbacks(execute=True):
        response = book(hanna, slot)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["case"] == str(case.pk)
    assert made["slot"]["id"] == slot["id"]
    assert made["cancelled_at"] is None

    # Booked: no longer offered to the family, shown as booked to the worker.
    assert hanna.get(SLOTS).json()["results"] == []
    [own] = as_(TIINA).get(SLOTS).json()["results"]
    assert own["is_booked"] is True

    # Two mails, one to each party, each with its own calendar copy that icalendar parses.
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {ADDRESSES[HANNA], ADDRESSES[TIINA]}
    for message in by_recipient.values():
        method, ics = calendar_of(message)
        assert method == "REQUEST"
        event = event_of(ics)
        assert str(event["UID"]) == f"booking-{made['id']}@koordinointi"
        assert event.decoded("DTSTART") == at(7, 9)
        assert str(event["LOCATION"]) == "Perhekeskus, huone 4"
        assert str(event["STATUS"]) == "CONFIRMED"
    family_event = event_of(calendar_of(by_recipient[ADDRESSES[HANNA]])[1])
    assert "Tiina Vastuu" in str(family_event["SUMMARY"])
    assert f"/portal/cases/{case.pk}/booking/{made['id']}/" in str(family_event["DESCRIPTION"])
    worker_ics = calendar_of(by_recipient[ADDRESSES[TIINA]])[1].decode()
    for member in case.family.members.all():
        assert member.first_name not in worker_ics
        assert member.last_name not in worker_ics
    assert "hanna@koti.example" not in worker_ics

    # Both download their copy (METHOD:PUBLISH) from the API.
    for username in (HANNA, TIINA):
        response = as_(username).get(f"{BOOKINGS}{made['id']}/calendar.ics/")
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "text/calendar; charset=utf-8"
        calendar = icalendar.Calendar.from_ical(response.content)
        assert str(calendar["METHOD"]) == "PUBLISH"
        [event] = calendar.walk("VEVENT")
        assert event.decoded("DTEND") == at(7, 10)


def test_a_taken_time_answers_409_with_a_message(as_, case):
    slot = publish(as_(TIINA))
    hanna = as_(HANNA)
    assert book(hanna, slot).status_code == 201
    again = book(hanna, slot)
    assert again.status_code == 409
    assert "Joku muu ehti varata" in again.json()["detail"]
    assert Booking.objects.filter(slot_id=slot["id"], cancelled_at__isnull=True).count() == 1


def test_moving_to_a_taken_time_answers_409_and_changes_nothing(as_, case):
    tiina = as_(TIINA)
    first, second = publish(tiina, hour=9), publish(tiina, hour=11)
    hanna = as_(HANNA)
    made = book(hanna, first).json()
    assert book(hanna, second).status_code == 201
    response = hanna.post(f"{BOOKINGS}{made['id']}/move/", {"slot": second["id"]}, format="json")
    assert response.status_code == 409
    assert "Joku muu ehti varata" in response.json()["detail"]
    assert Booking.objects.get(pk=made["id"]).cancelled_at is None
    assert Booking.objects.filter(cancelled_at__isnull=True).count() == 2


def test_moving_books_the_new_time_and_frees_the_old(as_, case, django_capture_on_commit_callbacks):
    tiina = as_(TIINA)
    first, second = publish(tiina, hour=9), publish(tiina, hour=11)
    hanna = as_(HANNA)
    made = book(hanna, first).json()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = hanna.post(
            f"{BOOKINGS}{made['id']}/move/", {"slot": second["id"]}, format="json"
        )
    assert response.status_code == 200, response.content
    moved = response.json()
    assert moved["slot"]["id"] == second["id"]
    assert Booking.objects.get(pk=made["id"]).cancelled_at is not None
    assert [s["id"] for s in hanna.get(SLOTS).json()["results"]] == [first["id"]]
    methods = sorted(calendar_of(message)[0] for message in mail.outbox)
    assert methods == ["CANCEL", "CANCEL", "REQUEST", "REQUEST"]
    # The worker does not move a family's booking.
    response = tiina.post(f"{BOOKINGS}{moved['id']}/move/", {"slot": first["id"]}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("canceller", [HANNA, TIINA])
def test_either_party_cancels_and_the_time_is_free_again(
    as_, case, canceller, django_capture_on_commit_callbacks
):
    slot = publish(as_(TIINA))
    hanna = as_(HANNA)
    made = book(hanna, slot).json()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_(canceller).post(f"{BOOKINGS}{made['id']}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_at"] is not None
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        method, ics = calendar_of(message)
        assert method == "CANCEL"
        event = event_of(ics)
        assert str(event["STATUS"]) == "CANCELLED"
        assert int(event["SEQUENCE"]) == 1
    assert [s["id"] for s in as_(HANNA).get(SLOTS).json()["results"]] == [slot["id"]]
    again = as_(canceller).post(f"{BOOKINGS}{made['id']}/cancel/")
    assert again.status_code == 400
    assert "jo peruttu" in again.json()["detail"]
    assert book(as_(HANNA), slot).status_code == 201


def test_who_may_publish_book_see_and_cancel(as_, case):
    slot = publish(as_(TIINA))
    # Only workers publish: a guardian gets 403.
    response = as_(HANNA).post(
        SLOTS,
        {"starts_at": at(7, 9).isoformat(), "ends_at": at(7, 10).isoformat()},
        format="json",
    )
    assert response.status_code == 403
    # A time of tiina is offered only to the families of her cases: anna (a member of the
    # network), olli and ulla do not see it, answered as for a time that does not exist.
    # Only a family's guardian books: a worker gets 403, whatever the time.
    response = book(as_(TIINA), slot)
    assert response.status_code == 403
    assert "huoltaja" in response.json()["detail"]
    for username in (ANNA, OLLI, ULLA):
        client = as_(username)
        assert slot["id"] not in [s["id"] for s in client.get(SLOTS).json()["results"]]
        assert client.get(f"{SLOTS}{slot['id']}/").status_code == 404
        assert book(client, slot).status_code == 403
    made = book(as_(HANNA), slot).json()
    for username in (ANNA, OLLI, ULLA):
        client = as_(username)
        assert client.get(BOOKINGS).json()["results"] == []
        for suffix in ("", "calendar.ics/"):
            assert client.get(f"{BOOKINGS}{made['id']}/{suffix}").status_code == 404
        assert client.post(f"{BOOKINGS}{made['id']}/cancel/").status_code == 404
    # Another worker's free time is not withdrawn by anyone else, and a booked one not at all.
    assert as_(ANNA).delete(f"{SLOTS}{slot['id']}/").status_code == 404
    response = as_(TIINA).delete(f"{SLOTS}{slot['id']}/")
    assert response.status_code == 409
    assert "peru ensin varaus" in response.json()["detail"]
    free = publish(as_(TIINA), hour=13)
    assert as_(TIINA).delete(f"{SLOTS}{free['id']}/").status_code == 204
    assert free["id"] not in [s["id"] for s in as_(HANNA).get(SLOTS).json()["results"]]


def test_a_worker_who_left_offers_nothing(as_, case):
    slot = publish(as_(TIINA))
    membership = user(TIINA).memberships.get(organisation=case.responsible_organisation)
    membership.ended_at = timezone.now() - datetime.timedelta(minutes=1)
    membership.save()
    assert as_(HANNA).get(SLOTS).json()["results"] == []
    assert book(as_(HANNA), slot).status_code == 404


def test_a_guardian_sees_only_the_bookings_of_her_family(as_, case):
    tiina = as_(TIINA)
    slot = publish(tiina)
    made = book(as_(HANNA), slot).json()
    for username in (HANNA, TIINA):
        [listed] = as_(username).get(BOOKINGS).json()["results"]
        assert listed["id"] == made["id"]
        assert listed["booked_by"] == str(user(HANNA).pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"starts_at": "huomenna", "ends_at": "SOON1T10:00:00Z"}, "starts_at"),
        ({"starts_at": "SOON1T10:00:00Z", "ends_at": "SOON1T09:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T09:00:00Z", "ends_at": "2020-01-01T10:00:00Z"}, "starts_at"),
        ({"starts_at": "2099-01-01T09:00:00Z", "ends_at": "2099-01-01T10:00:00Z"}, "starts_at"),
        ({"starts_at": "NOW+1", "ends_at": None}, "ends_at"),
        ({"starts_at": "SOON1T09:00:00Z", "ends_at": "SOON2T09:00:00Z"}, "ends_at"),
        (
            {
                "starts_at": "SOON1T09:00:00Z",
                "ends_at": "SOON1T10:00:00Z",
                "video_link": "ei linkki",
            },
            "video_link",
        ),
        (
            {
                "starts_at": "SOON1T09:00:00Z",
                "ends_at": "SOON1T10:00:00Z",
                "colour": "red",
            },
            "colour",
        ),
        (
            {
                "starts_at": "SOON1T09:00:00Z",
                "ends_at": "SOON1T10:00:00Z",
                "service": "00000000-0000-0000-0000-000000000000",
            },
            "service",
        ),
    ],
)
def test_bad_free_times_get_400_with_the_field_named(as_, case, body, field):
    if body["starts_at"] == "NOW+1":
        body = {"starts_at": at(2, 9).isoformat(), "ends_at": None}
    soon = timezone.localdate() + datetime.timedelta(days=30)
    body = {
        key: value.replace("SOON1", soon.isoformat()).replace(
            "SOON2", (soon + datetime.timedelta(days=1)).isoformat()
        )
        if isinstance(value, str)
        else value
        for key, value in body.items()
    }
    response = as_(TIINA).post(SLOTS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not BookingSlot.objects.exists()


def test_a_service_of_another_organisation_is_refused(as_, case):
    from cases.models import Service

    other = Service.objects.exclude(organisation=case.responsible_organisation).first()
    response = as_(TIINA).post(
        SLOTS,
        {
            "starts_at": at(7, 9).isoformat(),
            "ends_at": at(7, 10).isoformat(),
            "service": str(other.pk),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "service" in response.json()


@pytest.mark.parametrize(
    "body", [{"case": "ei-uuid"}, {"case": "00000000-0000-0000-0000-000000000000"}, {"x": 1}]
)
def test_bad_bookings_get_a_clear_answer(as_, case, body):
    slot = publish(as_(TIINA))
    response = book(as_(HANNA), slot, **body)
    assert response.status_code in (400, 404)
    assert "detail" in response.json() or set(body) & set(response.json())
    assert not Booking.objects.exists()


def test_a_past_time_is_not_booked(as_, case):
    slot = publish(as_(TIINA))
    BookingSlot.objects.filter(pk=slot["id"]).update(
        starts_at=timezone.now() - datetime.timedelta(hours=2),
        ends_at=timezone.now() - datetime.timedelta(hours=1),
    )
    assert as_(HANNA).get(SLOTS).json()["results"] == []
    response = book(as_(HANNA), slot)
    assert response.status_code == 400
    assert "jo mennyt" in response.json()["slot"][0]


def test_reading_a_booking_is_in_the_access_log(as_, case):
    slot = publish(as_(TIINA))
    made = book(as_(HANNA), slot).json()
    for username, suffix in ((HANNA, ""), (TIINA, "calendar.ics/"), (TIINA, "")):
        before = AccessEvent.objects.count()
        assert as_(username).get(f"{BOOKINGS}{made['id']}/{suffix}").status_code == 200
        [event] = AccessEvent.objects.order_by("-seq")[: AccessEvent.objects.count() - before]
        assert event.resource == "bookings"
        assert event.case_id == case.pk
        assert event.user_id == user(username).pk
        assert event.outcome == "allowed"
    before = AccessEvent.objects.count()
    assert as_(HANNA).get(BOOKINGS).status_code == 200
    assert AccessEvent.objects.count() == before + 1
    # A refused read is logged too.
    before = AccessEvent.objects.count()
    assert as_(ULLA).get(f"{BOOKINGS}{made['id']}/").status_code == 404
    denied = AccessEvent.objects.order_by("-seq").first()
    assert AccessEvent.objects.count() == before + 1
    assert denied.outcome == "denied"


def test_the_booking_list_has_a_constant_number_of_queries(as_, case, django_assert_num_queries):
    tiina = as_(TIINA)
    book(as_(HANNA), publish(tiina, hour=8))
    clients = {username: as_(username) for username in (HANNA, TIINA)}
    # token and user (authentication), count, page, the facts of the one case; then its log.
    for client in clients.values():
        with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
            response = client.get(BOOKINGS)
        assert response.json()["count"] == 1
    for hour in (10, 12, 14):
        book(clients[HANNA], publish(tiina, hour=hour))
    for client in clients.values():
        with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
            response = client.get(BOOKINGS)
        assert response.json()["count"] == 4


def test_the_slot_list_has_a_constant_number_of_queries(as_, case, django_assert_num_queries):
    tiina = as_(TIINA)
    publish(tiina, hour=8)
    clients = {username: as_(username) for username in (HANNA, TIINA)}
    # token and user, the user's posts (worker or not), count, page; nothing logged (free
    # times are the worker's, not family data).
    for client in clients.values():
        with django_assert_num_queries(4 + REQUEST):
            client.get(SLOTS)
    for hour in (10, 12, 14):
        publish(tiina, hour=hour)
    for client in clients.values():
        with django_assert_num_queries(4 + REQUEST):
            response = client.get(SLOTS)
        assert response.json()["count"] == 4


def test_a_protected_familys_location_stays_out_of_the_workers_calendar_and_mail(
    as_, case, django_capture_on_commit_callbacks
):
    tiina_user = user(TIINA)
    family = case.family
    family.municipality.name = "zp-municipality-zp"
    family.municipality.save(update_fields=["name"])
    for n, member in enumerate(family.members.order_by("pk")):
        member.address = f"zp-address{n}-zp"
        member.contact = f"zp-contact{n}-zp"
        member.school = f"zp-school{n}-zp"
        member.save(update_fields=["address", "contact", "school"])
    hanna_row = family.members.get(role=FamilyMember.Role.GUARDIAN)
    services.non_disclosure_mark(
        actor=tiina_user,
        case=case,
        access=access_of(tiina_user, case),
        member=hanna_row,
        readers=[NetworkMember.objects.get(case=case, user=user(ANNA))],
    )
    slot = publish(as_(TIINA))
    with django_capture_on_commit_callbacks(execute=True):
        made = book(as_(HANNA), slot).json()
    texts = [message.message().as_string() for message in mail.outbox] + [
        as_(username).get(f"{BOOKINGS}{made['id']}/calendar.ics/").content.decode()
        for username in (TIINA, HANNA)
    ]
    assert len(texts) == 4
    for text in texts:
        assert "zp-" not in text


# --- The portal -------------------------------------------------------------------------------


def test_hanna_books_moves_and_cancels_in_the_portal(
    as_, case, client, django_capture_on_commit_callbacks
):
    tiina = as_(TIINA)
    first, second = publish(tiina, hour=9), publish(tiina, hour=13)
    client.force_login(user(HANNA))
    page = client.get(f"/portal/cases/{case.pk}/booking/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Varaa aika" in text and "Perhekeskus, huone 4" in text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/portal/cases/{case.pk}/booking/", {"slot": first["id"]})
    made = Booking.objects.get(cancelled_at__isnull=True)
    detail = f"/portal/cases/{case.pk}/booking/{made.pk}/"
    assert response.status_code == 302 and response["Location"] == detail
    assert {message.to[0] for message in mail.outbox} == {ADDRESSES[HANNA], ADDRESSES[TIINA]}
    confirmation = client.get(detail).content.decode()
    assert "Tiina Vastuu" in confirmation and f"{detail}calendar.ics" in confirmation
    ics = client.get(f"{detail}calendar.ics")
    assert ics["Content-Type"] == "text/calendar; charset=utf-8"
    assert event_of(ics.content).decoded("DTSTART") == at(7, 9)
    # Booking the same time again: it is taken, and the page says so.
    again = client.post(f"/portal/cases/{case.pk}/booking/", {"slot": first["id"]}, follow=True)
    assert "Joku muu ehti varata" in again.content.decode()
    assert Booking.objects.filter(cancelled_at__isnull=True).count() == 1
    # Move to the other time.
    moved = client.post(f"{detail}move/", {"slot": second["id"]})
    new = Booking.objects.get(cancelled_at__isnull=True)
    assert new.slot_id == uuid_of(second) and moved["Location"].endswith(f"/{new.pk}/")
    # Cancel: the confirmation page, then the form.
    cancel = f"/portal/cases/{case.pk}/booking/{new.pk}/cancel/"
    assert client.get(cancel).status_code == 200
    assert client.post(cancel)["Location"] == f"/portal/cases/{case.pk}/booking/"
    assert not Booking.objects.filter(cancelled_at__isnull=True).exists()
    # Every page read is in the access log, as the family's.
    events = AccessEvent.objects.filter(resource="bookings", user_id=user(HANNA).pk)
    assert events.filter(outcome="allowed").count() >= 4


def test_a_bad_slot_in_the_portal_form_gets_a_message(as_, case, client):
    client.force_login(user(HANNA))
    for value in ("", "ei-aika", "00000000-0000-0000-0000-000000000000"):
        page = client.post(f"/portal/cases/{case.pk}/booking/", {"slot": value}, follow=True)
        assert page.status_code == 200
        assert "Aika ei ole enää tarjolla" in page.content.decode()
    assert not Booking.objects.exists()


def uuid_of(row):
    import uuid

    return uuid.UUID(row["id"])
