"""E-mail notifications, through a transactional outbox that never loses the change behind a mail.

Each notification is written as an `OutboundMail` row in the transaction of the change that
caused it, and sent once that transaction has committed (`transaction.on_commit`). A failing mail
server therefore cannot undo the change: the failure is logged, the row stays pending with a
later `next_attempt_at`, and `manage.py retry_mail` sends it (cron). A rolled-back change takes
its mail with it. Whoever sends a row first claims it with a conditional update, so the hook and
the command never send the same attempt twice.

The recipient's language is not known (accounts have none), so a mail carries its text in each
of `settings.LANGUAGES` in turn, Finnish first; a language whose catalogue lacks the text is left
out rather than repeated in English. E-mail is not a secure channel: no mail names a family or
says anything about them, only that there is something to see, and where.

Which change sends which mail:
- invitation into a network: `cases.services.invitation_create`;
- consent requested (to the guardians), decided or withdrawn (to the responsible worker):
  on `consent.ConsentEvent` being written, by the signal receivers below;
- handover proposed (to the receiver) and accepted (to the former responsible worker and the
  coordinator who proposed it): on `Handover` created and on a case's responsible worker changing;
- referral received (to the receiving organisation): `cases.services.referral_create`;
- network meeting booked, really changed or cancelled (to the invited network members, with
  the iCalendar REQUEST or CANCEL attached, `cases.calendar`): `cases.services.meeting_create`
  and `meeting_update`;
- plan action due (to whoever does it): `manage.py send_action_reminders`;
- a new message in a thread (to everyone else who reads it, issue 17):
  `cases.messaging.conversation_start` and `message_post`;
- contact request received or referred on (to the intake workers who see it), taken (to the
  family: who will contact them, and by when), a case opened from it (to the new guardian: the
  responsible worker and the link that activates the portal account; to the responsible worker
  when someone else named them): `cases.intake`;
- a free time booked or cancelled (to the guardian who booked it and to the worker whose time
  it is, each with their own iCalendar copy, `cases.booking_calendar`): `cases.booking`.
"""

import datetime
import logging
from email.mime.text import MIMEText

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import calendar
from cases.models import (
    Case,
    Handover,
    Meeting,
    OrganisationMembership,
    OutboundMail,
    PlanAction,
    Referral,
    User,
)
from koordinointi.vocabulary import in_force

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# While one sender holds a row, nobody else tries it; a sender that died frees it after this.
CLAIM = datetime.timedelta(minutes=5)
SEPARATOR = "\n\n— — —\n\n"


def backoff(attempts: int) -> datetime.timedelta:
    """Wait before the next attempt: 1, 2, 4 … minutes, at most six hours."""
    return datetime.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


# --- Texts -------------------------------------------------------------------------------------
# Each returns (subject, body) in the active language. Only references, never family data.


def _invitation(c: dict) -> tuple[str, str]:
    # The msgids of the invitation mail from before the outbox, so their translations still apply.
    return _("You are invited into a family's network"), _(
        "%(inviter)s invites you into the network of a family's case as a worker of "
        "%(organisation)s.\n\nAccept: %(link)s\n\nThe invitation expires on %(expires)s."
    ) % c


def _consent_requested(c: dict) -> tuple[str, str]:
    return _("A request for your consent is waiting"), _(
        "%(requester)s asks for your consent to share information about your family. Read "
        "the request and answer it in the family portal: %(link)s\n\nYou may refuse, and you may "
        "withdraw a consent at any time."
    ) % c


def _consent_decided(c: dict) -> tuple[str, str]:
    # Whole sentences per decision: a word slotted into one sentence does not translate.
    subject, body = {
        "granted": (
            _("A consent was given"),
            _("A guardian has given a consent on a case you are responsible for."),
        ),
        "refused": (
            _("A consent was refused"),
            _("A guardian has refused a consent on a case you are responsible for."),
        ),
        "revoked": (
            _("A consent was withdrawn"),
            _("A guardian has withdrawn a consent on a case you are responsible for."),
        ),
    }[c["decision"]]
    return subject, body + "\n\n" + _("Case: %(link)s") % c


