"""Writes of the case domain. Each function is one atomic operation that leaves the policy in step.

Callers (API views, portal) have already fetched the case through `consent.policy` and checked
the access it needs; services enforce the domain's own invariants.
"""

import datetime
import hashlib
import logging
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Case,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Municipality,
    NetworkMember,
    Note,
    Organisation,
    OrganisationMembership,
    Plan,
    User,
)
from consent import policy

logger = logging.getLogger(__name__)


def acting_organisation(*, user: User, organisation: Organisation | None = None) -> Organisation:
    """The organisation `user` acts for as a worker: the one given, or their only one."""
    memberships = OrganisationMembership.objects.filter(
        user=user, is_active=True, role=OrganisationMembership.Role.WORKER
    ).select_related("organisation")
    if organisation is not None:
        memberships = memberships.filter(organisation=organisation)
    found = list(memberships[:2])
    if not found:
        raise ValidationError(
            {"organisation": _("You do not work for this organisation.")}
            if organisation is not None
            else _("Only a worker of an organisation can do this.")
        )
    if len(found) > 1:
        raise ValidationError(
            {"organisation": _("You work for several organisations: choose one.")}
        )
    return found[0].organisation


@transaction.atomic
def family_create(
    *,
    actor: User,
    name: str,
    municipality: Municipality,
    joint_custody: bool = False,
    members: list[dict] | None = None,
    organisation: Organisation | None = None,
    opening_reason: str = "",
) -> Family:
    """Register a family and open its case, with the actor as the responsible worker."""
    recorded_by = acting_organisation(user=actor, organisation=organisation)
    family = Family(
        name=name, municipality=municipality, joint_custody=joint_custody, recorded_by=recorded_by
    )
    family.full_clean()
    family.save()
    for data in members or []:
        member = FamilyMember(family=family, **data)
        member.full_clean()
        member.save()
    case_open(actor=actor, family=family, organisation=recorded_by, opening_reason=opening_reason)
    return family


@transaction.atomic
def family_update(*, actor: User, family: Family, data: dict) -> Family:
    """Change a family's own fields; the caller has checked `change_case` on one of its cases."""
    for field, value in data.items():
        setattr(family, field, value)
    family.full_clean()
    family.save(update_fields=list(data))
    return family


@transaction.atomic
def case_open(
    *,
    actor: User,
    family: Family,
    organisation: Organisation | None = None,
    opening_reason: str = "",
) -> Case:
    organisation = acting_organisation(user=actor, organisation=organisation)
    if Case.objects.filter(family=family, status=Case.Status.OPEN).exists():
        raise ValidationError({"family": _("This family already has an open case.")})
    case = Case(
        family=family,
        responsible_worker=actor,
        responsible_organisation=organisation,
        opening_reason=opening_reason,
    )
    case.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            case.save()
    except IntegrityError:  # a concurrent request opened one first
        raise ValidationError({"family": _("This family already has an open case.")}) from None
    policy.sync_case(case=case)
    return case


@transaction.atomic
def case_update(*, actor: User, case: Case, opening_reason: str) -> Case:
    case = _locked_open_case(case.pk)
    case.opening_reason = opening_reason
    case.full_clean()
    case.save(update_fields=["opening_reason"])
    return case


@transaction.atomic
def case_close(*, actor: User, case: Case, reason: str) -> Case:
    case = _locked_open_case(case.pk)
    if case.responsible_worker_id != actor.pk:
        raise PermissionDenied(_("Only the responsible worker can close the case."))
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for closing the case.")})
    Handover.objects.filter(case=case, status=Handover.Status.PROPOSED).update(
        status=Handover.Status.CANCELLED, decided_at=timezone.now()
    )
    case.status = Case.Status.CLOSED
    case.closed_at = timezone.now()
    case.closing_reason = reason.strip()
    case.full_clean()
    case.save(update_fields=["status", "closed_at", "closing_reason"])
    policy.sync_case(case=case)
    return case


@transaction.atomic
def handover_propose(
    *,
    actor: User,
    case: Case,
    to_worker: User,
    to_organisation: Organisation | None = None,
    message: str = "",
) -> Handover:
    case = _locked_open_case(case.pk)
    if case.responsible_worker_id != actor.pk:
        raise PermissionDenied(_("Only the responsible worker can propose a handover."))
    if to_worker.pk == actor.pk:
        raise ValidationError({"to_worker": _("You are already the responsible worker.")})
    if not to_worker.is_active:
        raise ValidationError({"to_worker": _("This account is not active.")})
    try:
        to_organisation = acting_organisation(user=to_worker, organisation=to_organisation)
    except ValidationError:
        raise ValidationError(
            {"to_organisation": _("The receiving worker must work for the organisation given.")}
        ) from None
    if Handover.objects.filter(case=case, status=Handover.Status.PROPOSED).exists():
        raise ValidationError(_("This case already has a handover waiting for an answer."))
    handover = Handover(
        case=case,
        from_worker=actor,
        to_worker=to_worker,
        to_organisation=to_organisation,
        message=message,
    )
    handover.full_clean(validate_constraints=False)
    handover.save()
    policy.sync_case(case=case)
    return handover


