"""`manage.py generate_keys`: fresh keys of every kind, or the current public keys, to rotate."""

import secrets

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management.base import BaseCommand

from audit import checkpoints
from consent import receipts


def ed25519_seed_and_public_hex() -> tuple[str, str]:
    seed = secrets.token_bytes(32)
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return seed.hex(), checkpoints.public_key_hex(public_key)


class Command(BaseCommand):
    help = (
        "Print fresh keys as environment lines: a Fernet key for FIELD_ENCRYPTION_KEYS, a "
        "blind-index key, and Ed25519 seeds for AUDIT_SIGNING_KEY and CONSENT_SIGNING_KEY with "
        "their public keys. With --current, print instead the public keys of the configured "
        "signing keys: the values to add to AUDIT_VERIFY_KEYS and CONSENT_VERIFY_KEYS before "
        "replacing them. Nothing is stored; keep the output out of shell history and logs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--current",
            action="store_true",
            help="Print the public keys of the configured signing keys instead.",
        )

    def handle(self, *args, **options):
        if options["current"]:
            audit_public = checkpoints.public_key_hex(checkpoints.signing_key().public_key())
            consent_public = receipts.raw_public_bytes(receipts.signing_key().public_key()).hex()
            self.stdout.write("# public key of the current AUDIT_SIGNING_KEY")
            self.stdout.write(audit_public)
            self.stdout.write("# public key of the current CONSENT_SIGNING_KEY")
            self.stdout.write(consent_public)
            return
        audit_seed, audit_public = ed25519_seed_and_public_hex()
        consent_seed, consent_public = ed25519_seed_and_public_hex()
        lines = [
            "# FIELD_ENCRYPTION_KEYS: put this key first, keep the old keys after it",
            Fernet.generate_key().decode(),
            "# BLIND_INDEX_KEYS: put this key first, keep the old keys after it",
            secrets.token_urlsafe(32),
            f"# AUDIT_SIGNING_KEY (its public key: {audit_public})",
            audit_seed,
            f"# CONSENT_SIGNING_KEY (its public key: {consent_public})",
            consent_seed,
        ]
        self.stdout.write("\n".join(lines))