def _handover_proposed(c: dict) -> tuple[str, str]:
    return _("You are asked to take over a case"), _(
        "%(proposer)s asks you to become the responsible worker of a family's case. The case "
        "stays with its present worker until you accept.\n\nAnswer: %(link)s"
    ) % c


def _handover_accepted(c: dict) -> tuple[str, str]:
    return _("A handover was accepted"), _(
        "%(receiver)s has accepted the handover and is now the responsible worker of the "
        "case.\n\nCase: %(link)s"
    ) % c


def _referral_received(c: dict) -> tuple[str, str]:
    return _("A new referral to %(service)s") % c, _(
        "%(referrer)s (%(organisation)s) has referred a family to your service %(service)s. "
        "See the referral, and accept it to name the worker who joins the family's network: "
        "%(link)s"
    ) % c


def _action_due(c: dict) -> tuple[str, str]:
    return _("A plan action is due on %(due)s") % c, _(
        "An action of a family's plan that is yours to do is due on %(due)s.\n\nPlan: %(link)s"
    ) % c


def _meeting_invited(c: dict) -> tuple[str, str]:
    return _("Invitation to a network meeting on %(starts)s") % c, _(
        "%(organiser)s invites you to a network meeting of a family's case on %(starts)s. The "
        "calendar invitation is attached.\n\nMeeting: %(link)s"
    ) % c


def _meeting_changed(c: dict) -> tuple[str, str]:
    return _("A network meeting was changed: %(starts)s") % c, _(
        "%(organiser)s has changed a network meeting you are invited to; it is now on "
        "%(starts)s. The updated calendar invitation is attached.\n\nMeeting: %(link)s"
    ) % c


def _meeting_cancelled(c: dict) -> tuple[str, str]:
    return _("A network meeting was cancelled: %(starts)s") % c, _(
        "%(organiser)s has cancelled the network meeting on %(starts)s, or you are no longer "
        "invited to it. The attached cancellation removes it from your calendar."
        "\n\nMeeting: %(link)s"
    ) % c


def _message_to_family(c: dict) -> tuple[str, str]:
    return _("A new message in the family portal"), _(
        "A new message is waiting for you in the family portal. Sign in to read it: %(link)s"
    ) % c


def _message_to_worker(c: dict) -> tuple[str, str]:
    return _("A new message from a family's thread"), _(
        "A new message is waiting in a thread of a case you work on: %(link)s"
    ) % c


def _contact_request_received(c: dict) -> tuple[str, str]:
    return _("A new contact request is waiting"), _(
        "A family without a case has sent a contact request to the intake queue you take "
        "requests from. Take it, open a case, refer it on or close it: %(link)s"
    ) % c


def _contact_request_referred(c: dict) -> tuple[str, str]:
    return _("A contact request was referred to your organisation"), _(
        "%(referrer)s has referred a family's contact request to your organisation's intake. "
        "See it: %(link)s"
    ) % c


def _contact_request_taken(c: dict) -> tuple[str, str]:
    return _("We have received your contact request"), _(
        "Thank you for contacting the family centre. %(worker)s will contact you by "
        "%(date)s.\n\nIf you did not send a contact request, you can ignore this message."
    ) % c


def _guardian_activation(c: dict) -> tuple[str, str]:
    return _("Your family portal account"), _(
        "A case has been opened for your family at the family centre. Your responsible worker "
        "is %(worker)s (%(organisation)s).\n\nIn the family portal you can see who works with "
        "your family and decide who may see your information. Set your password here (the "
        "link works once, for %(days)d days): %(link)s\n\nYour username: %(username)s"
    ) % c


def _case_opened_for_worker(c: dict) -> tuple[str, str]:
    return _("You are the responsible worker of a new case"), _(
        "%(actor)s has opened a case from a family's contact request and named you its "
        "responsible worker.\n\nCase: %(link)s"
    ) % c


def _booking_confirmed(c: dict) -> tuple[str, str]:
    return _("Your appointment on %(starts)s is booked") % c, _(
        "You have booked an appointment with %(worker)s on %(starts)s. The calendar entry is "
        "attached. You can cancel or move it in the family portal: %(link)s"
    ) % c


