"""API of the reports (issue 18): the coordinators' suppressed indicators as JSON and CSV, and
the organisations' own monthly figures."""

import csv
import datetime
import io

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.audit_views import CSVRenderer
from consent import policy
from reports import selectors, services
from reports.models import OrganisationFigure

DEFINITIONS = "\n".join(
    f"- `{indicator.key}` ({indicator.kind}): {indicator.definition}"
    for indicator in selectors.INDICATORS
)
CODE = {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,50}$"}
MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}
FILTERS = [
    OpenApiParameter(
        "area",
        CODE,
        required=True,
        description="The family-centre area's code: 404 for an area you do not coordinate.",
    ),
    OpenApiParameter(
        "municipality", CODE, description="A municipality's code in the area (404 if not in it)."
    ),
    OpenApiParameter(
        "organisation_kind",
        str,
        enum=list(selectors.KINDS),
        description="The kind of the responsible (or receiving) organisation.",
    ),
    OpenApiParameter("from", MONTH, description="First month, YYYY-MM (default: this month)."),
    OpenApiParameter(
        "to",
        MONTH,
        description=(
            "Last month, YYYY-MM (default: `from`). At most 36 months are answered, from the "
            "first: the report's `from` and `to` say which. A range given backwards is read "
            "forwards."
        ),
    ),
]
NOT_FOUND = OpenApiResponse(description="No such area among yours, or municipality in it.")


class MonthValueSerializer(serializers.Serializer):
    month = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text=_("null when suppressed"))
    suppressed = serializers.BooleanField(help_text=_("Shown as < threshold."))


class IndicatorPartSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    values = MonthValueSerializer(many=True)


class IndicatorSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.ChoiceField(choices=["count", "sum", "median_days", "share"])
    label = serializers.CharField()  # type: ignore[assignment]
    definition = serializers.CharField()
    values = MonthValueSerializer(many=True)
    parts = IndicatorPartSerializer(many=True, allow_null=True)


class IndicatorReportSerializer(serializers.Serializer):
    area = serializers.CharField()
    municipality = serializers.CharField(allow_null=True)
    organisation_kind = serializers.CharField(allow_null=True)
    # "from" is a keyword: the field is declared below.
    to = serializers.CharField()
    months = serializers.ListField(child=serializers.CharField())
    threshold = serializers.IntegerField()
    indicators = IndicatorSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField()
        return fields


def _report(request) -> dict:
    params = request.query_params
    return selectors.indicators_get(
        user=request.user,
        area=params.get("area"),
        municipality=params.get("municipality"),
        kind=params.get("organisation_kind"),
        start=params.get("from"),
        end=params.get("to"),
    )


class IndicatorsView(APIView):
    """Coordinators: the indicators of an area by month, small counts suppressed."""

    @extend_schema(
        parameters=FILTERS,
        responses={200: IndicatorReportSerializer, 404: NOT_FOUND},
        description=(
            "Figures under the suppression threshold (REPORTS_SUPPRESSION_THRESHOLD, default 5; "
            "zeros too) are null with `suppressed: true`, and further figures are withheld so "
            "that no suppressed one can be computed from totals. Families under non-disclosure "
            "count only at area level. Indicators:\n\n" + DEFINITIONS
        ),
    )
    def get(self, request):
        return Response(_report(request))


class IndicatorsCSVView(APIView):
    """Coordinators: the same suppressed indicators as CSV."""

    renderer_classes = [CSVRenderer, JSONRenderer]

    @extend_schema(
        parameters=FILTERS, responses={(200, "text/csv"): OpenApiTypes.STR, 404: NOT_FOUND}
    )
    def get(self, request):
        report = _report(request)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(selectors.indicators_csv_rows(report))
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="indicators-{report["area"]}-{report["from"]}.csv"'
        )
        return response


class OrganisationFigureSerializer(serializers.ModelSerializer):
    month = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$", help_text=_("YYYY-MM"), write_only=True
    )
    month_of = serializers.SerializerMethodField()

    class Meta:
        model = OrganisationFigure
        fields = [
            "id",
            "organisation",
            "service",
            "month",
            "month_of",
            "participants",
            "sessions",
            "new_families",
        ]
        read_only_fields = ["id", "organisation"]
        # One row per service and month: entering a month again corrects it (the service).
        validators: list = []

    def get_month_of(self, figure) -> str:
        return figure.month.strftime("%Y-%m")


class OrganisationFigureListView(generics.ListCreateAPIView):
    """Workers: your organisations' monthly figures per service; POST enters (or corrects) one
    month of one of your organisation's services."""

    serializer_class = OrganisationFigureSerializer

    def get_queryset(self):
        return selectors.organisation_figures_for(user=self.request.user)

    def create(self, request, *args, **kwargs):
        policy.require_figure_writer(request.user)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        year, month = (int(part) for part in data["month"].split("-"))
        figure = services.organisation_figure_save(
            actor=request.user,
            service_id=data["service"].pk,
            month=datetime.date(year, month, 1),
            participants=data["participants"],
            sessions=data["sessions"],
            new_families=data["new_families"],
        )
        return Response(self.get_serializer(figure).data, status=201)
