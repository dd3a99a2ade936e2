"""The one place where API views write the access log (see audit/recorder.py).

A view that reads family or case data mixes in `AuditedMixin`, names its `audit_resource`,
and says in `audit_shown()` which cases it showed, with which data categories recorded by which
organisations. Refused attempts (401, 403, 404) on a case URL are logged from the URL itself.
"""

from typing import TYPE_CHECKING

from rest_framework.permissions import SAFE_METHODS

from audit.models import AccessEvent
from audit.recorder import recorder_for


class Shown:
    """What one response showed of one case."""

    __slots__ = ("case", "access", "categories", "sources")

    def __init__(self, case, access, categories=(), sources=()):
        self.case, self.access = case, access
        self.categories, self.sources = set(categories), set(sources)


class Disclosure:
    """What a response showed, recorded by the serializers as they render family data:
    {case id: ({categories}, {organisations that recorded them})}. The access-log entry of a
    read is made from it, so a field that is shown is logged by the same code that shows it."""

    def __init__(self) -> None:
        self.shown: dict = {}

    def add(self, case_id, category: str, source=None) -> None:
        categories, sources = self.shown.setdefault(case_id, (set(), set()))
        categories.add(category)
        if source is not None:
            sources.add(source)

    def of(self, case_id) -> tuple[set, set]:
        categories, sources = self.shown.get(case_id, (set(), set()))
        return set(categories), set(sources)


def disclosure_of(context) -> Disclosure:
    """The response's record, from a serializer's context (a throwaway one where there is none,
    e.g. a response body built outside a view)."""
    return context.get("disclosure") or Disclosure()


if TYPE_CHECKING:  # what the mixin is mixed into, for mypy
    from rest_framework.generics import GenericAPIView as _ViewBase
else:
    _ViewBase = object


class AuditedMixin(_ViewBase):
    audit_resource = "case"
    audit_case_kwarg: str | None = "case_pk"  # the URL parameter that names the case, if any
    audit_family_kwarg: str | None = None  # ... or the family
    # Actions that read though sent with POST (a search whose terms must stay out of the URL),
    # with the access-log action each is logged as.
    audit_read_actions: dict = {}

    def audit_shown(self) -> list[Shown]:
        raise NotImplementedError

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        recorder = recorder_for(request)
        read_action = self.audit_read_actions.get(getattr(self, "action", None))
        read = request.method in SAFE_METHODS or read_action is not None
        if response.status_code < 400:
            if read:
                action = read_action or (
                    AccessEvent.Action.LIST if self.action_is_list() else AccessEvent.Action.VIEW
                )
                for shown in self.audit_shown():
                    recorder.allowed(
                        case=shown.case,
                        access=shown.access,
                        resource=self.audit_resource,
                        action=action,
                        categories=shown.categories,
                        sources=shown.sources,
                    )
            recorder.flush()  # inside the request's transaction: no data without its log
        elif response.status_code in (401, 403, 404):
            recorder.denied(
                resource=self.audit_resource,
                action=AccessEvent.Action.VIEW if read else AccessEvent.Action.WRITE,
                case_id=self.kwargs.get(self.audit_case_kwarg) if self.audit_case_kwarg else None,
                family_id=(
                    self.kwargs.get(self.audit_family_kwarg) if self.audit_family_kwarg else None
                ),
            )
        return response

    @property
    def get_serializer(self):
        """The view's own `get_serializer` (GenericAPIView's), remembering what it serializes for
        `shown_objects()`. A plain APIView has none, and mixing this in must not give it one:
        DRF's browsable API builds its forms with `get_serializer` wherever the view has it."""
        serializer_for = super().get_serializer  # AttributeError on a plain APIView, as wanted

        def get_serializer(instance=None, *args, **kwargs):
            if instance is not None:
                self._shown_objects = list(instance) if kwargs.get("many") else [instance]
            return serializer_for(instance, *args, **kwargs)

        return get_serializer

    @property
    def disclosure(self) -> Disclosure:
        if not hasattr(self, "_disclosure"):
            self._disclosure = Disclosure()
        return self._disclosure

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "disclosure": self.disclosure}

    def shown_objects(self) -> list:
        return getattr(self, "_shown_objects", [])

    def action_is_list(self) -> bool:
        return getattr(self, "action", None) == "list"
