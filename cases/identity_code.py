"""The Finnish personal identity code (henkilötunnus): validation, encryption, blind index."""

import datetime
import hashlib
import hmac
import unicodedata
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_exceptions
from stdnum.fi import hetu

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
# The signs Y-U and B-F came into use in 2023, beside the older "-" and "A".
CENTURY_SIGNS = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}
# Individual numbers 900-999 are temporary codes: given by an organisation (a maternity ward,
# social services) to someone without a permanent code yet, and used for test data. stdnum
# refuses them unless asked (`allow_temporary`).
TEMPORARY_INDIVIDUAL_NUMBERS = range(900, 1000)


def normalise_identity_code(value: str) -> str:
    """The one canonical form: python-stdnum's `hetu.compact` (trimmed, upper case).

    Only plain ASCII is normalised: stdnum maps look-alikes (full-width digits, typographic
    dashes) to ASCII, and we refuse them instead (`validate_identity_code`), so that no code is
    stored, indexed or looked up in a form that its holder's other records do not have.
    """
    code = value.strip().upper()
    return hetu.compact(code) if code.isascii() else code


def is_temporary_identity_code(value: str) -> bool:
    code = normalise_identity_code(value)
    return hetu.is_valid(code, allow_temporary=True) and not hetu.is_valid(code)


def validate_identity_code(value: str, *, allow_temporary: bool = False) -> None:
    """Raise ValidationError unless value is a valid identity code (python-stdnum's
    `stdnum.fi.hetu.validate`, in ASCII only). Temporary codes (individual number 900-999) pass
    only with `allow_temporary`, stdnum's own default being to refuse them.

    The message never repeats the code itself: it must not reach logs or error reports.
    """
    code = normalise_identity_code(value)
    if not code.isascii():
        raise ValidationError(
            _(
                "Enter the personal identity code in plain digits 0-9 and Latin letters "
                "(no full-width or other look-alike characters)."
            ),
            code="not_ascii",
        )
    try:
        hetu.validate(code, allow_temporary=allow_temporary)
    except stdnum_exceptions.InvalidFormat:
        raise ValidationError(
            _("Enter a personal identity code in the form DDMMYYCZZZQ, e.g. 010101A123N."),
            code="invalid_format",
        ) from None
    except stdnum_exceptions.InvalidChecksum:
        raise ValidationError(
            _("The check character of the personal identity code does not match."),
            code="invalid_checksum",
        ) from None
    except stdnum_exceptions.InvalidComponent:
        # stdnum says which part only through its order of checks: the date, then the
        # individual number (never below 002), then the temporary range.
        raise _component_error(code) from None


def _component_error(code: str) -> ValidationError:
    try:
        datetime.date(CENTURY_SIGNS[code[6]] + int(code[4:6]), int(code[2:4]), int(code[0:2]))
    except ValueError:
        return ValidationError(
            _("The personal identity code has an impossible birth date."), code="invalid_date"
        )
    if int(code[7:10]) in TEMPORARY_INDIVIDUAL_NUMBERS:
        return ValidationError(
            _(
                "A temporary personal identity code (individual number 900-999) is not "
                "accepted here."
            ),
            code="temporary",
        )
    return ValidationError(
        _("The personal identity code has an invalid individual number."),
        code="invalid_individual_number",
    )


def validate_identity_code_or_temporary(value: str) -> None:
    """The validator of a family member's code: a temporary code is accepted there (see
    `FamilyMember.identity_code_temporary`)."""
    validate_identity_code(value, allow_temporary=True)


def birth_date_from_identity_code(value: str) -> datetime.date:
    code = normalise_identity_code(value)
    validate_identity_code(code, allow_temporary=True)
    return datetime.date(CENTURY_SIGNS[code[6]] + int(code[4:6]), int(code[2:4]), int(code[0:2]))


def repaired_identity_code(value: str) -> str | None:
    """The canonical form of a code stored before the rule above, or None if even with its
    look-alike digits and dashes read as ASCII it is no valid code (temporary ones included).

    Used once, by the migration that re-indexes existing rows."""
    plain = unicodedata.normalize("NFKC", value.strip())
    plain = "".join(
        str(unicodedata.digit(char)) if not char.isascii() and char.isdigit() else char
        for char in plain
    )
    code = hetu.compact(plain)
    try:
        validate_identity_code(code, allow_temporary=True)
    except ValidationError:
        return None
    return code


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
