"""Retention: closed cases older than `CASE_RETENTION_DAYS` are deleted with their family data.

One case at a time, each in its own transaction: the case and everything recorded on it (notes,
plan and its actions, meetings, referrals, network, invitations, handovers, consents with their
events and recipients, object permissions), its change history (django-auditlog entries of
those objects, which hold their old field values), and the family with its members when it has
no other case. The consent events' immutability is a guard in the model's `delete()`: the purge
is the one place that deletes them, deliberately, through the queryset (which does not call it).

The access log is kept as it is: its events carry ids only, never names, and deleting them is
`purge_audit`'s job (it cuts the chain only at a signed checkpoint). The purge is logged itself
(resource "case", action "write", purpose "retention purge", the case's and family's ids) and a
checkpoint signs the chain after it, so the log shows that the data left, when and by whom.
"""

import datetime
from dataclasses import dataclass, field

from auditlog.context import disable_auditlog
from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from audit import chain
from audit import history as change_history
from audit.checkpoints import create_checkpoint
from audit.models import AccessEvent
from cases.models import (
    Case,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Meeting,
    NetworkMember,
    Note,
    Plan,
    PlanAction,
    Reassignment,
    Referral,
)
from consent.models import Consent, ConsentEvent

PURGE_PURPOSE = "retention purge"

# Deleted in this order: each model before the models it protects (Meeting -> its minutes Note,
# PlanAction -> NetworkMember, Reassignment -> Handover, ConsentEvent -> Consent and
# FamilyMember). Whatever else hangs on a case goes with `case.delete()`'s cascade at the end;
# a protected reference nobody thought of stops that case's purge (and rolls it back) instead.
CASE_DATA = [
    Reassignment,
    Meeting,
    PlanAction,
    Referral,
    Handover,
    Invitation,
    NetworkMember,
    Note,
    Plan,
]


@dataclass
class Purged:
    case_id: object
    family_id: object
    closed_at: datetime.datetime
    family_deleted: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    event: AccessEvent | None = None


def retention_cutoff(*, now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) - datetime.timedelta(days=settings.CASE_RETENTION_DAYS)


def cases_due_for_purge(*, now: datetime.datetime | None = None) -> models.QuerySet:
    """Closed cases whose closing is older than the retention period, oldest first."""
    return Case.objects.filter(
        status=Case.Status.CLOSED, closed_at__lt=retention_cutoff(now=now)
    ).order_by("closed_at", "id")


def _delete(queryset: models.QuerySet, purged: Purged, history: dict) -> None:
    model = queryset.model
    pks = list(queryset.values_list("pk", flat=True))
    if not pks:
        return
    history.setdefault(model, []).extend(str(pk) for pk in pks)
    count, _per_model = model.objects.filter(pk__in=pks).delete()
    purged.deleted[model._meta.label] = purged.deleted.get(model._meta.label, 0) + len(pks)


@transaction.atomic
def case_purge(*, case_id, operator: str, now: datetime.datetime | None = None) -> Purged | None:
    """Delete one closed case past retention with its family data; None if it is not (any
    longer) due: it was reopened, or purged by another run meanwhile."""
    case = cases_due_for_purge(now=now).select_for_update().filter(pk=case_id).first()
    if case is None:
        return None
    purged = Purged(case_id=case.pk, family_id=case.family_id, closed_at=case.closed_at)
    history: dict[type[models.Model], list[str]] = {}
    with disable_auditlog():  # a deletion's history entry would copy the data being deleted
        _delete(ConsentEvent.objects.filter(consent__case=case), purged, history)
        _delete(Consent.objects.filter(case=case), purged, history)
        for model in CASE_DATA:
            _delete(model._default_manager.filter(case=case), purged, history)
        _delete(Case.objects.filter(pk=case.pk), purged, history)
        if not Case.objects.filter(family_id=case.family_id).exists():
            _delete(FamilyMember.objects.filter(family_id=case.family_id), purged, history)
            _delete(Family.objects.filter(pk=case.family_id), purged, history)
            purged.family_deleted = True
    for model, pks in history.items():
        content_type = ContentType.objects.get_for_model(model)
        entries = LogEntry.objects.filter(content_type=content_type, object_pk__in=pks)
        change_history.erase(list(entries.values_list("id", flat=True)))

    (purged.event,) = chain.append(
        [
            AccessEvent(
                username=operator[:150],
                case_id=case.pk,
                family_id=case.family_id,
                controller_id=case.responsible_organisation_id,
                resource="case",
                action=AccessEvent.Action.WRITE,
                outcome=AccessEvent.Outcome.ALLOWED,
                purpose=PURGE_PURPOSE,
            )
        ]
    )
    create_checkpoint(chain=purged.event.chain)
    return purged
