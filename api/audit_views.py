"""API of the access log: the auditor's events, CSV export, anomalies and verification, and the
access histories of a family (for its guardians) and of a case (for its responsible worker).

Who may read what is decided in consent.policy; the reads are in audit.selectors. Auditors see
events only, never case content (events hold none). Refused attempts at any of these URLs are
logged (api.audit.AuditedMixin, resource "audit-log" or "access-history"); an export is logged
as one "export" event, and reading an access history as one "view" event per case of it. The
auditor's plain list reads are not logged: they show no case data, and logging each page would
fill the log with reads of itself.
"""

import csv
import datetime
import io
from urllib.parse import urlencode

import django_filters
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from api.audit import AuditedMixin, Shown
from api.filters import BooleanFilter, IsoDateTimeFilter
from api.pagination import StrictPageSizeMixin
from audit import selectors
from audit import verify as audit_verify
from audit.models import AccessEvent
from audit.recorder import recorder_for
from consent import policy
from koordinointi.vocabulary import LOG_CATEGORY_CHOICES

AUDIT_LOG = "audit-log"
ACCESS_HISTORY = "access-history"

DENIED = {
    403: OpenApiResponse(description="Not an auditor"),
    401: OpenApiResponse(description="Not signed in"),
}


# --- Auditor API ----------------------------------------------------------------------------------


class AuditEventFilter(django_filters.FilterSet):
    # Plain UUIDs, never choices among objects: a filter must not tell which ids exist.
    user = django_filters.UUIDFilter(field_name="user_id")
    case = django_filters.UUIDFilter(field_name="case_id")
    family = django_filters.UUIDFilter(field_name="family_id")
    organisation = django_filters.UUIDFilter(
        field_name="organisation_id", label="The organisation the reader acted for"
    )
    controller = django_filters.UUIDFilter(
        field_name="controller_id", label="The organisation responsible for the case"
    )
    action = django_filters.ChoiceFilter(choices=AccessEvent.Action.choices)
    outcome = django_filters.ChoiceFilter(choices=AccessEvent.Outcome.choices)
    role = django_filters.ChoiceFilter(choices=AccessEvent.Role.choices)
    resource = django_filters.CharFilter(max_length=50)
    emergency = BooleanFilter()
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="At or after this time"
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Before this time"
    )

    class Meta:
        model = AccessEvent
        fields = [
            "user",
            "case",
            "family",
            "organisation",
            "controller",
            "action",
            "outcome",
            "role",
            "resource",
            "emergency",
            "created_after",
            "created_before",
        ]


