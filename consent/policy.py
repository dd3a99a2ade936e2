"""The one place that decides who may do what on a case, and keeps django-guardian in step.

`case_permissions` computes, from scratch, every user's permissions on a case. `sync_case`
writes that result into guardian's direct foreign-key table for `Case`, inside the caller's
transaction. Reads filter with a plain join on that indexed table (see shared PERFORMANCE.md:
`get_objects_for_user` is 60-70x slower on SQLite at 100 000 cases).
"""

from collections.abc import Iterable

from django.contrib.auth.models import Permission
from django.db import transaction
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404

from cases.models import Case, CaseUserObjectPermission, Family
from consent.categories import Category, view_permission

VIEW = "view_case"
CHANGE = "change_case"
ALL_CATEGORIES = frozenset(view_permission(c) for c in Category.values)
MANAGED = frozenset({VIEW, CHANGE}) | ALL_CATEGORIES


def case_permissions(case: Case) -> dict:
    """Every user's permission codenames on `case`, as {user_id: set of codenames}."""
    granted: dict = {}
    if case.responsible_worker_id:
        perms = {VIEW} | ALL_CATEGORIES
        if case.status == Case.Status.OPEN:
            perms.add(CHANGE)
        granted[case.responsible_worker_id] = perms
    if case.status == Case.Status.OPEN:
        # A worker asked to take over may see that the case exists before accepting.
        for user_id in case.handovers.filter(status="proposed").values_list("to_worker_id", flat=True):
            granted.setdefault(user_id, set()).add(VIEW)
    return granted


def _permission_ids() -> dict[str, int]:
    return dict(
        Permission.objects.filter(
            content_type__app_label="cases", codename__in=MANAGED
        ).values_list("codename", "id")
    )


@transaction.atomic
def sync_case(*, case: Case) -> None:
    """Make guardian's rows for `case` equal to what the policy computes now."""
    wanted = {
        (user_id, codename)
        for user_id, codenames in case_permissions(case).items()
        for codename in codenames
    }
    ids = _permission_ids()
    codename_by_id = {v: k for k, v in ids.items()}
    existing = {
        (user_id, codename_by_id[perm_id]): row_id
        for row_id, user_id, perm_id in CaseUserObjectPermission.objects.filter(
            content_object=case, permission_id__in=ids.values()
        ).values_list("id", "user_id", "permission_id")
    }
    stale = [row_id for key, row_id in existing.items() if key not in wanted]
    if stale:
        CaseUserObjectPermission.objects.filter(id__in=stale).delete()
    CaseUserObjectPermission.objects.bulk_create(
        [
            CaseUserObjectPermission(user_id=user_id, permission_id=ids[codename], content_object=case)
            for user_id, codename in sorted(wanted - existing.keys(), key=str)
        ]
    )


def cases_for_user(user, *, need: str = VIEW, queryset: QuerySet | None = None) -> QuerySet[Case]:
    """The cases on which `user` holds permission `need`, as one join on the indexed table."""
    base = Case.objects.all() if queryset is None else queryset
    if not user.is_authenticated:
        return base.none()
    return base.filter(
        caseuserobjectpermission__user=user,
        caseuserobjectpermission__permission__codename=need,
    )


def case_for_user(*, user, case_id, need: str = VIEW, queryset: QuerySet | None = None) -> Case:
    """Fetch a case and authorize in one call.

    A case the user may not see answers 404, so its existence does not leak; a case they may
    see but not act on in the way `need` says raises PermissionDenied (403).
    """
    try:
        case = cases_for_user(user, queryset=queryset).get(pk=case_id)
    except (Case.DoesNotExist, ValidationError, ValueError):
        raise Http404 from None
    if need != VIEW and not has_case_permission(user, case, need):
        raise PermissionDenied
    return case


def has_case_permission(user, case: Case, codename: str) -> bool:
    return cases_for_user(user, need=codename).filter(pk=case.pk).exists()


def families_for_user(user) -> QuerySet[Family]:
    """Families whose basic data the user may read through one of their cases."""
    if not user.is_authenticated:
        return Family.objects.none()
    return Family.objects.filter(
        pk__in=cases_for_user(user, need=view_permission(Category.BASIC)).values("family_id")
    )


def sync_cases(*, cases: Iterable[Case]) -> None:
    for case in cases:
        sync_case(case=case)