@transaction.atomic
def handover_accept(*, actor: User, handover: Handover) -> Handover:
    """The receiving worker accepts: responsibility moves in the same transaction, never a gap.

    The case row is locked first, then the handover is claimed with a conditional update, so
    of two concurrent accepts exactly one succeeds.
    """
    case = _locked_open_case(handover.case_id)
    if handover.to_worker_id != actor.pk:
        raise PermissionDenied(_("Only the receiving worker can accept this handover."))
    acting_organisation(user=actor, organisation=handover.to_organisation)
    claimed = Handover.objects.filter(
        pk=handover.pk,
        status=Handover.Status.PROPOSED,
        from_worker_id=case.responsible_worker_id,
    ).update(status=Handover.Status.ACCEPTED, decided_at=timezone.now())
    if claimed != 1:
        raise ValidationError(_("This handover is no longer waiting for an answer."))
    handover.refresh_from_db()
    case.responsible_worker = actor
    case.responsible_organisation = handover.to_organisation
    case.save(update_fields=["responsible_worker", "responsible_organisation"])
    policy.sync_case(case=case)
    return handover


@transaction.atomic
def handover_decline(*, actor: User, handover: Handover) -> Handover:
    """The receiver declines, or the proposer withdraws; the responsible worker stays."""
    if actor.pk == handover.to_worker_id:
        new_status = Handover.Status.DECLINED
    elif actor.pk == handover.from_worker_id:
        new_status = Handover.Status.CANCELLED
    else:
        raise PermissionDenied(_("Only the two workers of a handover can decline it."))
    updated = Handover.objects.filter(pk=handover.pk, status=Handover.Status.PROPOSED).update(
        status=new_status, decided_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("This handover is no longer waiting for an answer."))
    handover.refresh_from_db()
    policy.sync_case(case=handover.case)
    return handover


def _locked_open_case(case_id) -> Case:
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.status != Case.Status.OPEN:
        raise ValidationError(_("The case is closed."))
    return case


@transaction.atomic
def network_add_professional(
    *, actor: User, case: Case, user: User, organisation: Organisation | None = None, role: str = ""
) -> NetworkMember:
    case = _locked_open_case(case.pk)
    organisation = acting_organisation(user=user, organisation=organisation)
    if user.pk == case.responsible_worker_id:
        raise ValidationError({"user": _("The responsible worker is already in the network.")})
    if NetworkMember.objects.filter(case=case, user=user, removed_at__isnull=True).exists():
        raise ValidationError({"user": _("This worker is already in the network.")})
    member = NetworkMember(
        case=case,
        kind=NetworkMember.Kind.PROFESSIONAL,
        user=user,
        organisation=organisation,
        role=role,
        added_by=actor,
    )
    member.full_clean(validate_constraints=False)
    member.save()
    policy.sync_case(case=case)
    return member


@transaction.atomic
def network_add_informal(
    *, actor: User, case: Case, name: str, relationship: str = "", contact: str = ""
) -> NetworkMember:
    case = _locked_open_case(case.pk)
    member = NetworkMember(
        case=case,
        kind=NetworkMember.Kind.INFORMAL,
        name=name,
        relationship=relationship,
        contact=contact,
        added_by=actor,
    )
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def network_remove(*, actor: User, member: NetworkMember) -> NetworkMember:
    """End a membership; the member's access ends with this transaction."""
    updated = NetworkMember.objects.filter(pk=member.pk, removed_at__isnull=True).update(
        removed_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("This member has already left the network."))
    member.refresh_from_db()
    policy.sync_case(case=member.case)
    return member


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *,
    actor: User,
    case: Case,
    organisation: Organisation,
    invited_user: User | None = None,
    email: str = "",
    role: str = "",
    message: str = "",
) -> tuple[Invitation, str]:
    """Invite a worker by account or by e-mail. Returns the invitation and its one-time token,
    which is sent by e-mail after the transaction commits and never stored in plain text."""
    case = _locked_open_case(case.pk)
    if invited_user is None and not email:
        raise ValidationError(_("Name the worker to invite: an account or an e-mail address."))
    if invited_user is not None:
        if (
            NetworkMember.objects.filter(
                case=case, user=invited_user, removed_at__isnull=True
            ).exists()
            or invited_user.pk == case.responsible_worker_id
        ):
            raise ValidationError({"invited_user": _("This worker is already in the network.")})
        acting_organisation(user=invited_user, organisation=organisation)
        email = email or invited_user.email
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        case=case,
        organisation=organisation,
        invited_user=invited_user,
        email=email,
        role=role,
        message=message,
        token_hash=_token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + datetime.timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    if email:
        transaction.on_commit(lambda: _send_invitation(invitation, token))
    return invitation, token