def _booking_received(c: dict) -> tuple[str, str]:
    return _("A family booked your free time on %(starts)s") % c, _(
        "A family has booked your free time on %(starts)s. The calendar entry is attached."
        "\n\nBooking: %(link)s"
    ) % c


def _booking_cancelled(c: dict) -> tuple[str, str]:
    return _("An appointment was cancelled: %(starts)s") % c, _(
        "The appointment on %(starts)s was cancelled. The attached cancellation removes it "
        "from your calendar.\n\nBooking: %(link)s"
    ) % c


TEXTS = {
    "booking_confirmed": _booking_confirmed,
    "booking_received": _booking_received,
    "booking_cancelled": _booking_cancelled,
    "invitation": _invitation,
    "contact_request_received": _contact_request_received,
    "contact_request_referred": _contact_request_referred,
    "contact_request_taken": _contact_request_taken,
    "guardian_activation": _guardian_activation,
    "case_opened_for_worker": _case_opened_for_worker,
    "consent_requested": _consent_requested,
    "consent_decided": _consent_decided,
    "handover_proposed": _handover_proposed,
    "handover_accepted": _handover_accepted,
    "referral_received": _referral_received,
    "action_due": _action_due,
    "meeting_invited": _meeting_invited,
    "meeting_changed": _meeting_changed,
    "meeting_cancelled": _meeting_cancelled,
    "message_to_family": _message_to_family,
    "message_to_worker": _message_to_worker,
}


def render(kind: str, context: dict) -> tuple[str, str]:
    """(subject, body) in every configured language, each text once."""
    subjects: list[str] = []
    bodies: list[str] = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            subject, body = TEXTS[kind](context)
        if body not in bodies:
            bodies.append(body)
        if subject not in subjects:
            subjects.append(subject)
    return " / ".join(subjects), SEPARATOR.join(bodies)


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def name_of(user: User) -> str:
    return user.get_full_name() or user.username


# --- The outbox --------------------------------------------------------------------------------


def queue(
    *, kind: str, recipients, context: dict, ics: bytes = b"", ics_method: str = ""
) -> OutboundMail | None:
    """Write a mail into the outbox, to be sent when the current transaction commits."""
    addresses = sorted({address.strip() for address in recipients if address and address.strip()})
    if not addresses:
        return None
    subject, body = render(kind, context)
    mail = OutboundMail(
        kind=kind,
        recipients="\n".join(addresses),
        subject=subject,
        body=body,
        calendar=ics.decode(),
        calendar_method=ics_method,
    )
    mail.save()
    transaction.on_commit(lambda: deliver(mail.pk), robust=True)
    return mail


def deliver(mail_id, *, now: datetime.datetime | None = None, force: bool = False) -> bool:
    """Try to send one mail of the outbox; True if it went. Never raises for a mail failure."""
    now = now or timezone.now()
    due = OutboundMail.objects.filter(pk=mail_id)
    due = (
        due.exclude(status=OutboundMail.Status.SENT)
        if force
        else due.filter(status=OutboundMail.Status.PENDING, next_attempt_at__lte=now)
    )
    if not due.update(
        status=OutboundMail.Status.PENDING,
        attempts=F("attempts") + 1,
        next_attempt_at=now + CLAIM,
    ):
        return False  # sent already, given up, not due, or another sender has it
    mail = OutboundMail.objects.get(pk=mail_id)
    try:
        message = EmailMessage(
            subject=mail.subject,
            body=mail.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=mail.recipients.split("\n"),
        )
        if mail.calendar:
            message.attach(calendar_part(mail.calendar, mail.calendar_method))
        message.send()
    except Exception as exc:  # any backend failure: keep the mail for the next attempt
        gave_up = mail.attempts >= MAX_ATTEMPTS
        logger.warning(
            "Could not send mail %s (%s), attempt %s%s",
            mail.pk,
            mail.kind,
            mail.attempts,
            "; giving up" if gave_up else "",
            exc_info=True,
        )
        OutboundMail.objects.filter(pk=mail.pk).update(
            status=OutboundMail.Status.FAILED if gave_up else OutboundMail.Status.PENDING,
            last_error=f"{type(exc).__name__}: {exc}"[:300],
            next_attempt_at=now + backoff(mail.attempts),
        )
        return False
    # Sent: the addresses and the text (an invitation's one-time link among them) are not kept.
    OutboundMail.objects.filter(pk=mail.pk).update(
        status=OutboundMail.Status.SENT,
        sent_at=timezone.now(),
        last_error="",
        recipients="",
        subject="",
        body="",
        calendar="",
    )
    return True


