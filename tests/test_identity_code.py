"""The personal identity code: validation, encryption at rest, blind index, and the family API."""

import datetime
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import connection
from stdnum.fi import hetu

from cases import services
from cases.identity_code import (
    birth_date_from_identity_code,
    blind_index,
    is_temporary_identity_code,
    normalise_identity_code,
    validate_identity_code,
    validate_identity_code_or_temporary,
)
from cases.models import Family, FamilyMember

# Written here again, independently of cases.identity_code, so that a mistake there shows.
CHECK_ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY_OF_SIGN = {
    "+": 1800,
    "-": 1900,
    "Y": 1900,
    "X": 1900,
    "W": 1900,
    "V": 1900,
    "U": 1900,
    "A": 2000,
    "B": 2000,
    "C": 2000,
    "D": 2000,
    "E": 2000,
    "F": 2000,
}
# A birth date (DDMMYY) for each sign, all different, so a sign read as another fails the test.
DATE_FOR_SIGN = {
    "+": "311299",
    "-": "131052",
    "Y": "010594",
    "X": "020683",
    "W": "150777",
    "V": "290296",
    "U": "300901",
    "A": "290200",
    "B": "010516",
    "C": "311223",
    "D": "280207",
    "E": "150619",
    "F": "070711",
}


def with_check_character(ddmmyy: str, sign: str, individual: str) -> str:
    check = CHECK_ALPHABET[int(ddmmyy + individual) % 31]
    return f"{ddmmyy}{sign}{individual}{check}"


def with_wrong_check_character(code: str) -> str:
    right = CHECK_ALPHABET.index(code[-1])
    return code[:-1] + CHECK_ALPHABET[(right + 1) % 31]


def validation_error(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        validate_identity_code(value)
    return caught.value


def assert_rejected_without_echo(value: str, code: str) -> None:
    error = validation_error(value)
    assert error.code == code
    message = " ".join(error.messages)
    if value.strip():
        assert value.strip() not in message
        assert value.strip().upper() not in message


# -- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("sign", CENTURY_OF_SIGN)
def test_it_accepts_a_valid_code_with_every_century_sign(sign):
    code = with_check_character(DATE_FOR_SIGN[sign], sign, "123")
    validate_identity_code(code)


@pytest.mark.parametrize("sign", CENTURY_OF_SIGN)
def test_it_reads_the_century_of_the_birth_date_from_every_century_sign(sign):
    ddmmyy = DATE_FOR_SIGN[sign]
    code = with_check_character(ddmmyy, sign, "902")
    expected = datetime.date(
        CENTURY_OF_SIGN[sign] + int(ddmmyy[4:6]), int(ddmmyy[2:4]), int(ddmmyy[0:2])
    )
    assert birth_date_from_identity_code(code) == expected


@pytest.mark.parametrize("sign", CENTURY_OF_SIGN)
def test_it_rejects_a_wrong_check_character_with_every_century_sign(sign):
    code = with_wrong_check_character(with_check_character(DATE_FOR_SIGN[sign], sign, "123"))
    assert_rejected_without_echo(code, "invalid_checksum")


@pytest.mark.parametrize(
    "code, birth_date",
    [
        # The long-standing example of DVV and Wikipedia.
        ("131052-308T", datetime.date(1952, 10, 13)),
        # The example in our own error message.
        ("010101A123N", datetime.date(2001, 1, 1)),
        # DVV's examples of the century signs introduced in 2023.
        ("010594Y9021", datetime.date(1994, 5, 1)),
        ("010594Y9032", datetime.date(1994, 5, 1)),
    ],
)
def test_it_accepts_published_examples(code, birth_date):
    assert with_check_character(code[:6], code[6], code[7:10]) == code  # checked independently
    # DVV's examples of the new signs are temporary codes (902, 903): valid where allowed.
    validate_identity_code(code, allow_temporary=int(code[7:10]) >= 900)
    assert birth_date_from_identity_code(code) == birth_date


@pytest.mark.parametrize(
    "ddmmyy, sign",
    [
        ("310299", "A"),  # 31 February
        ("290201", "A"),  # 2001 is no leap year
        ("290200", "-"),  # nor is 1900
        ("290200", "Y"),
        ("290200", "+"),  # nor 1800
        ("000100", "A"),
        ("320100", "B"),
        ("011300", "C"),
        ("010000", "-"),
    ],
)
def test_it_rejects_an_impossible_birth_date(ddmmyy, sign):
    assert_rejected_without_echo(with_check_character(ddmmyy, sign, "123"), "invalid_date")


def test_it_accepts_29_february_of_a_leap_year():
    validate_identity_code(with_check_character("290200", "A", "123"))  # 2000 is a leap year
    validate_identity_code(with_check_character("290296", "-", "123"))


@pytest.mark.parametrize("sign", ["G", "Z", "T", "H", "*", "/", " "])
def test_it_rejects_an_unknown_century_sign(sign):
    assert_rejected_without_echo(with_check_character("131052", sign, "308"), "invalid_format")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "131052-308",
        "131052-308TT",
        "1310521-308T",
        "131052308T",
        "13105-2308T",
        "131052-3O8T",  # letter O, not zero
        "131052-308 T",
        "131052 - 308T",
    ],
)
def test_it_rejects_a_code_of_the_wrong_shape(value):
    assert_rejected_without_echo(value, "invalid_format")


