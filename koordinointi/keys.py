"""Ed25519 keys from settings, for the two things the system signs (the access log's
checkpoints, the consent receipts): one reading of a hex seed and of a hex public key, with an
error that names the setting. Imports no project app."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def private_key(setting: str) -> Ed25519PrivateKey:
    """The signing key whose 32-byte seed `settings.<setting>` holds as 64 hex characters."""
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(getattr(settings, setting)))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{setting} must be a 32-byte Ed25519 seed written as 64 hex characters."
        ) from exc


def public_key(value: str, *, setting: str) -> Ed25519PublicKey:
    """A raw 32-byte public key written in hex, as listed in `settings.<setting>`."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{value!r} is not a raw 32-byte Ed25519 public key in hex ({setting})."
        ) from exc
