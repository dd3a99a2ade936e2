"""The one place that decides who may do what on a case, and keeps django-guardian in step.

Rules (DESIGN.md, "Who may do what"):
- the responsible worker sees everything of their case, and manages it while it is open;
- an active professional network member of an open case sees that it exists, its responsible
  worker and network, their own organisation's notes, and the data categories that a consent in
  force names for their organisation (less notes about a child who refused their disclosure);
- a worker asked to take over responsibility sees that the case exists until they answer;
- a guardian with a portal account sees their own family's cases whole;
- a worker outside the network with an emergency access in force (break-the-glass, see
  `EmergencyAccess`) reads the whole open case, and writes nothing, until the access ends.

`access_for` computes this for one user and many cases straight from memberships and consents,
so an expired or withdrawn consent grants nothing on the very next request. `sync_case` writes
the same result into guardian's direct foreign-key table for `Case`, inside the transaction of
the change that caused it. Lists filter with a plain join on that indexed table (see shared
PERFORMANCE.md), on `view_case`, which depends on membership only, never on time, except for the
rows of an emergency access: those carry its end (`expires_at`) and the join reads only rows in
force, so an ended emergency access shows nothing on the very next request.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Case,
    CaseUserObjectPermission,
    EmergencyAccess,
    FamilyMember,
    Handover,
    NetworkMember,
)
from consent.categories import Category, view_permission
from consent.models import Consent, ConsentEvent

VIEW = "view_case"
CHANGE = "change_case"
MANAGE = "manage_case"
ALL_CATEGORIES = frozenset(Category.values)
MANAGED = frozenset({VIEW, CHANGE, MANAGE}) | {view_permission(c) for c in ALL_CATEGORIES}


@dataclass(frozen=True)
class Access:
    """What one user may do on one case."""

    view: bool = False
    change: bool = False  # write notes and the plan
    manage: bool = False  # network, invitations, consent requests, handover, closing
    categories: frozenset = frozenset()
    organisations: frozenset = frozenset()  # whose notes the user always sees
    withheld_subjects: frozenset = frozenset()  # family members whose notes stay hidden
    is_family: bool = False
    # responsible, member, handover, guardian, emergency or none (for the access log)
    role: str = "none"
    consents: tuple = ()  # (category, consent id) pairs: which consent allows which category
    emergency: bool = False  # reads are flagged in the access log ...
    purpose: str = ""  # ... with the reason given for the emergency access
    expires_at: object = None  # when an emergency access ends

    @property
    def organisation_id(self):
        """The one organisation the user acts for on this case, if any."""
        return next(iter(self.organisations), None)

    def consents_for(self, categories) -> list[str]:
        return sorted({str(cid) for category, cid in self.consents if category in categories})

    def can_read(self, category: str) -> bool:
        return self.view and category in self.categories

    def codenames(self) -> set[str]:
        names = {view_permission(c) for c in self.categories}
        for flag, codename in ((self.view, VIEW), (self.change, CHANGE), (self.manage, MANAGE)):
            if flag:
                names.add(codename)
        return names


NO_ACCESS = Access()


@dataclass
class _Facts:
    """What the rules need to know about one case, loaded in a constant number of queries."""

    case: Case
    members: dict = field(default_factory=dict)  # user_id -> organisation_id
    guardians: set = field(default_factory=set)  # user ids
    handover_receivers: set = field(default_factory=set)
    consents: list = field(default_factory=list)  # (id, organisation ids, categories, withheld)
    # user_id -> (organisation_id, reason, expires_at) of the newest emergency access in force
    emergency: dict = field(default_factory=dict)


def _decide(facts: _Facts, user_id) -> Access:
    case = facts.case
    is_open = case.status == Case.Status.OPEN
    if user_id == case.responsible_worker_id:
        return Access(
            view=True,
            change=is_open,
            manage=is_open,
            categories=ALL_CATEGORIES,
            organisations=frozenset({case.responsible_organisation_id}),
            role="responsible",
        )
    if user_id in facts.guardians:
        return Access(view=True, categories=ALL_CATEGORIES, is_family=True, role="guardian")
    if not is_open:
        return NO_ACCESS
    if user_id in facts.members:
        organisation_id = facts.members[user_id]
        categories, withheld, consents = set(), set(), set()
        for consent_id, organisation_ids, consented, refused_subjects in facts.consents:
            if organisation_id in organisation_ids:
                categories |= consented
                withheld |= refused_subjects
                consents |= {(category, consent_id) for category in consented}
        return Access(
            view=True,
            change=True,
            categories=frozenset(categories),
            organisations=frozenset({organisation_id}),
            withheld_subjects=frozenset(withheld),
            role="member",
            consents=tuple(sorted(consents, key=str)),
        )
    if user_id in facts.emergency:
        # The whole case, read-only: an emergency (a child in danger, say) needs the whole
        # picture, and whoever breaks the glass answers for it in the access log.
        organisation_id, reason, expires_at = facts.emergency[user_id]
        return Access(
            view=True,
            categories=ALL_CATEGORIES,
            organisations=frozenset({organisation_id}),
            role="emergency",
            emergency=True,
            purpose=reason,
            expires_at=expires_at,
        )
    if user_id in facts.handover_receivers:
        return Access(view=True, role="handover")
    return NO_ACCESS


def _load_facts(cases: list[Case], *, user=None, now=None) -> dict:
    """Facts for `cases`, for every user, or only for `user` when one is given."""
    now = now or timezone.now()
    facts = {case.pk: _Facts(case=case) for case in cases}
    if not facts:
        return facts
    members = NetworkMember.objects.filter(
        case_id__in=facts, removed_at__isnull=True, kind=NetworkMember.Kind.PROFESSIONAL
    )
    guardians = FamilyMember.objects.filter(
        family_id__in={case.family_id for case in cases},
        role=FamilyMember.Role.GUARDIAN,
        user__isnull=False,
    )
    receivers = Handover.objects.filter(case_id__in=facts, status=Handover.Status.PROPOSED)
    emergencies = EmergencyAccess.objects.filter(
        case_id__in=facts, started_at__lte=now, expires_at__gt=now
    )
    if user is not None:
        members = members.filter(user=user)
        guardians = guardians.filter(user=user)
        receivers = receivers.filter(to_worker=user)
        emergencies = emergencies.filter(user=user)
    # Members and emergency accesses in one query (a UNION): both put a worker of an
    # organisation on the case, and emergency accesses must not cost every read a query.
    no_text = models.Value("", output_field=models.CharField())
    no_time = models.Value(None, output_field=models.DateTimeField())
    rows = (
        members.order_by()
        .annotate(reason=no_text, started=no_time, ends=no_time)
        .values_list("case_id", "user_id", "organisation_id", "reason", "started", "ends")
    )
    rows = rows.union(
        emergencies.order_by()
        .annotate(started=models.F("started_at"), ends=models.F("expires_at"))
        .values_list("case_id", "user_id", "organisation_id", "reason", "started", "ends"),
        all=True,
    )
    newest: dict = {}
    for case_id, user_id, organisation_id, reason, started, ends in rows:
        if ends is None:
            facts[case_id].members[user_id] = organisation_id
        elif (case_id, user_id) not in newest or started > newest[case_id, user_id][0]:
            newest[case_id, user_id] = (started, organisation_id, reason, ends)
    for (case_id, user_id), (_started, organisation_id, reason, ends) in newest.items():
        facts[case_id].emergency[user_id] = (organisation_id, reason, ends)
    guardian_families: dict = {}
    for family_id, user_id in guardians.values_list("family_id", "user_id"):
        guardian_families.setdefault(family_id, set()).add(user_id)
    for case in cases:
        facts[case.pk].guardians = guardian_families.get(case.family_id, set())
    for case_id, user_id in receivers.values_list("case_id", "to_worker_id"):
        facts[case_id].handover_receivers.add(user_id)

    member_case_ids = [case_id for case_id, f in facts.items() if f.members]
    if member_case_ids:
        in_force = Consent.objects.filter(
            case_id__in=member_case_ids,
            state=Consent.State.ACTIVE,
            valid_from__lte=now,
            valid_until__gt=now,
        )
        # Plain rows, not model instances: the rules need ids and categories only, and a page of
        # 50 cases has some 75 consents (with their notice texts) and 120 recipients.
        refusals: dict = {}
        for consent_id, subject_id in ConsentEvent.objects.filter(
            consent__in=in_force, kind=ConsentEvent.Kind.CHILD_REFUSED
        ).values_list("consent_id", "subject_id"):
            refusals.setdefault(consent_id, set()).add(subject_id)
        consent_rows = list(in_force.values_list("pk", "case_id", "categories"))
        recipients: dict = {}
        if consent_rows:
            through = Consent.recipients.through.objects.filter(
                consent_id__in=[pk for pk, _case_id, _categories in consent_rows]
            )
            for consent_id, organisation_id in through.values_list("consent_id", "organisation_id"):
                recipients.setdefault(consent_id, set()).add(organisation_id)
        for consent_id, case_id, categories in consent_rows:
            facts[case_id].consents.append(
                (
                    consent_id,
                    recipients.get(consent_id, set()),
                    set(categories),
                    refusals.get(consent_id, set()),
                )
            )
    return facts


def access_for(user, cases: Iterable[Case], *, now=None) -> dict:
    """{case id: Access} for `user` on each of `cases`, in at most six queries."""
    cases = list(cases)
    if not user.is_authenticated or not cases:
        return {case.pk: NO_ACCESS for case in cases}
    facts = _load_facts(cases, user=user, now=now)
    return {case_id: _decide(f, user.pk) for case_id, f in facts.items()}


def case_permission_rows(case: Case, *, now=None) -> dict:
    """Every user's permissions on `case`, as {user_id: (set of codenames, end or None)}: an
    emergency access's permissions end with it."""
    facts = _load_facts([case], now=now)[case.pk]
    users = {case.responsible_worker_id, *facts.members, *facts.guardians}
    users |= facts.handover_receivers | set(facts.emergency)
    granted = {}
    for user_id in users - {None}:
        access = _decide(facts, user_id)
        codenames = access.codenames()
        if codenames:
            granted[user_id] = (codenames, access.expires_at)
    return granted


