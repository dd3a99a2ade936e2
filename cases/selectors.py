"""Reads of the case domain, always given the acting user and filtered through the policy."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from cases.identity_code import identity_code_lookup_q
from cases.models import (
    Case,
    ContactRequest,
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
    Service,
    User,
)
from consent import policy
from consent.policy import Access, Need
from koordinointi.vocabulary import Category, age_on, in_force

_CASE_RELATED = ("family__municipality", "responsible_worker", "responsible_organisation")


def case_list(*, user: User) -> QuerySet[Case]:
    return policy.cases_for_user(user, queryset=Case.objects.select_related(*_CASE_RELATED))


def case_accesses(*, user: User, cases, known: dict, missing) -> dict:
    """{case id: (case, Access)} of the `cases` the user sees, with the accesses already
    `known` in this request and those of `missing` computed now (a constant number of queries).
    A case whose guardian row outlived its rule (a change outside the services) is left out."""
    accesses = {**known, **policy.access_for(user, missing)}
    return {case.pk: (case, accesses[case.pk]) for case in cases if accesses[case.pk].view}


def case_get(*, user: User, case_id, need: Need = Need.VIEW) -> tuple[Case, Access]:
    """The case and the user's access to it, checked for `need`; 404 for a case the user may
    not see, 403 for what they see but may not do."""
    return policy.authorize(
        user=user,
        case_id=case_id,
        need=need,
        queryset=Case.objects.select_related(*_CASE_RELATED),
    )


def family_case_list(*, user: User) -> list[tuple[Case, Access]]:
    """(case, access) of the cases of the families whose guardian `user` is, open ones first."""
    cases = list(case_list(user=user).order_by("-status", "-opened_at"))
    accesses = policy.access_for(user, cases)
    return [
        (case, accesses[case.pk]) for case in cases if policy.has(accesses[case.pk], Need.FAMILY)
    ]


def responsible_post(*, case: Case) -> OrganisationMembership | None:
    """The responsible worker's membership in force in the case's responsible organisation;
    None when they have left (the case waits in the reassignment queue)."""
    worker = case.responsible_worker
    if worker is None or not worker.is_active or case.responsible_organisation_id is None:
        return None
    return OrganisationMembership.objects.filter(
        in_force(start=None),
        user_id=worker.pk,
        organisation_id=case.responsible_organisation_id,
        role=OrganisationMembership.Role.WORKER,
    ).first()


def me_get(*, user: User) -> User:
    """The user with their memberships in force (`active_memberships`) and family roles
    (`family_roles`), in two queries: onto the request's user, whom authentication loaded
    already (issue 19). Read afresh on every call, as plain lists (a prefetch costs more Python
    than the two queries)."""
    user.active_memberships = list(  # type: ignore[attr-defined]
        OrganisationMembership.objects.filter(in_force(start=None), user_id=user.pk).select_related(
            "organisation"
        )
    )
    user.family_roles = list(  # type: ignore[attr-defined]
        FamilyMember.objects.filter(user_id=user.pk).only("id", "family_id", "role")
    )
    return user


def workers_of(*, organisation: Organisation) -> QuerySet[User]:
    """Accounts that work for `organisation` now: the ones a request may name as its worker."""
    return User.objects.filter(
        is_active=True,
        pk__in=OrganisationMembership.objects.filter(
            in_force(start=None),
            organisation=organisation,
            role=OrganisationMembership.Role.WORKER,
        ).values("user_id"),
    )


def family_list(*, user: User) -> QuerySet[Family]:
    return (
        policy.families_for_user(user)
        .select_related("municipality", "recorded_by")
        .prefetch_related("members")
    )


def family_lookup(*, user: User, identity_code: str) -> list[Family]:
    """Families with a member of this identity code whose basic data (names, identity) the user
    may read. A family seen only as "a case exists" is left out, as is one not seen at all: the
    answer must not tell who belongs to it."""
    families = list(
        family_list(user=user)
        # Under every blind-index key: a rebuild to a new key may be under way.
        .filter(identity_code_lookup_q(identity_code, prefix="members__"))
        .distinct()
    )
    access = family_access(user=user, families=families)
    return [
        family
        for family in families
        if family.pk in access and access[family.pk][1].can_read(Category.BASIC)
    ]


def families_of_my_cases(*, user: User) -> QuerySet[Family]:
    """Families for which the user is (or was, until closing) the responsible worker."""
    mine = policy.cases_for_user(user).filter(responsible_worker=user)
    return Family.objects.filter(pk__in=mine.values("family_id"))


def family_access(*, user: User, families) -> dict:
    """{family id: (case, Access)}: the family's case the user sees (an open one first), with
    the data categories merged over all of the family's cases that the user may see."""
    cases = list(
        policy.cases_for_user(user)
        .filter(family__in=list(families))
        .select_related("family")
        .order_by("family_id", "-status", "-opened_at")  # "open" sorts after "closed"
    )
    accesses = policy.access_for(user, cases)
    merged: dict = {}
    for case in cases:
        access = accesses[case.pk]
        if not access.view:  # guardian's row outlived the rule (a change outside the services)
            continue
        if case.family_id not in merged:
            merged[case.family_id] = (case, access)
        else:
            first, previous = merged[case.family_id]
            merged[case.family_id] = (
                first,
                replace(previous, categories=previous.categories | access.categories),
            )
    return merged