class AuditEventSerializer(serializers.ModelSerializer):
    user = serializers.UUIDField(source="user_id", read_only=True, allow_null=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True, allow_null=True)
    case = serializers.UUIDField(source="case_id", read_only=True, allow_null=True)
    family = serializers.UUIDField(source="family_id", read_only=True, allow_null=True)
    controller = serializers.UUIDField(source="controller_id", read_only=True, allow_null=True)
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=LOG_CATEGORY_CHOICES),
        read_only=True,
        help_text=_("Data categories shown; `protected`: data under a non-disclosure marking."),
    )
    disclosed_from = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    consents = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    legal_bases = serializers.ListField(
        child=serializers.UUIDField(),
        read_only=True,
        help_text=_("The statutory bases (legal basis ids) that allowed a disclosure."),
    )

    class Meta:
        model = AccessEvent
        fields = [
            "id",
            "chain",
            "seq",
            "created_at",
            "user",
            "username",
            "organisation",
            "role",
            "case",
            "family",
            "controller",
            "resource",
            "categories",
            "action",
            "outcome",
            "purpose",
            "emergency",
            "disclosed_from",
            "consents",
            "legal_bases",
            "request_id",
            "client_address",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class LogCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Newest first. A cursor, not page numbers: the log grows while it is read (reading an
    access history adds to it), and page numbers would shift under the reader."""

    ordering = ("-created_at", "-seq", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AuditorMixin(AuditedMixin):
    """Auditors only (an active auditor membership; everyone else 403), scoped to their
    organisations by consent.policy. Refused attempts are logged."""

    audit_resource = AUDIT_LOG
    audit_case_kwarg = None
    filterset_class: type[AuditEventFilter] | None = AuditEventFilter

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # signed in, or 401
        self.organisations = policy.auditor_organisations(request.user)
        if not self.organisations:
            raise PermissionDenied(_("Only auditors can read the access log."))

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AccessEvent.objects.none()
        return policy.audit_events_for_auditor(self.request.user, organisations=self.organisations)

    def audit_shown(self):
        return []  # events, not case data


@extend_schema(responses={200: AuditEventSerializer(many=True), **DENIED})
class AuditEventListView(AuditorMixin, generics.ListAPIView):
    """Access events within your organisations, newest first (auditors only)."""

    serializer_class = AuditEventSerializer
    pagination_class = LogCursorPagination


CSV_COLUMNS = AuditEventSerializer.Meta.fields
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    if hasattr(value, "tzinfo"):
        return timezone.localtime(value).isoformat()
    text = str(value)
    # A spreadsheet would run a cell that starts like a formula: never let the log do that.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_row(event: AccessEvent) -> list[str]:
    values = {
        "user": event.user_id,
        "organisation": event.organisation_id,
        "case": event.case_id,
        "family": event.family_id,
        "controller": event.controller_id,
    }
    return [
        _csv_cell(values[name] if name in values else getattr(event, name)) for name in CSV_COLUMNS
    ]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a streaming response."""

    def write(self, value):
        return value


class CSVRenderer(BaseRenderer):
    """Lets clients ask for text/csv; the export streams its own body, so this renders only
    error bodies (as key,value rows)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for key, value in data.items() if isinstance(data, dict) else [("detail", data)]:
            # A field's errors come as a list: its messages, not the list's repr.
            writer.writerow([key, " ".join(map(str, value)) if isinstance(value, list) else value])
        return buffer.getvalue().encode()


class AuditEventExportView(AuditorMixin, generics.GenericAPIView):
    """The same events as the list, with the same filters, as CSV (oldest first, streamed).
    The export itself is logged as one event."""

    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = None

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR, **DENIED},
        description="CSV with the columns of the event list; lists are space-separated.",
        filters=True,
    )
    def get(self, request):
        events = self.filter_queryset(self.get_queryset())  # 400 on a bad filter
        self._note_export(request)
        events = events.order_by("created_at", "chain", "seq")
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(CSV_COLUMNS)
            for event in events.iterator(chunk_size=2000):
                yield writer.writerow(_csv_row(event))

        filename = f"access-log-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        return StreamingHttpResponse(
            lines(),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def _note_export(self, request) -> None:
        """One "export" event, written with the request's other events (inside its
        transaction, before the first row is sent), naming the filters used."""
        recorder = recorder_for(request)
        query = urlencode(sorted(request.query_params.items()))
        recorder.other(
            role=AccessEvent.Role.AUDITOR,
            resource=AUDIT_LOG,
            action=AccessEvent.Action.EXPORT,
            outcome=AccessEvent.Outcome.ALLOWED,
            purpose=f"access log export {query}".strip()[:200],
        )


class AnomalySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[(k, k) for k in selectors.Kind.ALL])
    user_id = serializers.UUIDField(allow_null=True)
    username = serializers.CharField()
    count = serializers.IntegerField()
    first = serializers.DateTimeField()
    last = serializers.DateTimeField()
    sample_event_ids = serializers.ListField(child=serializers.UUIDField())


class AnomalyReportSerializer(serializers.Serializer):
    # In UTC: a period far in the past would otherwise be shown in the local mean time of the
    # zone then (Helsinki +01:39:49), an offset with seconds that RFC 3339 date-time forbids.
    created_after = serializers.DateTimeField(default_timezone=datetime.UTC)
    created_before = serializers.DateTimeField(default_timezone=datetime.UTC)
    anomalies = AnomalySerializer(many=True)


class AuditAnomalyView(AuditorMixin, generics.GenericAPIView):
    """Anomalies among the events within your organisations, in the period asked for
    (created_after, created_before), by default the last AUDIT_ANOMALY_WINDOW_DAYS (30) days;
    the other event filters narrow it further.

    - denied_burst: AUDIT_ANOMALY_DENIED_BURST (5) or more refused attempts by one user within
      AUDIT_ANOMALY_DENIED_BURST_MINUTES (10) minutes;
    - not_in_network: allowed reads of a case by someone who was not its responsible worker,
      a network member or a guardian (a worker asked to take over, or no role);
    - outside_office_hours: allowed reads, other than the family's own, outside
      AUDIT_OFFICE_HOURS (7-18) on AUDIT_OFFICE_DAYS (Monday to Friday), Helsinki time;
    - emergency_access: allowed reads under emergency access.

    Each finding names the user, how many events, the first and last, and up to
    AUDIT_ANOMALY_SAMPLES (5) of the latest event ids.
    """

    pagination_class = None
    serializer_class = AnomalyReportSerializer

    @extend_schema(responses={200: AnomalyReportSerializer, **DENIED}, filters=True)
    def get(self, request):
        filterset = AuditEventFilter(request.query_params, queryset=self.get_queryset())
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        since, until = selectors.anomaly_window(
            created_after=filterset.form.cleaned_data.get("created_after"),
            created_before=filterset.form.cleaned_data.get("created_before"),
        )
        found = selectors.anomaly_list(events=filterset.qs, since=since, until=until)
        report = {"created_after": since, "created_before": until, "anomalies": found}
        return Response(AnomalyReportSerializer(report).data)


class VerifyChainSerializer(serializers.Serializer):
    chain = serializers.CharField()
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    checkpoints = serializers.IntegerField()
    first_bad_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    unsequenced = serializers.IntegerField(
        help_text="Events committed but not yet on the chain (the sequencer chains them soon)."
    )


class VerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    chains = VerifyChainSerializer(many=True)
    unsequenced = serializers.IntegerField(
        help_text="Events of all chains committed but not yet sequenced (not yet verifiable)."
    )


class AuditVerifyView(AuditorMixin, generics.GenericAPIView):
    """Recompute every chain of the access log and check its signed checkpoints, as
    `manage.py verify_audit` does. 200 whether the log is whole or not: read `ok`."""

    pagination_class = None
    filterset_class = None
    serializer_class = VerifySerializer

    @extend_schema(responses={200: VerifySerializer, **DENIED})
    def get(self, request):
        results = audit_verify.verify_all()
        waiting = selectors.unsequenced_events()
        body = {
            "ok": all(r.ok for r in results),
            "chains": [r.as_dict() | {"unsequenced": waiting.get(r.chain, 0)} for r in results],
            "unsequenced": sum(waiting.values()),
        }
        return Response(VerifySerializer(body).data)


# --- Access histories -----------------------------------------------------------------------------


def _label(choices, value) -> str:
    return str(dict(choices).get(value, value))


class WhoSerializer(serializers.Serializer):
    name = serializers.CharField(
        allow_null=True,
        help_text="Null when nobody was signed in, or for a refused person who is not a worker.",
    )
    organisation = serializers.CharField(
        allow_null=True, help_text="The organisation they acted for, if any."
    )
    role = serializers.CharField(help_text="Their role on the case.")


class CaseWhoSerializer(WhoSerializer):
    id = serializers.UUIDField(allow_null=True)
    username = serializers.CharField(allow_blank=True)


class AccessHistorySerializer(serializers.Serializer):
    """One read, in plain terms and in the reader's language."""

    time = serializers.DateTimeField()
    who = WhoSerializer()
    what = serializers.ListField(
        child=serializers.CharField(), help_text="The kinds of data shown."
    )
    action = serializers.CharField()
    outcome = serializers.CharField()
    emergency = serializers.BooleanField(
        help_text="Read under an emergency access (break-the-glass), without the family's consent."
    )