def calendar_part(ics: str, method: str) -> MIMEText:
    """The .ics as calendar clients expect it in a mail: text/calendar with the iTIP method in
    the content type (RFC 6047), as an attachment named invite.ics."""
    part = MIMEText(ics, "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part


def retry(*, now: datetime.datetime | None = None, everything: bool = False, limit: int = 500):
    """Send the mails that are due (or, with `everything`, all unsent ones, those given up
    included). Returns (sent, failed)."""
    now = now or timezone.now()
    rows = OutboundMail.objects.exclude(status=OutboundMail.Status.SENT)
    if not everything:
        rows = rows.filter(status=OutboundMail.Status.PENDING, next_attempt_at__lte=now)
    sent = failed = 0
    for mail_id in rows.order_by("created_at", "id").values_list("pk", flat=True)[:limit]:
        if deliver(mail_id, now=now, force=everything):
            sent += 1
        else:
            failed += 1
    return sent, failed


# --- Notifications -----------------------------------------------------------------------------


def invitation_sent(invitation, token: str) -> OutboundMail | None:
    return queue(
        kind="invitation",
        recipients=[invitation.email],
        context={
            "inviter": name_of(invitation.invited_by),
            "organisation": invitation.organisation.name,
            "link": link(f"/api/v1/invitations/{token}/accept/"),
            "expires": invitation.expires_at.date().isoformat(),
        },
    )


def referral_received(referral: Referral) -> OutboundMail | None:
    """To the receiving organisation's address, or else to its workers."""
    organisation = referral.organisation
    recipients = [organisation.email] if organisation.email else []
    if not recipients:
        recipients = list(
            User.objects.filter(
                is_active=True,
                pk__in=OrganisationMembership.objects.filter(
                    in_force(start=None),
                    organisation=organisation,
                    role=OrganisationMembership.Role.WORKER,
                ).values("user_id"),
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    return queue(
        kind="referral_received",
        recipients=recipients,
        context={
            "referrer": name_of(referral.referred_by),
            "organisation": referral.referred_by_organisation.name,
            "service": referral.service.name_fi,
            "link": link(f"/api/v1/referrals/incoming/{referral.pk}/"),
        },
    )


def action_due(action: PlanAction) -> OutboundMail | None:
    """To the worker who does the action; for someone close to the family (no account), to the
    case's responsible worker, who keeps in touch with them."""
    who = action.responsible_user or action.case.responsible_worker
    if who is None or not who.is_active or action.due_date is None:
        return None
    return queue(
        kind="action_due",
        recipients=[who.email],
        context={
            "due": action.due_date.isoformat(),
            "link": link(f"/api/v1/cases/{action.case_id}/plan/actions/{action.pk}/"),
        },
    )


def _attendees(users) -> list[User]:
    return [user for user in users if user is not None and user.is_active and user.email]


def meeting_sent(
    meeting: Meeting, *, kind: str, attendees: list[User], method: str
) -> OutboundMail | None:
    """A meeting's invitation (REQUEST) or cancellation (CANCEL) to its invited members, the
    calendar object attached; the organiser is not sent their own meeting."""
    attendees = [user for user in _attendees(attendees) if user.pk != meeting.organiser_id]
    if not attendees:
        return None
    ics = calendar.meeting_calendar(meeting, method=method, attendees=attendees)
    return queue(
        kind=kind,
        recipients=[user.email for user in attendees],
        context={
            "organiser": name_of(meeting.organiser),
            "starts": timezone.localtime(meeting.starts_at).strftime("%Y-%m-%d %H:%M"),
            "link": calendar.meeting_link(meeting),
        },
        ics=ics,
        ics_method=method,
    )


def message_posted(*, conversation, family, workers) -> list[OutboundMail]:
    """A new message (issue 17): to the family's accounts, a link to the thread in the portal;
    to the workers, a link to it in the API. Neither the text nor the subject: only where."""
    mails = []
    path = f"/cases/{conversation.case_id}/conversations/{conversation.pk}/"
    for kind, users, prefix in (
        ("message_to_family", family, "/portal"),
        ("message_to_worker", workers, "/api/v1"),
    ):
        mail = queue(
            kind=kind, recipients=_active_addresses(users), context={"link": link(prefix + path)}
        )
        if mail is not None:
            mails.append(mail)
    return mails


def send_action_reminders(*, today: datetime.date | None = None, days: int = 3) -> int:
    """Remind of open actions due within `days` (or overdue) that have not been reminded of;
    each action once per due date (changing the date re-arms it). Returns how many."""
    today = today or timezone.localdate()
    count = 0
    with transaction.atomic():
        due = (
            PlanAction.objects.select_for_update(of=("self",))
            .filter(
                status__in=PlanAction.OPEN_STATUSES,
                due_date__lte=today + datetime.timedelta(days=days),
                reminded_at__isnull=True,
                case__status=Case.Status.OPEN,
            )
            .select_related("responsible_user", "case__responsible_worker")
        )
        for action in due:
            action_due(action)
            count += 1
        PlanAction.objects.filter(pk__in=[a.pk for a in due]).update(reminded_at=timezone.now())
    return count


def _active_addresses(users) -> list[str]:
    return [user.email for user in users if user is not None and user.is_active and user.email]


@receiver(post_save, sender="consent.ConsentEvent", dispatch_uid="notify_consent_event")
def consent_event_written(sender, instance, created, raw=False, **kwargs):
    from cases.models import FamilyMember
    from consent.models import ConsentEvent

    if not created or raw:
        return
    consent = instance.consent
    case = Case.objects.select_related("responsible_worker").get(pk=consent.case_id)
    if instance.kind == ConsentEvent.Kind.REQUESTED:
        guardians = FamilyMember.objects.filter(
            family_id=case.family_id, role=FamilyMember.Role.GUARDIAN, user__isnull=False
        ).select_related("user")
        queue(
            kind="consent_requested",
            recipients=_active_addresses(g.user for g in guardians),
            context={"requester": name_of(consent.requested_by), "link": link("/portal/")},
        )
    elif instance.kind in (
        ConsentEvent.Kind.GRANTED,
        ConsentEvent.Kind.REFUSED,
        ConsentEvent.Kind.REVOKED,
    ):
        worker = case.responsible_worker
        if worker is None or instance.actor_id == worker.pk:
            return  # the worker recorded it themself
        queue(
            kind="consent_decided",
            recipients=_active_addresses([worker]),
            context={"decision": instance.kind, "link": link(f"/api/v1/cases/{case.pk}/")},
        )


@receiver(post_save, sender=Handover, dispatch_uid="notify_handover_proposed")
def handover_written(sender, instance, created, raw=False, **kwargs):
    if not created or raw or instance.status != Handover.Status.PROPOSED:
        return
    handover = Handover.objects.select_related("from_worker", "to_worker").get(pk=instance.pk)
    # A coordinator proposing on a departed worker's behalf sets `proposed_by`.
    proposer = getattr(instance, "proposed_by", None) or handover.from_worker
    queue(
        kind="handover_proposed",
        recipients=_active_addresses([handover.to_worker]),
        context={
            "proposer": name_of(proposer),
            "link": link(f"/api/v1/cases/{handover.case_id}/handovers/{handover.pk}/"),
        },
    )


@receiver(post_save, sender=Case, dispatch_uid="notify_handover_accepted")
def case_written(sender, instance, created, update_fields=None, raw=False, **kwargs):
    """A case's responsible worker changes only when a handover is accepted."""
    if created or raw or not update_fields or "responsible_worker" not in update_fields:
        return
    handover = (
        Handover.objects.filter(
            case_id=instance.pk,
            status=Handover.Status.ACCEPTED,
            to_worker_id=instance.responsible_worker_id,
        )
        .select_related("from_worker", "to_worker", "reassignment__coordinator")
        .order_by("-decided_at")
        .first()
    )
    if handover is None:
        return
    recipients = [handover.from_worker]
    reassignment = getattr(handover, "reassignment", None)
    if reassignment is not None:
        recipients.append(reassignment.coordinator)
    queue(
        kind="handover_accepted",
        recipients=_active_addresses(recipients),
        context={
            "receiver": name_of(handover.to_worker),
            "link": link(f"/api/v1/cases/{instance.pk}/handovers/{handover.pk}/"),
        },
    )


# --- The front door (issue 17, cases/intake.py) -------------------------------------------------


def _contact_request_link(contact_request) -> str:
    return link(f"/api/v1/intake/contact-requests/{contact_request.pk}/")


def contact_request_received(contact_request, *, recipients) -> OutboundMail | None:
    """To the intake workers who see the new request: that one waits, and where (no content)."""
    return queue(
        kind="contact_request_received",
        recipients=_active_addresses(recipients),
        context={"link": _contact_request_link(contact_request)},
    )


def contact_request_referred(contact_request, *, recipients) -> OutboundMail | None:
    return queue(
        kind="contact_request_referred",
        recipients=_active_addresses(recipients),
        context={
            "referrer": name_of(contact_request.referred_by),
            "link": _contact_request_link(contact_request),
        },
    )


def contact_request_taken(contact_request) -> OutboundMail | None:
    """To the sender, at the address they gave: who will contact them, and by when."""
    return queue(
        kind="contact_request_taken",
        recipients=[contact_request.email],
        context={
            "worker": name_of(contact_request.taken_by),
            "date": contact_request.contact_by.strftime("%d.%m.%Y"),
        },
    )


def guardian_activation(*, account: User, case: Case, path: str) -> OutboundMail | None:
    """To the new guardian: their responsible worker, and the one-time link that sets the
    portal account's password (stored encrypted in the outbox, cleared once sent)."""
    assert case.responsible_worker is not None and case.responsible_organisation is not None
    return queue(
        kind="guardian_activation",
        recipients=[account.email],
        context={
            "worker": name_of(case.responsible_worker),
            "organisation": case.responsible_organisation.name,
            "days": max(settings.PASSWORD_RESET_TIMEOUT // 86400, 1),
            "link": link(path),
            "username": account.username,
        },
    )


def case_opened_for_worker(*, case: Case, actor: User) -> OutboundMail | None:
    return queue(
        kind="case_opened_for_worker",
        recipients=_active_addresses([case.responsible_worker]),
        context={"actor": name_of(actor), "link": link(f"/api/v1/cases/{case.pk}/")},
    )


# --- Booking (issue 17) ------------------------------------------------------------------------


def booking_sent(booking, *, cancelled: bool = False) -> list:
    """A booking (or its cancellation) to the guardian who booked it and to the worker whose
    free time it is, each with their own calendar copy; the mails name nobody of the family."""
    from cases import booking_calendar

    slot = booking.slot
    starts = timezone.localtime(slot.starts_at).strftime("%Y-%m-%d %H:%M")
    method = booking_calendar.CANCEL if cancelled else booking_calendar.REQUEST
    sent = []
    for party, user, kind in (
        (booking_calendar.FAMILY, booking.booked_by, "booking_confirmed"),
        (booking_calendar.WORKER, slot.worker, "booking_received"),
    ):
        if not _attendees([user]):
            continue
        ics = booking_calendar.booking_calendar(
            booking,
            party=party,
            method=method,
            attendee=user if party == booking_calendar.FAMILY else None,
        )
        sent.append(
            queue(
                kind="booking_cancelled" if cancelled else kind,
                recipients=[user.email],
                context={
                    "worker": name_of(slot.worker),
                    "starts": starts,
                    "link": booking_calendar.booking_link(booking, party),
                },
                ics=ics,
                ics_method=method,
            )
        )
    return sent