def handover_list(*, case: Case) -> QuerySet[Handover]:
    return case.handovers.select_related("from_worker", "to_worker", "to_organisation", "case")


def network_list(*, case: Case, access: Access) -> QuerySet[NetworkMember]:
    """Active members; people close to the family only for those who may read basic data."""
    members = case.network.filter(removed_at__isnull=True).select_related("user", "organisation")
    if not access.can_read(Category.BASIC):
        members = members.filter(kind=NetworkMember.Kind.PROFESSIONAL)
    return members


def invitation_list(*, case: Case, access: Access) -> QuerySet[Invitation]:
    """The case's invitations: all of them for the responsible worker, those still waiting for
    an answer for the family (who sees its network, and may object); 403 for anyone else."""
    policy.check(access, Need.INVITATIONS)
    invitations = case.invitations.select_related("organisation", "invited_user", "invited_by")
    if not policy.has(access, Need.MANAGE):
        invitations = invitations.filter(
            status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
        )
    return invitations


def my_invitations(*, user: User) -> QuerySet[Invitation]:
    return policy.invitations_for_user(
        user, Invitation.objects.filter(status=Invitation.Status.PENDING)
    ).select_related("organisation", "invited_user", "invited_by")


def note_list(*, case: Case, access: Access) -> QuerySet[Note]:
    """Notes of the user's own organisation, and of consented categories (less withheld ones)."""
    visible = Q(organisation__in=access.organisations) | (
        Q(category__in=access.categories) & ~Q(subject__in=access.withheld_subjects)
    )
    if access.is_family:
        visible = Q()
    notes = case.notes.filter(visible)
    if policy.hides_protected(access):
        notes = notes.filter(protected=False)
    return notes.select_related("author", "organisation")


def correction_list(*, case: Case, access: Access) -> QuerySet:
    """The case's correction requests, newest first: for the family and the responsible worker
    (404 for anyone who may not see the case, 403 for the rest)."""
    from cases.models import CorrectionRequest

    policy.check(access, Need.CORRECTIONS)
    return CorrectionRequest.objects.filter(case=case).select_related(
        "requested_by", "answered_by", "case"
    )


def plan_get(*, case: Case) -> Plan:
    return Plan.objects.select_related("updated_by").filter(case=case).first() or Plan(case=case)


def organisation_list() -> QuerySet[Organisation]:
    return Organisation.objects.select_related("area", "municipality")


def service_list() -> QuerySet[Service]:
    return (
        Service.objects.filter(is_active=True)
        .select_related("organisation")
        .prefetch_related("municipalities")
    )


