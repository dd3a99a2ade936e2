"""What the family sees of its case: one builder per portal page, and the family's own copy
(GDPR Art. 15 and 20) made of exactly those builders, so that the copy can show neither more
nor less than the portal. Each builder also says which data categories it showed, recorded by
which organisations: the page's access-log entry is made from the same object it renders.

Every function takes the (case, access) that `policy.authorize(need=Need.FAMILY)` returned and
checks it again, so nothing here answers anyone but a guardian of the family.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Model, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit import selectors as audit_selectors
from audit.models import AccessEvent
from cases import message_selectors, selectors
from cases.models import (
    Case,
    CorrectionRequest,
    FamilyMember,
    NetworkMember,
    OrganisationMembership,
)
from consent import policy
from consent import selectors as consent_selectors
from consent.models import Consent
from consent.policy import Access, Need
from koordinointi.vocabulary import LOG_CATEGORY_CHOICES, Category

LOG_LABELS = dict(LOG_CATEGORY_CHOICES)

COPY_FORMAT = "koordinointi-family-copy/1"

# What each logged resource is, in words a family understands.
CASE_LABEL = _("your case and who is responsible for it")
RESOURCE_LABELS = {
    "case": CASE_LABEL,
    "family": CASE_LABEL,
    "handovers": CASE_LABEL,
    "members": _("your network"),
    "invitations": _("your network"),
    "plan": _("your plan"),
    "notes": _("notes about your family"),
    "consents": _("your consents"),
    "consent-receipt": _("your consents"),
    "access-history": _("this list of who has seen your information"),
    "emergency-access": CASE_LABEL,
    "family-copy": _("a copy of all your information"),
    "corrections": _("your correction requests"),
    "legal-bases": _("the legal bases of your case"),
    "conversations": _("your messages"),
    # An intake worker's reads of the contact request that the case was opened from (issue 17).
    "contact-request": _("your contact request"),
}


@dataclass
class Page:
    """What one page shows (`context`), and what it showed for the access log."""

    context: dict
    categories: set = field(default_factory=set)
    sources: set = field(default_factory=set)


def _family(access: Access) -> None:
    policy.check(access, Need.FAMILY)


def family_members(*, case: Case) -> list[FamilyMember]:
    """The family's members, guardians first, then by birth date."""
    return sorted(
        case.family.members.all(),
        key=lambda m: (m.role != FamilyMember.Role.GUARDIAN, m.birth_date or datetime.date.min),
    )


def case_page(*, case: Case, access: Access) -> Page:
    """The case: its responsible worker, status, the family and its members, the plan with its
    actions and meetings, and the legal bases on which information is disclosed without consent
    (issue 16: those not withheld from the family)."""
    _family(access)
    plan = selectors.plan_get(case=case)
    membership = selectors.responsible_post(case=case)
    actions = list(
        selectors.plan_action_list(case=case, access=access).order_by(
            "due_date", "created_at", "id"
        )
    )
    meetings = list(selectors.meeting_list(case=case))
    return Page(
        context={
            "worker": case.responsible_worker,
            # None while the case waits for a new responsible worker (the named one has left).
            "title": membership.title if membership else "",
            "worker_changing": case.status == case.Status.OPEN and membership is None,
            "organisation": case.responsible_organisation,
            "plan": plan if plan.pk else None,
            "members": family_members(case=case),
            "actions": actions,
            "meetings": meetings,
            "non_disclosure": access.protected,
            "hide_location": policy.hides_protected(access),
            "legal_bases": list(consent_selectors.legal_basis_list(case=case, access=access)),
        },
        categories={Category.BASIC, Category.PLAN},
        sources={case.family.recorded_by_id, case.responsible_organisation_id},
    )


def network_page(*, case: Case, access: Access) -> Page:
    """The network: professionals, people close to the family, invitations waiting."""
    _family(access)
    members = list(selectors.network_list(case=case, access=access))
    informal = [m for m in members if m.kind == NetworkMember.Kind.INFORMAL]
    return Page(
        context={
            "professionals": [m for m in members if m.kind == NetworkMember.Kind.PROFESSIONAL],
            "informal": informal,
            "invited": list(selectors.invitation_list(case=case, access=access)),
        },
        categories={Category.BASIC} if informal else set(),
        sources={case.responsible_organisation_id} if informal else set(),
    )


