"""The one place that decides who may do what on a case, and keeps django-guardian in step.

Rules (DESIGN.md, "Who may do what"), each through an organisation the worker is in post in
(a worker membership in force and an active account; `koordinointi.vocabulary.in_force`):
- the responsible worker sees everything of their case, and manages it while it is open; one
  who has left stays named (an open case is never without one) but sees nothing of it;
- a professional network member (membership in force) of an open case sees that it exists,
  its responsible worker and network, their own organisation's notes, and the data categories
  that a consent in force names for their organisation (less notes about a child who refused
  their disclosure); they write notes in their organisation's own category and in those;
- a worker asked to take over responsibility sees that the case exists until they answer;
- a guardian with a portal account sees their own family's cases whole;
- a worker outside the network with an emergency access in force (break-the-glass, see
  `EmergencyAccess`) reads the whole open case, and writes nothing, until the access ends.

`load_facts` loads what the rules need in a constant number of queries; `decide` applies them
(plain functions over the facts); `authorize(user=, case_id=, need=)` fetches a case and checks
a `Need`. Facts are read at request time, so an ended membership or a withdrawn consent grants
nothing on the very next request. `sync_case` writes the same result into guardian's direct
foreign-key table for `Case`, inside the transaction of the change that caused it (and
consent/receivers.py after membership and account changes). Lists filter with a plain join on
that indexed table (see shared PERFORMANCE.md); rows that end at a known time (an emergency
access, a membership with an end date) carry it in `expires_at`, and the join reads only rows in
force.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Area,
    Case,
    CaseUserObjectPermission,
    ContactRequest,
    EmergencyAccess,
    Family,
    FamilyMember,
    Handover,
    Municipality,
    NetworkMember,
    NonDisclosure,
    OrganisationMembership,
    Referral,
)
from consent.models import Consent, ConsentEvent, LegalBasis
from koordinointi.prepared import PreparedQuery
from koordinointi.vocabulary import Category, in_force, view_permission

VIEW = "view_case"
CHANGE = "change_case"
MANAGE = "manage_case"
ALL_CATEGORIES = frozenset(Category.values)
NOTE_CATEGORIES = frozenset(c for c in Category.values if c.startswith("notes_"))
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
    note_categories: frozenset = frozenset()  # the categories the user may write notes in
    # A non-disclosure marking is in force on the family (everyone who sees the case sees that),
    # and whether this user is one who may see the protected data (`may_see_protected`).
    protected: bool = False
    sees_protected: bool = False
    # (category, legal basis id) pairs: which statutory basis allows which category (issue 16).
    legal_bases: tuple = ()

    @property
    def organisation_id(self):
        """The one organisation the user acts for on this case, if any."""
        return next(iter(self.organisations), None)

    def consents_for(self, categories) -> list[str]:
        return sorted({str(cid) for category, cid in self.consents if category in categories})

    def legal_bases_for(self, categories) -> list[str]:
        return sorted({str(bid) for category, bid in self.legal_bases if category in categories})

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
class Facts:
    """What the rules need to know about one case, loaded in a constant number of queries."""

    case: Case
    # user_id -> organisation_id of their network membership in force
    members: dict = field(default_factory=dict)
    # user_id -> the note category of the member's organisation (its own records)
    own_categories: dict = field(default_factory=dict)
    guardians: set = field(default_factory=set)  # user ids of guardians with an active account
    # user_id -> organisation they would take responsibility for
    handover_receivers: dict = field(default_factory=dict)
    consents: list = field(default_factory=list)  # (id, organisation ids, categories, withheld)
    # user_id -> (organisation_id, reason, expires_at) of the newest emergency access in force
    emergency: dict = field(default_factory=dict)
    # user_id -> {organisation_id: end or None} of worker memberships in force (active accounts)
    posts: dict = field(default_factory=dict)
    protected: bool = False  # a non-disclosure marking of a family member is in force
    protected_readers: set = field(default_factory=set)  # user ids the worker named on this case
    # (id, organisation id, categories) of the legal bases in force (issue 16)
    legal_bases: list = field(default_factory=list)


def _post_end(facts: Facts, user_id, organisation_id):
    """(in post, end of that post): a worker acts for an organisation only while their
    membership of it is in force and their account active (DESIGN.md, "In force")."""
    posts = facts.posts.get(user_id, {})
    return organisation_id in posts, posts.get(organisation_id)


def _sooner(*ends):
    return min((end for end in ends if end is not None), default=None)


def decide(facts: Facts, user_id) -> Access:
    """The rules: what `user_id` may do on `facts.case`, from the facts alone."""
    access = _decide(facts, user_id)
    if not facts.protected or not access.view:
        return access
    # Under a non-disclosure marking, where the family is reaches the responsible worker and
    # the network members they named (while in force): not the family's own accounts (a
    # guardian may be the one the family is protected from), not an emergency access.
    named = access.role == "member" and user_id in facts.protected_readers
    return replace(access, protected=True, sees_protected=access.role == "responsible" or named)


def may_see_protected(access: Access) -> bool:
    """Whether the user may see the protected data of a case: where the family is (its
    municipality, its members' addresses, contact details, schools and day cares) and the free
    text flagged as protected. Everyone may where no non-disclosure marking is in force; under
    one, only the responsible worker and the network members they named. Every face asks this."""
    return access.view and (not access.protected or access.sees_protected)


def hides_protected(access: Access) -> bool:
    """A marking is in force and this user may not see what it protects."""
    return access.protected and not may_see_protected(access)


def shows_protected(access: Access) -> bool:
    """A marking is in force and this user sees what it protects (reads flagged in the log)."""
    return access.protected and may_see_protected(access)


def require_may_mark_non_disclosure(access: Access) -> None:
    """Only the case's responsible worker (in post, on an open case) marks a family member
    under non-disclosure, names who may see, and lifts the marking."""
    if access.role != "responsible" or not access.manage:
        raise PermissionDenied(_("Only the responsible worker can mark or lift non-disclosure."))


def require_may_flag_protected(access: Access | None) -> None:
    """Free text is flagged as protected by those who may see protected data (who else could
    not read what they wrote)."""
    if access is None or hides_protected(access) or not access.view:
        raise PermissionDenied(
            _("Only the responsible worker and the members they name can flag text as protected.")
        )


def families_hiding_location(user) -> QuerySet:
    """Ids of the families under a non-disclosure marking whose location `user` may not see:
    a filter by municipality must not find them (it would tell where they are)."""
    marked = NonDisclosure.objects.filter(lifted_at__isnull=True)
    named = marked.filter(
        readers__user_id=user.pk,
        readers__removed_at__isnull=True,
        readers__case__status=Case.Status.OPEN,
    ).values("member__family_id")
    responsible = Case.objects.filter(responsible_worker_id=user.pk).values("family_id")
    return (
        Family.objects.filter(pk__in=marked.values("member__family_id"))
        .exclude(pk__in=responsible)
        .exclude(pk__in=named)
        .values("pk")
    )


def _decide(facts: Facts, user_id) -> Access:
    case = facts.case
    is_open = case.status == Case.Status.OPEN
    if user_id == case.responsible_worker_id:
        # Named as responsible even after leaving (an open case is never without one), but a
        # worker out of post sees nothing of it: the case waits in the reassignment queue.
        in_post, ends = _post_end(facts, user_id, case.responsible_organisation_id)
        if not in_post:
            return NO_ACCESS
        return Access(
            view=True,
            change=is_open,
            manage=is_open,
            categories=ALL_CATEGORIES,
            organisations=frozenset({case.responsible_organisation_id}),
            role="responsible",
            expires_at=ends,
            note_categories=NOTE_CATEGORIES if is_open else frozenset(),
        )
    if user_id in facts.guardians:
        return Access(view=True, categories=ALL_CATEGORIES, is_family=True, role="guardian")
    if not is_open:
        return NO_ACCESS
    if user_id in facts.members:
        organisation_id = facts.members[user_id]
        in_post, ends = _post_end(facts, user_id, organisation_id)
        if in_post:
            categories, withheld, consents = set(), set(), set()
            for consent_id, organisation_ids, consented, refused_subjects in facts.consents:
                if organisation_id in organisation_ids:
                    categories |= consented
                    withheld |= refused_subjects
                    consents |= {(category, consent_id) for category in consented}
            # A statutory basis in force counts as a consent in force (issue 16).
            bases = set()
            for basis_id, basis_organisation_id, granted in facts.legal_bases:
                if basis_organisation_id == organisation_id:
                    categories |= granted
                    bases |= {(category, basis_id) for category in granted}
            return Access(
                view=True,
                change=True,
                categories=frozenset(categories),
                organisations=frozenset({organisation_id}),
                withheld_subjects=frozenset(withheld),
                role="member",
                consents=tuple(sorted(consents, key=str)),
                legal_bases=tuple(sorted(bases, key=str)),
                expires_at=ends,
                # Their own organisation's records, and what a consent names for it.
                note_categories=NOTE_CATEGORIES
                & (categories | {facts.own_categories.get(user_id, "")}),
            )
    if user_id in facts.emergency:
        # The whole case, read-only: an emergency (a child in danger, say) needs the whole
        # picture, and whoever breaks the glass answers for it in the access log.
        organisation_id, reason, expires_at = facts.emergency[user_id]
        in_post, ends = _post_end(facts, user_id, organisation_id)
        if in_post:
            return Access(
                view=True,
                categories=ALL_CATEGORIES,
                organisations=frozenset({organisation_id}),
                role="emergency",
                emergency=True,
                purpose=reason,
                expires_at=_sooner(expires_at, ends),
            )
    if user_id in facts.handover_receivers:
        in_post, ends = _post_end(facts, user_id, facts.handover_receivers[user_id])
        if in_post:
            return Access(view=True, role="handover", expires_at=ends)
    return NO_ACCESS


def _standing(*, case_ids, family_ids, now, user_id=None, responsible_ids=()) -> QuerySet:
    """Who stands where on the cases (one UNION): network members in force (k "m"), emergency
    accesses in force ("e"), worker posts in force ("p"), guardians with an account ("g"),
    receivers of proposed handovers ("h") and non-disclosure markings in force ("n"). With
    `user_id`, only that user's rows; without, those of every user with an active account."""
    members = NetworkMember.objects.filter(
        in_force(now, active=None, start=None, end="removed_at"),
        case_id__in=case_ids,
        kind=NetworkMember.Kind.PROFESSIONAL,
    )
    guardians = FamilyMember.objects.filter(
        family_id__in=family_ids,
        role=FamilyMember.Role.GUARDIAN,
        user__isnull=False,
    )
    receivers = Handover.objects.filter(case_id__in=case_ids, status=Handover.Status.PROPOSED)
    emergencies = EmergencyAccess.objects.filter(
        case_id__in=case_ids, started_at__lte=now, expires_at__gt=now
    )
    posts = OrganisationMembership.objects.filter(
        in_force(now, start=None), role=OrganisationMembership.Role.WORKER
    )
    # Non-disclosure markings in force, one row per named network member (or one without).
    markings = NonDisclosure.objects.filter(
        lifted_at__isnull=True, member__family_id__in=family_ids
    )
    if user_id is not None:
        # The user's own account is at hand (`access_for` answers a closed one itself): no
        # join on it.
        members = members.filter(user_id=user_id)
        guardians = guardians.filter(user_id=user_id)
        receivers = receivers.filter(to_worker_id=user_id)
        emergencies = emergencies.filter(user_id=user_id)
        posts = posts.filter(user_id=user_id)
    else:
        guardians = guardians.filter(user__is_active=True)
        posts = posts.filter(user__is_active=True).filter(
            models.Q(user_id__in=responsible_ids)
            | models.Q(user_id__in=members.values("user_id"))
            | models.Q(user_id__in=emergencies.values("user_id"))
            | models.Q(user_id__in=receivers.values("to_worker_id"))
        )
    no_text = models.Value("", output_field=models.CharField())
    no_time = models.Value(None, output_field=models.DateTimeField())
    no_id = models.Value(None, output_field=models.UUIDField())

    def kind(name):
        return models.Value(name, output_field=models.CharField())

    columns = ("k", "c", "user_id", "organisation_id", "reason", "started", "ends")
    branches = [
        members.annotate(
            k=kind("m"),
            c=models.F("case_id"),
            reason=models.F("organisation__note_category"),
            started=no_time,
            ends=no_time,
        ),
        emergencies.annotate(
            k=kind("e"),
            c=models.F("case_id"),
            started=models.F("started_at"),
            ends=models.F("expires_at"),
        ),
        posts.annotate(
            k=kind("p"), c=no_id, reason=no_text, started=no_time, ends=models.F("ended_at")
        ),
        guardians.annotate(
            k=kind("g"),
            c=models.F("family_id"),
            organisation_id=no_id,
            reason=no_text,
            started=no_time,
            ends=no_time,
        ),
        receivers.annotate(
            k=kind("h"),
            c=models.F("case_id"),
            user_id=models.F("to_worker_id"),
            organisation_id=models.F("to_organisation_id"),
            reason=no_text,
            started=no_time,
            ends=no_time,
        ),
        # c: the family; user_id: a named member; organisation_id: the case they are named on.
        markings.annotate(
            k=kind("n"),
            c=models.F("member__family_id"),
            user_id=models.F("readers__user_id"),
            organisation_id=models.F("readers__case_id"),
            reason=no_text,
            started=no_time,
            ends=no_time,
        ),
    ]
    first, *rest = (branch.order_by().values_list(*columns) for branch in branches)
    return first.union(*rest, all=True)


# Compiled once per shape (koordinointi/prepared.py): building and compiling these querysets
# cost more than the rest of a case detail together.
_STANDING = PreparedQuery(_standing)


def _consents_in_force(case_ids, now) -> QuerySet:
    return Consent.objects.filter(
        case_id__in=case_ids,
        state=Consent.State.ACTIVE,
        valid_from__lte=now,
        valid_until__gt=now,
    )


def _child_refusals(*, case_ids, now) -> QuerySet:
    return ConsentEvent.objects.filter(
        consent__in=_consents_in_force(case_ids, now), kind=ConsentEvent.Kind.CHILD_REFUSED
    ).values_list("consent_id", "subject_id")


def _consents_and_bases(*, case_ids, now) -> QuerySet:
    """The consents in force with their recipients (a row per consent and recipient), and in
    the same query the legal bases in force with their organisation (issue 16): a basis is
    treated like a consent. Plain rows, not model instances: the rules need ids and categories
    only, and a page of 50 cases has some 75 consents (with their notice texts)."""
    row = ("k", "row_id", "row_case", "row_categories", "row_organisation")
    consent_rows = (
        _consents_in_force(case_ids, now)
        .order_by()
        .annotate(
            k=models.Value("c", output_field=models.CharField()),
            row_id=models.F("pk"),
            row_case=models.F("case_id"),
            row_categories=models.F("categories"),
            row_organisation=models.F("recipients"),
        )
        .values_list(*row)
    )
    basis_rows = (
        LegalBasis.objects.filter(legal_basis_in_force(now), case_id__in=case_ids)
        .order_by()
        .annotate(
            k=models.Value("b", output_field=models.CharField()),
            row_id=models.F("pk"),
            row_case=models.F("case_id"),
            row_categories=models.F("categories"),
            row_organisation=models.F("organisation_id"),
        )
        .values_list(*row)
    )
    return consent_rows.union(basis_rows, all=True)


_CHILD_REFUSALS = PreparedQuery(_child_refusals)
_CONSENTS_AND_BASES = PreparedQuery(_consents_and_bases)


def load_facts(cases: list[Case], *, user=None, now=None) -> dict:
    """Facts for `cases`, for every user, or only for `user` when one is given.

    One query (a UNION, `_standing`) reads who stands where on the cases: network members,
    emergency accesses, guardians, receivers of proposed handovers and worker posts. Consents
    in force with their recipients (and legal bases), and child refusals, take two more, only
    for cases with members."""
    now = now or timezone.now()
    facts = {case.pk: Facts(case=case) for case in cases}
    if not facts:
        return facts
    case_ids = tuple(facts)
    family_ids = tuple(dict.fromkeys(case.family_id for case in cases))
    if user is not None:
        standing = _STANDING.rows(
            case_ids=case_ids, family_ids=family_ids, now=now, user_id=user.pk
        )
    else:
        responsible = tuple(
            dict.fromkeys(c.responsible_worker_id for c in cases if c.responsible_worker_id)
        )
        standing = _STANDING.rows(
            case_ids=case_ids, family_ids=family_ids, now=now, responsible_ids=responsible
        )
    newest: dict = {}
    user_posts: dict = {}
    guardian_families: dict = {}
    marked_families: set = set()
    named: set = set()  # (case id, user id)
    for k, c, user_id, organisation_id, reason, started, ends in standing:
        if k == "n":
            marked_families.add(c)
            if user_id is not None:
                named.add((organisation_id, user_id))
        elif k == "m":
            facts[c].members[user_id] = organisation_id
            facts[c].own_categories[user_id] = reason
        elif k == "p":
            user_posts.setdefault(user_id, {})[organisation_id] = ends
        elif k == "g":
            guardian_families.setdefault(c, set()).add(user_id)
        elif k == "h":
            facts[c].handover_receivers[user_id] = organisation_id
        elif (c, user_id) not in newest or started > newest[c, user_id][0]:
            newest[c, user_id] = (started, organisation_id, reason, ends)
    for (case_id, user_id), (_started, organisation_id, reason, ends) in newest.items():
        facts[case_id].emergency[user_id] = (organisation_id, reason, ends)
    for case in cases:
        facts[case.pk].guardians = guardian_families.get(case.family_id, set())
        facts[case.pk].posts = user_posts
        if case.family_id in marked_families:
            facts[case.pk].protected = True
            facts[case.pk].protected_readers = {u for c, u in named if c == case.pk}

    member_case_ids = tuple(case_id for case_id, f in facts.items() if f.members)
    if member_case_ids:
        refusals: dict = {}
        for consent_id, subject_id in _CHILD_REFUSALS.rows(case_ids=member_case_ids, now=now):
            refusals.setdefault(consent_id, set()).add(subject_id)
        consents: dict = {}
        for k, consent_id, case_id, categories, organisation_id in _CONSENTS_AND_BASES.rows(
            case_ids=member_case_ids, now=now
        ):
            if k == "b":
                facts[case_id].legal_bases.append(
                    (consent_id, organisation_id, frozenset(categories))
                )
                continue
            if consent_id not in consents:
                consents[consent_id] = (
                    consent_id,
                    set(),
                    set(categories),
                    refusals.get(consent_id, set()),
                )
                facts[case_id].consents.append(consents[consent_id])
            if organisation_id is not None:
                consents[consent_id][1].add(organisation_id)
    return facts


def access_for(user, cases: Iterable[Case], *, now=None) -> dict:
    """{case id: Access} for `user` on each of `cases`, in at most three queries."""
    cases = list(cases)
    if not user.is_authenticated or not user.is_active or not cases:
        return {case.pk: NO_ACCESS for case in cases}
    facts = load_facts(cases, user=user, now=now)
    return {case_id: decide(f, user.pk) for case_id, f in facts.items()}


def accesses_by_user(cases: Iterable[Case], *, now=None) -> dict:
    """{case id: {user id: Access}} for every user with any access to each of `cases`."""
    result = {}
    for case_id, facts in load_facts(list(cases), now=now).items():
        case = facts.case
        users = {case.responsible_worker_id, *facts.members, *facts.guardians}
        users |= set(facts.handover_receivers) | set(facts.emergency)
        result[case_id] = {
            user_id: access
            for user_id in sorted(users - {None}, key=str)
            if (access := decide(facts, user_id)).codenames()
        }
    return result


def case_permission_rows(case: Case, *, now=None) -> dict:
    """Every user's permissions on `case`, as {user_id: (set of codenames, end or None)}: the
    permissions of an emergency access, or of a membership with an end date, end with it."""
    return {
        user_id: (access.codenames(), access.expires_at)
        for user_id, access in accesses_by_user([case], now=now)[case.pk].items()
    }


def case_permissions(case: Case, *, now=None) -> dict:
    """Every user's permission codenames on `case`, as {user_id: set of codenames}."""
    return {
        user_id: codenames
        for user_id, (codenames, _ends) in case_permission_rows(case, now=now).items()
    }


def permission_ids() -> dict[str, int]:
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
    ids = permission_ids()
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


def cases_for_user(
    user, *, need: str = VIEW, queryset: QuerySet | None = None, listing: bool = True
) -> QuerySet[Case]:
    """The cases on which `user` holds `need` in guardian's table, as one indexed join.

    `listing=False` is for fetching one case whose access `decide` settles right after (as
    `authorize` does): the check that the user is in post anywhere is then redundant."""
    base = Case.objects.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    now = timezone.now()
    # One filter() call: the three conditions hold for the same permission row.
    return base.filter(
        models.Q(caseuserobjectpermission__expires_at__isnull=True)
        | models.Q(caseuserobjectpermission__expires_at__gt=now),
        _someone_in_force(user, now) if listing else models.Q(),
        caseuserobjectpermission__user=user,
        caseuserobjectpermission__permission__codename=need,
    )


def _someone_in_force(user, now) -> models.Q:
    """The user is a worker in post somewhere, or a guardian: two uncorrelated EXISTS, which
    the database answers once per query. Guardian's rows are kept in step by the services and
    by consent/receivers.py; this keeps a worker whose every membership has ended (however it
    was ended) from listing anything, and the rules (`decide`) settle each case shown."""
    return models.Q(
        models.Exists(
            OrganisationMembership.objects.filter(
                in_force(now, start=None), user=user, role=OrganisationMembership.Role.WORKER
            )
        )
    ) | models.Q(
        models.Exists(FamilyMember.objects.filter(user=user, role=FamilyMember.Role.GUARDIAN))
    )


class Need(StrEnum):
    """What an operation on a case needs; the policy alone says whether an access has it."""

    VIEW = "view"  # see that the case exists, its responsible worker and network
    CHANGE = "change"  # write notes and the plan
    MANAGE = "manage"  # network, invitations, consent requests, handover, closing
    FAMILY = "family"  # the family's own view (the portal); anyone else gets 404
    HISTORY = "history"  # the case's access history: its responsible worker
    INVITATIONS = "invitations"  # the network's invitations: the responsible worker, the family
    # The family's correction requests (GDPR Art. 16): the family reads and files them, the
    # responsible worker reads and answers them (MANAGE).
    CORRECTIONS = "corrections"
    # Starting a message thread (issue 17): the family, and the responsible worker of an open
    # case (network members answer in the threads the family chose them into).
    CONVERSATIONS = "conversations"


def has(access: Access, need: Need) -> bool:
    """Whether `access` allows what `need` names."""
    if need is Need.FAMILY:
        return access.is_family
    if need is Need.HISTORY:
        return access.role == "responsible"
    if need in (Need.INVITATIONS, Need.CORRECTIONS):
        return access.manage or access.is_family
    if need is Need.CONVERSATIONS:
        return access.is_family or (access.role == "responsible" and access.manage)
    return bool(getattr(access, need.value))


def on_desk(access: Access) -> bool:
    """Whether the case belongs on a worker's desk (/me/work/): responsible, member, or asked
    to take it over."""
    return access.role in ("responsible", "member", "handover")


def shows_family_on_desk(access: Access) -> bool:
    """A worker's desk names the family where they may read `basic`, except on a case they are
    only asked to take over (they have not accepted it yet)."""
    return access.can_read(Category.BASIC) and access.role != "handover"


def reassignment_reason(case: Case) -> str:
    """Why a case waits in the reassignment queue: its responsible worker's account is closed,
    or their membership of the responsible organisation has ended."""
    worker = case.responsible_worker
    return "account_inactive" if worker is None or not worker.is_active else "membership_ended"


def check(access: Access, need: Need) -> None:
    """404 for what the user may not even see (and for anyone but the family where the family's
    own view is asked for), PermissionDenied for what they see but may not do."""
    if not access.view or (need is Need.FAMILY and not access.is_family):
        raise Http404
    if not has(access, need):
        raise PermissionDenied


def check_note_category(access: Access, category: str) -> None:
    """A 400 with a message unless the user may write a note in `category` on this case."""
    if category not in access.note_categories:
        raise ValidationError(
            {
                "category": _(
                    "You may write notes only in your own organisation's category and in the "
                    "categories a consent names for your organisation."
                )
            }
        )


def authorize(
    *, user, case_id, need: Need = Need.VIEW, queryset: QuerySet | None = None
) -> tuple[Case, Access]:
    """Fetch a case and the user's access to it in one call, and check that it allows `need`.

    The unseen answer 404 (the same as a case that does not exist); the seen but not allowed,
    PermissionDenied.
    """
    try:
        case = cases_for_user(user, queryset=queryset, listing=False).get(pk=case_id)
    except (Case.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    access = access_for(user, [case])[case.pk]
    check(access, need)
    return case, access


def case_for_user(*, user, case_id, queryset: QuerySet | None = None) -> tuple[Case, Access]:
    """Fetch a case and the user's access to it in one call; the unseen answer 404."""
    return authorize(user=user, case_id=case_id, queryset=queryset)


# --- Rules about who answers what: plain functions over the rows they are about ---------------


def worker_posts(user, *, now=None) -> frozenset:
    """Ids of the organisations the user acts for as a worker now (membership in force, account
    active)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return frozenset(
        OrganisationMembership.objects.filter(
            in_force(now, start=None), user=user, role=OrganisationMembership.Role.WORKER
        ).values_list("organisation_id", flat=True)
    )


def is_worker(user) -> bool:
    """A worker of some organisation now (not a family member, auditor or coordinator)."""
    return bool(worker_posts(user))


def is_responsible(user, case: Case, *, now=None) -> bool:
    """The case's responsible worker, while in post in its responsible organisation."""
    return (
        user.is_authenticated
        and case.responsible_worker_id == user.pk
        and case.responsible_organisation_id in worker_posts(user, now=now)
    )


def require_responsible(user, case: Case, message: str) -> None:
    if not is_responsible(user, case):
        raise PermissionDenied(message)


def handover_party(user, handover: Handover) -> str | None:
    """ "receiver" or "proposer" of a handover, or None."""
    if user.pk == handover.to_worker_id:
        return "receiver"
    if user.pk == handover.from_worker_id:
        return "proposer"
    return None


def invitations_for_user(user, queryset: QuerySet) -> QuerySet:
    """The invitations addressed to the user's account for an organisation they work for now:
    one who has left the organisation sees none of its invitations, nor through them the case."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    posts = OrganisationMembership.objects.filter(
        in_force(None, start=None), user=user, role=OrganisationMembership.Role.WORKER
    ).values("organisation_id")
    # A subquery, not a list: the invitation list costs no query more than before.
    return queryset.filter(invited_user=user, organisation_id__in=posts)


def may_answer_invitation(user, invitation) -> bool:
    """Whoever holds an invitation's token may answer it while they work for its organisation:
    one who has left it learns nothing of the case through the invitation."""
    return invitation.organisation_id in worker_posts(user)


def is_invitee(user, invitation) -> bool:
    """The person an invitation is for: its account, or the account with its e-mail."""
    if invitation.invited_user_id is not None:
        return invitation.invited_user_id == user.pk
    return bool(user.email) and user.email.lower() == invitation.email.lower()


def guardian_in_family(user, family_id):
    """The user's guardian row in the family (an active account), or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    return FamilyMember.objects.filter(
        family_id=family_id, role=FamilyMember.Role.GUARDIAN, user=user
    ).first()


def consent_decider(user, consent) -> tuple[str, FamilyMember | None]:
    """Who decides on a consent: ("guardian", their row) for a guardian of the family, or
    ("responsible", None) for the responsible worker recording a guardian's decision given on
    paper or in person; PermissionDenied for anyone else."""
    own = guardian_in_family(user, consent.case.family_id)
    if own is not None:
        return "guardian", own
    require_responsible(
        user, consent.case, _("Only a guardian of the family can decide on this consent.")
    )
    return "responsible", None


def child_view_recorder(user, consent, child) -> str:
    """Who records a child's view: "child" (the child themself), "guardian" or "responsible";
    PermissionDenied for anyone else."""
    if child.user_id is not None and child.user_id == user.pk and user.is_active:
        return "child"
    if guardian_in_family(user, consent.case.family_id) is not None:
        return "guardian"
    require_responsible(
        user, consent.case, _("Only the family or the responsible worker can record this.")
    )
    return "responsible"


def families_for_user(user) -> QuerySet:
    """Families with a case the user may see; which of their data shows is per `access_for`."""
    if not user.is_authenticated:
        return Family.objects.none()
    return Family.objects.filter(pk__in=cases_for_user(user).values("family_id"))


def sync_cases(*, cases: Iterable[Case]) -> None:
    for case in cases:
        sync_case(case=case)


@transaction.atomic
def sync_user(*, user_id) -> None:
    """Bring guardian's rows in step on every case where the user has, or may now have, a
    place: after their account or an organisation membership changed."""
    cases = Case.objects.filter(
        models.Q(caseuserobjectpermission__user_id=user_id)
        | models.Q(responsible_worker_id=user_id)
        | models.Q(network__user_id=user_id, network__removed_at__isnull=True)
        | models.Q(handovers__to_worker_id=user_id, handovers__status=Handover.Status.PROPOSED)
        | models.Q(emergency_accesses__user_id=user_id)
    ).distinct()
    sync_cases(cases=cases)


def managed_cases(user) -> QuerySet[Case]:
    """The open cases the user manages now, from the live rows (as `decide` does): those of
    which they are the responsible worker, in post in the responsible organisation."""
    if not user.is_authenticated or not user.is_active:
        return Case.objects.none()
    return Case.objects.filter(
        status=Case.Status.OPEN,
        responsible_worker=user,
        responsible_organisation_id__in=OrganisationMembership.objects.filter(
            in_force(start=None), user=user, role=OrganisationMembership.Role.WORKER
        ).values("organisation_id"),
    )


def consents_for_user(user) -> QuerySet[Consent]:
    """Consents the user may see: those of cases they manage, and their own family's."""
    if not user.is_authenticated:
        return Consent.objects.none()
    managed = managed_cases(user).values("pk")
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
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        OrganisationMembership.objects.filter(
            in_force(start=None),
            user=user,
            role=OrganisationMembership.Role.AUDITOR,
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


def may_use_portal(user) -> bool:
    """The family portal is for guardians (with an active account). A worker's account (one
    that is or was in an organisation, or staff) never enters it, by any sign-in, even when a
    guardian record is linked to it: one sign-in is a family user or a worker, never both."""
    return bool(
        user.is_authenticated
        and user.is_active
        and not user.is_staff
        and not user.is_superuser
        and FamilyMember.objects.filter(user=user, role=FamilyMember.Role.GUARDIAN)
        .exclude(user__memberships__isnull=False)
        .exists()
    )


def may_change_family(user, family) -> bool:
    """The family's own fields are the responsible worker's to change, on an open case."""
    return managed_cases(user).filter(family=family).exists()


def reader_named(event, *, workers) -> bool:
    """Whether an access history names who read: a worker always, refused attempts too (the
    family may ask them why); anyone else only where the read was allowed. A refused person who
    is not a worker (another family's guardian, say) is "someone without access", never by
    name: naming them would tell that they too are a client."""
    return event.user_id in workers or event.outcome == "allowed"


def family_for_guardian(*, user, family_id):
    """The family of which `user` is a guardian; 404 for everyone else, who may not even learn
    that it exists."""
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
    return authorize(user=user, case_id=case_id, need=Need.HISTORY, queryset=queryset)


# --- Coordination (issue 6): coordinators, the reassignment queue, incoming referrals ----------
#
# A coordinator sees no family data (DESIGN.md, "Who may do what"). They see, of the cases in
# their scope whose responsible worker has left, what reassignment needs: that the case exists,
# its responsible worker and organisation, and any handover waiting. Their scope is the
# family-centre area of their organisation, by the family's municipality; a coordinator of an
# organisation without an area (the wellbeing area's family centre) coordinates every area.


def _in_force(now=None):
    return in_force(now, start=None)


def coordinator_memberships(user) -> list:
    """The user's coordinator memberships in force, with their organisations."""
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
    if not memberships:
        return Case.objects.none()
    areas = {m.organisation.area_id for m in memberships}
    if None in areas:
        return Case.objects.all()
    return Case.objects.filter(
        family__municipality__in=Municipality.objects.filter(areas__in=areas).values("pk")
    )


def worker_by_provider_claim(organisation, value, *, now=None):
    """The worker an organisation's OpenID Provider names by its worker claim: a worker in post
    in that organisation now, found by the account's e-mail (claim `email`) or the membership's
    identifier at the provider; None for anyone else, never a new account."""
    if not isinstance(value, str) or not value.strip():
        return None
    memberships = OrganisationMembership.objects.filter(
        _in_force(now),
        organisation=organisation,
        role=OrganisationMembership.Role.WORKER,
        user__is_active=True,
    )
    if organisation.oidc_worker_claim == "email":
        memberships = memberships.filter(user__email__iexact=value.strip())
    else:
        memberships = memberships.filter(provider_identifier=value)
    found = list(memberships.select_related("user")[:2])
    return found[0].user if len(found) == 1 else None


def worker_in_post(now=None):
    """Active worker memberships in force: a responsible worker needs one in the case's
    responsible organisation (used as an `Exists` over `OuterRef`s of a case)."""
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
    """Coordinators keep the whole service catalogue (/api/v1/coordination/services/ and every
    organisation's entries); organisations keep their own (`catalogue_keeper_organisations`)."""
    return is_coordinator(user)


# --- The service catalogue (issue 17): organisations keep their own entries ----------------------
#
# A worker whose worker membership of an organisation is in force keeps that organisation's
# entries: its services, locations, services at locations, opening hours, contacts, phones and
# open activities (every worker: an NGO has no separate editor role, and a worker who leaves
# stops keeping them on the next request). Coordinators keep every organisation's entries, and
# they alone keep the taxonomy. None of it is family data: nothing here is logged.

# The paths from each kind of entry to the organisation that owns it (one of them is set).
CATALOGUE_OWNER_PATHS: dict[str, tuple[str, ...]] = {
    "service": ("organisation_id",),
    "location": ("organisation_id",),
    "serviceatlocation": ("service__organisation_id",),
    "schedule": (
        "service__organisation_id",
        "location__organisation_id",
        "service_at_location__service__organisation_id",
    ),
    "contact": ("organisation_id", "service__organisation_id", "location__organisation_id"),
    "phone": (
        "organisation_id",
        "service__organisation_id",
        "location__organisation_id",
        "contact__organisation_id",
        "contact__service__organisation_id",
        "contact__location__organisation_id",
    ),
    "activity": ("organisation_id",),
}


def catalogue_keeper_organisations(user, *, now=None) -> frozenset | None:
    """The organisations whose catalogue entries the user keeps: None for all (a coordinator),
    else the ids of those where they are a worker in force (empty: none)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if is_coordinator(user):
        return None
    return worker_organisations(user, now=now)


_ASK = object()  # not given: the functions below ask the database


def may_keep_catalogue_entries(user, *, organisations=_ASK) -> bool:
    """Whether the user keeps any organisation's entries at all (`organisations`: what
    `catalogue_keeper_organisations` answered in this request, when the caller has it)."""
    if organisations is _ASK:
        organisations = catalogue_keeper_organisations(user)
    return organisations != frozenset()


def may_keep_taxonomy(user) -> bool:
    """Coordinators keep the taxonomy; organisations only tag their services with its terms."""
    return is_coordinator(user)


def catalogue_entries_for_user(user, queryset: QuerySet, *, organisations=_ASK) -> QuerySet:
    """The entries of `queryset` (one kind of catalogue entry) that the user keeps."""
    if organisations is _ASK:
        organisations = catalogue_keeper_organisations(user)
    if organisations is None:
        return queryset
    owned = models.Q(pk__in=[])
    for path in CATALOGUE_OWNER_PATHS[queryset.model._meta.model_name]:
        owned |= models.Q(**{f"{path}__in": organisations})
    return queryset.filter(owned)


def _catalogue_owners(entry) -> set:
    """Ids of the organisations that own `entry` (in memory: a new or changed entry too)."""
    name = entry._meta.model_name
    if name in ("service", "location", "activity"):
        return {entry.organisation_id}
    if name == "serviceatlocation":
        return {entry.service.organisation_id} if entry.service_id else set()
    owners: set = set()
    if getattr(entry, "organisation_id", None):
        owners.add(entry.organisation_id)
    for part in ("service", "location", "service_at_location", "contact"):
        if getattr(entry, f"{part}_id", None):
            owners |= _catalogue_owners(getattr(entry, part))
    return owners


def _may_use_location(organisations, location) -> bool:
    """A service is given, and an activity held, at the organisation's own locations, or at
    the family centre's meeting places, which every organisation shares."""
    return location.is_meeting_place or location.organisation_id in organisations


def may_keep_catalogue_entry(user, entry, *, organisations=_ASK) -> bool:
    """Whether the user may write `entry` as it now is (a change is checked before and after:
    an entry cannot be moved to an organisation its keeper does not keep)."""
    if organisations is _ASK:
        organisations = catalogue_keeper_organisations(user)
    if organisations is None:
        return True
    owners = _catalogue_owners(entry)
    if not owners or not owners <= organisations:
        return False
    name = entry._meta.model_name
    if name in ("serviceatlocation", "activity") and entry.location_id:
        if not _may_use_location(organisations, entry.location):
            return False
    if name == "activity" and entry.service_id:
        return entry.service.organisation_id in organisations
    return True


def _is_public_entry(entry) -> bool:
    """What the public catalogue shows (and so a keeper of another organisation may know)."""
    name = entry._meta.model_name
    if name in ("service", "location"):
        return entry.is_active
    if name == "activity":
        return not entry.is_cancelled
    return True


def catalogue_entry_for_user(*, user, queryset: QuerySet, pk):
    """One catalogue entry the user keeps; 403 for one the public catalogue shows but they may
    not keep, 404 for any other (a service taken out of the catalogue, say, or none at all)."""
    try:
        entry = queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    if may_keep_catalogue_entry(user, entry):
        return entry
    if _is_public_entry(entry):
        raise PermissionDenied
    raise Http404


def require_may_deactivate(*, user, worker) -> None:
    """A coordinator may deactivate a worker's account, never their own, a superuser's or
    another administrator's (those are for superusers, in the admin)."""
    require_coordinator(user)
    if worker.pk == user.pk or worker.is_superuser or worker.is_staff:
        raise PermissionDenied
    # Workers only: a guardian's or a child's account is the family's, not the area's to close.
    is_worker_account = OrganisationMembership.objects.filter(
        user=worker, role=OrganisationMembership.Role.WORKER
    ).exists()
    if not is_worker_account or FamilyMember.objects.filter(user=worker).exists():
        raise PermissionDenied(_("A coordinator can deactivate only workers' accounts."))


def worker_organisations(user, *, now=None) -> frozenset:
    """Ids of the organisations where the user is a worker now."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        OrganisationMembership.objects.filter(
            _in_force(now), user=user, role=OrganisationMembership.Role.WORKER
        ).values_list("organisation_id", flat=True)
    )


def incoming_referrals_for_user(user, *, queryset: QuerySet | None = None) -> QuerySet:
    """Referrals to the organisations the user works for now."""
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
    marked: set = set()
    if referrals:
        # The receiving organisation is never among those named to see protected data.
        marked = set(
            NonDisclosure.objects.filter(
                lifted_at__isnull=True,
                member__family__cases__in={r.case_id for r in referrals},
            ).values_list("member__family__cases", flat=True)
        )
        cases = {r.case_id for r in referrals}
        organisations = {r.organisation_id for r in referrals}
        row = ("k", "row_id", "row_case", "row_organisation", "row_categories")
        rows = (
            Consent.objects.filter(
                case_id__in=cases,
                recipients__in=organisations,
                state=Consent.State.ACTIVE,
                valid_from__lte=now,
                valid_until__gt=now,
            )
            .order_by()
            .annotate(
                k=models.Value("c", output_field=models.CharField()),
                row_id=models.F("pk"),
                row_case=models.F("case_id"),
                row_organisation=models.F("recipients"),
                row_categories=models.F("categories"),
            )
            .values_list(*row)
        )
        # A legal basis in force for the receiving organisation counts as a consent (issue 16).
        bases = (
            LegalBasis.objects.filter(
                legal_basis_in_force(now), case_id__in=cases, organisation_id__in=organisations
            )
            .order_by()
            .annotate(
                k=models.Value("b", output_field=models.CharField()),
                row_id=models.F("pk"),
                row_case=models.F("case_id"),
                row_organisation=models.F("organisation_id"),
                row_categories=models.F("categories"),
            )
            .values_list(*row)
        )
        for k, row_id, case_id, organisation_id, categories in rows.union(bases, all=True):
            for category in REFERRAL_CATEGORIES & set(categories):
                granted.setdefault((case_id, organisation_id), set()).add((category, row_id, k))
    accesses = {}
    for referral in referrals:
        triples = granted.get((referral.case_id, referral.organisation_id), set())
        accesses[referral.pk] = Access(
            view=True,
            categories=frozenset(category for category, _id, _k in triples),
            organisations=frozenset({referral.organisation_id}),
            role="referral",
            consents=tuple(sorted({(c, i) for c, i, k in triples if k == "c"}, key=str)),
            legal_bases=tuple(sorted({(c, i) for c, i, k in triples if k == "b"}, key=str)),
            protected=referral.case_id in marked,
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


# --- Legal bases (issue 16): disclosure without consent where a law allows it ------------------
#
# A statutory basis recorded on a case for an organisation and data categories, while in force
# (started, not ended, before `valid_until`), is treated like a consent in force naming that
# organisation (`load_facts`, `referral_access`). Only the responsible worker records and ends
# one. The family sees every basis of its case unless the worker recorded why telling them now
# would endanger the child; those withheld are for the auditors to review.


def legal_basis_in_force(now=None, *, prefix: str = "") -> models.Q:
    now = now or timezone.now()
    return in_force(now, prefix=prefix, active=None, start="valid_from", end="ended_at") & (
        models.Q(**{f"{prefix}valid_until__gt": now})
    )


def require_may_record_legal_basis(access: Access) -> None:
    """Only the case's responsible worker (in post, on an open case) records or ends a legal
    basis."""
    if access.role != "responsible" or not access.manage:
        raise PermissionDenied(_("Only the responsible worker can record or end a legal basis."))


def legal_bases_for(*, case: Case, access: Access, now=None) -> QuerySet[LegalBasis]:
    """The legal bases of `case` that the user may see: all of them for the responsible
    worker; for the family, all but those withheld from it; for a network member, those in
    force for their own organisation (on what basis they read); none for anyone else."""
    bases = LegalBasis.objects.filter(case=case)
    if not access.view:
        return bases.none()
    if access.role == "responsible":
        return bases
    if access.is_family:
        return bases.filter(withheld_from_family=False)
    if access.role == "member":
        return bases.filter(legal_basis_in_force(now), organisation_id__in=access.organisations)
    return bases.none()


def shows_why_withheld(access: Access) -> bool:
    """Why a basis is withheld from the family is for the responsible worker (and the
    auditors, in their own list), not for the members who read under it."""
    return access.role == "responsible"


def legal_bases_withheld_for_auditor(
    user, *, organisations: Iterable | None = None
) -> QuerySet[LegalBasis]:
    """Legal bases withheld from the family, within the auditor's organisations: of a case one
    of them is responsible for, or disclosing to one of them (none for anyone else)."""
    if organisations is None:
        organisations = auditor_organisations(user)
    ids = sorted({str(org) for org in organisations})
    if not ids:
        return LegalBasis.objects.none()
    return LegalBasis.objects.filter(withheld_from_family=True).filter(
        models.Q(case__responsible_organisation_id__in=ids) | models.Q(organisation_id__in=ids)
    )


# --- Messages (issue 17) -------------------------------------------------------------------------
# A thread of a case is between the family and its responsible worker: both read every thread
# of the case (the responsible worker of the day: after a handover, the new one). A network
# member reads and writes in the threads the family chose them into, while their membership and
# post are in force (`decide` gives them the role "member" only then), whatever the consents say:
# the family's choice of the thread is its permission. Nobody else reads a thread, not an
# emergency access nor a receiver of a handover; to them a thread answers 404, as one that does
# not exist. Free text flagged protected follows the rules of notes (`hides_protected`).


def _reads_every_thread(access: Access) -> bool:
    return access.view and (access.is_family or access.role == "responsible")


def conversations_for(access: Access, user, queryset: QuerySet) -> QuerySet:
    """The threads of `queryset` (one case's) that `user`, with `access` to the case, reads."""
    if _reads_every_thread(access):
        return queryset
    if access.view and access.role == "member":
        return queryset.filter(
            pk__in=NetworkMember.objects.filter(
                user_id=user.pk, removed_at__isnull=True, conversations__isnull=False
            ).values("conversations")
        )
    return queryset.none()


def may_read_conversation(access: Access, *, user_id, member_user_ids) -> bool:
    """Whether the user reads one thread, whose chosen members' accounts are `member_user_ids`."""
    if _reads_every_thread(access):
        return True
    return access.view and access.role == "member" and user_id in set(member_user_ids)


def conversation_readers(case: Case, *, member_user_ids, now=None) -> dict:
    """{user id: Access} of everyone who reads a thread of `case` now (for its notifications)."""
    accesses = accesses_by_user([case], now=now).get(case.pk, {})
    return {
        user_id: access
        for user_id, access in accesses.items()
        if may_read_conversation(access, user_id=user_id, member_user_ids=member_user_ids)
    }


def choosable_members(case: Case) -> QuerySet:
    """The network members the family may choose into a thread: professionals in force."""
    return NetworkMember.objects.filter(
        in_force(active=None, start=None, end="removed_at"),
        case=case,
        kind=NetworkMember.Kind.PROFESSIONAL,
    )


def require_may_write_messages(case: Case) -> None:
    """Messages are written on an open case only (a closed case's threads stay readable)."""
    if case.status != Case.Status.OPEN:
        raise PermissionDenied(_("The case is closed: its threads can be read but not written."))


def require_may_start_conversation(access: Access, case: Case) -> None:
    """The family and the responsible worker start threads (404 for whoever does not see the
    case; 403 for the network members, who answer in the threads they are chosen into)."""
    check(access, Need.VIEW)
    if not has(access, Need.CONVERSATIONS):
        raise PermissionDenied(_("Only the family and the responsible worker start a thread."))
    require_may_write_messages(case)


def require_may_choose_members(access: Access, members) -> None:
    """Only the family chooses who else is in a thread: a worker's thread is with the family."""
    if members and not access.is_family:
        raise ValidationError(
            {"members": _("Only the family chooses which network members are in a thread.")}
        )


def require_may_flag_protected_message(access: Access) -> None:
    """A message is flagged protected as a note is: by those who may see protected data, and
    never by the family (a guardian would no longer read what they wrote)."""
    if access.is_family:
        raise PermissionDenied(
            _("Only the responsible worker and the members they name can flag text as protected.")
        )
    require_may_flag_protected(access)


# --- The front door (issue 17): contact requests in the intake queue ----------------------------
#
# A contact request is sent by someone with no account and no case, so no case access decides
# who reads it. An intake worker (an organisation membership of role `intake` in force, on an
# active account) sees the requests addressed to their organisation (referred on to it) and
# those still in the queue of the areas their organisation serves: from a municipality of its
# area, or from any municipality for an organisation without an area (the wellbeing area's
# family centre). Whoever sees a request may act on it: take it, open a case, refer it on or
# close it. Nobody else sees that requests exist (403 for the queue; 404 for a request).

INTAKE = OrganisationMembership.Role.INTAKE


def intake_memberships(user, *, now=None) -> list:
    """The user's intake memberships in force, with their organisations."""
    if not user.is_authenticated or not user.is_active:
        return []
    return list(
        OrganisationMembership.objects.filter(_in_force(now), user=user, role=INTAKE)
        .select_related("organisation")
        .order_by("organisation__name", "pk")
    )


def require_intake(user) -> list:
    """The user's intake memberships; PermissionDenied for anyone else."""
    memberships = intake_memberships(user)
    if not memberships:
        raise PermissionDenied(_("Only intake workers can see contact requests."))
    return memberships


def _intake_scope(memberships) -> models.Q:
    addressed = models.Q(organisation_id__in={m.organisation_id for m in memberships})
    areas = {m.organisation.area_id for m in memberships}
    if None in areas:
        return addressed | models.Q(organisation__isnull=True)
    queued = Municipality.objects.filter(areas__in=areas).values("pk")
    return addressed | models.Q(organisation__isnull=True, municipality__in=queued)


def contact_requests_for_user(user, *, queryset: QuerySet | None = None) -> tuple[QuerySet, list]:
    """(the contact requests the intake worker sees, their intake memberships);
    PermissionDenied for anyone but an intake worker."""
    memberships = require_intake(user)
    base = ContactRequest.objects.all() if queryset is None else queryset
    return base.filter(_intake_scope(memberships)), memberships


def contact_request_for_user(*, user, request_id, queryset: QuerySet | None = None) -> tuple:
    """(contact request, Access) of one request the intake worker sees; 404 for any other
    (the same as for one that does not exist), 403 for anyone but an intake worker."""
    requests, memberships = contact_requests_for_user(user, queryset=queryset)
    try:
        contact_request = requests.get(pk=request_id)
    except (ContactRequest.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    return contact_request, intake_access(memberships, contact_request)


def intake_access(memberships, contact_request) -> Access:
    """The organisation an intake worker acts for on a request (the one it is addressed to, if
    theirs; else their first), for the access log."""
    organisations = [m.organisation_id for m in memberships]
    acting = (
        contact_request.organisation_id
        if contact_request.organisation_id in organisations
        else organisations[0]
    )
    return Access(view=True, organisations=frozenset({acting}), role="intake")


def intake_accesses(memberships, contact_requests) -> dict:
    """{request id: Access} for a page of requests (no query)."""
    return {r.pk: intake_access(memberships, r) for r in contact_requests}


def check_responsible_for_request(*, worker, organisation, contact_request, now=None) -> None:
    """A case opened from a request has a responsible worker in post in the responsible
    organisation (a worker membership in force, an active account), and that organisation
    serves the family's municipality (its own, or one of its area's; an organisation without
    an area serves them all). A 400 with a message otherwise."""
    if (
        not worker.is_active
        or not OrganisationMembership.objects.filter(
            _in_force(now),
            user=worker,
            organisation=organisation,
            role=OrganisationMembership.Role.WORKER,
        ).exists()
    ):
        raise ValidationError(
            {"responsible_worker": _("Name a worker of the responsible organisation.")}
        )
    if not _serves(organisation, contact_request.municipality_id):
        raise ValidationError(
            {"organisation": _("This organisation does not serve the family's municipality.")}
        )


def _serves(organisation, municipality_id) -> bool:
    if organisation.municipality_id == municipality_id or organisation.area_id is None:
        return True
    return Municipality.objects.filter(pk=municipality_id, areas=organisation.area_id).exists()


def check_referral_receiver(*, organisation, contact_request, now=None) -> None:
    """A request is referred on to another organisation that takes contact requests (someone
    there is an intake worker now); a 400 with a message otherwise."""
    if organisation.pk == contact_request.organisation_id:
        raise ValidationError({"organisation": _("The request is already with this organisation.")})
    if not OrganisationMembership.objects.filter(
        _in_force(now), organisation=organisation, role=INTAKE, user__is_active=True
    ).exists():
        raise ValidationError(
            {"organisation": _("This organisation does not take contact requests.")}
        )


def intake_recipients(contact_request, *, now=None) -> QuerySet:
    """The intake workers who see a request (for its notification mail)."""
    from cases.models import User

    memberships = OrganisationMembership.objects.filter(_in_force(now), role=INTAKE)
    if contact_request.organisation_id is not None:
        memberships = memberships.filter(organisation_id=contact_request.organisation_id)
    else:
        memberships = memberships.filter(
            models.Q(organisation__area__isnull=True)
            | models.Q(organisation__area__municipalities=contact_request.municipality_id)
        )
    return User.objects.filter(is_active=True, pk__in=memberships.values("user_id"))


# --- Booking (issue 17): the responsible worker's free times, booked by the family ------------
#
# A worker publishes free times for an organisation they are in post in. A guardian of an open
# case books a free time of that case's responsible worker in its responsible organisation,
# while the worker is in post there. A booking is seen by the family and by the worker whose
# time it is, while they are the case's responsible worker; either may cancel it, and only the
# family moves it.


def publishing_organisation(user, *, organisation_id=None):
    """The organisation a worker publishes free times for: the one named, or their only post;
    403 for one they do not work for, 400 when they have several and named none."""
    from cases.models import Organisation

    posts = worker_posts(user)
    if not posts:
        raise PermissionDenied(_("Only workers of an organisation can publish free times."))
    if organisation_id is None:
        if len(posts) > 1:
            raise ValidationError(
                {"organisation": _("You work for several organisations: name one.")}
            )
        organisation_id = next(iter(posts))
    if organisation_id not in posts:
        raise PermissionDenied(
            _("You can publish free times only for an organisation you work for.")
        )
    return Organisation.objects.get(pk=organisation_id)


def _slot_worker_in_post(now):
    return models.Exists(
        OrganisationMembership.objects.filter(
            in_force(now, start=None),
            user=models.OuterRef("worker"),
            organisation=models.OuterRef("organisation"),
            role=OrganisationMembership.Role.WORKER,
        )
    )


def _active_booking():
    from cases.models import Booking

    return models.Exists(
        Booking.objects.filter(slot=models.OuterRef("pk"), cancelled_at__isnull=True)
    )


def own_slots(user) -> QuerySet:
    """The free times the user has published (while a worker), with `is_booked`."""
    from cases.models import BookingSlot

    if not worker_posts(user):
        return BookingSlot.objects.none()
    return _own_slots(user)


def _own_slots(user) -> QuerySet:
    from cases.models import BookingSlot

    return BookingSlot.objects.filter(worker=user, withdrawn_at__isnull=True).annotate(
        is_booked=_active_booking()
    )


def _family_cases(user) -> QuerySet[Case]:
    """The open cases of the families whose guardian `user` is (an active account)."""
    if not user.is_authenticated or not user.is_active:
        return Case.objects.none()
    return Case.objects.filter(
        status=Case.Status.OPEN,
        family__members__user=user,
        family__members__role=FamilyMember.Role.GUARDIAN,
    )


def slots_for_cases(cases: QuerySet[Case], *, now=None) -> QuerySet:
    """Free times that the families of `cases` may book: not withdrawn, of a case's responsible
    worker in its responsible organisation, while the worker is in post there."""
    from cases.models import BookingSlot

    now = now or timezone.now()
    return BookingSlot.objects.filter(
        models.Exists(
            cases.filter(
                responsible_worker=models.OuterRef("worker"),
                responsible_organisation=models.OuterRef("organisation"),
            )
        ),
        _slot_worker_in_post(now),
        withdrawn_at__isnull=True,
        worker__is_active=True,
    ).annotate(is_booked=_active_booking())


def bookable_slots(user, *, now=None) -> QuerySet:
    """The free times a guardian may book now: in the future and not booked."""
    now = now or timezone.now()
    return slots_for_cases(_family_cases(user), now=now).filter(starts_at__gt=now, is_booked=False)


def slots_for_user(user) -> QuerySet:
    """A worker's own free times; a guardian's bookable ones; nothing for anyone else."""
    if worker_posts(user):
        return _own_slots(user)
    return bookable_slots(user)


def booking_target(*, user, slot_id, case_id=None) -> tuple:
    """(slot, case, access) for a guardian booking a free time: 404 for a slot the user may not
    book (or see), 400 when the slot fits several of their cases and none is named."""
    from cases.models import BookingSlot

    cases = _family_cases(user)
    try:
        slot = slots_for_cases(cases).get(pk=slot_id)
        matching = cases.filter(
            responsible_worker_id=slot.worker_id, responsible_organisation_id=slot.organisation_id
        )
        if case_id is not None:
            matching = matching.filter(pk=case_id)
        case_ids = list(matching.values_list("pk", flat=True).distinct()[:2])
    except (BookingSlot.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    if not case_ids:
        raise Http404
    if len(case_ids) > 1:
        raise ValidationError({"case": _("The time fits several of your cases: name one.")})
    case, access = authorize(user=user, case_id=case_ids[0], need=Need.FAMILY)
    return slot, case, access


def own_slot(*, user, slot_id):
    """One of the worker's own free times (not withdrawn); 404 for any other."""
    from cases.models import BookingSlot

    try:
        return own_slots(user).get(pk=slot_id)
    except (BookingSlot.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None


def bookings_for_user(user) -> QuerySet:
    """Bookings of the user's family's cases, or of the user's own free times on cases they are
    responsible for; `booking_accesses` settles each one."""
    from cases.models import Booking

    if not user.is_authenticated or not user.is_active:
        return Booking.objects.none()
    return Booking.objects.filter(
        models.Q(
            case__family__members__user=user,
            case__family__members__role=FamilyMember.Role.GUARDIAN,
        )
        | models.Q(slot__worker=user, case__responsible_worker=user)
    ).distinct()


def booking_accesses(user, bookings) -> dict:
    """{booking id: (case, access)} of the bookings the user may read, decided in a constant
    number of queries for the whole page."""
    bookings = list(bookings)
    cases = {booking.case_id: booking.case for booking in bookings}
    accesses = access_for(user, cases.values())
    found = {}
    for booking in bookings:
        access = accesses[booking.case_id]
        if access.is_family or (access.role == "responsible" and booking.slot.worker_id == user.pk):
            found[booking.pk] = (booking.case, access)
    return found


def booking_for_user(*, user, booking_id, queryset: QuerySet | None = None) -> tuple:
    """(booking, case, access) of a booking the user may read; 404 for any other."""
    from cases.models import Booking

    base = bookings_for_user(user)
    if queryset is not None:
        base = queryset.filter(pk__in=base.values("pk"))
    try:
        booking = base.get(pk=booking_id)
    except (Booking.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    found = booking_accesses(user, [booking])
    if booking.pk not in found:
        raise Http404
    case, access = found[booking.pk]
    return booking, case, access


def may_book(user) -> bool:
    """Free times are booked by a family's guardians (the portal's users), nobody else."""
    return may_use_portal(user)


def require_may_move_booking(access: Access) -> None:
    """Only the family moves a booking to another free time."""
    if not access.is_family:
        raise PermissionDenied(_("Only the family can move a booking."))


# --- Reports (issue 18): indicators, organisations' own figures, the family's feedback --------
#
# Indicators are anonymised figures for coordinators only (DESIGN.md, "Who may do what"). A
# coordinator reads the areas of their scope: their organisation's area, or every area when the
# organisation has none. Organisations' monthly figures are written by that organisation's own
# workers (and coordinators' scope shows them beside the area's figures).


def can_read_indicators(user) -> bool:
    return is_coordinator(user)


def indicator_areas(user) -> QuerySet[Area]:
    """The areas whose indicators the user may read; PermissionDenied for anyone but a
    coordinator."""
    memberships = require_coordinator(user)
    areas = {m.organisation.area_id for m in memberships}
    if None in areas:
        return Area.objects.all()
    return Area.objects.filter(pk__in=areas)


def figure_organisations(user) -> frozenset:
    """Ids of the organisations whose monthly figures the user may enter: where they are a
    worker now."""
    return worker_organisations(user)


def require_figure_writer(user) -> None:
    """PermissionDenied for anyone who is a worker of no organisation now."""
    if not figure_organisations(user):
        raise PermissionDenied(_("Only an organisation's workers can enter its figures."))


def require_may_enter_figures(user, organisation_id) -> None:
    """An organisation's own workers in post; in the admin also a superuser."""
    if user.is_superuser:
        return
    if organisation_id not in figure_organisations(user):
        raise PermissionDenied(_("You can enter figures only for your own organisation."))


def figure_organisations_filter(user) -> models.Q:
    """Which organisations' figures the user may list (the admin): their own; a superuser all."""
    if user.is_superuser:
        return models.Q()
    return models.Q(organisation_id__in=figure_organisations(user))


def feedback_guardian(user, case: Case) -> FamilyMember | None:
    """The user's guardian row in the case's family, who may answer its feedback prompts."""
    return guardian_in_family(user, case.family_id)