def service_search(queryset: QuerySet[Service], text: str) -> QuerySet[Service]:
    return queryset.filter(
        Q(name_fi__icontains=text)
        | Q(name_sv__icontains=text)
        | Q(name_en__icontains=text)
        | Q(description__icontains=text)
    )


def worker_list() -> QuerySet[User]:
    return (
        User.objects.filter(
            is_active=True,
            pk__in=OrganisationMembership.objects.filter(
                in_force(start=None), role=OrganisationMembership.Role.WORKER
            ).values("user_id"),
        )
        .distinct()
        .order_by("last_name", "first_name", "id")
    )


# --- Coordination (issue 6) ----------------------------------------------------------------------

# The catalogue's free-text search, one for the API and the admin, so both find the same: every
# word must occur in one of these fields (as the admin's own search would do).
CATALOGUE_SEARCH_FIELDS = ("name_fi", "name_sv", "name_en", "description", "organisation__name")


def catalogue_services_detailed(queryset: QuerySet[Service]) -> QuerySet[Service]:
    """`queryset` with everything a catalogue entry shows, in a constant number of queries:
    municipalities, languages, taxonomy terms, its active locations (each with its
    municipality, opening hours and phones), the opening hours at each location, its own
    opening hours, contacts (with their phones) and phones."""
    from cases.models import Contact, ServiceAtLocation

    return queryset.select_related("organisation").prefetch_related(
        "municipalities",
        "languages",
        "taxonomy_terms",
        Prefetch(
            "at_locations",
            queryset=ServiceAtLocation.objects.filter(location__is_active=True)
            .select_related("location__municipality")
            .prefetch_related("schedules", "location__schedules", "location__phones")
            .order_by("location__name_fi", "id"),
        ),
        "schedules",
        Prefetch("contacts", queryset=Contact.objects.prefetch_related("phones")),
        "phones",
    )


def service_catalogue_summaries() -> QuerySet[Service]:
    """The public catalogue's services alone, their one-to-one fields (HSDS lists)."""
    return Service.objects.filter(is_active=True).order_by("name_fi", "id")


def service_catalogue() -> QuerySet[Service]:
    """The public catalogue: active services with everything their entries show."""
    return catalogue_services_detailed(Service.objects.filter(is_active=True))


def services_in_taxonomy(queryset: QuerySet[Service], wanted: str, *, taxonomy_id) -> QuerySet:
    """Services with a term of the taxonomy whose id (`taxonomy_id(name)`) is `wanted`."""
    names = [name for name in taxonomy_names() if taxonomy_id(name) == wanted]
    return queryset.filter(
        pk__in=Service.objects.filter(taxonomy_terms__taxonomy__in=names).values("pk")
    )


def taxonomy_names() -> list[str]:
    """The taxonomies of the catalogue: its terms' taxonomy names, in order."""
    from cases.models import TaxonomyTerm

    return list(
        TaxonomyTerm.objects.order_by("taxonomy").values_list("taxonomy", flat=True).distinct()
    )


def taxonomy_terms() -> QuerySet:
    from cases.models import TaxonomyTerm

    return TaxonomyTerm.objects.order_by("code", "id")


def taxonomy_term_search(queryset: QuerySet, text: str) -> QuerySet:
    for word in text.split():
        queryset = queryset.filter(
            Q(code__icontains=word)
            | Q(name_fi__icontains=word)
            | Q(name_sv__icontains=word)
            | Q(name_en__icontains=word)
            | Q(description__icontains=word)
        )
    return queryset


def catalogue_name_search(queryset: QuerySet, text: str) -> QuerySet:
    for word in text.split():
        queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word))
    return queryset


def catalogue_organisations() -> QuerySet[Organisation]:
    """Organisations with a service in the public catalogue."""
    return Organisation.objects.filter(
        pk__in=Service.objects.filter(is_active=True).values("organisation_id")
    ).order_by("name", "id")


