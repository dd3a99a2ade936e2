"""Signing in to the API and out of it: a token for a username and password, and logout."""

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from api import serializers as s
from api.authentication import token_is_expired, token_ttl
from consent import policy
from koordinointi.security import lockout_message


class TokenView(APIView):
    """Exchange a username and password for an API token.

    Throttled per client address, and locked out per username and address by django-axes (whose
    first authentication backend refuses a locked-out pair before any password is checked). A
    failure answers with a response rather than an exception, so that the request's transaction,
    which holds axes' count of failures, commits.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenResponseSerializer,
            400: OpenApiResponse(description="Bad input, or a wrong username or password"),
            403: OpenApiResponse(
                description="A worker, where workers sign in through their organisation's "
                "identity provider (WORKER_PASSWORD_SIGN_IN off)"
            ),
            429: OpenApiResponse(description="Too many attempts: locked out or throttled"),
        },
        auth=[],
    )
    def post(self, request):
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return Response({"detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None or not user.is_active:
            return Response(
                {"detail": _("Wrong username or password.")}, status=status.HTTP_400_BAD_REQUEST
            )
        if not settings.WORKER_PASSWORD_SIGN_IN and policy.is_worker(user):
            return Response(
                {
                    "detail": _(
                        "Workers sign in with their organisation's identity provider, not with "
                        "a password: use /signin/ or the provider's access token."
                    )
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        # A sign-in without a session: the signal tells django-axes to clear the failures and
        # Django to record last_login, as auth.login() does for the portal.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token = Token.objects.filter(user=user).first()
        if token is not None and token_is_expired(token):
            token.delete()
        token, _created = Token.objects.get_or_create(user=user)
        expires_at = token.created + token_ttl()
        body = {"token": token.key, "expires_at": expires_at}
        return Response(s.TokenResponseSerializer(body).data)


class LogoutView(APIView):
    """Sign out: the caller's token is deleted, so it answers 401 from now on."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        Token.objects.filter(user=request.user).delete()
        if request.auth is None:  # signed in with a session (the admin or the portal)
            auth.logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