def case_permissions(case: Case, *, now=None) -> dict:
    """Every user's permission codenames on `case`, as {user_id: set of codenames}."""
    return {
        user_id: codenames
        for user_id, (codenames, _ends) in case_permission_rows(case, now=now).items()
    }


def _permission_ids() -> dict[str, int]:
    return dict(
        Permission.objects.filter(
            content_type__app_label="cases", content_type__model="case", codename__in=MANAGED
        ).values_list("codename", "id")
    )


def _rows_in_force(now=None) -> models.Q:
    """Guardian's rows in force: all but those of an emergency access that has ended."""
    now = now or timezone.now()
    return models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)


def stored_permissions(case: Case) -> dict:
    """What guardian's table holds for `case` (rows in force), in the shape of
    `case_permissions`."""
    stored: dict = {}
    for user_id, codename in CaseUserObjectPermission.objects.filter(
        _rows_in_force(), content_object=case, permission__codename__in=MANAGED
    ).values_list("user_id", "permission__codename"):
        stored.setdefault(user_id, set()).add(codename)
    return stored


@transaction.atomic
def sync_case(*, case: Case) -> None:
    """Make guardian's rows for `case` equal to what the policy computes now."""
    case = Case.objects.get(pk=case.pk)  # decide on committed-in-this-transaction state
    wanted = {
        (user_id, codename): ends
        for user_id, (codenames, ends) in case_permission_rows(case).items()
        for codename in codenames
    }
    ids = _permission_ids()
    codename_by_id = {v: k for k, v in ids.items()}
    existing = {
        (user_id, codename_by_id[perm_id]): (row_id, ends)
        for row_id, user_id, perm_id, ends in CaseUserObjectPermission.objects.filter(
            content_object=case, permission_id__in=ids.values()
        ).values_list("id", "user_id", "permission_id", "expires_at")
    }
    stale = [row_id for key, (row_id, _ends) in existing.items() if key not in wanted]
    if stale:
        CaseUserObjectPermission.objects.filter(id__in=stale).delete()
    # A row whose end changed (a new emergency access, or membership in place of one).
    moved: dict = {}
    for key, (row_id, ends) in existing.items():
        if key in wanted and wanted[key] != ends:
            moved.setdefault(wanted[key], []).append(row_id)
    for ends, row_ids in moved.items():
        CaseUserObjectPermission.objects.filter(id__in=row_ids).update(expires_at=ends)
    missing = sorted(wanted.keys() - existing.keys(), key=str)
    if missing:
        CaseUserObjectPermission.objects.bulk_create(
            [
                CaseUserObjectPermission(
                    user_id=user_id,
                    permission_id=ids[codename],
                    content_object=case,
                    expires_at=wanted[user_id, codename],
                )
                for user_id, codename in missing
            ]
        )


