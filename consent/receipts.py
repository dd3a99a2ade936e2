"""Signed consent receipts: Kantara-style JSON signed as a compact JWS with Ed25519 (RFC 8037).

A receipt lets a family (or anyone they show it to) check offline that the service recorded a
decision exactly as stated. It carries pseudonymous ids only: no names, no identity codes.
Retired signing keys stay verifiable through `CONSENT_VERIFY_KEYS` (hex raw public keys).
"""

import base64
import hashlib
import json
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from consent.models import ConsentEvent
from koordinointi import keys

RECEIPT_VERSION = "KI-CR-v1.1.0-koordinointi"
ALG = "EdDSA"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidReceipt(ValueError):
    """The token is not a receipt this service signed, or it was changed after signing."""


# --- encoding -----------------------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url, accepting only the one canonical spelling of each value.

    The standard decoder skips characters outside the alphabet and ignores the unused low bits
    of the last character, so several strings decode to the same bytes; a receipt that differs
    from the signed one in any character must not verify.
    """
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidReceipt("Malformed receipt: a part is not base64url.")
    # Cannot fail: the alphabet and the length were checked above.
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url_encode(data) != segment:
        raise InvalidReceipt("Malformed receipt: a part is not canonical base64url.")
    return data


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


# --- keys ---------------------------------------------------------------------------------------


def signing_key() -> Ed25519PrivateKey:
    """The current signing key, from the hex seed in settings.CONSENT_SIGNING_KEY."""
    return keys.private_key("CONSENT_SIGNING_KEY")


def public_key_from_hex(value: str) -> Ed25519PublicKey:
    return keys.public_key(value, setting="CONSENT_VERIFY_KEYS")


def retired_public_keys() -> list[Ed25519PublicKey]:
    """Public keys of former signing keys whose receipts must still verify."""
    values = getattr(settings, "CONSENT_VERIFY_KEYS", [])
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    return [public_key_from_hex(value) for value in values]


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:16]


def verify_keys() -> list[Ed25519PublicKey]:
    """The current public key first, then the retired ones, without repeats."""
    keys, seen = [], set()
    for key in [signing_key().public_key(), *retired_public_keys()]:
        if key_id(key) not in seen:
            seen.add(key_id(key))
            keys.append(key)
    return keys


def jwk(public_key: Ed25519PublicKey) -> dict:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(raw_public_bytes(public_key)),
        "kid": key_id(public_key),
        "use": "sig",
        "alg": ALG,
    }


def public_jwk() -> dict:
    return jwk(signing_key().public_key())


def public_key_pem() -> str:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def public_key_document() -> dict:
    """A JWK set of every key a receipt may be verified with, the current one first."""
    return {"keys": [jwk(key) for key in verify_keys()]}


def public_key_from_jwk(data: dict) -> Ed25519PublicKey:
    if not isinstance(data, dict) or data.get("kty") != "OKP" or data.get("crv") != "Ed25519":
        raise InvalidReceipt("The key is not an Ed25519 JWK (kty OKP, crv Ed25519).")
    try:
        return Ed25519PublicKey.from_public_bytes(b64url_decode(str(data.get("x", ""))))
    except (InvalidReceipt, ValueError):
        raise InvalidReceipt("The JWK's x is not a 32-byte Ed25519 public key.") from None


def load_public_keys(text: str) -> list[Ed25519PublicKey]:
    """Public keys from a PEM SubjectPublicKeyInfo, a JWK or a JWK set (as public_key_document)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except ValueError:
            raise InvalidReceipt("The key file is not a PEM public key.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidReceipt("The PEM key is not an Ed25519 public key.")
        return [key]
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidReceipt("The key file is neither a PEM public key nor a JWK.") from None
    if isinstance(data, dict) and "keys" in data:
        if not isinstance(data["keys"], list) or not data["keys"]:
            raise InvalidReceipt("The JWK set has no keys.")
        return [public_key_from_jwk(item) for item in data["keys"]]
    return [public_key_from_jwk(data)]


# --- receipts -----------------------------------------------------------------------------------


def receipt_payload(event: ConsentEvent) -> dict:
    """The receipt of one consent event, in the fields of the Kantara Consent Receipt spec."""
    consent = event.consent
    case = consent.case
    organisation = case.responsible_organisation
    controller = {"piiController": organisation.name if organisation else None, "onBehalf": False}
    if organisation is not None:
        controller.update(
            {
                "piiControllerId": str(organisation.id),
                "contact": organisation.email or organisation.phone or None,
                "email": organisation.email or None,
                "phone": organisation.phone or None,
            }
        )
    recipients = sorted(
        ({"id": str(org.id), "name": org.name} for org in consent.recipients.all()),
        key=lambda item: (item["name"], item["id"]),
    )
    notice_text = event.notice_text or consent.notice_text
    purpose = {
        "purpose": consent.purpose,
        "purposeCode": consent.purpose_code,
        "piiCategory": sorted(consent.categories),
        "consentType": "EXPLICIT",
        "primaryPurpose": True,
        "termination": consent.valid_until.isoformat(),
        "thirdPartyDisclosure": bool(recipients),
        "thirdPartyName": [item["name"] for item in recipients],
    }
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": "FI",
        "consentTimestamp": int(event.created_at.timestamp()),
        "collectionMethod": event.channel,
        "consentReceiptID": str(event.id),
        "publicKey": key_id(signing_key().public_key()),
        "language": "fi",
        "piiPrincipalId": str(event.subject_id) if event.subject_id else str(case.family_id),
        "grantor": str(event.grantor_id) if event.grantor_id else None,
        "actor": str(event.actor_id) if event.actor_id else None,
        "piiControllers": [controller],
        "recipients": recipients,
        "services": [{"service": consent.purpose_code, "purposes": [purpose]}],
        "purposes": [purpose],
        "period": {
            "validFrom": consent.valid_from.isoformat(),
            "validUntil": consent.valid_until.isoformat(),
        },
        "noticeVersion": event.notice_version or consent.notice_version,
        "noticeHash": hashlib.sha256(notice_text.encode("utf-8")).hexdigest(),
        "decision": event.kind,
        "consentId": str(consent.id),
        "caseId": str(consent.case_id),
    }


