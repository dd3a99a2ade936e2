"""Pieces the API's views share: the pattern of a UUID in a URL, the worker permission, and the
mixins that fetch the user's access and log what a response showed. Each resource's views are
in a module of their own (api/cases.py, api/meetings.py, …); api/urls.py names them all.
"""

from typing import cast

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from api.audit import AuditedMixin, Shown
from cases import selectors
from cases.models import User
from consent import policy
from consent.policy import Need
from koordinointi.vocabulary import Category

UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class IsWorker(BasePermission):
    """A worker of some organisation now (not a family member, auditor or coordinator), as the
    policy says."""

    message = _("Only workers of an organisation can do this.")

    def has_permission(self, request, view):
        return policy.is_worker(request.user)


class AccessContextMixin(AuditedMixin):
    """Serializes with the user's access to each object in the context, computed for the whole
    page at once (a constant number of queries), and logs what was shown."""

    audit_case_kwarg: str | None = "pk"

    def access_for(self, objects) -> dict:
        """{object id: (case, Access)} for `objects`."""
        raise NotImplementedError

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            objects = list(instance) if kwargs.get("many") else [instance]
            self._case_access = self.access_for(objects)
            # Guardian's table narrows the query; the rules decide what is shown: an object
            # whose case the user no longer sees (a change made outside the services) is left
            # out rather than shown.
            objects = [obj for obj in objects if obj.pk in self._case_access]
            instance = objects if kwargs.get("many") else (objects[0] if objects else None)
            if instance is None:
                raise self.not_found()
            kwargs["context"] = {
                **self.get_serializer_context(),
                "access": {key: access for key, (_case, access) in self._case_access.items()},
            }
        return super().get_serializer(instance, *args, **kwargs)

    def not_found(self) -> Http404:
        """The answer for an object that does not exist, word for word (get_object_or_404's)."""
        name = self.get_queryset().model._meta.object_name
        return Http404(f"No {name} matches the given query.")

    def get_object(self):
        obj = super().get_object()
        if obj.pk not in self.access_for([obj]):
            raise self.not_found()
        return obj

    def audit_shown(self):
        shown = []
        for obj in self.shown_objects():
            case, access = self._case_access.get(obj.pk, (None, None))
            if case is None:
                continue
            categories, sources = self.disclosure.of(obj.pk)
            shown.append(Shown(case, access, categories, sources))
        return shown


class CaseScopedMixin(AuditedMixin):
    """For views under /cases/{case_pk}/: fetch the case and the user's access once, and log
    what the response showed of it."""

    def case_and_access(self, need: Need = Need.VIEW):
        """(case, access), fetched once; the policy checks that the access allows `need` (404
        for the unseen, 403 for the seen but not allowed)."""
        if not hasattr(self, "_case_and_access"):
            self._case_and_access = selectors.case_get(
                user=cast(User, self.request.user), case_id=self.kwargs["case_pk"]
            )
        policy.check(self._case_and_access[1], need)
        return self._case_and_access

    def shown_categories(self, case, access) -> tuple[set, set]:
        """(data categories, organisations that recorded them) this response showed."""
        return set(), set()

    def audit_shown(self):
        if not hasattr(self, "_case_and_access"):
            return []
        case, access = self._case_and_access
        categories, sources = self.shown_categories(case, access)
        disclosed, disclosed_from = self.disclosure.of(case.pk)
        return [Shown(case, access, categories | disclosed, sources | disclosed_from)]


class PlanScopedMixin(CaseScopedMixin):
    """Parts of the plan (data category `plan`): 404 for those who may not read it, as for the
    plan itself; the plan is the responsible organisation's record."""

    def plan_case(self):
        case, access = self.case_and_access()
        if not access.can_read(Category.PLAN):
            raise NotFound(_("Not found."))
        return case, access

    def shown_categories(self, case, access):
        return {Category.PLAN}, {case.responsible_organisation_id}