def catalogue_organisations_detailed() -> QuerySet[Organisation]:
    """The same, each with its phones, contacts, active locations and catalogue services."""
    from cases.models import Contact, Location

    return catalogue_organisations().prefetch_related(
        "phones",
        Prefetch("contacts", queryset=Contact.objects.prefetch_related("phones")),
        Prefetch(
            "locations",
            queryset=Location.objects.filter(is_active=True)
            .select_related("municipality")
            .prefetch_related("phones", "schedules")
            .order_by("name_fi", "id"),
        ),
        Prefetch(
            "services", queryset=Service.objects.filter(is_active=True).order_by("name_fi", "id")
        ),
    )


def catalogue_services_at_locations() -> QuerySet:
    """Services of the public catalogue at their active locations."""
    from cases.models import ServiceAtLocation

    return (
        ServiceAtLocation.objects.filter(service__is_active=True, location__is_active=True)
        .select_related("service", "location__municipality")
        .prefetch_related("schedules", "location__schedules", "location__phones")
        .order_by("service__name_fi", "location__name_fi", "id")
    )


def service_catalogue_search(queryset: QuerySet[Service], text: str) -> QuerySet[Service]:
    for word in text.split():
        matches = Q()
        for name in CATALOGUE_SEARCH_FIELDS:
            matches |= Q(**{f"{name}__icontains": word})
        queryset = queryset.filter(matches)
    return queryset


def service_by_age(queryset: QuerySet[Service], age: int) -> QuerySet[Service]:
    return queryset.filter(min_age__lte=age, max_age__gte=age)


def services_for_case(*, case: Case, queryset: QuerySet[Service]) -> QuerySet[Service]:
    """Services for the family of `case`: offered in its municipality, to one of its children's
    ages (any age when no child's birth date is known)."""
    from cases.models import FamilyMember

    queryset = queryset.filter(municipalities=case.family.municipality_id)
    ages = {
        age_on(child.birth_date)
        for child in FamilyMember.objects.filter(
            family_id=case.family_id, role=FamilyMember.Role.CHILD, birth_date__isnull=False
        )
    }
    if ages:
        fits = Q()
        for age in ages:
            fits |= Q(min_age__lte=age, max_age__gte=age)
        queryset = queryset.filter(fits)
    return queryset


def plan_action_list(*, case: Case, access: Access | None = None) -> QuerySet:
    """The plan's actions; those flagged protected only for who may see protected data (pass
    the reader's `access`; without one, every action: for services and notifications)."""
    from cases.models import PlanAction

    actions = PlanAction.objects.filter(case=case)
    if access is not None and policy.hides_protected(access):
        actions = actions.filter(protected=False)
    return actions.select_related("responsible_user", "responsible_member", "service__organisation")


def meeting_list(*, case: Case) -> QuerySet:
    from cases.models import Meeting

    return (
        Meeting.objects.filter(case=case)
        .select_related("organiser")
        .prefetch_related("members__user", "members__organisation", "family_members")
    )


def readable_notes(*, case: Case, access: Access, note_ids) -> set:
    """Which of `note_ids` (a meeting's minutes, say) the user may read, in one query."""
    note_ids = [pk for pk in note_ids if pk is not None]
    if not note_ids:
        return set()
    return set(
        note_list(case=case, access=access).filter(pk__in=note_ids).values_list("pk", flat=True)
    )


_REFERRAL_RELATED = (
    "service__organisation",
    "organisation",
    "referred_by",
    "referred_by_organisation",
    "accepted_worker",
    "decided_by",
)


def referral_list(*, case: Case) -> QuerySet:
    from cases.models import Referral

    return Referral.objects.filter(case=case).select_related(*_REFERRAL_RELATED)