def sign(payload: dict) -> str:
    key = signing_key()
    header = {"alg": ALG, "typ": "JWT", "kid": key_id(key.public_key())}
    signing_input = (
        f"{b64url_encode(canonical_json(header))}.{b64url_encode(canonical_json(payload))}"
    )
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def receipt_for(event: ConsentEvent) -> str:
    return sign(receipt_payload(event))


def _json_object(segment: str, what: str) -> dict:
    try:
        value = json.loads(b64url_decode(segment).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidReceipt(f"Malformed receipt: the {what} is not JSON.") from None
    if not isinstance(value, dict):
        raise InvalidReceipt(f"Malformed receipt: the {what} is not a JSON object.")
    return value


def verify(token: str, public_keys: list | None = None) -> dict:
    """The payload of a valid receipt; InvalidReceipt if it is malformed, unknown or changed.

    `public_keys` are Ed25519PublicKey objects (or raw public keys in hex); by default the
    current key and the retired keys of CONSENT_VERIFY_KEYS.
    """
    if not isinstance(token, str):
        raise InvalidReceipt("Malformed receipt: not a string.")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidReceipt("Malformed receipt: a compact JWS has three parts separated by dots.")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(header_b64, "header")
    payload = _json_object(payload_b64, "payload")
    signature = b64url_decode(signature_b64)

    if header.get("alg") != ALG:
        raise InvalidReceipt(f"Unsupported algorithm {header.get('alg')!r}; expected {ALG}.")
    if "crit" in header:
        raise InvalidReceipt("Unsupported critical header parameters.")
    if public_keys is None:
        keys = verify_keys()
    else:
        keys = [public_key_from_hex(k) if isinstance(k, str) else k for k in public_keys]
    by_kid = {key_id(key): key for key in keys}
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in by_kid:
        raise InvalidReceipt(f"Unknown signing key {kid!r}.")
    try:
        by_kid[kid].verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise InvalidReceipt(
            "Bad signature: the receipt was changed or signed by another key."
        ) from None
    return payload
