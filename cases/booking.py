"""Writes of booking (issue 17): a worker publishes and withdraws free times; a guardian books,
moves and cancels; the worker cancels too. Each is one transaction that also queues its mails.

No double booking, whatever the number of app servers: the free time's row is locked
(`select_for_update`, so a second booker waits and then finds it taken), and the database's
partial unique constraint `one_active_booking_per_slot` refuses a second active booking even
where no lock is taken (SQLite serialises its writers instead).
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import booking_selectors, notifications
from cases.models import Booking, BookingSlot, Case, Service, User
from consent import policy

LONGEST = datetime.timedelta(hours=8)
FURTHEST = datetime.timedelta(days=366)


class SlotTaken(Exception):
    """The free time was booked by someone else first (the API answers 409)."""

    def __init__(self):
        super().__init__(_("This time has just been booked by someone else. Choose another time."))


@transaction.atomic
def slot_publish(
    *,
    actor: User,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    place: str = "",
    video_link: str = "",
    organisation_id=None,
    service: Service | None = None,
    now: datetime.datetime | None = None,
) -> BookingSlot:
    """Publish a free time of the acting worker, for an organisation they work for."""
    organisation = policy.publishing_organisation(actor, organisation_id=organisation_id)
    now = now or timezone.now()
    if service is not None and service.organisation_id != organisation.pk:
        raise ValidationError({"service": _("The service is not one of this organisation's.")})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("The end must be after the start.")})
    if starts_at <= now:
        raise ValidationError({"starts_at": _("A free time must be in the future.")})
    if starts_at > now + FURTHEST:
        raise ValidationError({"starts_at": _("A free time can be at most a year ahead.")})
    if ends_at - starts_at > LONGEST:
        raise ValidationError({"ends_at": _("A free time can be at most eight hours long.")})
    slot = BookingSlot(
        worker=actor,
        organisation=organisation,
        service=service,
        starts_at=starts_at,
        ends_at=ends_at,
        place=place.strip(),
        video_link=video_link.strip(),
    )
    slot.full_clean()
    slot.save()
    return slot


@transaction.atomic
def slot_withdraw(*, actor: User, slot: BookingSlot) -> BookingSlot:
    """The worker takes back a free time nobody has booked."""
    slot = BookingSlot.objects.select_for_update().get(
        pk=policy.own_slot(user=actor, slot_id=slot.pk).pk
    )
    if Booking.objects.filter(slot=slot, cancelled_at__isnull=True).exists():
        raise SlotTaken
    slot.withdrawn_at = timezone.now()
    slot.save(update_fields=["withdrawn_at"])
    return slot


def _book(*, actor: User, slot: BookingSlot, case: Case, access: policy.Access, now) -> Booking:
    policy.check(access, policy.Need.FAMILY)
    slot = BookingSlot.objects.select_for_update().get(pk=slot.pk)
    if slot.withdrawn_at is not None:
        raise ValidationError({"slot": _("This time is no longer offered.")})
    if slot.starts_at <= now:
        raise ValidationError({"slot": _("This time has already passed.")})
    if Booking.objects.filter(slot=slot, cancelled_at__isnull=True).exists():
        raise SlotTaken
    try:
        with transaction.atomic():
            booking = Booking.objects.create(slot=slot, case=case, booked_by=actor, booked_at=now)
    except IntegrityError:  # booked at the same instant through a connection not locking
        raise SlotTaken from None
    return booking


@transaction.atomic
def booking_create(*, actor: User, slot_id, case_id=None, now=None) -> Booking:
    """A guardian books a free time of their case's responsible worker; SlotTaken if someone
    was first."""
    slot, case, access = policy.booking_target(user=actor, slot_id=slot_id, case_id=case_id)
    booking = _book(actor=actor, slot=slot, case=case, access=access, now=now or timezone.now())
    booking = booking_selectors.booking_get(user=actor, booking_id=booking.pk)[0]
    notifications.booking_sent(booking)
    return booking


def _cancel(*, actor: User, booking: Booking, now) -> Booking:
    locked = Booking.objects.select_for_update().get(pk=booking.pk)
    if locked.cancelled_at is not None:
        raise ValidationError(_("This booking is already cancelled."))
    if booking.slot.starts_at <= now:
        raise ValidationError(_("A past appointment cannot be cancelled."))
    locked.cancelled_at = now
    locked.cancelled_by = actor
    locked.save(update_fields=["cancelled_at", "cancelled_by"])
    booking.cancelled_at, booking.cancelled_by = now, actor
    notifications.booking_sent(booking, cancelled=True)
    return booking


@transaction.atomic
def booking_cancel(*, actor: User, booking_id, now=None) -> Booking:
    """The family or the worker cancels a booking; the free time is free again."""
    booking, _case, _access = booking_selectors.booking_get(user=actor, booking_id=booking_id)
    return _cancel(actor=actor, booking=booking, now=now or timezone.now())


@transaction.atomic
def booking_move(*, actor: User, booking_id, slot_id, now=None) -> Booking:
    """The family moves a booking to another free time: the new one is booked and the old one
    cancelled together, or neither."""
    now = now or timezone.now()
    booking, case, access = booking_selectors.booking_get(user=actor, booking_id=booking_id)
    policy.require_may_move_booking(access)
    if slot_id is None:
        raise ValidationError({"slot": _("Choose the free time to move the booking to.")})
    slot, _target_case, target_access = policy.booking_target(
        user=actor, slot_id=slot_id, case_id=case.pk
    )
    _cancel(actor=actor, booking=booking, now=now)
    moved = _book(actor=actor, slot=slot, case=case, access=target_access, now=now)
    moved = booking_selectors.booking_get(user=actor, booking_id=moved.pk)[0]
    notifications.booking_sent(moved)
    return moved