def notes_page(*, case: Case, access: Access) -> Page:
    """The notes the family may read (the policy's `note_list` for the family's access)."""
    _family(access)
    notes = list(
        selectors.note_list(case=case, access=access)
        .select_related("subject")
        .order_by("-created_at", "id")
    )
    categories, sources = {n.category for n in notes}, {n.organisation_id for n in notes}
    if any(n.subject_id for n in notes):  # "about Aino": a member's name is basic data
        categories.add(Category.BASIC)
        sources.add(case.family.recorded_by_id)
    return Page(context={"notes": notes}, categories=categories, sources=sources)


def case_consents(*, user, case: Case) -> list[Consent]:
    """The case's consents as the policy lets the user see them, newest request first, with
    their recipients and events."""
    consents = list(
        consent_selectors.consent_list(user=user)
        .filter(case=case)
        .prefetch_related("events__grantor")
    )
    for consent in consents:
        consent.case = case  # already loaded with its family; saves a query per consent
    return consents


def consents_page(*, user, case: Case, access: Access) -> Page:
    """Every consent of the case: the requests waiting and the decisions, with receipts."""
    _family(access)
    return Page(context={"consents": case_consents(user=user, case=case)})


def access_history(*, case: Case, access: Access) -> QuerySet[AccessEvent]:
    """Every logged read (and refused attempt) of the family's data, newest first: the same
    query as the API's family access history (audit.selectors), for a guardian only."""
    _family(access)
    return audit_selectors.access_history_for_family(family=case.family)


def describe_events(events) -> list[dict]:
    """Plain rows for a page of access events: names instead of ids, labels instead of codes."""
    events = list(events)
    people = audit_selectors.people_of(events)
    titles = {
        (user_id, organisation_id): title
        for user_id, organisation_id, title in OrganisationMembership.objects.filter(
            user_id__in={e.user_id for e in events if e.user_id},
            organisation_id__in={e.organisation_id for e in events if e.organisation_id},
        ).values_list("user_id", "organisation_id", "title")
    }
    rows = []
    for event in events:
        named = policy.reader_named(event, workers=people.workers)
        rows.append(
            {
                "event": event,
                "name": people.users.get(event.user_id, "") if named else "",
                "known": event.user_id in people.users and named,
                "organisation": people.organisations.get(event.organisation_id, ""),
                "title": titles.get((event.user_id, event.organisation_id), ""),
                "role": AccessEvent.Role(event.role).label
                if event.role in AccessEvent.Role.values
                else "",
                "resource": RESOURCE_LABELS.get(event.resource, CASE_LABEL),
                "categories": [LOG_LABELS[c] for c in event.categories if c in LOG_LABELS],
                "denied": event.outcome == AccessEvent.Outcome.DENIED,
                "emergency": event.emergency,
                "action": event.action,
            }
        )
    return rows


def _item_label(kind: str, item) -> str:  # item: the member, plan, action or note
    Item = CorrectionRequest.Item
    if kind == Item.MEMBER:
        return f"{item.first_name} {item.last_name} ({item.get_role_display()})"
    if kind == Item.PLAN:
        return gettext("The plan: goals, needs and your own words")
    if kind == Item.PLAN_ACTION:
        return gettext("Action of the plan: %(title)s") % {"title": item.title}
    return gettext("Note of %(date)s, %(category)s, %(organisation)s") % {
        "date": formats.date_format(timezone.localtime(item.created_at).date()),
        "category": item.get_category_display(),
        "organisation": item.organisation.name,
    }


def correction_items(*, case: Case, access: Access) -> list[tuple[str, str]]:
    """(value, label) of every item the family may ask to correct: its members, the plan, the
    plan's actions and the notes it reads; the same reads as the pages that show them. The
    value names the item in a form (`member:<id>`, `plan`, `plan_action:<id>`, `note:<id>`)."""
    _family(access)
    Item = CorrectionRequest.Item
    found: list[tuple[str, Model]] = [(Item.MEMBER, m) for m in family_members(case=case)]
    plan = selectors.plan_get(case=case)
    if plan.pk:
        found.append((Item.PLAN, plan))
    found += [(Item.PLAN_ACTION, a) for a in selectors.plan_action_list(case=case, access=access)]
    found += [
        (Item.NOTE, n)
        for n in selectors.note_list(case=case, access=access).order_by("-created_at", "id")
    ]
    return [
        (kind if kind == Item.PLAN else f"{kind}:{item.pk}", _item_label(kind, item))
        for kind, item in found
    ]


