"""Writes of the case domain. Each function is one atomic operation that leaves the policy in step."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Case,
    Family,
    FamilyMember,
    Handover,
    Municipality,
    Organisation,
    OrganisationMembership,
    User,
)
from consent import policy


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