def incoming_referral_list(*, user: User) -> QuerySet:
    """Referrals to the user's organisations, with what consent may let them see of the family."""
    from cases.models import Referral

    return policy.incoming_referrals_for_user(
        user,
        queryset=Referral.objects.select_related(
            *_REFERRAL_RELATED, "case__family__municipality", "case__family__recorded_by"
        ).prefetch_related("case__family__members"),
    )


def incoming_referral_get(*, user: User, referral_id):
    from cases.models import Referral

    return policy.incoming_referral_for_user(
        user=user,
        referral_id=referral_id,
        queryset=Referral.objects.select_related(
            *_REFERRAL_RELATED, "case__family__municipality", "case__family__recorded_by"
        ).prefetch_related("case__family__members"),
    )


@dataclass
class MyWork:
    """A worker's desk: see `my_work`."""

    cases: list  # open cases the worker is responsible for, a member of, or asked to take over
    access: dict  # case id -> Access
    invitations: list
    handovers: list
    overdue: list
    due_soon: list
    consent_requests: list
    consent_recipients: dict  # consent id -> [Organisation]
    corrections: list  # the families' correction requests waiting for the worker's answer

    def cases_as(self, role: str) -> list:
        return [case for case in self.cases if self.access[case.pk].role == role]


def my_work(*, user: User, today=None, horizon_days: int = 14) -> MyWork:
    """Everything waiting for a worker, in a constant number of queries however many cases:
    their open cases (as responsible worker, as member), invitations and handovers waiting for
    their answer, plan actions due within `horizon_days` or overdue (their own, and all of the
    cases they are responsible for), consent requests still waiting for the family, and the
    families' correction requests waiting for their answer."""
    from cases.models import CorrectionRequest, PlanAction
    from consent.models import Consent

    today = today or timezone.localdate()
    cases = list(
        policy.cases_for_user(user, queryset=Case.objects.select_related(*_CASE_RELATED))
        .filter(status=Case.Status.OPEN)
        .order_by("opened_at", "id")
    )
    accesses = policy.access_for(user, cases)
    cases = [c for c in cases if policy.on_desk(accesses[c.pk])]
    handovers = list(
        Handover.objects.filter(
            to_worker=user, status=Handover.Status.PROPOSED, case__status=Case.Status.OPEN
        )
        .select_related("from_worker", "to_worker", "to_organisation")
        .order_by("proposed_at", "id")
    )
    # Only those the policy lets them answer now (still in post where they would take over).
    handovers = [h for h in handovers if h.case_id in accesses and accesses[h.case_id].view]
    # Within the worker's own open cases, by id: an OR across the action and its case (the
    # worker's own actions, or any of their cases) joins every open case with every action due
    # (36 ms on PostgreSQL, 190 ms on SQLite at 100 000 families, against 2 ms so).
    responsible = [c.pk for c in cases if policy.has(accesses[c.pk], Need.MANAGE)]
    actions: Iterable[PlanAction] = (
        PlanAction.objects.filter(
            Q(responsible_user=user) | Q(case_id__in=responsible),
            case_id__in=[c.pk for c in cases],
            status__in=PlanAction.OPEN_STATUSES,
            due_date__lte=today + timedelta(days=horizon_days),
        )
        .select_related("responsible_user", "responsible_member", "service__organisation")
        .order_by("due_date", "created_at", "id")
    )
    # Only actions of cases whose plan the worker may read now (consent may have ended).
    actions = [
        a
        for a in actions
        if a.case_id in accesses
        and accesses[a.case_id].can_read(Category.PLAN)
        and not (a.protected and policy.hides_protected(accesses[a.case_id]))
    ]
    now = timezone.now()
    managed = policy.managed_cases(user)  # one subquery, built once for both of its uses
    waiting = Consent.objects.filter(
        case__in=managed,
        state=Consent.State.PENDING,
        valid_until__gt=now,
    )
    recipients: dict = {}
    for link in Consent.recipients.through.objects.filter(consent__in=waiting).select_related(
        "organisation"
    ):
        recipients.setdefault(link.consent_id, []).append(link.organisation)
    return MyWork(
        cases=cases,
        access=accesses,
        invitations=list(my_invitations(user=user).filter(expires_at__gt=now)),
        handovers=handovers,
        overdue=[a for a in actions if a.due_date < today],
        due_soon=[a for a in actions if a.due_date >= today],
        consent_requests=list(waiting.order_by("requested_at", "id")),
        consent_recipients=recipients,
        corrections=list(
            CorrectionRequest.objects.filter(
                case__in=managed, status=CorrectionRequest.Status.OPEN
            ).order_by("created_at", "id")
        ),
    )


