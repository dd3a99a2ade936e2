"""The API accepts OAuth 2.0 bearer access tokens (JWT, RFC 9068) issued for it by an
organisation's OpenID Provider: a worker's front-end calls the API with the token it already has.

`Authorization: Bearer <JWT>`: the token's `iss` names the organisation (its `oidc_issuer`);
the signature is checked with that provider's JWKS (discovery, keys by `kid`), and `iss`, `aud`
(the organisation's `oidc_api_audience`), `exp` and `iat` (koordinointi/openid.py). The
organisation's worker claim then names one worker in post in that organisation
(consent.policy.worker_by_provider_claim): a token of one organisation's provider never signs in
a worker of another. Anything else is a 401. A bearer value that is not a JWT is left to our own
token authentication (api/authentication.py).
"""

from typing import Any

import jwt
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.settings import api_settings

from cases.models import Organisation
from consent import policy
from koordinointi.openid import OpenIDError, Provider


class ProviderTokenInvalid(exceptions.AuthenticationFailed):
    default_detail = _(
        "The bearer token is not accepted: it is not an access token for this API from an "
        "organisation's identity provider, it has expired, or it names no worker of that "
        "organisation."
    )
    default_code = "provider_token_invalid"


class ProviderJWTAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower().encode():
            return None
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise ProviderTokenInvalid() from None
        if token.count(".") != 2:
            return None  # not a JWT: one of our own tokens
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise ProviderTokenInvalid() from None
        if not isinstance(issuer, str) or not issuer:
            raise ProviderTokenInvalid()
        organisations = Organisation.objects.filter(oidc_issuer=issuer).exclude(
            oidc_api_audience=""
        )
        for organisation in organisations:
            provider = Provider(issuer=issuer, client_id=organisation.oidc_client_id)
            try:
                claims = provider.decode(token, audience=organisation.oidc_api_audience)
            except OpenIDError:
                continue
            user = policy.worker_by_provider_claim(
                organisation, claims.get(organisation.oidc_worker_claim)
            )
            if user is not None:
                return user, claims
        raise ProviderTokenInvalid()

    def authenticate_header(self, request):
        """A 401 names this scheme to a client that sent a bearer JWT (RFC 6750); to any other,
        the scheme of the next authentication class (our own tokens), as before."""
        parts = get_authorization_header(request).split()
        if len(parts) == 2 and parts[0].lower() == b"bearer" and parts[1].count(b".") == 2:
            return f'{self.keyword} realm="api", error="invalid_token"'
        classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)  # imported
        for authentication in classes:
            if not issubclass(authentication, ProviderJWTAuthentication):
                header = authentication().authenticate_header(request)
                if header:
                    return header
        return f'{self.keyword} realm="api"'