def corrections_page(*, case: Case, access: Access) -> Page:
    """The family's correction requests with their answers, and the items it may name (their
    labels show members' names and the actions' titles)."""
    _family(access)
    requests = list(selectors.correction_list(case=case, access=access))
    items = correction_items(case=case, access=access)
    labels = dict(items)
    for request in requests:
        value = (
            request.item_kind
            if request.item_id is None
            else f"{request.item_kind}:{request.item_id}"
        )
        request.item_label = labels.get(value) or request.get_item_kind_display()
    categories = {r.category for r in requests} | {Category.BASIC}
    if any(value.startswith(CorrectionRequest.Item.PLAN_ACTION) for value, _label in items):
        categories.add(Category.PLAN)
    return Page(
        context={"corrections": requests, "items": items},
        categories=categories,
        sources={case.family.recorded_by_id, case.responsible_organisation_id},
    )


def messages_page(*, user, case: Case, access: Access) -> Page:
    """Every thread of the case with the messages the family reads in it: the portal's thread
    pages (`message_selectors.conversation_get`) all at once, with their log categories."""
    _family(access)
    threads = message_selectors.conversations_read(user=user, case=case, access=access)
    categories: set = set()
    sources: set = set()
    for thread in threads:
        categories |= thread.categories
        sources |= thread.sources
    return Page(context={"threads": threads}, categories=categories, sources=sources)


# --- The family's own copy ----------------------------------------------------------------------


def _time(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value))


@dataclass
class FamilyCopy:
    """The family's copy as plain data (the JSON document, which the HTML copy renders too),
    and what it showed for the access log."""

    document: dict
    categories: set
    sources: set