@pytest.mark.parametrize("individual", ["000", "001"])
def test_it_rejects_individual_numbers_that_are_never_given(individual):
    assert_rejected_without_echo(
        with_check_character("131052", "-", individual), "invalid_individual_number"
    )


@pytest.mark.parametrize("individual", ["002", "123", "899"])
def test_it_accepts_ordinary_individual_numbers(individual):
    code = with_check_character("131052", "-", individual)
    validate_identity_code(code)
    assert not is_temporary_identity_code(code)


@pytest.mark.parametrize("individual", ["900", "904", "999"])
def test_it_accepts_a_temporary_individual_number_only_when_allowed(individual):
    code = with_check_character("131052", "-", individual)
    assert_rejected_without_echo(code, "temporary")
    validate_identity_code(code, allow_temporary=True)
    validate_identity_code_or_temporary(code)  # a family member's code
    assert is_temporary_identity_code(code)


@pytest.mark.parametrize(
    "value",
    [
        "１３１０５２-３０８T",  # full-width digits
        "１３１０５２－３０８Ｔ",  # all full-width
        "١٣١٠٥٢-٣٠٨T",  # Arabic-Indic digits
        "۱۳۱۰۵۲-۳۰۸T",  # extended Arabic-Indic digits
        "131052\u2010308T",  # a typographic hyphen
        "131052\u2212308T",  # a minus sign
        "131052-308Т",  # Cyrillic capital Te
    ],
)
def test_it_refuses_look_alike_characters_that_stdnum_or_python_would_read_as_ascii(value):
    assert_rejected_without_echo(value, "not_ascii")
    with pytest.raises(ValidationError):
        validate_identity_code(value, allow_temporary=True)


@pytest.mark.parametrize("sign", [s for s in CENTURY_OF_SIGN if s.isalpha()])
def test_it_normalises_lower_case_to_upper_case(sign):
    code = with_check_character(DATE_FOR_SIGN[sign], sign, "456")
    validate_identity_code(code.lower())
    assert birth_date_from_identity_code(code.lower()) == birth_date_from_identity_code(code)
    assert blind_index(code.lower()) == blind_index(code)


def test_it_ignores_surrounding_whitespace():
    validate_identity_code(" 131052-308T\n")
    assert blind_index(" 131052-308t ") == blind_index("131052-308T")


def test_it_refuses_the_birth_date_of_an_invalid_code():
    with pytest.raises(ValidationError) as caught:
        birth_date_from_identity_code("131052-308U")
    assert caught.value.code == "invalid_checksum"
    assert "131052" not in " ".join(caught.value.messages)


# -- Encryption at rest and the blind index ---------------------------------------------------

CODE = "131052-308T"


def raw_member_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT identity_code, identity_code_index FROM cases_familymember")
        return cursor.fetchall()


def create_family_with_code(owner, municipality, code=CODE):
    return services.family_create(
        actor=owner,
        name="Korhonen",
        municipality=municipality,
        members=[
            {
                "role": "guardian",
                "first_name": "Maija",
                "last_name": "Korhonen",
                "identity_code": code,
            }
        ],
    )


