"""Who am I: the signed-in user's organisations and roles, and the families they belong to."""

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from cases import selectors
from cases.models import User


class MeView(APIView):
    """Who am I: my organisations and roles, and the families I belong to."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        user = selectors.me_get(user=cast(User, request.user))
        return Response(s.MeSerializer(user).data)
