"""Writes of the case domain. Each function is one atomic operation that leaves the policy in step.

Callers (API views, portal) have already fetched the case through `consent.policy` and checked
the access it needs; services enforce the domain's own invariants.
"""

import datetime
import hashlib
import logging
import secrets
from typing import cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import recorder
from audit.models import AccessEvent
from cases import calendar, notifications
from cases.models import (
    Case,
    EmergencyAccess,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Meeting,
    Municipality,
    NetworkMember,
    NonDisclosure,
    Note,
    Organisation,
    OrganisationMembership,
    Plan,
    PlanAction,
    Reassignment,
    Referral,
    Service,
    User,
)
from consent import policy
from koordinointi.vocabulary import Category, in_force

logger = logging.getLogger(__name__)


def acting_organisation(*, user: User, organisation: Organisation | None = None) -> Organisation:
    """The organisation `user` acts for as a worker: the one given, or their only one."""
    memberships = OrganisationMembership.objects.filter(
        in_force(start=None), user=user, role=OrganisationMembership.Role.WORKER
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
    policy.require_responsible(actor, case, _("Only the responsible worker can close the case."))
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
    policy.require_responsible(
        actor, case, _("Only the responsible worker can propose a handover.")
    )
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
    if policy.handover_party(actor, handover) != "receiver":
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
    party = policy.handover_party(actor, handover)
    if party == "receiver":
        new_status = Handover.Status.DECLINED
    elif party == "proposer":
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
        # Written to the outbox now, sent after commit (cases/notifications.py).
        notifications.invitation_sent(invitation, token)
    return invitation, token


def invitation_by_key(*, user: User, key: str) -> Invitation:
    """Find an invitation by its secret token, or by id when it names the signed-in user and
    an organisation they work for now (the policy)."""
    invitations = Invitation.objects.select_related("case")
    try:
        return invitations.get(token_hash=_token_hash(key))
    except Invitation.DoesNotExist:
        pass
    try:
        return policy.invitations_for_user(user, invitations).get(pk=key)
    except (Invitation.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def _check_invitee(invitation: Invitation, actor: User) -> None:
    if not policy.is_invitee(actor, invitation):
        raise PermissionDenied(_("This invitation is for someone else."))
    if not policy.may_answer_invitation(actor, invitation):
        raise Http404  # its invitee has left the organisation: as for no invitation
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
    policy.require_responsible(
        actor, invitation.case, _("Only the responsible worker can withdraw an invitation.")
    )
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
    access: policy.Access,
    category: str,
    text: str,
    subject: FamilyMember | None = None,
    protected: bool = False,
) -> Note:
    """Record a note as a worker of the organisation they act for on this case (`access`, from
    `policy.authorize`), in a category the policy lets them write in."""
    policy.check_note_category(access, category)
    if protected:
        policy.require_may_flag_protected(access)
    organisation_id = access.organisation_id
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
        protected=protected,
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


# --- Coordination (issue 6): the plan's actions, network meetings, referrals, reassignment ------


def _plan_responsible(
    case: Case, *, responsible_user: User | None, responsible_member: NetworkMember | None
) -> tuple[User | None, NetworkMember | None]:
    """Who does an action: the responsible worker, or an active member of this case's network
    (for a professional member, their account and their membership both)."""
    if responsible_member is not None:
        if responsible_member.case_id != case.pk or responsible_member.removed_at is not None:
            raise ValidationError(
                {"responsible_member": _("Name a member of this case's network.")}
            )
        if responsible_user is not None and responsible_user.pk != responsible_member.user_id:
            raise ValidationError(
                {"responsible_user": _("Name either a worker or a network member, not both.")}
            )
        return responsible_member.user, responsible_member
    if responsible_user is None:
        return None, None
    if responsible_user.pk == case.responsible_worker_id:
        return responsible_user, None
    member = NetworkMember.objects.filter(
        case=case, user=responsible_user, removed_at__isnull=True
    ).first()
    if member is None:
        raise ValidationError(
            {"responsible_user": _("Name the responsible worker or a worker in the network.")}
        )
    return responsible_user, member


@transaction.atomic
def plan_action_create(
    *,
    actor: User,
    case: Case,
    title: str,
    description: str = "",
    responsible_user: User | None = None,
    responsible_member: NetworkMember | None = None,
    due_date: datetime.date | None = None,
    status: str = PlanAction.Status.PLANNED,
    service: Service | None = None,
    protected: bool = False,
    access: policy.Access | None = None,
) -> PlanAction:
    """Add an action; one flagged `protected` needs the actor's `access` (the policy's)."""
    if protected:
        policy.require_may_flag_protected(access)
    case = _locked_open_case(case.pk)
    user, member = _plan_responsible(
        case, responsible_user=responsible_user, responsible_member=responsible_member
    )
    action = PlanAction(
        case=case,
        title=title,
        description=description,
        responsible_user=user,
        responsible_member=member,
        due_date=due_date,
        status=status,
        service=service,
        protected=protected,
        created_by=actor,
    )
    action.full_clean()
    action.save()
    return action


@transaction.atomic
def plan_action_update(
    *, actor: User, action: PlanAction, data: dict, access: policy.Access | None = None
) -> PlanAction:
    """Change an action; a new due date re-arms its reminder. Flagging it `protected` needs the
    actor's `access` (the policy's)."""
    if data.get("protected"):
        policy.require_may_flag_protected(access)
    case = _locked_open_case(action.case_id)
    action = PlanAction.objects.select_for_update().get(pk=action.pk)
    data = dict(data)
    if "responsible_user" in data or "responsible_member" in data:
        user, member = _plan_responsible(
            case,
            responsible_user=data.pop("responsible_user", None),
            responsible_member=data.pop("responsible_member", None),
        )
        data["responsible_user"], data["responsible_member"] = user, member
    changed = [name for name, value in data.items() if getattr(action, name) != value]
    for name in changed:
        setattr(action, name, data[name])
    if "due_date" in changed:
        action.reminded_at = None
        changed.append("reminded_at")
    action.updated_at = timezone.now()
    action.full_clean()
    action.save(update_fields=[*changed, "updated_at"])
    return action


def _meeting_participants(case: Case, members, family_members) -> None:
    if any(m.case_id != case.pk or m.removed_at is not None for m in members):
        raise ValidationError({"members": _("Participants must be members of this network.")})
    if any(f.family_id != case.family_id for f in family_members):
        raise ValidationError({"family_members": _("Name members of this family.")})


@transaction.atomic
def meeting_create(
    *,
    actor: User,
    case: Case,
    title: str,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    place: str = "",
    video_link: str = "",
    agenda: str = "",
    members: list[NetworkMember] | None = None,
    family_members: list[FamilyMember] | None = None,
) -> Meeting:
    case = _locked_open_case(case.pk)
    members, family_members = list(members or []), list(family_members or [])
    _meeting_participants(case, members, family_members)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": _("A meeting ends after it starts.")})
    if not place and not video_link:
        raise ValidationError(_("Give a place or a video link for the meeting."))
    meeting = Meeting(
        case=case,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        place=place,
        video_link=video_link,
        agenda=agenda,
        organiser=actor,
    )
    meeting.full_clean()
    meeting.save()
    meeting.members.set(members)
    meeting.family_members.set(family_members)
    notifications.meeting_sent(
        meeting,
        kind="meeting_invited",
        attendees=_meeting_attendees(members),
        method=calendar.REQUEST,
    )
    return meeting


def _meeting_attendees(members) -> list[User]:
    """The invited professionals (people close to the family have no account or address)."""
    return [member.user for member in members if member.user is not None]


@transaction.atomic
def meeting_update(*, actor: User, meeting: Meeting, data: dict) -> Meeting:
    """Reschedule, change or cancel a meeting. Only a real change of what a calendar copy shows
    (`calendar.CALENDAR_FIELDS`, or who is invited) raises its SEQUENCE and mails the members:
    the new copy (REQUEST), or a CANCEL on cancellation and to members no longer invited. A
    change of the agenda or of the family members taking part is saved without either."""
    case = _locked_open_case(meeting.case_id)
    meeting = Meeting.objects.select_for_update().select_related("organiser").get(pk=meeting.pk)
    data = dict(data)
    members = data.pop("members", None)
    family_members = data.pop("family_members", None)
    _meeting_participants(case, members or [], family_members or [])
    changed = [name for name, value in data.items() if getattr(meeting, name) != value]
    for name in changed:
        setattr(meeting, name, data[name])
    if meeting.ends_at <= meeting.starts_at:
        raise ValidationError({"ends_at": _("A meeting ends after it starts.")})
    before = list(meeting.members.select_related("user"))
    invited_before = {user.pk: user for user in _meeting_attendees(before)}
    if members is not None and {m.pk for m in members} == {m.pk for m in before}:
        members = None  # the same people: no change
    invited = (
        {user.pk: user for user in _meeting_attendees(members)}
        if members is not None
        else invited_before
    )
    real_change = bool(set(changed) & set(calendar.CALENDAR_FIELDS)) or members is not None
    if real_change:
        meeting.sequence += 1
    if changed or real_change:
        meeting.full_clean()
        meeting.save(update_fields=[*changed, *(["sequence"] if real_change else [])])
    if members is not None:
        meeting.members.set(members)
    if family_members is not None:
        meeting.family_members.set(family_members)
    if real_change:
        _meeting_mail(meeting, changed=changed, invited=invited, invited_before=invited_before)
    return meeting


def _meeting_mail(
    meeting: Meeting, *, changed: list[str], invited: dict, invited_before: dict
) -> None:
    if meeting.status == Meeting.Status.CANCELLED:
        if "status" in changed:  # cancelled now: everyone who had the invitation
            everyone = list({**invited_before, **invited}.values())
            notifications.meeting_sent(
                meeting, kind="meeting_cancelled", attendees=everyone, method=calendar.CANCEL
            )
        return
    if meeting.status != Meeting.Status.SCHEDULED:
        return  # held: the calendars need nothing more
    dropped = [user for pk, user in invited_before.items() if pk not in invited]
    notifications.meeting_sent(
        meeting, kind="meeting_cancelled", attendees=dropped, method=calendar.CANCEL
    )
    notifications.meeting_sent(
        meeting,
        kind="meeting_changed" if "status" not in changed else "meeting_invited",
        attendees=list(invited.values()),
        method=calendar.REQUEST,
    )


@transaction.atomic
def meeting_minutes_record(
    *, actor: User, meeting: Meeting, access: policy.Access, category: str, text: str
) -> Meeting:
    """Store the minutes as a note of the case in the category chosen for them (so that they
    are shown exactly as far as that category is), and mark the meeting held."""
    meeting = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.minutes_id is not None:
        raise ValidationError(_("This meeting already has its minutes."))
    if meeting.status == Meeting.Status.CANCELLED:
        raise ValidationError(_("The meeting was cancelled."))
    note = note_create(
        actor=actor,
        case=meeting.case,
        access=access,
        category=category,
        text=text,
    )
    meeting.minutes = note
    meeting.status = Meeting.Status.HELD
    meeting.save(update_fields=["minutes", "status"])
    return meeting


@transaction.atomic
def referral_create(*, actor: User, case: Case, service: Service, message: str = "") -> Referral:
    """Refer the family to a catalogue service; the receiving organisation is told by e-mail."""
    case = _locked_open_case(case.pk)
    assert case.responsible_organisation_id is not None  # open_case_has_responsible_worker
    if not service.is_active:
        raise ValidationError({"service": _("This service is no longer in the catalogue.")})
    if Referral.objects.filter(case=case, service=service, status=Referral.Status.SENT).exists():
        raise ValidationError({"service": _("The family is already referred to this service.")})
    referral = Referral(
        case=case,
        service=service,
        organisation_id=service.organisation_id,
        message=message,
        referred_by=actor,
        referred_by_organisation_id=case.responsible_organisation_id,
    )
    referral.full_clean(validate_constraints=False)
    referral.save()
    notifications.referral_received(referral)
    return referral


def _claim_referral(referral: Referral, **changes) -> Referral:
    claimed = Referral.objects.filter(pk=referral.pk, status=Referral.Status.SENT).update(
        decided_at=timezone.now(), **changes
    )
    if claimed != 1:
        raise ValidationError(_("This referral is no longer waiting for an answer."))
    referral.refresh_from_db()
    return referral


@transaction.atomic
def referral_withdraw(*, actor: User, referral: Referral) -> Referral:
    return _claim_referral(referral, status=Referral.Status.WITHDRAWN, decided_by=actor)


@transaction.atomic
def referral_decline(*, actor: User, referral: Referral, reason: str = "") -> Referral:
    acting_organisation(user=actor, organisation=referral.organisation)
    return _claim_referral(
        referral, status=Referral.Status.DECLINED, decided_by=actor, decline_reason=reason
    )


@transaction.atomic
def referral_accept(
    *, actor: User, referral: Referral, worker: User | None = None, role: str = ""
) -> Referral:
    """Accept a referral as a worker of the receiving organisation, naming the worker who
    joins the family's network (yourself by default).

    The worker is invited, as by the responsible worker (an `Invitation`, e-mailed), and joins
    when they accept it: joining a network stays the worker's own act, with one path and one
    trail for every way in. An invitation already waiting for them on this case is reused.
    """
    worker = worker or actor
    acting_organisation(user=actor, organisation=referral.organisation)
    try:
        acting_organisation(user=worker, organisation=referral.organisation)
    except ValidationError:
        raise ValidationError(
            {"worker": _("Name a worker of the organisation the family was referred to.")}
        ) from None
    case = _locked_open_case(referral.case_id)
    invitation = None
    already_in = worker.pk == case.responsible_worker_id or (
        NetworkMember.objects.filter(case=case, user=worker, removed_at__isnull=True).exists()
    )
    if not already_in:
        invitation = Invitation.objects.filter(
            case=case,
            invited_user=worker,
            status=Invitation.Status.PENDING,
            expires_at__gt=timezone.now(),
        ).first()
        if invitation is None:
            assert case.responsible_worker is not None  # open_case_has_responsible_worker
            invitation, _token = invitation_create(
                actor=case.responsible_worker,
                case=case,
                organisation=referral.organisation,
                invited_user=worker,
                role=role or referral.service.name_fi,
                message=_("Referral to %(service)s") % {"service": referral.service.name_fi},
            )
    return _claim_referral(
        referral,
        status=Referral.Status.ACCEPTED,
        decided_by=actor,
        accepted_worker=worker,
        invitation=invitation,
    )


@transaction.atomic
def worker_deactivate(*, actor: User, worker: User) -> User:
    """Close a worker's account. Their open cases stay theirs, and wait in the coordinators'
    reassignment queue until a new responsible worker accepts; handovers and invitations that
    were waiting for them are withdrawn, as they can no longer answer. Only a coordinator, and
    only a worker's account (policy.require_may_deactivate)."""
    policy.require_may_deactivate(user=actor, worker=worker)
    worker = User.objects.select_for_update().get(pk=worker.pk)
    if worker.is_active:
        worker.is_active = False
        worker.save(update_fields=["is_active"])
    now = timezone.now()
    waiting = list(
        Handover.objects.filter(to_worker=worker, status=Handover.Status.PROPOSED).select_related(
            "case"
        )
    )
    Handover.objects.filter(pk__in=[h.pk for h in waiting]).update(
        status=Handover.Status.CANCELLED, decided_at=now
    )
    Invitation.objects.filter(invited_user=worker, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.WITHDRAWN, decided_at=now
    )
    policy.sync_cases(cases={h.case for h in waiting})
    return worker


@transaction.atomic
def membership_end(*, actor: User, membership: OrganisationMembership) -> OrganisationMembership:
    """End a worker's membership of an organisation; their cases there wait for reassignment."""
    membership = OrganisationMembership.objects.select_for_update().get(pk=membership.pk)
    membership.is_active = False
    membership.ended_at = membership.ended_at or timezone.now()
    membership.save(update_fields=["is_active", "ended_at"])
    return membership


@transaction.atomic
def handover_reassign(
    *,
    actor: User,
    case: Case,
    to_worker: User,
    to_organisation: Organisation | None = None,
    message: str = "",
) -> Handover:
    """A coordinator proposes, on behalf of a responsible worker who has left, that `to_worker`
    takes the case over. The case stays with the former worker until `to_worker` accepts
    through the usual `handover_accept`; a proposal still waiting is replaced by this one."""
    case = _locked_open_case(case.pk)
    memberships = policy.require_coordinator(actor)
    in_queue = policy.cases_without_worker_in_post(
        policy.coordinated_cases(memberships).filter(pk=case.pk)
    )
    if not in_queue.exists():
        raise ValidationError(_("The responsible worker of this case is still in post."))
    if to_worker.pk == case.responsible_worker_id:
        raise ValidationError({"to_worker": _("This worker is already responsible.")})
    if not to_worker.is_active:
        raise ValidationError({"to_worker": _("This account is not active.")})
    try:
        to_organisation = acting_organisation(user=to_worker, organisation=to_organisation)
    except ValidationError:
        raise ValidationError(
            {"to_organisation": _("The receiving worker must work for the organisation given.")}
        ) from None
    assert case.responsible_worker is not None  # open_case_has_responsible_worker
    reason = Reassignment.Reason(policy.reassignment_reason(case))
    Handover.objects.filter(case=case, status=Handover.Status.PROPOSED).update(
        status=Handover.Status.CANCELLED, decided_at=timezone.now()
    )
    handover = Handover(
        case=case,
        from_worker=case.responsible_worker,
        to_worker=to_worker,
        to_organisation=to_organisation,
        message=message,
    )
    handover.full_clean(validate_constraints=False)
    handover.proposed_by = actor  # named in the mail to the receiver (cases/notifications.py)
    handover.save()
    Reassignment.objects.create(case=case, handover=handover, coordinator=actor, reason=reason)
    policy.sync_case(case=case)
    return handover


# --- Emergency access (issue 8): break-the-glass -------------------------------------------------

EMERGENCY_REASON_MIN_LENGTH = 10
EMERGENCY_REASON_MAX_LENGTH = cast(int, EmergencyAccess._meta.get_field("reason").max_length)


def _same_reason(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


@transaction.atomic
def emergency_access_open(
    *,
    actor: User,
    case: Case,
    reason: str,
    organisation: Organisation | None = None,
    now: datetime.datetime | None = None,
) -> EmergencyAccess:
    """Open `case` to `actor` for `EMERGENCY_ACCESS_HOURS`, for `reason`. The caller has checked
    the emergency permission (consent.policy.emergency_case_for_user). A grant is never
    extended: more time takes a new grant, with a reason the worker has not given for this case
    before."""
    now = now or timezone.now()
    case = _locked_open_case(case.pk)  # one grant at a time per case; closed cases never
    organisation = acting_organisation(user=actor, organisation=organisation)
    reason = " ".join((reason or "").split())
    if len(reason) < EMERGENCY_REASON_MIN_LENGTH:
        raise ValidationError(
            {
                "reason": _(
                    "Give the reason for the emergency access in at least %(n)d characters."
                )
                % {"n": EMERGENCY_REASON_MIN_LENGTH}
            }
        )
    earlier = EmergencyAccess.objects.filter(case=case, user=actor).values_list("reason", flat=True)
    if any(_same_reason(reason, given) for given in earlier):
        raise ValidationError(
            {
                "reason": _(
                    "You have given this reason for this case before. An emergency access is "
                    "never extended: give the new reason for opening the case again."
                )
            }
        )
    hours = settings.EMERGENCY_ACCESS_HOURS
    grant = EmergencyAccess(
        case=case,
        user=actor,
        organisation=organisation,
        reason=reason,
        started_at=now,
        expires_at=now + datetime.timedelta(hours=hours),
    )
    # The case, worker and organisation were just read; the database checks the constraints.
    grant.full_clean(
        exclude=["case", "user", "organisation"], validate_unique=False, validate_constraints=False
    )
    grant.save()
    policy.sync_case(case=case)
    # Logged here, in this transaction: the opening is the auditors' first sign of it.
    recorder.note_allowed(
        actor=actor,
        case=case,
        access=policy.access_for(actor, [case], now=now)[case.pk],
        resource="emergency-access",
        action=AccessEvent.Action.VIEW,
    )
    logger.info("emergency access %s opened to case %s", grant.pk, case.pk)
    return grant


# --- Non-disclosure (issue 16): a family member's marking for personal safety (turvakielto) ----


@transaction.atomic
def non_disclosure_mark(
    *,
    actor: User,
    case: Case,
    access: policy.Access,
    member: FamilyMember,
    readers: list[NetworkMember] | tuple = (),
) -> tuple[NonDisclosure, bool]:
    """Mark `member` under non-disclosure (or, when a marking of theirs is in force, change
    whom it names), naming the professional network members of this case who may see the
    protected data. Returns (marking, whether it is new). The responsible worker's alone."""
    policy.require_may_mark_non_disclosure(access)
    case = _locked_open_case(case.pk)
    if member.family_id != case.family_id:
        raise ValidationError({"member": _("Name a member of this family.")})
    if any(
        reader.case_id != case.pk
        or reader.removed_at is not None
        or reader.kind != NetworkMember.Kind.PROFESSIONAL
        for reader in readers
    ):
        raise ValidationError({"readers": _("Name professional members of this case's network.")})
    marking = (
        NonDisclosure.objects.select_for_update()
        .filter(member=member, lifted_at__isnull=True)
        .first()
    )
    created = marking is None
    if marking is None:
        marking = NonDisclosure(member=member, marked_by=actor)
        marking.full_clean()
        marking.save()
    marking.readers.set(readers)
    return marking, created


@transaction.atomic
def non_disclosure_lift(
    *, actor: User, case: Case, access: policy.Access, member: FamilyMember
) -> NonDisclosure:
    """Lift the marking in force of `member`: the time and the worker are recorded."""
    policy.require_may_mark_non_disclosure(access)
    case = _locked_open_case(case.pk)
    marking = (
        NonDisclosure.objects.select_for_update()
        .filter(member=member, member__family_id=case.family_id, lifted_at__isnull=True)
        .first()
    )
    if marking is None:
        raise ValidationError({"member": _("This member has no non-disclosure marking in force.")})
    marking.lifted_at = timezone.now()
    marking.lifted_by = actor
    marking.save(update_fields=["lifted_at", "lifted_by"])
    return marking


# --- Correction requests (GDPR Art. 16) ----------------------------------------------------------

CORRECTION_TEXT_LIMIT = 4000


def _correction_item_category(*, case: Case, access: policy.Access, kind: str, item_id) -> str:
    """The data category of the item named, which must be one the family sees on its case (the
    same reads as the portal's pages); a 400 otherwise, alike for one that does not exist."""
    from cases import selectors
    from cases.models import CorrectionRequest

    Item = CorrectionRequest.Item
    missing = ValidationError({"item": _("Choose an item of your family's information.")})
    if kind == Item.PLAN:
        if not Plan.objects.filter(case=case).exists():
            raise missing
        return Category.PLAN
    if item_id is None:
        raise missing
    category: str
    if kind == Item.MEMBER:
        found = FamilyMember.objects.filter(family_id=case.family_id, pk=item_id).exists()
        category = Category.BASIC
    elif kind == Item.PLAN_ACTION:
        found = selectors.plan_action_list(case=case, access=access).filter(pk=item_id).exists()
        category = Category.PLAN
    elif kind == Item.NOTE:
        note = selectors.note_list(case=case, access=access).filter(pk=item_id).first()
        found, category = note is not None, (note.category if note else "")
    else:
        raise missing
    if not found:
        raise missing
    return category


def _correction_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: _("This field is required.")})
    if len(value) > CORRECTION_TEXT_LIMIT:
        raise ValidationError(
            {field: _("At most %(limit)d characters.") % {"limit": CORRECTION_TEXT_LIMIT}}
        )
    return value