def _send_invitation(invitation: Invitation, token: str) -> None:
    link = f"{settings.PUBLIC_BASE_URL}/api/v1/invitations/{token}/accept/"
    try:
        send_mail(
            subject=_("You are invited into a family's network"),
            message=_(
                "%(inviter)s invites you into the network of a family's case as a worker of "
                "%(organisation)s.\n\nAccept: %(link)s\n\nThe invitation expires on %(expires)s."
            )
            % {
                "inviter": invitation.invited_by.get_full_name() or invitation.invited_by.username,
                "organisation": invitation.organisation.name,
                "link": link,
                "expires": invitation.expires_at.date().isoformat(),
            },
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:  # the invitation stands; the worker can resend it
        logger.exception("Could not send invitation %s", invitation.pk)


def invitation_by_key(*, user: User, key: str) -> Invitation:
    """Find an invitation by its secret token, or by id when it names the signed-in user."""
    try:
        return Invitation.objects.select_related("case").get(token_hash=_token_hash(key))
    except Invitation.DoesNotExist:
        pass
    try:
        return Invitation.objects.select_related("case").get(pk=key, invited_user=user)
    except (Invitation.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def _check_invitee(invitation: Invitation, actor: User) -> None:
    if invitation.invited_user_id is not None:
        allowed = invitation.invited_user_id == actor.pk
    else:
        allowed = bool(actor.email) and actor.email.lower() == invitation.email.lower()
    if not allowed:
        raise PermissionDenied(_("This invitation is for someone else."))
    if invitation.status != Invitation.Status.PENDING:
        raise ValidationError(_("This invitation has already been answered or withdrawn."))
    if invitation.is_expired:
        raise ValidationError(_("This invitation has expired."))


@transaction.atomic
def invitation_accept(*, actor: User, invitation: Invitation) -> NetworkMember:
    _check_invitee(invitation, actor)
    claimed = Invitation.objects.filter(
        pk=invitation.pk, status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
    ).update(status=Invitation.Status.ACCEPTED, decided_at=timezone.now())
    if claimed != 1:
        raise ValidationError(_("This invitation has already been answered or withdrawn."))
    return network_add_professional(
        actor=invitation.invited_by,
        case=invitation.case,
        user=actor,
        organisation=invitation.organisation,
        role=invitation.role,
    )


@transaction.atomic
def invitation_decline(*, actor: User, invitation: Invitation) -> Invitation:
    _check_invitee(invitation, actor)
    Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.DECLINED, decided_at=timezone.now()
    )
    invitation.refresh_from_db()
    return invitation


@transaction.atomic
def invitation_withdraw(*, actor: User, invitation: Invitation) -> Invitation:
    updated = Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.WITHDRAWN, decided_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError(_("This invitation has already been answered or withdrawn."))
    invitation.refresh_from_db()
    return invitation


@transaction.atomic
def note_create(
    *,
    actor: User,
    case: Case,
    organisation_id,
    category: str,
    text: str,
    subject: FamilyMember | None = None,
) -> Note:
    """Record a note as a worker of `organisation` (the one they act for on this case)."""
    case = _locked_open_case(case.pk)
    if subject is not None and subject.family_id != case.family_id:
        raise ValidationError({"subject": _("The subject must be a member of this family.")})
    note = Note(
        case=case,
        category=category,
        author=actor,
        organisation_id=organisation_id,
        subject=subject,
        text=text,
    )
    note.full_clean()
    note.save()
    return note


@transaction.atomic
def plan_update(*, actor: User, case: Case, data: dict) -> Plan:
    case = _locked_open_case(case.pk)
    plan, _created = Plan.objects.get_or_create(case=case)
    for name, value in data.items():
        setattr(plan, name, value)
    plan.updated_at = timezone.now()
    plan.updated_by = actor
    plan.full_clean()
    plan.save()
    return plan