@pytest.mark.django_db
def test_it_stores_the_code_only_as_ciphertext(owner, municipality, settings):
    create_family_with_code(owner, municipality)
    [(ciphertext, index)] = raw_member_rows()
    row = f"{ciphertext} {index}"
    for part in (CODE, CODE.lower(), "131052", "308T", "1952-10-13"):
        assert part not in row
    key = settings.FIELD_ENCRYPTION_KEYS[0].encode()
    assert Fernet(key).decrypt(ciphertext.encode()).decode() == CODE


@pytest.mark.django_db
def test_it_decrypts_the_code_when_the_member_is_loaded(owner, municipality):
    family = create_family_with_code(owner, municipality)
    member = FamilyMember.objects.get(family=family)
    assert member.identity_code == CODE


@pytest.mark.django_db
def test_it_stores_a_keyed_blind_index_that_finds_the_member(owner, municipality, settings):
    family = create_family_with_code(owner, municipality)
    [(_ciphertext, index)] = raw_member_rows()
    assert index == blind_index(CODE)
    expected = hmac.new(settings.BLIND_INDEX_KEY.encode(), CODE.encode(), hashlib.sha256)
    assert index == expected.hexdigest()
    assert index != hashlib.sha256(CODE.encode()).hexdigest()  # keyed: not guessable unkeyed
    found = FamilyMember.objects.get(identity_code_index=blind_index(CODE.lower()))
    assert found.family == family
    assert not FamilyMember.objects.filter(identity_code_index=blind_index("010101A123N")).exists()


@pytest.mark.django_db
def test_it_stores_a_lower_case_code_in_upper_case(owner, municipality):
    family = create_family_with_code(owner, municipality, code=CODE.lower())
    member = FamilyMember.objects.get(family=family)
    assert member.identity_code == CODE
    assert member.identity_code_index == blind_index(CODE)


@pytest.mark.django_db
def test_it_stores_no_ciphertext_nor_index_for_a_member_without_a_code(owner, municipality):
    create_family_with_code(owner, municipality, code="")
    assert raw_member_rows() == [("", "")]


@pytest.mark.django_db
def test_it_refuses_to_store_an_invalid_code(owner, municipality):
    with pytest.raises(ValidationError) as caught:
        create_family_with_code(owner, municipality, code="131052-308U")
    assert "identity_code" in caught.value.message_dict
    assert "131052" not in str(caught.value)
    assert not Family.objects.exists()
    assert not FamilyMember.objects.exists()


@pytest.mark.django_db
def test_it_decrypts_old_rows_after_a_key_rotation_and_reencrypts_on_save(
    owner, municipality, settings
):
    family = create_family_with_code(owner, municipality)
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    member = FamilyMember.objects.get(family=family)
    assert member.identity_code == CODE
    member.save()

    [(ciphertext, index)] = raw_member_rows()
    assert Fernet(new_key.encode()).decrypt(ciphertext.encode()).decode() == CODE
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(ciphertext.encode())
    assert index == blind_index(CODE)  # the blind index key did not change

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert FamilyMember.objects.get(family=family).identity_code == CODE


@pytest.mark.django_db
def test_it_fails_loudly_without_showing_ciphertext_when_no_key_fits(owner, municipality, settings):
    family = create_family_with_code(owner, municipality)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValueError, match="Cannot decrypt") as caught:
        FamilyMember.objects.get(family=family)
    [(ciphertext, _index)] = raw_member_rows()
    assert ciphertext not in str(caught.value)


@pytest.mark.django_db
def test_it_masks_the_code_when_a_member_is_serialised(owner, municipality):
    family = create_family_with_code(owner, municipality)
    dumped = serializers.serialize("json", FamilyMember.objects.filter(family=family))
    assert "131052" not in dumped
    assert '"identity_code": "********"' in dumped


# -- The family API ---------------------------------------------------------------------------

FAMILIES = "/api/v1/families/"