@transaction.atomic
def correction_request_create(
    *,
    actor: User,
    case: Case,
    access: policy.Access,
    item_kind: str,
    item_id=None,
    what_is_wrong: str,
    should_say: str,
):
    """A guardian asks to correct one item of the family's data; it waits on the responsible
    worker's desk (/me/work/). `access` is the actor's, from `policy.authorize`: only the
    family files one (anyone else gets 404, as for a case they cannot see)."""
    from cases.models import CorrectionRequest

    policy.check(access, policy.Need.FAMILY)
    category = _correction_item_category(case=case, access=access, kind=item_kind, item_id=item_id)
    correction = CorrectionRequest(
        case=case,
        item_kind=item_kind,
        item_id=None if item_kind == CorrectionRequest.Item.PLAN else item_id,
        category=category,
        what_is_wrong=_correction_text(what_is_wrong, "what_is_wrong"),
        should_say=_correction_text(should_say, "should_say"),
        requested_by=actor,
    )
    correction.full_clean()
    correction.save()
    return correction


@transaction.atomic
def correction_answer(*, actor: User, correction, outcome: str, answer: str):
    """The responsible worker answers a correction request: `corrected` (with the correction
    made or described) or `refused` (with the reason, which the family sees)."""
    from cases.models import CorrectionRequest

    correction = (
        CorrectionRequest.objects.select_for_update().select_related("case").get(pk=correction.pk)
    )
    policy.require_responsible(
        actor, correction.case, _("Only the case's responsible worker answers its corrections.")
    )
    if correction.status != CorrectionRequest.Status.OPEN:
        raise ValidationError({"status": _("This request has already been answered.")})
    if outcome not in (CorrectionRequest.Status.CORRECTED, CorrectionRequest.Status.REFUSED):
        raise ValidationError({"outcome": _("The answer is either corrected or refused.")})
    correction.status = outcome
    correction.answer = _correction_text(answer, "answer")
    correction.answered_by = actor
    correction.answered_at = timezone.now()
    correction.full_clean()
    correction.save(update_fields=["status", "answer", "answered_by", "answered_at"])
    return correction
