"""`manage.py verify_receipt FILE`: check a downloaded consent receipt offline."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from consent import receipts


def unwrapped(text: str) -> str:
    """The JWS itself, also from the API's JSON form `{"receipt": "<JWS>", ...}`."""
    if not text.startswith("{"):
        return text
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"Receipt NOT valid: not a JWS, nor JSON ({exc.msg})") from None
    token = document.get("receipt") if isinstance(document, dict) else None
    if not isinstance(token, str):
        raise CommandError('Receipt NOT valid: the JSON has no "receipt" string')
    return token.strip()


class Command(BaseCommand):
    help = (
        "Verify a signed consent receipt and print what it says. FILE is the receipt (the bare "
        "compact JWS, as `GET /api/v1/consents/{id}/receipt/` gives with `Accept: "
        "application/jose`, or that endpoint's JSON with the JWS in `receipt`), or - for "
        "standard input. Without --public-key the configured keys are used."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The receipt file, or - to read standard input.")
        parser.add_argument(
            "--public-key",
            metavar="KEY_FILE",
            help="A PEM public key, a JWK or a JWK set as served at /api/v1/consent/public-key/.",
        )

    def handle(self, *args, **options):
        token = unwrapped(self._read(options["file"]).strip())
        try:
            keys = None
            if options["public_key"]:
                keys = receipts.load_public_keys(self._read(options["public_key"]))
            payload = receipts.verify(token, keys)
        except receipts.InvalidReceipt as exc:
            raise CommandError(f"Receipt NOT valid: {exc}") from exc
        self.stdout.write(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))
        self.stdout.write(self.style.SUCCESS("Receipt valid"))

    def _read(self, path: str) -> str:
        if path == "-":
            return sys.stdin.read()
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
