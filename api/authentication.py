"""API authentication: tokens that expire API_TOKEN_TTL_HOURS after they were issued, sent as
`Authorization: Token <key>` or, as generated OpenAPI clients do, `Authorization: Bearer <key>`."""

import datetime
import re

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

# DRF's token keys: 40 hexadecimal digits (rest_framework.authtoken.models.Token.generate_key).
TOKEN_KEY = re.compile(rb"[0-9a-f]{40}")


class TokenExpired(exceptions.AuthenticationFailed):
    """A 401 that keeps the request's transaction: the expired token's deletion must commit."""

    default_detail = _("The token has expired. Sign in again for a new one.")
    default_code = "token_expired"


def token_ttl() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def token_is_expired(token: Token) -> bool:
    return token.created <= timezone.now() - token_ttl()


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (and deleting) a token older than its time to live.

    The key may come after `Token` (DRF's keyword) or `Bearer` (RFC 6750, what OpenAPI clients
    send for an HTTP bearer scheme). A bearer credential that is not shaped like one of our keys
    (an identity provider's JWT, say) is left to the authentication classes after this one.
    """

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if len(auth) == 2 and auth[0].lower() == b"bearer":
            if not TOKEN_KEY.fullmatch(auth[1]):
                return None
            return self.authenticate_credentials(auth[1].decode())
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            token.delete()
            raise TokenExpired()
        return user, token


# One bearer scheme for the two kinds of bearer token (api/oidc_authentication.py names the same).
BEARER_DESCRIPTION = (
    "`Authorization: Bearer <token>`: a token from /api/v1/auth/token/, or an OAuth 2.0 access "
    "token (JWT) issued for this API by the worker's organisation's OpenID Provider (its "
    "signature by the provider's JWKS, iss, aud and exp are checked; the organisation's worker "
    "claim names the worker)."
)


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    """The schema offers both ways of sending the token, either of which will do."""

    target_class = ExpiringTokenAuthentication
    name = ["bearerAuth", "tokenAuth"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": BEARER_DESCRIPTION,
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: Token <token>`, a token from /api/v1/auth/token/.",
            },
        ]
