"""An OpenID Provider as this service relies on it, to OpenID Connect Core 1.0 and Discovery 1.0.

Everything comes from the issuer: its `.well-known/openid-configuration` (whose `issuer` must
be the configured one exactly, Discovery §4.3), the endpoints and the JWKS named there. Signing
keys are picked by `kid`; a `kid` not in the cached JWKS makes one fresh fetch (the provider has
rotated its keys), at most once every `JWKS_REFETCH_SECONDS` so that forged tokens cannot make
us hammer the provider.

Every check of an ID token in Core §3.1.3.7 is made here (iss, aud, azp, signature with an
asymmetric algorithm the provider announces, exp, iat, nonce, auth_time against max_age,
at_hash when present), and userinfo's `sub` must be the ID token's (§5.3.2). A failure raises
`OpenIDError` with a short reason for the log: never a claim's value.

Used by the portal's strong identification (portal/oidc.py) and by the API's bearer tokens of
organisations' providers (api/oidc_authentication.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
METADATA_SECONDS = 3600
JWKS_SECONDS = 3600
JWKS_REFETCH_SECONDS = 10
LEEWAY_SECONDS = 60
ID_TOKEN_MAX_AGE_SECONDS = 600  # an ID token issued longer ago than this is not taken
TIMEOUT_SECONDS = 10

_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


class OpenIDError(Exception):
    """A provider's answer that is refused. `reason` is for the log; `error` is the provider's
    own OAuth error code when it sent one (e.g. access_denied)."""

    def __init__(self, reason: str, *, error: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.error = error


def forget() -> None:
    """Drop every cached discovery document and JWKS (tests; a reconfigured provider)."""
    with _lock:
        _cache.clear()


def _get_json(url: str, **kwargs) -> Any:
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException:
        raise OpenIDError("provider_unreachable") from None
    if response.status_code != 200:
        raise OpenIDError(f"http_{response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise OpenIDError("malformed_json") from None


def _hash_half(value: str, algorithm: str) -> str:
    """at_hash / c_hash: the left half of the hash of the value, base64url without padding."""
    bits = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
    digest_of = hashlib.sha512 if algorithm == "EdDSA" else bits.get(algorithm[-3:])
    if digest_of is None:
        raise OpenIDError("unsupported_algorithm")
    digest = digest_of(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str = ""

    # --- discovery and keys ----------------------------------------------------------------

    def _cached(self, kind: str, seconds: float, fetch, *, refresh: bool = False) -> Any:
        key = (self.issuer, kind)
        now = time.monotonic()
        with _lock:
            hit = _cache.get(key)
        if hit is not None and not refresh and now - hit[0] < seconds:
            return hit[1]
        value = fetch()
        with _lock:
            _cache[key] = (now, value)
        return value

    def metadata(self) -> dict:
        def fetch() -> dict:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = _get_json(url)
            if not isinstance(document, dict) or document.get("issuer") != self.issuer:
                raise OpenIDError("discovery_issuer_mismatch")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(name), str):
                    raise OpenIDError(f"discovery_lacks_{name}")
            return document

        return self._cached("metadata", METADATA_SECONDS, fetch)

    def endpoint(self, name: str) -> str | None:
        value = self.metadata().get(name)
        return value if isinstance(value, str) else None

    def _jwks(self, *, refresh: bool = False) -> dict[str, jwt.PyJWK]:
        def fetch() -> dict[str, jwt.PyJWK]:
            document = _get_json(self.metadata()["jwks_uri"])
            keys: dict[str, jwt.PyJWK] = {}
            for data in (document or {}).get("keys", []) if isinstance(document, dict) else []:
                if data.get("use", "sig") != "sig":
                    continue
                try:
                    keys[str(data.get("kid", ""))] = jwt.PyJWK(data)
                except jwt.PyJWTError:
                    continue  # a key of a kind we do not use
            return keys

        return self._cached("jwks", JWKS_SECONDS, fetch, refresh=refresh)

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        keys = self._jwks()
        if kid in keys:
            return keys[kid]
        with _lock:
            hit = _cache.get((self.issuer, "jwks"))
        if hit is None or time.monotonic() - hit[0] >= JWKS_REFETCH_SECONDS:
            keys = self._jwks(refresh=True)  # the provider may have rotated its keys
            if kid in keys:
                return keys[kid]
        raise OpenIDError("unknown_signing_key")

    # --- tokens ------------------------------------------------------------------------------

    def decode(self, token: str, *, audience: str, algorithms: set[str] | None = None) -> dict:
        """A JWT signed by one of the provider's keys, for `audience`, from this issuer, in
        force: its claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OpenIDError("malformed_token") from None
        algorithm = header.get("alg")
        allowed = algorithms if algorithms is not None else ASYMMETRIC_ALGORITHMS
        if algorithm not in allowed or algorithm not in ASYMMETRIC_ALGORITHMS:
            raise OpenIDError("algorithm_not_allowed")
        key = self._signing_key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise OpenIDError("expired") from None
        except jwt.InvalidAudienceError:
            raise OpenIDError("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise OpenIDError("wrong_issuer") from None
        except jwt.ImmatureSignatureError:
            raise OpenIDError("issued_in_the_future") from None
        except jwt.MissingRequiredClaimError as error:
            raise OpenIDError(f"missing_{error.claim}") from None
        except jwt.InvalidSignatureError:
            raise OpenIDError("bad_signature") from None
        except jwt.PyJWTError:
            raise OpenIDError("invalid_token") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OpenIDError("missing_sub")
        return claims

    def validate_id_token(
        self,
        token: str,
        *,
        nonce: str | None,
        access_token: str | None = None,
        max_age: int | None = None,
    ) -> dict:
        """The claims of an ID token that passes every check of Core §3.1.3.7."""
        if not isinstance(token, str) or not token:
            raise OpenIDError("no_id_token")
        announced = set(self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"])
        claims = self.decode(token, audience=self.client_id, algorithms=announced)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and "azp" not in claims:
            raise OpenIDError("missing_azp")
        if "azp" in claims and claims["azp"] != self.client_id:
            raise OpenIDError("wrong_azp")
        if not isinstance(claims["iat"], int | float) or (
            claims["iat"] < time.time() - ID_TOKEN_MAX_AGE_SECONDS - LEEWAY_SECONDS
        ):
            raise OpenIDError("issued_too_long_ago")
        if nonce is not None:
            given = claims.get("nonce")
            if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
                raise OpenIDError("wrong_nonce")
        if max_age is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int | float):
                raise OpenIDError("missing_auth_time")
            if auth_time < time.time() - max_age - LEEWAY_SECONDS:
                raise OpenIDError("authenticated_too_long_ago")
        if "at_hash" in claims and access_token:
            algorithm = jwt.get_unverified_header(token)["alg"]
            expected = _hash_half(access_token, algorithm)
            if not isinstance(claims["at_hash"], str) or not hmac.compare_digest(
                claims["at_hash"], expected
            ):
                raise OpenIDError("wrong_at_hash")
        return claims

    # --- endpoints ---------------------------------------------------------------------------

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None) -> dict:
        """The token endpoint's answer to an authorization code (client_secret_post)."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        if code_verifier:
            data["code_verifier"] = code_verifier
        try:
            response = requests.post(
                self.metadata()["token_endpoint"],
                data=data,
                headers={"Accept": "application/json"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException:
            raise OpenIDError("provider_unreachable") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else ""
            raise OpenIDError(
                f"token_endpoint_{response.status_code}",
                error=error if isinstance(error, str) else "",
            )
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise OpenIDError("token_endpoint_malformed")
        if not isinstance(body.get("access_token"), str):
            raise OpenIDError("token_endpoint_malformed")
        return body

    def userinfo(self, access_token: str, *, subject: str) -> dict:
        """The userinfo endpoint's claims, which must be about `subject` (Core §5.3.2)."""
        url = self.endpoint("userinfo_endpoint")
        if url is None:
            raise OpenIDError("no_userinfo_endpoint")
        try:
            response = requests.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException:
            raise OpenIDError("provider_unreachable") from None
        if response.status_code != 200:
            raise OpenIDError(f"userinfo_{response.status_code}")
        content_type = response.headers.get("content-type", "").lower()
        if content_type.startswith("application/jwt"):
            claims: Any = self.decode(response.text.strip(), audience=self.client_id)
        else:
            try:
                claims = response.json()
            except ValueError:
                raise OpenIDError("userinfo_malformed") from None
        if not isinstance(claims, dict):
            raise OpenIDError("userinfo_malformed")
        if claims.get("sub") != subject:
            raise OpenIDError("userinfo_sub_mismatch")
        return claims