def cases_for_user(user, *, need: str = VIEW, queryset: QuerySet | None = None) -> QuerySet[Case]:
    """The cases on which `user` holds `need` in guardian's table, as one indexed join."""
    base = Case.objects.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    now = timezone.now()
    # One filter() call: the three conditions hold for the same permission row.
    return base.filter(
        models.Q(caseuserobjectpermission__expires_at__isnull=True)
        | models.Q(caseuserobjectpermission__expires_at__gt=now),
        caseuserobjectpermission__user=user,
        caseuserobjectpermission__permission__codename=need,
    )


def case_for_user(*, user, case_id, queryset: QuerySet | None = None) -> tuple[Case, Access]:
    """Fetch a case and the user's access to it in one call; the unseen answer 404."""
    try:
        case = cases_for_user(user, queryset=queryset).get(pk=case_id)
    except (Case.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    access = access_for(user, [case])[case.pk]
    if not access.view:  # guardian's row outlived the rule (cannot happen after a sync)
        raise Http404
    return case, access


def require(access: Access, what: str) -> None:
    """Raise PermissionDenied unless `access` allows `what` ("change" or "manage")."""
    if not getattr(access, what):
        raise PermissionDenied


def families_for_user(user) -> QuerySet:
    """Families with a case the user may see; which of their data shows is per `access_for`."""
    from cases.models import Family

    if not user.is_authenticated:
        return Family.objects.none()
    return Family.objects.filter(pk__in=cases_for_user(user).values("family_id"))


def sync_cases(*, cases: Iterable[Case]) -> None:
    for case in cases:
        sync_case(case=case)


def consents_for_user(user) -> QuerySet[Consent]:
    """Consents the user may see: those of cases they manage, and their own family's."""
    if not user.is_authenticated:
        return Consent.objects.none()
    managed = cases_for_user(user, need=MANAGE).values("pk")
    family_cases = Case.objects.filter(
        family__members__user=user, family__members__role=FamilyMember.Role.GUARDIAN
    ).values("pk")
    return Consent.objects.filter(models.Q(case__in=managed) | models.Q(case__in=family_cases))


def consent_for_user(*, user, consent_id, queryset: QuerySet | None = None) -> Consent:
    base = consents_for_user(user)
    if queryset is not None:
        base = queryset.filter(pk__in=base.values("pk"))
    try:
        return base.get(pk=consent_id)
    except (Consent.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


# --- The access log: who may read which part of it (DESIGN.md, "read access / disclosure logs") --


def auditor_organisations(user) -> frozenset:
    """Ids of the organisations where `user` is an auditor now (an active, unended membership)."""
    from cases.models import OrganisationMembership

    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        OrganisationMembership.objects.filter(
            models.Q(ended_at__isnull=True) | models.Q(ended_at__gt=timezone.now()),
            user=user,
            role=OrganisationMembership.Role.AUDITOR,
            is_active=True,
        ).values_list("organisation_id", flat=True)
    )


def audit_events_for_auditor(user, *, organisations: Iterable | None = None) -> QuerySet:
    """The access events within the auditor's organisations (none for anyone else).

    An event is within an organisation when that organisation
    - is the one the reader acted for (`organisation_id`), or
    - is responsible for the case that was read (`controller_id`), or
    - recorded data that the event disclosed (`disclosed_from`), or
    - has the reader among its members (then or now), for events that name no organisation at
      all: refused attempts on a case that does not exist, the auditor API itself. An event
      that names an organisation is that organisation's alone to audit, so a worker's reads for
      another employer stay out of sight.

    `disclosed_from` is a JSON list of organisation ids: it is matched as text (a UUID cannot
    occur inside another one), which works alike on SQLite and PostgreSQL; JSON containment
    (`contains`) does not exist on SQLite.

    Pass `organisations` when the caller already has `auditor_organisations(user)`.
    """
    from audit.models import AccessEvent
    from cases.models import OrganisationMembership

    if organisations is None:
        organisations = auditor_organisations(user)
    ids = sorted({str(org) for org in organisations})
    if not ids:
        return AccessEvent.objects.none()
    disclosed = models.Q()
    for org in ids:
        disclosed |= models.Q(disclosed_from__icontains=org)
    staff = OrganisationMembership.objects.filter(organisation_id__in=ids).values("user_id")
    unnamed = models.Q(organisation_id__isnull=True, controller_id__isnull=True, user_id__in=staff)
    return AccessEvent.objects.filter(
        models.Q(organisation_id__in=ids) | models.Q(controller_id__in=ids) | disclosed | unnamed
    )


def family_for_guardian(*, user, family_id):
    """The family of which `user` is a guardian; 404 for everyone else, who may not even learn
    that it exists."""
    from cases.models import Family

    if not user.is_authenticated:
        raise Http404
    try:
        family = Family.objects.filter(
            pk=family_id, members__user=user, members__role=FamilyMember.Role.GUARDIAN
        ).first()
    except (ValidationError, ValueError):
        raise Http404 from None
    if family is None:
        raise Http404
    return family


def case_history_for_user(*, user, case_id, queryset: QuerySet | None = None) -> tuple:
    """(case, Access) for the responsible worker of the case, who may read its access history;
    others who see the case get 403, the unseen 404."""
    case, access = case_for_user(user=user, case_id=case_id, queryset=queryset)
    if access.role != "responsible":
        raise PermissionDenied
    return case, access


# --- Coordination (issue 6): coordinators, the reassignment queue, incoming referrals ----------
#
# A coordinator sees no family data (DESIGN.md, "Who may do what"). They see, of the cases in
# their scope whose responsible worker has left, what reassignment needs: that the case exists,
# its responsible worker and organisation, and any handover waiting. Their scope is the
# family-centre area of their organisation, by the family's municipality; a coordinator of an
# organisation without an area (the wellbeing area's family centre) coordinates every area.


def _in_force(now=None):
    now = now or timezone.now()
    return models.Q(is_active=True) & (models.Q(ended_at__isnull=True) | models.Q(ended_at__gt=now))


def coordinator_memberships(user) -> list:
    """The user's coordinator memberships in force, with their organisations."""
    from cases.models import OrganisationMembership

    if not user.is_authenticated or not user.is_active:
        return []
    return list(
        OrganisationMembership.objects.filter(
            _in_force(), user=user, role=OrganisationMembership.Role.COORDINATOR
        ).select_related("organisation")
    )


def is_coordinator(user) -> bool:
    return bool(coordinator_memberships(user))


def require_coordinator(user) -> list:
    """The user's coordinator memberships; PermissionDenied for anyone else."""
    memberships = coordinator_memberships(user)
    if not memberships:
        raise PermissionDenied
    return memberships


def coordinator_access(memberships) -> Access:
    """How a coordinator's reads of the reassignment queue are logged: no data category."""
    return Access(
        organisations=frozenset({memberships[0].organisation_id}) if memberships else frozenset(),
        role="coordinator",
    )


def coordinated_cases(memberships) -> QuerySet[Case]:
    """Cases in the scope of these coordinator memberships."""
    from cases.models import Municipality

    if not memberships:
        return Case.objects.none()
    areas = {m.organisation.area_id for m in memberships}
    if None in areas:
        return Case.objects.all()
    return Case.objects.filter(
        family__municipality__in=Municipality.objects.filter(areas__in=areas).values("pk")
    )


def worker_in_post(now=None):
    """Active worker memberships in force: a responsible worker needs one in the case's
    responsible organisation (used as an `Exists` over `OuterRef`s of a case)."""
    from cases.models import OrganisationMembership

    return OrganisationMembership.objects.filter(
        _in_force(now),
        user_id=models.OuterRef("responsible_worker_id"),
        organisation_id=models.OuterRef("responsible_organisation_id"),
        role=OrganisationMembership.Role.WORKER,
    )


def cases_without_worker_in_post(queryset: QuerySet | None = None, *, now=None) -> QuerySet[Case]:
    """Open cases whose responsible worker has left: a deactivated account, or no worker
    membership in force in the responsible organisation. Derived from the data alone, so a
    change made in the admin or straight in the database puts a case in the queue all the same.
    """
    base = Case.objects.all() if queryset is None else queryset
    return base.filter(status=Case.Status.OPEN).filter(
        models.Q(responsible_worker__is_active=False) | ~models.Exists(worker_in_post(now))
    )


def reassignment_queue(user) -> tuple[QuerySet[Case], list]:
    """(cases waiting for a new responsible worker in the coordinator's scope, memberships);
    PermissionDenied for anyone but a coordinator."""
    memberships = require_coordinator(user)
    return cases_without_worker_in_post(coordinated_cases(memberships)), memberships


def reassignment_case_for_user(*, user, case_id, queryset: QuerySet | None = None) -> tuple:
    """(case, coordinator Access) of a case in the coordinator's queue; 404 for any other case,
    so that a coordinator learns nothing of cases whose worker is still in post."""
    cases, memberships = reassignment_queue(user)
    if queryset is not None:
        cases = queryset.filter(pk__in=cases.values("pk"))
    try:
        case = cases.get(pk=case_id)
    except (Case.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    return case, coordinator_access(memberships)


def may_keep_catalogue(user) -> bool:
    """Coordinators keep the service catalogue (through the admin and the API)."""
    return is_coordinator(user)


def require_may_deactivate(*, user, worker) -> None:
    """A coordinator may deactivate a worker's account, never their own, a superuser's or
    another administrator's (those are for superusers, in the admin)."""
    require_coordinator(user)
    if worker.pk == user.pk or worker.is_superuser or worker.is_staff:
        raise PermissionDenied


def worker_organisations(user, *, now=None) -> frozenset:
    """Ids of the organisations where the user is a worker now."""
    from cases.models import OrganisationMembership

    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        OrganisationMembership.objects.filter(
            _in_force(now), user=user, role=OrganisationMembership.Role.WORKER
        ).values_list("organisation_id", flat=True)
    )


def incoming_referrals_for_user(user, *, queryset: QuerySet | None = None) -> QuerySet:
    """Referrals to the organisations the user works for now."""
    from cases.models import OrganisationMembership, Referral

    base = Referral.objects.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    return base.filter(
        organisation_id__in=OrganisationMembership.objects.filter(
            _in_force(), user=user, role=OrganisationMembership.Role.WORKER
        ).values("organisation_id")
    )


def incoming_referral_for_user(*, user, referral_id, queryset: QuerySet | None = None):
    """One referral to an organisation the user works for; 404 for any other."""
    from cases.models import Referral

    try:
        return incoming_referrals_for_user(user, queryset=queryset).get(pk=referral_id)
    except (Referral.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


REFERRAL_CATEGORIES = frozenset({Category.BASIC, Category.PLAN})


def referral_access(referrals, *, now=None) -> dict:
    """{referral id: Access} for the receiving organisation's workers: the case exists (the
    referral names it), and `basic` (the family) and `plan` (the message: why the family is
    referred) where a consent in force on the case names the receiving organisation. One query.
    """
    referrals = list(referrals)
    now = now or timezone.now()
    granted: dict = {}
    if referrals:
        rows = Consent.objects.filter(
            case_id__in={r.case_id for r in referrals},
            recipients__in={r.organisation_id for r in referrals},
            state=Consent.State.ACTIVE,
            valid_from__lte=now,
            valid_until__gt=now,
        ).values_list("pk", "case_id", "recipients", "categories")
        for consent_id, case_id, organisation_id, categories in rows:
            for category in REFERRAL_CATEGORIES & set(categories):
                granted.setdefault((case_id, organisation_id), set()).add((category, consent_id))
    accesses = {}
    for referral in referrals:
        pairs = granted.get((referral.case_id, referral.organisation_id), set())
        accesses[referral.pk] = Access(
            view=True,
            categories=frozenset(category for category, _id in pairs),
            organisations=frozenset({referral.organisation_id}),
            role="referral",
            consents=tuple(sorted(pairs, key=str)),
        )
    return accesses


# --- Emergency access (issue 8): break-the-glass ---------------------------------------------
#
# A worker holding the model permission `cases.emergency_access` (given per user or through a
# group, in the admin) may open any open case of the deployment that they do not reach through
# its network, for a limited time and a stated reason: emergencies cross areas (a family on the
# move, the on-call social services of the whole wellbeing area), and every read under it is
# flagged in the access log for the auditors. While it lasts `_decide` gives the role
# "emergency": every data category, no writes.

EMERGENCY_PERMISSION = "cases.emergency_access"
NETWORK_ROLES = frozenset({"responsible", "member", "guardian"})


def may_open_emergency_access(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(EMERGENCY_PERMISSION))


def emergency_case_for_user(*, user, case_id) -> tuple[Case, Access]:
    """(case, the user's access to it now) for opening an emergency access to it.

    Without the permission (or without a worker membership in force) the answer is the one
    for any other thing the user may not do: 403 on a case they see, 404 on one they do not,
    as for a case that does not exist. With it: 404 for a case that does not exist or is
    closed, 403 for a case they already reach through its network.
    """
    if not may_open_emergency_access(user) or not worker_organisations(user):
        case_for_user(user=user, case_id=case_id)  # 404 for the unseen
        raise PermissionDenied(_("You do not have the emergency access permission."))
    try:
        case = Case.objects.select_related("family").get(pk=case_id, status=Case.Status.OPEN)
    except (Case.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    access = access_for(user, [case])[case.pk]
    if access.role in NETWORK_ROLES:
        raise PermissionDenied(_("You already have access to this case through its network."))
    return case, access


def emergency_accesses_for_auditor(user, *, organisations: Iterable | None = None) -> QuerySet:
    """Emergency accesses within the auditor's organisations: opened by a worker acting for
    one of them, or to a case one of them is responsible for (none for anyone else)."""
    if organisations is None:
        organisations = auditor_organisations(user)
    ids = sorted({str(org) for org in organisations})
    if not ids:
        return EmergencyAccess.objects.none()
    return EmergencyAccess.objects.filter(
        models.Q(organisation_id__in=ids) | models.Q(case__responsible_organisation_id__in=ids)
    )
