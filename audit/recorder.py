"""Collects the reads of one request and writes them to the access log.

Views (through api.audit.AuditedMixin, and the portal) call `recorder_for(request)` and note
what they showed or refused. A successful request's events are written inside the request's
own transaction, so data is never shown without its log entry; the events of a failed request
are written by `AccessLogMiddleware` after that transaction has rolled back, so a refused or
failed read is logged all the same. "Written" is `audit.sequencer.submit`: into the intake, for
the sequencer to chain within a fraction of a second (background sequencing, PostgreSQL), or
onto the chain at once (inline, SQLite).

A list logs one event per case (or family) it returned, so that each family's history and each
auditor's organisation scope are plain filters on the log.
"""

import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from types import SimpleNamespace

from audit import sequencer
from audit.models import AccessEvent

HEADER_REQUEST_ID = "HTTP_X_REQUEST_ID"


class AccessRecorder:
    def __init__(self, request):
        self.request = request
        self.pending: list[AccessEvent] = []
        self.request_id = (request.META.get(HEADER_REQUEST_ID) or uuid.uuid4().hex)[:64]

    def _event(self, **fields) -> AccessEvent:
        user = getattr(self.request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None  # anonymous: logged without a user
        return AccessEvent(
            user_id=user.pk if user is not None else None,
            username=user.get_username() if user is not None else "",
            request_id=self.request_id,
            client_address=self.request.META.get("REMOTE_ADDR") or None,
            **fields,
        )

    def allowed(
        self,
        *,
        case,
        access,
        resource: str,
        action: str,
        categories: Iterable[str] = (),
        sources: Iterable = (),
        purpose: str = "",
    ) -> None:
        """`user` was shown `categories` of `case`, recorded by the organisations `sources`.

        A read under an emergency access is flagged, with the reason given as its purpose."""
        categories = sorted(set(categories))
        disclosed_from = (
            []
            if access.is_family
            else sorted(
                {str(org) for org in sources if org is not None and org != access.organisation_id}
            )
        )
        self.pending.append(
            self._event(
                organisation_id=access.organisation_id,
                role=access.role,
                case_id=case.pk,
                family_id=case.family_id,
                controller_id=case.responsible_organisation_id,
                resource=resource,
                categories=categories,
                action=action,
                outcome=AccessEvent.Outcome.ALLOWED,
                purpose=purpose or access.purpose,
                emergency=access.emergency,
                disclosed_from=disclosed_from,
                consents=access.consents_for(categories) if disclosed_from else [],
                # The statutory bases that allowed it, where no consent did (issue 16).
                legal_bases=access.legal_bases_for(categories) if disclosed_from else [],
            )
        )

    def allowed_record(
        self, *, access, resource: str, action: str, record: str, case_id=None
    ) -> None:
        """`user` was shown a record that is no case's data (yet): a contact request (issue 17).
        It is named in `purpose`; the organisation the user acted for holds it (the
        controller) until it has a case, whose family and controller `flush` then fills in."""
        self.pending.append(
            self._event(
                organisation_id=access.organisation_id,
                role=access.role,
                case_id=case_id,
                controller_id=None if case_id else access.organisation_id,
                resource=resource,
                categories=[],
                action=action,
                outcome=AccessEvent.Outcome.ALLOWED,
                purpose=record,
            )
        )

    def other(self, **fields) -> None:
        """An event that is about no one case (an auditor's export, say)."""
        self.pending.append(self._event(**fields))

    def denied(self, *, resource: str, action: str, case_id=None, family_id=None) -> None:
        """A refused attempt. The case id is logged as asked for, whether it exists or not;
        its family and controller are filled in when the event is written (the request's own
        transaction may already be marked for rollback here)."""

        def as_uuid(value):
            try:
                return uuid.UUID(str(value)) if value is not None else None
            except ValueError:
                return None

        self.pending.append(
            self._event(
                case_id=as_uuid(case_id),
                family_id=as_uuid(family_id),
                resource=resource,
                action=action,
                outcome=AccessEvent.Outcome.DENIED,
            )
        )

    def deny_pending(self) -> None:
        """The request failed after reads were noted: none of them was shown."""
        for event in self.pending:
            event.outcome = AccessEvent.Outcome.DENIED

    def flush(self) -> list[AccessEvent]:
        events, self.pending = self.pending, []
        unresolved = {e.case_id for e in events if e.case_id and e.family_id is None}
        if unresolved:
            from cases.models import Case

            cases = Case.objects.filter(pk__in=unresolved).values_list(
                "pk", "family_id", "responsible_organisation_id"
            )
            known = {pk: (family_id, controller_id) for pk, family_id, controller_id in cases}
            for event in events:
                if event.case_id in known and event.family_id is None:
                    event.family_id, event.controller_id = known[event.case_id]
        return sequencer.submit(events)


# The recorder of the request being handled, so that a service can log what it does in the
# request's own transaction without being handed the request (see `note_allowed`).
_current: ContextVar[AccessRecorder | None] = ContextVar("access_recorder", default=None)


def note_allowed(*, actor, case, access, resource: str, action: str) -> None:
    """Log, from a service, a domain event that auditors need (an emergency access opened):
    into the current request's recorder, written with the request's transaction, or, outside
    a request (a management command), written at once in the caller's transaction."""
    recorder = _current.get()
    if recorder is not None:
        recorder.allowed(case=case, access=access, resource=resource, action=action)
        return
    recorder = AccessRecorder(SimpleNamespace(user=actor, META={}))
    recorder.allowed(case=case, access=access, resource=resource, action=action)
    recorder.flush()


def recorder_for(request) -> AccessRecorder:
    """The recorder of this request (DRF requests share the underlying Django request's)."""
    request = getattr(request, "_request", request)
    recorder = getattr(request, "access_recorder", None)
    if recorder is None:
        recorder = request.access_recorder = AccessRecorder(request)
    return recorder


class AccessLogMiddleware:
    """Writes what a failed request noted, after its transaction has rolled back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(recorder_for(request))
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        recorder = getattr(request, "access_recorder", None)
        if recorder is not None and recorder.pending:
            if response.status_code >= 400:
                recorder.deny_pending()
            recorder.flush()
        if recorder is not None:
            response["X-Request-ID"] = recorder.request_id
        return response
