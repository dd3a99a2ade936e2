"""Consent operations. Each appends immutable events, updates the state projection, signs a
receipt for each decision and resynchronises the case's permissions, in one transaction."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Case, FamilyMember, Organisation, User
from consent import policy
from consent.models import Consent, ConsentEvent
from koordinointi.vocabulary import SECTOR_CATEGORIES, Category, Sector, age_on

NOTICE_VERSION = "2026-11-1"
DECISIONS = {ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.REFUSED, ConsentEvent.Kind.REVOKED}
FAMILY_CHANNELS = {ConsentEvent.Channel.PORTAL, ConsentEvent.Channel.API}
WORKER_CHANNELS = {ConsentEvent.Channel.ON_BEHALF, ConsentEvent.Channel.PAPER}


def notice_text(consent: Consent, recipients: list[Organisation]) -> str:
    """The exact wording the family is shown; stored with every request and decision."""
    categories = ", ".join(str(Category(c).label) for c in consent.categories)
    return _(
        "%(requester)s asks your consent to share the following information about your family "
        "with %(recipients)s: %(categories)s. Purpose: %(purpose)s. The consent is valid until "
        "%(until)s. You can refuse, and you can withdraw a consent at any time; withdrawal takes "
        "effect at once. %(message)s"
    ) % {
        "requester": consent.requested_by.get_full_name() or consent.requested_by.username,
        "recipients": ", ".join(org.name for org in recipients),
        "categories": categories,
        "purpose": consent.purpose,
        "until": timezone.localtime(consent.valid_until).date().isoformat(),
        "message": consent.message,
    }


@transaction.atomic
def consent_request(
    *,
    actor: User,
    case: Case,
    recipients: list[Organisation],
    categories: list[str],
    purpose_code: str,
    purpose: str,
    valid_until: datetime.datetime,
    message: str = "",
    valid_from: datetime.datetime | None = None,
    sector: str = "",
) -> Consent:
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status != Case.Status.OPEN:
        raise ValidationError(_("The case is closed."))
    if sector:
        # Sector-wide (issue 16), in the manner of the Kanta services: every organisation of the
        # sector in the family's area, named now, so that the notice, the receipts and the
        # family's pages say exactly to whom (a consent must be informed).
        if sector not in Sector.values:
            raise ValidationError({"sector": _("Unknown sector.")})
        named = {org.pk for org in recipients}
        recipients = list(recipients) + [
            org for org in sector_organisations(case=case, sector=sector) if org.pk not in named
        ]
    if not recipients:
        raise ValidationError({"recipients": _("Name at least one recipient organisation.")})
    if not categories:
        raise ValidationError({"categories": _("Name at least one data category.")})
    unknown = set(categories) - set(Category.values)
    if unknown:
        raise ValidationError({"categories": _("Unknown data category.")})
    now = timezone.now()
    valid_from = valid_from or now
    if valid_until <= max(valid_from, now):
        raise ValidationError({"valid_until": _("The end of the consent must be in the future.")})
    consent = Consent(
        case=case,
        categories=sorted(set(categories)),
        purpose_code=purpose_code,
        purpose=purpose,
        message=message,
        valid_from=valid_from,
        valid_until=valid_until,
        requested_by=actor,
        notice_version=NOTICE_VERSION,
        notice_text="",
        sector=sector,
    )
    consent.notice_text = notice_text(consent, recipients)
    consent.full_clean()
    consent.save()
    consent.recipients.set(recipients)
    ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.REQUESTED,
        channel=ConsentEvent.Channel.API,
        actor=actor,
        notice_version=consent.notice_version,
        notice_text=consent.notice_text,
    )
    return consent


def sector_organisations(*, case: Case, sector: str) -> list[Organisation]:
    """The organisations of a sector in the family's area: those whose own records are the
    sector's category (social care or health care notes), of an area the family's
    municipality belongs to or of no one area (the wellbeing area's services serve all)."""
    return list(
        Organisation.objects.filter(note_category=SECTOR_CATEGORIES[sector])
        .filter(Q(area__isnull=True) | Q(area__in=case.family.municipality.areas.values("pk")))
        .exclude(id__in=[case.responsible_organisation_id])
        .order_by("name", "id")
    )


def guardians_of(consent: Consent) -> list[FamilyMember]:
    return list(
        FamilyMember.objects.filter(
            family_id=consent.case.family_id, role=FamilyMember.Role.GUARDIAN
        ).order_by("id")
    )


def required_guardians(consent: Consent) -> set:
    """Guardian member ids whose grant makes a consent active."""
    guardian_ids = {g.pk for g in guardians_of(consent)}
    if consent.case.family.joint_custody and settings.CONSENT_JOINT_CUSTODY_REQUIRES_ALL_GUARDIANS:
        return guardian_ids
    return set()  # any one guardian suffices


def derive_state(consent: Consent, events: list[ConsentEvent], *, now=None) -> str:
    """The consent's state computed from its events alone (the `state` column must equal it)."""
    kinds = [e.kind for e in events]
    if ConsentEvent.Kind.REVOKED in kinds:
        return Consent.State.WITHDRAWN
    if ConsentEvent.Kind.REFUSED in kinds:
        return Consent.State.REFUSED
    if ConsentEvent.Kind.EXPIRED in kinds:
        return Consent.State.EXPIRED
    granted_by = {e.grantor_id for e in events if e.kind == ConsentEvent.Kind.GRANTED}
    required = required_guardians(consent)
    state = Consent.State.PENDING
    if granted_by and granted_by >= required:
        state = Consent.State.ACTIVE
    if now is not None and consent.valid_until <= now:
        return Consent.State.EXPIRED
    return state


def _resolve_grantor(
    *, actor: User, consent: Consent, grantor: FamilyMember | None, channel: str
) -> FamilyMember:
    """A guardian decides for themself; the responsible worker may record a guardian's decision
    given on paper or in person, naming that guardian."""
    _decider, own = policy.consent_decider(actor, consent)
    if own is not None:  # a guardian of the family
        if channel not in FAMILY_CHANNELS:
            raise ValidationError({"channel": _("A guardian decides through the portal or API.")})
        return own
    if channel not in WORKER_CHANNELS:
        raise ValidationError(
            {"channel": _("A worker records a decision as 'on_behalf' or 'paper'.")}
        )
    if (
        grantor is None
        or grantor.family_id != consent.case.family_id
        or (grantor.role != FamilyMember.Role.GUARDIAN)
    ):
        raise ValidationError({"grantor": _("Name the guardian whose decision this is.")})
    return grantor


def _append(consent: Consent, **fields) -> ConsentEvent:
    from consent import receipts

    event = ConsentEvent(consent=consent, **fields)
    event.full_clean()
    if event.kind in DECISIONS or event.kind in {
        ConsentEvent.Kind.CHILD_REFUSED,
        ConsentEvent.Kind.EXPIRED,
    }:
        event.receipt = receipts.receipt_for(event)
    event.save()
    return event


@transaction.atomic
def consent_decide(
    *,
    actor: User,
    consent: Consent,
    decision: str,
    channel: str = ConsentEvent.Channel.API,
    grantor: FamilyMember | None = None,
) -> ConsentEvent:
    """Grant, refuse or revoke. Revocation by any one guardian is enough, also in joint custody."""
    consent = Consent.objects.select_for_update().select_related("case__family").get(pk=consent.pk)
    who = _resolve_grantor(actor=actor, consent=consent, grantor=grantor, channel=channel)
    state = consent.effective_state()
    events = list(consent.events.all())
    if decision == ConsentEvent.Kind.REVOKED:
        if state != Consent.State.ACTIVE:
            raise ValidationError(_("Only a consent in force can be withdrawn."))
    elif decision in (ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.REFUSED):
        if state != Consent.State.PENDING:
            raise ValidationError(_("This consent request is no longer waiting for an answer."))
        if any(e.kind == ConsentEvent.Kind.GRANTED and e.grantor_id == who.pk for e in events):
            raise ValidationError(_("You have already given this consent."))
    else:
        raise ValidationError({"decision": _("Unknown decision.")})
    event = _append(
        consent,
        kind=decision,
        channel=channel,
        actor=actor,
        grantor=who,
        notice_version=consent.notice_version,
        notice_text=consent.notice_text,
    )
    new_state = derive_state(consent, [*events, event])
    if new_state != consent.state:
        consent.state = new_state
        consent.save(update_fields=["state"])
    policy.sync_case(case=consent.case)
    return event


def child_age(child: FamilyMember, today: datetime.date | None = None) -> int | None:
    return age_on(child.birth_date, today)


@transaction.atomic
def consent_child_view(
    *,
    actor: User,
    consent: Consent,
    child: FamilyMember,
    statement: str,
    refuse_own_notes: bool = False,
) -> ConsentEvent:
    """Record a child's view (12+), or a 15+ child's refusal to disclose notes about them."""
    consent = Consent.objects.select_for_update().select_related("case__family").get(pk=consent.pk)
    if child.family_id != consent.case.family_id or child.role != FamilyMember.Role.CHILD:
        raise ValidationError({"child": _("Name a child of this family.")})
    recorder = policy.child_view_recorder(actor, consent, child)
    age = child_age(child)
    if age is None or age < settings.CONSENT_CHILD_VIEW_AGE:
        raise ValidationError(
            {
                "child": _("A child's view is recorded from the age of %(age)s.")
                % {"age": settings.CONSENT_CHILD_VIEW_AGE}
            }
        )
    if refuse_own_notes and age < settings.CONSENT_CHILD_REFUSAL_AGE:
        raise ValidationError(
            {
                "refuse_own_notes": _("A child may refuse disclosure from the age of %(age)s.")
                % {"age": settings.CONSENT_CHILD_REFUSAL_AGE}
            }
        )
    if consent.effective_state() in (Consent.State.WITHDRAWN, Consent.State.REFUSED):
        raise ValidationError(_("This consent is no longer in force."))
    if recorder == "child":
        channel = ConsentEvent.Channel.PORTAL
    elif recorder == "guardian":
        channel = ConsentEvent.Channel.API
    else:
        channel = ConsentEvent.Channel.ON_BEHALF
    event = _append(
        consent,
        kind=ConsentEvent.Kind.CHILD_REFUSED if refuse_own_notes else ConsentEvent.Kind.CHILD_VIEW,
        channel=channel,
        actor=actor,
        grantor=child,
        subject=child,
        statement=statement,
        notice_version=consent.notice_version,
        notice_text=consent.notice_text,
    )
    policy.sync_case(case=consent.case)
    return event


@transaction.atomic
def consent_expire_due(*, now: datetime.datetime | None = None) -> int:
    """Record an `expired` event for each consent past its end; returns how many.

    Reads never depend on this: expiry is enforced at read time. This keeps the event history
    and guardian's table in step.
    """
    now = now or timezone.now()
    due = list(
        Consent.objects.select_for_update()
        .filter(state__in=[Consent.State.ACTIVE, Consent.State.PENDING], valid_until__lte=now)
        .select_related("case")
    )
    for consent in due:
        _append(
            consent,
            kind=ConsentEvent.Kind.EXPIRED,
            channel=ConsentEvent.Channel.SYSTEM,
            notice_version=consent.notice_version,
        )
        consent.state = Consent.State.EXPIRED
        consent.save(update_fields=["state"])
    for case in {consent.case for consent in due}:
        policy.sync_case(case=case)
    return len(due)
