"""The Finnish personal identity code (henkilötunnus): validation, encryption, blind index."""

import datetime
import hashlib
import hmac
import re
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# The signs Y-U and B-F came into use in 2023, beside the older "-" and "A".
CENTURY_SIGNS = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}
_PATTERN = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+A-FU-Y])(\d{3})([0-9A-Y])$")


def normalise_identity_code(value: str) -> str:
    return value.strip().upper()


def validate_identity_code(value: str) -> None:
    """Raise ValidationError unless value is a well-formed identity code with a valid checksum.

    The message never repeats the code itself: it must not reach logs or error reports.
    """
    code = normalise_identity_code(value)
    match = _PATTERN.match(code)
    if not match:
        raise ValidationError(
            _("Enter a personal identity code in the form DDMMYYCZZZQ, e.g. 010101A123N."),
            code="invalid_format",
        )
    day, month, year, sign, individual, check = match.groups()
    try:
        datetime.date(CENTURY_SIGNS[sign] + int(year), int(month), int(day))
    except ValueError:
        raise ValidationError(
            _("The personal identity code has an impossible birth date."), code="invalid_date"
        ) from None
    if int(individual) < 2:
        raise ValidationError(
            _("The personal identity code has an invalid individual number."),
            code="invalid_individual_number",
        )
    expected = CHECK_CHARACTERS[int(day + month + year + individual) % 31]
    if check != expected:
        raise ValidationError(
            _("The check character of the personal identity code does not match."),
            code="invalid_checksum",
        )


def birth_date_from_identity_code(value: str) -> datetime.date:
    code = normalise_identity_code(value)
    validate_identity_code(code)
    return datetime.date(CENTURY_SIGNS[code[6]] + int(code[4:6]), int(code[2:4]), int(code[0:2]))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    """The first key encrypts; every configured key decrypts, so keys can rotate."""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def blind_index_keys() -> list[str]:
    """Every configured blind-index key, the current one first (BLIND_INDEX_KEYS, or the older
    single BLIND_INDEX_KEY)."""
    keys = getattr(settings, "BLIND_INDEX_KEYS", None) or [settings.BLIND_INDEX_KEY]
    if isinstance(keys, str):
        keys = keys.replace(",", " ").split()
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise ImproperlyConfigured("BLIND_INDEX_KEYS must list at least one non-empty key.")
    return list(keys)


def _hmac_index(key: str, value: str) -> str:
    code = normalise_identity_code(value).encode()
    return hmac.new(key.encode(), code, hashlib.sha256).hexdigest()


def blind_index(value: str) -> str:
    """Keyed HMAC of the normalised code under the current key: what is stored.

    Equal codes match, the code itself cannot be read.
    """
    return _hmac_index(blind_index_keys()[0], value)


def blind_indexes(value: str) -> list[str]:
    """The code's blind index under every configured key, the current one first.

    While `rebuild_blind_index` moves the stored indexes to a new key, a row holds the index
    under either key, so a lookup must match any of them.
    """
    return list(dict.fromkeys(_hmac_index(key, value) for key in blind_index_keys()))


def identity_code_lookup_q(value: str, *, prefix: str = "") -> Q:
    """A filter for the family members with this identity code, under any configured key.

    `prefix` reaches the member through a relation, e.g. "family_memberships__" from a user.
    """
    return Q(**{f"{prefix}identity_code_index__in": blind_indexes(value)})


class EncryptedTextField(models.TextField):
    """A text field stored as Fernet ciphertext; Python code only ever sees the plain text."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError("Cannot decrypt a field value with the configured keys.") from None

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return fernet().encrypt(value.encode()).decode()

    def value_to_string(self, obj):
        # Serialisation (dumpdata, change history) never shows the plain value.
        return "********" if self.value_from_object(obj) else ""