def reassignment_list(*, user: User) -> tuple[QuerySet[Case], list]:
    """The coordinator's reassignment queue, oldest case first, with any handover waiting."""
    from django.db.models import Prefetch

    cases, memberships = policy.reassignment_queue(user)
    cases = (
        cases.select_related("responsible_worker", "responsible_organisation")
        .prefetch_related(
            Prefetch(
                "handovers",
                queryset=Handover.objects.filter(status=Handover.Status.PROPOSED).select_related(
                    "from_worker", "to_worker", "to_organisation"
                ),
                to_attr="waiting_handovers",
            )
        )
        .order_by("opened_at", "id")
    )
    return cases, memberships


def responsibility_report(*, cases: QuerySet[Case] | None = None) -> dict:
    """Counts that show that every open case has its responsible worker: those whose worker
    has left wait for reassignment, and still have one."""
    from django.db.models import Count

    cases = Case.objects.all() if cases is None else cases
    open_cases = cases.filter(status=Case.Status.OPEN)
    leaving = policy.cases_without_worker_in_post(open_cases)
    counts = open_cases.aggregate(
        open_cases=Count("pk"),
        without_responsible_worker=Count(
            "pk",
            filter=Q(responsible_worker__isnull=True) | Q(responsible_organisation__isnull=True),
        ),
    )
    return {
        **counts,
        "waiting_for_reassignment": leaving.count(),
        "reassignment_proposed": leaving.filter(handovers__status=Handover.Status.PROPOSED)
        .values("pk")
        .distinct()
        .count(),
        "generated_at": timezone.now(),
    }


def non_disclosure_list(*, case: Case) -> QuerySet:
    """The non-disclosure markings of the family's members, in force and lifted, newest first;
    seen by whoever sees the case (that a marking exists is never protected)."""
    from cases.models import NonDisclosure

    return (
        NonDisclosure.objects.filter(member__family_id=case.family_id)
        .select_related("marked_by", "lifted_by")
        .prefetch_related("readers")
        .order_by("-marked_at", "id")
    )


def families_in_municipality(*, user: User, queryset: QuerySet[Family], municipality_id):
    """The families of `queryset` in a municipality, less those whose location a
    non-disclosure marking hides from `user`."""
    return queryset.filter(municipality_id=municipality_id).exclude(
        pk__in=policy.families_hiding_location(user)
    )


# --- The front door (issue 17): the intake queue -------------------------------------------------

_CONTACT_REQUEST_RELATED = (
    "municipality",
    "organisation",
    "taken_by",
    "referred_by",
    "closed_by",
    "case",
)


def contact_request_list(*, user: User) -> tuple[QuerySet, list]:
    """(the contact requests the intake worker sees, their intake memberships); 403 for anyone
    else (`policy.contact_requests_for_user`)."""
    return policy.contact_requests_for_user(
        user, queryset=ContactRequest.objects.select_related(*_CONTACT_REQUEST_RELATED)
    )


def contact_request_get(*, user: User, request_id) -> tuple:
    """(contact request, Access) of one request the intake worker sees; 404 for any other."""
    return policy.contact_request_for_user(
        user=user,
        request_id=request_id,
        queryset=ContactRequest.objects.select_related(*_CONTACT_REQUEST_RELATED),
    )


def municipality_choices() -> QuerySet:
    """The municipalities a contact request may come from (the public form's choices)."""
    return Municipality.objects.order_by("name")
