"""The front door (issue 17): contact requests from families without a case, and what intake does
with them. Each function is one transaction; who may act on a request is `consent.policy`'s.

A request is sent from the public guide by someone with no account (`contact_request_submit`),
and waits in the intake queue of its municipality's areas. An intake worker who sees it (the
caller fetched it through `cases.selectors.contact_request_get`) takes it, naming the date by
which the family will be contacted (the family is told who and by when), opens a case with a
responsible worker (`contact_request_open_case`: a new family with the sender as its guardian,
and, when they gave an e-mail address, a portal account activated through a one-time link),
refers it on to another organisation's intake, or closes it with a reason.
"""

import datetime
import re

from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from cases import notifications
from cases.models import (
    Case,
    ContactRequest,
    Family,
    FamilyMember,
    Organisation,
    OrganisationMembership,
    User,
)
from consent import policy
from koordinointi.vocabulary import in_force

NEED_LIMIT = 4000
NOTE_LIMIT = 2000
# The family is contacted within this many days of the request being taken, at the latest.
CONTACT_WITHIN_DAYS = 30


class ActivationTokens(PasswordResetTokenGenerator):
    """One-time links for a new guardian's portal account. The token covers the password hash,
    so it stops working once a password is set (and after PASSWORD_RESET_TIMEOUT)."""

    key_salt = "koordinointi.cases.intake.ActivationTokens"


activation_tokens = ActivationTokens()


def _text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: _("This field is required.")})
    if len(value) > limit:
        raise ValidationError({field: _("Write at most %(limit)d characters.") % {"limit": limit}})
    return value


@transaction.atomic
def contact_request_submit(
    *,
    first_name: str,
    last_name: str,
    municipality,
    need: str,
    email: str = "",
    phone: str = "",
    reach_by: str = ContactRequest.Reach.PHONE,
    language: str = ContactRequest.Language.FINNISH,
) -> ContactRequest:
    """A contact request from someone without an account, into the intake queue; the intake
    workers who see it are told by e-mail (which says only that a request waits)."""
    email, phone = (email or "").strip(), (phone or "").strip()
    if not email and not phone:
        raise ValidationError(
            {"phone": _("Give a phone number or an e-mail address, so that we can reach you.")}
        )
    if reach_by == ContactRequest.Reach.EMAIL and not email:
        raise ValidationError({"email": _("Give your e-mail address, or choose the phone.")})
    if reach_by == ContactRequest.Reach.PHONE and not phone:
        raise ValidationError({"phone": _("Give your phone number, or choose e-mail.")})
    contact_request = ContactRequest(
        first_name=_text(first_name, "first_name", 150),
        last_name=_text(last_name, "last_name", 150),
        municipality=municipality,
        need=_text(need, "need", NEED_LIMIT),
        email=email,
        phone=phone,
        reach_by=reach_by,
        language=language,
    )
    contact_request.full_clean()
    contact_request.save()
    notifications.contact_request_received(
        contact_request, recipients=policy.intake_recipients(contact_request)
    )
    return contact_request


def _locked_open(contact_request: ContactRequest) -> ContactRequest:
    locked = ContactRequest.objects.select_for_update().get(pk=contact_request.pk)
    if locked.status not in ContactRequest.OPEN_STATUSES:
        raise ValidationError(_("This contact request has already been handled."))
    return locked


@transaction.atomic
def contact_request_take(
    *, actor: User, contact_request: ContactRequest, contact_by: datetime.date
) -> ContactRequest:
    """The actor takes the request and will contact the family by `contact_by`; the family is
    told who and by when (by e-mail, when they gave an address). A request taken by someone
    else may be taken over: the family is told again."""
    contact_request = _locked_open(contact_request)
    today = timezone.localdate()
    if contact_by < today:
        raise ValidationError({"contact_by": _("The date cannot be in the past.")})
    if contact_by > today + datetime.timedelta(days=CONTACT_WITHIN_DAYS):
        raise ValidationError(
            {
                "contact_by": _("Contact the family within %(days)d days.")
                % {"days": CONTACT_WITHIN_DAYS}
            }
        )
    contact_request.status = ContactRequest.Status.TAKEN
    contact_request.taken_by = actor
    contact_request.taken_at = timezone.now()
    contact_request.contact_by = contact_by
    contact_request.save(update_fields=["status", "taken_by", "taken_at", "contact_by"])
    notifications.contact_request_taken(contact_request)
    return contact_request


def _worker_organisation(worker: User) -> Organisation:
    found = list(
        OrganisationMembership.objects.filter(
            in_force(start=None), user=worker, role=OrganisationMembership.Role.WORKER
        ).select_related("organisation")[:2]
    )
    if not found:
        raise ValidationError(
            {"responsible_worker": _("Name a worker of the responsible organisation.")}
        )
    if len(found) > 1:
        raise ValidationError(
            {"organisation": _("The worker works for several organisations: choose one.")}
        )
    return found[0].organisation


