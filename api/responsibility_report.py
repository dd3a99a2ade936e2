"""The coordinators' report: every open case in their area has its responsible worker."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors
from consent import policy


class ResponsibilityReportSerializer(serializers.Serializer):
    open_cases = serializers.IntegerField()
    without_responsible_worker = serializers.IntegerField(
        help_text=_("Open cases without a responsible worker: always 0.")
    )
    waiting_for_reassignment = serializers.IntegerField(
        help_text=_("Open cases whose responsible worker has left; they stay theirs meanwhile.")
    )
    reassignment_proposed = serializers.IntegerField()
    generated_at = serializers.DateTimeField()


class ResponsibilityReportView(APIView):
    """Coordinators: figures that show every open case in your area has its responsible worker."""

    @extend_schema(responses=ResponsibilityReportSerializer)
    def get(self, request):
        memberships = policy.require_coordinator(request.user)
        report = selectors.responsibility_report(cases=policy.coordinated_cases(memberships))
        return Response(ResponsibilityReportSerializer(report).data)
