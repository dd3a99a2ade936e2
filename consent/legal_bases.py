"""Legal bases (issue 16): statutory reasons that allow a disclosure without consent, recorded
and ended by the case's responsible worker. Each write is one transaction that also brings
guardian's rows in step (`policy.sync_case`); the change history keeps who did what."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Case, Organisation, User
from consent import policy
from consent.models import LegalBasis
from koordinointi.vocabulary import Category, StatutoryBasis

TEXT_LIMIT = 4000


def _text(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    if len(value) > TEXT_LIMIT:
        raise ValidationError({field: _("At most %(limit)d characters.") % {"limit": TEXT_LIMIT}})
    return value


@transaction.atomic
def legal_basis_record(
    *,
    actor: User,
    case: Case,
    access: policy.Access,
    organisation: Organisation,
    categories: list[str],
    basis: str,
    reason: str,
    valid_until: datetime.datetime,
    valid_from: datetime.datetime | None = None,
    withheld_from_family: bool = False,
    withheld_reason: str = "",
) -> LegalBasis:
    """Record that a law allows disclosing `categories` of the case to `organisation` until
    `valid_until`, and why. With `withheld_from_family`, the family does not see it in the
    portal: `withheld_reason` says why telling them now would endanger the child."""
    policy.require_may_record_legal_basis(access)
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != Case.Status.OPEN:
        raise ValidationError(_("The case is closed."))
    if not categories:
        raise ValidationError({"categories": _("Name at least one data category.")})
    if set(categories) - set(Category.values):
        raise ValidationError({"categories": _("Unknown data category.")})
    if basis not in StatutoryBasis.values:
        raise ValidationError({"basis": _("Unknown legal basis.")})
    if organisation.pk == case.responsible_organisation_id:
        raise ValidationError(
            {"organisation": _("The responsible organisation keeps the case: it needs no basis.")}
        )
    reason = _text(reason, "reason", _("Say why the law allows this disclosure."))
    if withheld_from_family:
        withheld_reason = _text(
            withheld_reason,
            "withheld_reason",
            _("Say why telling the family now would endanger the child."),
        )
    elif (withheld_reason or "").strip():
        raise ValidationError(
            {"withheld_reason": _("Give this reason only when the family is not told.")}
        )
    now = timezone.now()
    valid_from = valid_from or now
    if valid_until <= max(valid_from, now):
        raise ValidationError({"valid_until": _("The end of the basis must be in the future.")})
    legal_basis = LegalBasis(
        case=case,
        organisation=organisation,
        categories=sorted(set(categories)),
        basis=basis,
        reason=reason,
        recorded_by=actor,
        valid_from=valid_from,
        valid_until=valid_until,
        withheld_from_family=withheld_from_family,
        withheld_reason=withheld_reason if withheld_from_family else "",
    )
    legal_basis.full_clean()
    legal_basis.save()
    policy.sync_case(case=case)
    return legal_basis


@transaction.atomic
def legal_basis_end(
    *, actor: User, case: Case, access: policy.Access, legal_basis: LegalBasis
) -> LegalBasis:
    """End a legal basis now: it allows nothing from the very next request."""
    policy.require_may_record_legal_basis(access)
    legal_basis = LegalBasis.objects.select_for_update().get(pk=legal_basis.pk, case=case)
    if legal_basis.ended_at is not None:
        raise ValidationError(_("This legal basis has already ended."))
    legal_basis.ended_at = timezone.now()
    legal_basis.ended_by = actor
    legal_basis.save(update_fields=["ended_at", "ended_by"])
    policy.sync_case(case=case)
    return legal_basis