def family_body(municipality, **member):
    return {
        "name": "Korhonen",
        "municipality": str(municipality.pk),
        "members": [{"role": "guardian", "first_name": "Maija", "last_name": "Korhonen", **member}],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code",
    [
        "131052-308U",  # wrong check character
        "310299A123T",  # impossible date
        "131052G308T",  # unknown century sign
        "131052-308",  # too short
    ],
)
def test_the_api_rejects_an_invalid_code_under_the_field_and_writes_nothing(
    api, owner, municipality, code
):
    families_before = Family.objects.count()
    response = api.as_user(owner).post(
        FAMILIES,
        family_body(municipality, identity_code=code),
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",  # messages are Finnish by default (locale/)
    )
    assert response.status_code == 400
    # DRF keys the errors of a list by the position of the failing item.
    errors = response.json()["members"]["0"]["identity_code"]
    assert errors and all("personal identity code" in message for message in errors)
    assert code not in response.content.decode()
    assert code[:6] not in response.content.decode()
    assert Family.objects.count() == families_before
    assert not FamilyMember.objects.exists()


@pytest.mark.django_db
def test_the_api_stores_a_valid_code_and_never_returns_it(api, owner, municipality):
    response = api.as_user(owner).post(
        FAMILIES, family_body(municipality, identity_code=CODE.lower()), format="json"
    )
    assert response.status_code == 201
    [member] = response.json()["members"]
    assert member["has_identity_code"] is True
    assert "identity_code" not in member
    content = response.content.decode()
    assert CODE not in content
    assert CODE.lower() not in content
    assert blind_index(CODE) not in content
    stored = FamilyMember.objects.get(pk=member["id"])
    assert stored.identity_code == CODE

    detail = api.get(f"{FAMILIES}{response.json()['id']}/")
    assert detail.status_code == 200
    assert detail.json()["members"][0]["has_identity_code"] is True
    assert CODE not in detail.content.decode()


@pytest.mark.django_db
def test_the_api_shows_a_member_without_a_code_as_having_none(api, owner, municipality):
    response = api.as_user(owner).post(FAMILIES, family_body(municipality), format="json")
    assert response.status_code == 201
    assert response.json()["members"][0]["has_identity_code"] is False


# -- Agreement with python-stdnum on a generated set -----------------------------------------

# Every century sign, with dates that exist, impossible ones, and 29 February in leap and
# common years of each century.
DATES_FOR_AGREEMENT = ["010100", "311299", "290200", "290204", "290201", "310400", "000512"]
DATES_FOR_AGREEMENT += ["320112", "011312", "150600", "280296", "290296", "290297"]
INDIVIDUALS_FOR_AGREEMENT = ["000", "001", "002", "123", "500", "899", "900", "950", "999"]


def generated_codes() -> list[str]:
    codes = []
    for sign in CENTURY_OF_SIGN:
        for ddmmyy in DATES_FOR_AGREEMENT:
            for individual in INDIVIDUALS_FOR_AGREEMENT:
                right = with_check_character(ddmmyy, sign, individual)
                codes += [right, with_wrong_check_character(right), right.lower()]
    return codes


def independently_valid(code: str, *, allow_temporary: bool) -> bool:
    """Our own reading of the rule (DVV), written apart from both stdnum and cases/."""
    code = code.upper()
    day, month, year, sign, individual = code[:2], code[2:4], code[4:6], code[6], code[7:10]
    try:
        datetime.date(CENTURY_OF_SIGN[sign] + int(year), int(month), int(day))
    except ValueError:
        return False
    number = int(individual)
    if number < 2 or (number >= 900 and not allow_temporary):
        return False
    return with_check_character(code[:6], sign, individual) == code


def accepted(code: str, *, allow_temporary: bool) -> bool:
    try:
        validate_identity_code(code, allow_temporary=allow_temporary)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("allow_temporary", [False, True])