class CaseAccessHistorySerializer(AccessHistorySerializer):
    who = CaseWhoSerializer()


def history_entry(event: AccessEvent, people: selectors.People) -> dict:
    named = policy.reader_named(event, workers=people.workers)
    return {
        "time": event.created_at,
        "who": {
            "id": event.user_id if named else None,
            "username": event.username if named else "",
            "name": people.users.get(event.user_id, event.username or None) if named else None,
            "organisation": people.organisations.get(event.organisation_id),
            "role": _label(AccessEvent.Role.choices, event.role),
        },
        "what": [_label(LOG_CATEGORY_CHOICES, category) for category in event.categories],
        "action": _label(AccessEvent.Action.choices, event.action),
        "outcome": _label(AccessEvent.Outcome.choices, event.outcome),
        "emergency": event.emergency,
    }


class AccessHistoryMixin(AuditedMixin):
    """A page of access events in plain terms; reading it is logged like any read of the case
    (one event per case, no data categories)."""

    audit_resource = ACCESS_HISTORY
    pagination_class = LogCursorPagination
    filter_backends: list = []

    def audit_shown(self):
        return getattr(self, "_shown", [])

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None  # pagination_class is set
        people = selectors.people_of(page)
        entries = [history_entry(event, people) for event in page]
        return self.get_paginated_response(self.get_serializer(entries, many=True).data)


@extend_schema(
    responses={
        200: AccessHistorySerializer(many=True),
        401: OpenApiResponse(description="Not signed in"),
        404: OpenApiResponse(description="Not a guardian of this family, or no such family"),
    }
)
class FamilyAccessHistoryView(AccessHistoryMixin, generics.ListAPIView):
    """Who has seen your family's data, when, as what (for the family's guardians; everyone
    else 404). Your family's own reads are left out."""

    serializer_class = AccessHistorySerializer
    audit_case_kwarg = None
    audit_family_kwarg = "pk"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AccessEvent.objects.none()
        user = self.request.user
        family = policy.family_for_guardian(user=user, family_id=self.kwargs["pk"])
        cases = list(policy.cases_for_user(user).filter(family=family))
        accesses = policy.access_for(user, cases)
        self._shown = [Shown(case, accesses[case.pk]) for case in cases]
        return selectors.access_history_for_family(family=family)


@extend_schema(
    responses={
        200: CaseAccessHistorySerializer(many=True),
        401: OpenApiResponse(description="Not signed in"),
        403: OpenApiResponse(description="Not the case's responsible worker"),
        404: OpenApiResponse(description="A case you cannot see, or no such case"),
    }
)
class CaseAccessHistoryView(AccessHistoryMixin, generics.ListAPIView):
    """Every read of the case, newest first (for its responsible worker; others who see the
    case 403, the rest 404)."""

    serializer_class = CaseAccessHistorySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AccessEvent.objects.none()
        case, access = policy.case_history_for_user(
            user=self.request.user, case_id=self.kwargs["case_pk"]
        )
        self._shown = [Shown(case, access)]
        return selectors.access_history_for_case(case=case)
