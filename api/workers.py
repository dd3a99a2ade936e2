"""Workers: the directory, and a coordinator closing a worker's account."""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.views import UUID_REGEX
from cases import selectors, services
from cases.models import Case, User
from consent import policy


class WorkerFilter(django_filters.FilterSet):
    organisation = django_filters.UUIDFilter(field_name="memberships__organisation")

    class Meta:
        model = User
        fields = ["organisation"]


class WorkerViewSet(viewsets.ReadOnlyModelViewSet):
    """The directory of workers, so that a handover or an invitation can name one."""

    serializer_class = s.WorkerSerializer
    filterset_class = WorkerFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.worker_list()


class WorkerStateSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "is_active"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class WorkerDeactivateView(APIView):
    """Coordinators: close a worker's account. Their open cases wait in the reassignment queue
    and stay theirs until a new responsible worker accepts."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "DeactivatedWorker",
                {
                    "worker": WorkerStateSerializer(),
                    "cases_waiting_for_reassignment": serializers.IntegerField(),
                },
            ),
            404: OpenApiResponse(description="No such worker"),
        },
    )
    def post(self, request, pk=None):
        policy.require_coordinator(request.user)  # before the lookup: 403 whoever is named
        worker = User.objects.filter(pk=pk).first()
        if worker is None:
            raise NotFound(_("Not found."))
        policy.require_may_deactivate(user=request.user, worker=worker)
        worker = services.worker_deactivate(actor=request.user, worker=worker)
        waiting = policy.cases_without_worker_in_post(
            Case.objects.filter(responsible_worker=worker)
        ).count()
        return Response(
            {
                "worker": WorkerStateSerializer(worker).data,
                "cases_waiting_for_reassignment": waiting,
            }
        )