def test_it_agrees_with_python_stdnum_on_every_century_sign_checksum_date_and_number(
    allow_temporary,
):
    codes = generated_codes()
    verdicts = {
        code: (
            accepted(code, allow_temporary=allow_temporary),
            hetu.is_valid(code, allow_temporary=allow_temporary),
            independently_valid(code, allow_temporary=allow_temporary),
        )
        for code in codes
    }
    disagreements = {code: v for code, v in verdicts.items() if len(set(v)) != 1}
    assert not disagreements
    valid = [code for code, (ours, _stdnum, _own) in verdicts.items() if ours]
    # The set holds both kinds in number, and temporary codes only pass when allowed.
    assert 200 < len(valid) < len(codes) - 200
    temporary = [code for code in valid if int(code[7:10]) >= 900]
    assert bool(temporary) == allow_temporary
    for code in valid:
        assert normalise_identity_code(code) == hetu.compact(code) == code.upper()
        assert blind_index(code) == blind_index(hetu.compact(code))


# -- Full-width codes, temporary codes and the lookup through the API -------------------------

FULL_WIDTH = "１３１０５２-３０８T"
LOOKUP = "/api/v1/families/lookup/"


@pytest.mark.django_db
def test_the_api_refuses_a_full_width_code_with_a_clear_400(api, owner, municipality):
    response = api.as_user(owner).post(
        FAMILIES,
        family_body(municipality, identity_code=FULL_WIDTH),
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    [message] = response.json()["members"]["0"]["identity_code"]
    assert "plain digits 0-9" in message
    assert FULL_WIDTH not in response.content.decode()
    assert not FamilyMember.objects.exists()

    lookup = api.post(LOOKUP, {"identity_code": FULL_WIDTH}, format="json")
    assert lookup.status_code == 400
    assert "identity_code" in lookup.json()


@pytest.mark.django_db
def test_the_api_finds_by_the_ascii_code_a_family_stored_in_lower_case(api, owner, municipality):
    created = api.as_user(owner).post(
        FAMILIES, family_body(municipality, identity_code=" " + CODE.lower()), format="json"
    )
    assert created.status_code == 201
    found = api.post(LOOKUP, {"identity_code": CODE}, format="json")
    assert found.status_code == 200
    body = found.json()
    results = body["results"] if isinstance(body, dict) else body
    assert [family["id"] for family in results] == [created.json()["id"]]


@pytest.mark.django_db
def test_the_api_accepts_a_temporary_code_for_a_member_and_marks_it(api, owner, municipality):
    temporary = with_check_character("010520", "A", "951")
    client = api.as_user(owner)
    response = client.post(
        FAMILIES, family_body(municipality, identity_code=temporary), format="json"
    )
    assert response.status_code == 201
    [member] = response.json()["members"]
    assert member["has_identity_code"] is True
    assert member["identity_code_temporary"] is True
    assert temporary not in response.content.decode()
    found = client.post(LOOKUP, {"identity_code": temporary}, format="json").json()
    results = found["results"] if isinstance(found, dict) else found
    assert [family["id"] for family in results] == [response.json()["id"]]

    permanent = client.post(FAMILIES, family_body(municipality, identity_code=CODE), format="json")
    assert permanent.json()["members"][0]["identity_code_temporary"] is False


# -- Re-indexing the rows stored before (migration 0005) --------------------------------------


@pytest.mark.django_db
def test_the_migration_stores_a_legacy_full_width_code_canonically_and_reindexes_it(
    owner, municipality, settings
):
    import importlib

    from django.apps import apps

    family = create_family_with_code(owner, municipality)
    broken = create_family_with_code(owner, municipality, code="")
    legacy_index = hmac.new(
        settings.BLIND_INDEX_KEY.encode(), FULL_WIDTH.encode(), hashlib.sha256
    ).hexdigest()
    # What the hand-written validator let through: the code as typed, with its own index.
    FamilyMember.objects.filter(family=family).update(
        identity_code=FULL_WIDTH, identity_code_index=legacy_index
    )
    FamilyMember.objects.filter(family=broken).update(
        identity_code="１３１０５２-３０８U", identity_code_index="f" * 64
    )
    assert not FamilyMember.objects.filter(identity_code_index=blind_index(CODE)).exists()

    migration = importlib.import_module("cases.migrations.0005_identity_codes_canonical")
    migration.canonical_codes(apps, None)

    member = FamilyMember.objects.get(identity_code_index=blind_index(CODE))
    assert member.family == family
    assert member.identity_code == CODE
    # A code that is wrong however it is read stays as it was, for a person to correct.
    assert FamilyMember.objects.get(family=broken).identity_code_index == "f" * 64