def family_copy(*, user, case: Case, access: Access) -> FamilyCopy:
    """Everything the portal shows the family of its case, in one document."""
    pages = {
        "case": case_page(case=case, access=access),
        "network": network_page(case=case, access=access),
        "notes": notes_page(case=case, access=access),
        "consents": consents_page(user=user, case=case, access=access),
        "corrections": corrections_page(case=case, access=access),
        "messages": messages_page(user=user, case=case, access=access),
    }
    c = pages["case"].context
    plan = c["plan"]
    network = pages["network"].context
    history = describe_events(access_history(case=case, access=access))
    document = {
        "format": COPY_FORMAT,
        "generated_at": _time(timezone.now()),
        "case": {
            "id": str(case.pk),
            "status": case.status,
            "status_label": case.get_status_display(),
            "opened_at": _time(case.opened_at),
            "closed_at": _time(case.closed_at),
            "responsible_worker": {
                "name": _person(c["worker"]),
                "title": c["title"],
                "organisation": c["organisation"].name if c["organisation"] else "",
                "email": c["worker"].email if c["worker"] and not c["worker_changing"] else "",
                "changing": c["worker_changing"],
                "office_phone": c["organisation"].phone if c["organisation"] else "",
                "office_email": c["organisation"].email if c["organisation"] else "",
            },
        },
        "family": {
            "name": case.family.name,
            # Where the family is stays out under a non-disclosure marking (policy.hides_protected).
            "municipality": "" if policy.hides_protected(access) else case.family.municipality.name,
            "members": [
                {
                    "id": str(m.pk),
                    "role": m.role,
                    "role_label": m.get_role_display(),
                    "first_name": m.first_name,
                    "last_name": m.last_name,
                    "birth_date": _time(m.birth_date),
                }
                for m in c["members"]
            ],
        },
        "plan": {
            "goals": plan.goals if plan else "",
            "needs": plan.needs if plan else "",
            "family_view": plan.family_view if plan else "",
            "updated_at": _time(plan.updated_at) if plan else None,
            "actions": [
                {
                    "id": str(a.pk),
                    "title": a.title,
                    "description": a.description,
                    "status": a.status,
                    "status_label": a.get_status_display(),
                    "due_date": _time(a.due_date),
                    "responsible": _person(a.responsible_user)
                    or (a.responsible_member.name if a.responsible_member else ""),
                }
                for a in c["actions"]
            ],
            "meetings": [
                {
                    "id": str(m.pk),
                    "title": m.title,
                    "status": m.status,
                    "status_label": m.get_status_display(),
                    "starts_at": _time(m.starts_at),
                    "ends_at": _time(m.ends_at),
                    "place": m.place,
                    "agenda": m.agenda,
                }
                for m in c["meetings"]
            ],
        },
        "network": {
            "professionals": [
                {"name": _person(m.user), "organisation": m.organisation.name, "role": m.role}
                for m in network["professionals"]
            ],
            "close_to_family": [
                {"name": m.name, "relationship": m.relationship, "role": m.role}
                for m in network["informal"]
            ],
            "invited": [
                {
                    "name": _person(i.invited_user),
                    "organisation": i.organisation.name,
                    "role": i.role,
                }
                for i in network["invited"]
            ],
        },
        "notes": [
            {
                "id": str(n.pk),
                "category": n.category,
                "category_label": _label(Category.choices, n.category),
                "organisation": n.organisation.name,
                "author": _person(n.author),
                "about": str(n.subject) if n.subject else "",
                "text": n.text,
                "created_at": _time(n.created_at),
            }
            for n in pages["notes"].context["notes"]
        ],
        "consents": [
            {
                "id": str(consent.pk),
                "state": consent.effective_state(),
                "state_label": _label(Consent.State.choices, consent.effective_state()),
                "recipients": [org.name for org in consent.recipients.all()],
                "categories": list(consent.categories),
                "purpose": consent.purpose,
                "message": consent.message,
                "valid_from": _time(consent.valid_from),
                "valid_until": _time(consent.valid_until),
                "requested_by": _person(consent.requested_by),
                "requested_at": _time(consent.requested_at),
                "decisions": [
                    {
                        "id": str(e.pk),
                        "kind": e.kind,
                        "kind_label": e.get_kind_display(),
                        "by": str(e.grantor) if e.grantor else "",
                        "at": _time(e.created_at),
                        "receipt": e.receipt,
                    }
                    for e in consent.events.all()
                    if e.receipt
                ],
            }
            for consent in pages["consents"].context["consents"]
        ],
        "legal_bases": [
            {
                "id": str(b.pk),
                "basis": b.basis,
                "basis_label": b.get_basis_display(),
                "statute": b.statute,
                "organisation": b.organisation.name,
                "categories": list(b.categories),
                "category_labels": b.category_labels(),
                "reason": b.reason,
                "recorded_by": _person(b.recorded_by),
                "recorded_at": _time(b.recorded_at),
                "valid_from": _time(b.valid_from),
                "valid_until": _time(b.valid_until),
                "ended_at": _time(b.ended_at),
                "in_force": b.is_in_force(),
            }
            for b in c["legal_bases"]
        ],
        "conversations": [
            {
                "id": str(t.conversation.pk),
                "subject": t.conversation.subject,
                "started_at": _time(t.conversation.created_at),
                "last_message_at": _time(t.conversation.last_message_at),
                "members": [
                    {
                        "name": _person(m.user),
                        "organisation": m.organisation.name if m.organisation else "",
                    }
                    for m in t.conversation.chosen
                ],
                "messages": [
                    {
                        "id": str(m.pk),
                        "from_family": m.from_family,
                        # Empty for the family's own words where the page says "Your family".
                        "author": m.author_name,
                        "text": m.text,
                        "created_at": _time(m.created_at),
                    }
                    for m in t.messages
                ],
            }
            for t in pages["messages"].context["threads"]
        ],
        "corrections": [
            {
                "id": str(r.pk),
                "item_kind": r.item_kind,
                "item_kind_label": r.get_item_kind_display(),
                "item_label": r.item_label,
                "item_id": str(r.item_id) if r.item_id else None,
                "what_is_wrong": r.what_is_wrong,
                "should_say": r.should_say,
                "status": r.status,
                "status_label": r.get_status_display(),
                "answer": r.answer,
                "created_at": _time(r.created_at),
                "answered_at": _time(r.answered_at),
            }
            for r in pages["corrections"].context["corrections"]
        ],
        "access_history": [
            {
                "at": _time(row["event"].created_at),
                "who": row["name"] if row["known"] else "",
                "organisation": str(row["organisation"]),
                "title": row["title"],
                "role": str(row["role"]),
                "what": str(row["resource"]),
                "categories": [str(label) for label in row["categories"]],
                "action": row["action"],
                "refused": row["denied"],
                "emergency": row["emergency"],
            }
            for row in history
        ],
    }
    categories: set = set()
    sources: set = set()
    for page in pages.values():
        categories |= page.categories
        sources |= page.sources
    if not (plan or c["actions"] or c["meetings"]):
        categories.discard(Category.PLAN)
    return FamilyCopy(document=document, categories=categories, sources=sources - {None})
