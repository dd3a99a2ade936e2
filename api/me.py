"""Who am I: the signed-in user's organisations and roles, and the families they belong to."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from cases.models import OrganisationMembership, User


class MeView(APIView):
    """Who am I: my organisations and roles, and the families I belong to."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        user = (
            User.objects.prefetch_related(
                Prefetch(
                    "memberships",
                    queryset=OrganisationMembership.objects.filter(is_active=True).select_related(
                        "organisation"
                    ),
                    to_attr="active_memberships",
                ),
                "family_memberships",
            )
        ).get(pk=request.user.pk)
        return Response(s.MeSerializer(user).data)