def _free_username(email: str) -> str:
    """The sender's e-mail address, as a username may spell it, numbered when taken."""
    base = re.sub(r"[^\w.@+-]", "_", email.lower())[:140]
    taken = set(User.objects.filter(username__startswith=base).values_list("username", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@transaction.atomic
def contact_request_open_case(
    *,
    actor: User,
    contact_request: ContactRequest,
    responsible_worker: User | None = None,
    organisation: Organisation | None = None,
    opening_reason: str = "",
) -> ContactRequest:
    """Open a case from the request: a new family in the request's municipality with the sender
    as its guardian, and a case whose responsible worker is the one named (the actor by
    default), in post in the responsible organisation (theirs by default). A sender who gave an
    e-mail address gets a portal account, without a password, and a one-time link by e-mail to
    set one; the portal then shows them their responsible worker."""
    contact_request = _locked_open(contact_request)
    worker = responsible_worker or actor
    organisation = organisation or _worker_organisation(worker)
    policy.check_responsible_for_request(
        worker=worker, organisation=organisation, contact_request=contact_request
    )
    family = Family(
        name=contact_request.last_name,
        municipality_id=contact_request.municipality_id,
        recorded_by=organisation,
    )
    family.full_clean()
    family.save()
    account = None
    if contact_request.email:
        account = User(
            username=_free_username(contact_request.email),
            email=contact_request.email,
            first_name=contact_request.first_name,
            last_name=contact_request.last_name,
        )
        account.set_unusable_password()
        account.full_clean(exclude=["password"])
        account.save()
    contact = ", ".join(v for v in (contact_request.phone, contact_request.email) if v)
    guardian = FamilyMember(
        family=family,
        role=FamilyMember.Role.GUARDIAN,
        first_name=contact_request.first_name,
        last_name=contact_request.last_name,
        contact=contact[:300],
        user=account,
    )
    guardian.full_clean()
    guardian.save()
    case = Case(
        family=family,
        responsible_worker=worker,
        responsible_organisation=organisation,
        opening_reason=_text(opening_reason, "opening_reason", NEED_LIMIT, required=False)
        or contact_request.need,
    )
    case.full_clean(validate_constraints=False)
    case.save()
    policy.sync_case(case=case)
    now = timezone.now()
    contact_request.status = ContactRequest.Status.OPENED
    contact_request.case = case
    if contact_request.taken_by_id is None:
        contact_request.taken_by, contact_request.taken_at = actor, now
    contact_request.save(update_fields=["status", "case", "taken_by", "taken_at"])
    if account is not None:
        notifications.guardian_activation(
            account=account,
            case=case,
            path=activation_path(account),
        )
    if worker.pk != actor.pk:
        notifications.case_opened_for_worker(case=case, actor=actor)
    return contact_request


@transaction.atomic
def contact_request_refer(
    *, actor: User, contact_request: ContactRequest, organisation: Organisation, note: str = ""
) -> ContactRequest:
    """Refer the request on to another organisation's intake: it leaves this queue and waits,
    untaken, in that organisation's; its intake workers are told by e-mail."""
    contact_request = _locked_open(contact_request)
    policy.check_referral_receiver(organisation=organisation, contact_request=contact_request)
    contact_request.organisation = organisation
    contact_request.status = ContactRequest.Status.NEW
    contact_request.taken_by = None
    contact_request.taken_at = None
    contact_request.contact_by = None
    contact_request.referred_by = actor
    contact_request.referred_at = timezone.now()
    contact_request.referral_note = _text(note, "note", NOTE_LIMIT, required=False)
    contact_request.save(
        update_fields=[
            "organisation",
            "status",
            "taken_by",
            "taken_at",
            "contact_by",
            "referred_by",
            "referred_at",
            "referral_note",
        ]
    )
    notifications.contact_request_referred(
        contact_request, recipients=policy.intake_recipients(contact_request)
    )
    return contact_request


@transaction.atomic
def contact_request_close(
    *, actor: User, contact_request: ContactRequest, reason: str, note: str = ""
) -> ContactRequest:
    """Close the request without a case, with one of the reasons (and a note, if needed)."""
    contact_request = _locked_open(contact_request)
    if reason not in ContactRequest.CloseReason.values:
        raise ValidationError({"reason": _("Choose a reason for closing.")})
    contact_request.status = ContactRequest.Status.CLOSED
    contact_request.closed_by = actor
    contact_request.closed_at = timezone.now()
    contact_request.close_reason = reason
    contact_request.close_note = _text(note, "note", NOTE_LIMIT, required=False)
    contact_request.full_clean()
    contact_request.save(
        update_fields=["status", "closed_by", "closed_at", "close_reason", "close_note"]
    )
    return contact_request


# --- The new guardian's portal account -----------------------------------------------------------


def activation_path(account: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(account.pk))
    return f"/portal/activate/{uid}/{activation_tokens.make_token(account)}/"


def activation_account(*, uidb64: str, token: str) -> User | None:
    """The account a one-time activation link is for: a guardian's portal account that has no
    password yet, and the link's token is valid for it. None for anything else (a used or
    expired link, another account, a worker's)."""
    try:
        user = User.objects.filter(pk=force_str(urlsafe_base64_decode(uidb64))).first()
    except (ValueError, TypeError, OverflowError, ValidationError):
        return None
    if user is None or user.has_usable_password() or not policy.may_use_portal(user):
        return None
    return user if activation_tokens.check_token(user, token) else None


@transaction.atomic
def account_activate(*, account: User, password: str) -> User:
    """Set the new guardian's password (the link then stops working)."""
    password_validation.validate_password(password, account)
    account.set_password(password)
    account.save(update_fields=["password"])
    return account
