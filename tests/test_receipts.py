"""Signed consent receipts: what they say, that they verify offline, and that changes show."""

import base64
import datetime
import hashlib
import io
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.utils import timezone

from cases import services
from consent import receipts
from consent.models import Consent, ConsentEvent
from tests.factories import OrganisationFactory, UserFactory

OTHER_SEED = "33" * 32
NOTICE = "Tietojanne luovutetaan vain nimetyille vastaanottajille. Voitte perua suostumuksen."


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_hex(seed_hex: str) -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)).public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def decode_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def family(owner, municipality):
    return services.family_create(
        actor=owner,
        name="Virtanen",
        municipality=municipality,
        members=[
            {
                "role": "guardian",
                "first_name": "Hanna",
                "last_name": "Virtanen",
                "identity_code": "010101A123N",
            },
            {"role": "child", "first_name": "Aino", "last_name": "Virtanen"},
        ],
    )


@pytest.fixture
def guardian(family):
    return family.members.get(role="guardian")


@pytest.fixture
def consent(family, owner):
    consent = Consent.objects.create(
        case=family.cases.get(),
        categories=["plan", "basic"],
        purpose_code="school-support",
        purpose="Koulunkäynnin tuen suunnittelu",
        notice_version="2026-01",
        notice_text=NOTICE,
        valid_from=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        valid_until=datetime.datetime(2026, 12, 31, tzinfo=datetime.UTC),
        requested_by=owner,
    )
    consent.recipients.set(
        [OrganisationFactory(name="Asikkala basic education"), OrganisationFactory(name="Neuvola")]
    )
    return consent


@pytest.fixture
def portal_user(guardian):
    user = UserFactory(username="hanna")
    guardian.user = user
    guardian.save(update_fields=["user"])
    return user


@pytest.fixture
def event(consent, guardian, portal_user):
    return ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.GRANTED,
        channel=ConsentEvent.Channel.PORTAL,
        grantor=guardian,
        actor=portal_user,
        created_at=datetime.datetime(2026, 2, 3, 10, 30, 15, 500000, tzinfo=datetime.UTC),
    )


@pytest.fixture
def token(event):
    return receipts.receipt_for(event)


def test_a_receipt_verifies_and_states_the_decision(token, event, consent, family, guardian):
    payload = receipts.verify(token)

    kid = receipts.key_id(receipts.signing_key().public_key())
    recipients = sorted(
        ({"id": str(org.id), "name": org.name} for org in consent.recipients.all()),
        key=lambda item: item["name"],
    )
    purpose = {
        "purpose": "Koulunkäynnin tuen suunnittelu",
        "purposeCode": "school-support",
        "piiCategory": ["basic", "plan"],
        "consentType": "EXPLICIT",
        "primaryPurpose": True,
        "termination": "2026-12-31T00:00:00+00:00",
        "thirdPartyDisclosure": True,
        "thirdPartyName": ["Asikkala basic education", "Neuvola"],
    }
    organisation = consent.case.responsible_organisation
    assert payload == {
        "version": "KI-CR-v1.1.0-koordinointi",
        "jurisdiction": "FI",
        "consentTimestamp": 1770114615,
        "collectionMethod": "portal",
        "consentReceiptID": str(event.id),
        "publicKey": kid,
        "language": "fi",
        "piiPrincipalId": str(family.id),
        "grantor": str(guardian.id),
        "actor": str(event.actor_id),
        "piiControllers": [
            {
                "piiController": "Family social work",
                "piiControllerId": str(organisation.id),
                "onBehalf": False,
                "contact": None,
                "email": None,
                "phone": None,
            }
        ],
        "recipients": recipients,
        "services": [{"service": "school-support", "purposes": [purpose]}],
        "purposes": [purpose],
        "period": {
            "validFrom": "2026-01-01T00:00:00+00:00",
            "validUntil": "2026-12-31T00:00:00+00:00",
        },
        "noticeVersion": "2026-01",
        "noticeHash": hashlib.sha256(NOTICE.encode()).hexdigest(),
        "decision": "granted",
        "consentId": str(consent.id),
        "caseId": str(consent.case_id),
    }
    assert decode_part(token, 0) == {"alg": "EdDSA", "typ": "JWT", "kid": kid}


def test_the_payload_is_signed_in_canonical_json(token, event):
    payload_part = token.split(".")[1]
    assert payload_part == b64url(receipts.canonical_json(receipts.receipt_payload(event)))
    assert receipts.canonical_json({"b": "ä", "a": [1, 2]}) == '{"a":[1,2],"b":"ä"}'.encode()


def test_the_event_notice_and_subject_take_precedence(consent, guardian):
    child = consent.case.family.members.get(role="child")
    event = ConsentEvent.objects.create(
        consent=consent,
        kind=ConsentEvent.Kind.CHILD_REFUSED,
        channel=ConsentEvent.Channel.ON_BEHALF,
        subject=child,
        grantor=child,
        notice_version="2026-02-child",
        notice_text="Lapselle näytetty teksti",
    )

    payload = receipts.verify(receipts.receipt_for(event))

    assert payload["piiPrincipalId"] == str(child.id)
    assert payload["grantor"] == str(child.id)
    assert payload["actor"] is None
    assert payload["noticeVersion"] == "2026-02-child"
    assert payload["noticeHash"] == hashlib.sha256("Lapselle näytetty teksti".encode()).hexdigest()
    assert payload["decision"] == "child_refused"
    assert payload["collectionMethod"] == "on_behalf"


def test_it_holds_no_names_or_identity_codes_of_the_family(token, event):
    text = json.dumps(receipts.verify(token), ensure_ascii=False)

    for secret in ["Hanna", "Aino", "Virtanen", "010101A123N", "010101"]:
        assert secret not in text
        assert secret not in token


def test_a_change_in_any_single_character_makes_it_invalid(token):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position, original in enumerate(token):
        # One neighbouring base64url character (often only the unused low bits of a final
        # character differ) and one arbitrary bit flip.
        neighbour = alphabet[(alphabet.find(original) + 1) % 64] if original != "." else "A"
        for replacement in {neighbour, chr(ord(original) ^ 1)}:
            tampered = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(receipts.InvalidReceipt):
                receipts.verify(tampered)


def test_a_receipt_signed_by_another_key_is_invalid(token, event, settings):
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    foreign = receipts.receipt_for(event)
    settings.CONSENT_SIGNING_KEY = "22" * 32

    with pytest.raises(receipts.InvalidReceipt, match="Unknown signing key"):
        receipts.verify(foreign)

    # The same forgery claiming the current key's id fails on the signature itself.
    header = b64url(receipts.canonical_json(decode_part(token, 0)))
    payload = foreign.split(".")[1]
    other = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(OTHER_SEED))
    signature = b64url(other.sign(f"{header}.{payload}".encode()))
    with pytest.raises(receipts.InvalidReceipt, match="Bad signature"):
        receipts.verify(f"{header}.{payload}.{signature}")


def test_a_retired_key_verifies_only_while_listed(event, settings):
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    old = receipts.receipt_for(event)
    settings.CONSENT_SIGNING_KEY = "44" * 32

    with pytest.raises(receipts.InvalidReceipt, match="Unknown signing key"):
        receipts.verify(old)

    settings.CONSENT_VERIFY_KEYS = [public_hex(OTHER_SEED)]
    assert receipts.verify(old)["consentReceiptID"] == str(event.id)
    assert receipts.verify(receipts.receipt_for(event))["consentReceiptID"] == str(event.id)
    assert [key["x"] for key in receipts.public_key_document()["keys"]] == [
        b64url(bytes.fromhex(public_hex("44" * 32))),
        b64url(bytes.fromhex(public_hex(OTHER_SEED))),
    ]


def test_explicit_public_keys_replace_the_configured_ones(token):
    assert receipts.verify(token, [public_hex("22" * 32)])["decision"] == "granted"

    with pytest.raises(receipts.InvalidReceipt, match="Unknown signing key"):
        receipts.verify(token, [public_hex(OTHER_SEED)])


def test_retired_keys_may_be_given_as_one_string(event, settings):
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    old = receipts.receipt_for(event)
    settings.CONSENT_SIGNING_KEY = "44" * 32
    settings.CONSENT_VERIFY_KEYS = f"{public_hex('55' * 32)}, {public_hex(OTHER_SEED)}"

    assert receipts.verify(old)["decision"] == "granted"
    assert len(receipts.public_key_document()["keys"]) == 3


def test_a_token_that_is_not_text_is_rejected(token):
    with pytest.raises(receipts.InvalidReceipt, match="not a string"):
        receipts.verify(token.encode())


def test_the_jwk_rebuilds_a_key_that_verifies(token):
    jwk = receipts.public_jwk()

    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    key = Ed25519PublicKey.from_public_bytes(raw)

    assert {k: v for k, v in jwk.items() if k != "x"} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "kid": receipts.key_id(key),
        "use": "sig",
        "alg": "EdDSA",
    }
    assert jwk["kid"] == hashlib.sha256(raw).hexdigest()[:16]
    assert receipts.verify(token, [key])["decision"] == "granted"
    assert receipts.public_key_document() == {"keys": [jwk]}


def test_the_pem_is_the_same_key_as_the_jwk():
    key = serialization.load_pem_public_key(receipts.public_key_pem().encode())

    assert receipts.key_id(key) == receipts.public_jwk()["kid"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "three parts"),
        ("a.b", "three parts"),
        ("a.b.c.d", "three parts"),
        ("e30.e30.!!!", "not base64url"),
        ("e30=.e30.AA", "not base64url"),
        ("bm90IGpzb24.e30.AA", "header is not JSON"),
        ("W10.e30.AA", "header is not a JSON object"),
        (b64url(b'{"alg":"none"}') + ".e30.", "Unsupported algorithm"),
        (b64url(b'{"alg":"HS256","kid":"x"}') + ".e30.AA", "Unsupported algorithm"),
        (b64url(b'{"alg":"EdDSA"}') + ".e30.AA", "Unknown signing key"),
        (b64url(b'{"alg":"EdDSA","crit":["exp"]}') + ".e30.AA", "critical"),
    ],
)
def test_malformed_tokens_are_rejected_with_a_reason(token, message):
    with pytest.raises(receipts.InvalidReceipt, match=message):
        receipts.verify(token)


def test_a_misconfigured_key_fails_loudly(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CONSENT_VERIFY_KEYS = ["not hex"]
    with pytest.raises(ImproperlyConfigured):
        receipts.public_key_document()

    settings.CONSENT_SIGNING_KEY = "22" * 16
    with pytest.raises(ImproperlyConfigured):
        receipts.signing_key()


def test_the_command_verifies_a_good_file(token, tmp_path):
    path = tmp_path / "receipt.jws"
    path.write_text(token + "\n")
    out = io.StringIO()

    call_command("verify_receipt", str(path), stdout=out)

    assert "Receipt valid" in out.getvalue()
    assert '"decision": "granted"' in out.getvalue()


def test_the_command_reads_standard_input(token, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"  {token}\n"))
    out = io.StringIO()

    call_command("verify_receipt", "-", stdout=out)

    assert "Receipt valid" in out.getvalue()


def test_the_command_rejects_a_tampered_file(token, tmp_path):
    header, payload, signature = token.split(".")
    claims = decode_part(token, 1)
    claims["decision"] = "refused"
    path = tmp_path / "receipt.jws"
    path.write_text(f"{header}.{b64url(receipts.canonical_json(claims))}.{signature}")

    with pytest.raises(CommandError, match="Bad signature"):
        call_command("verify_receipt", str(path), stdout=io.StringIO())


def test_the_command_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("verify_receipt", str(tmp_path / "missing.jws"))


def test_the_command_verifies_with_an_exported_pem(token, tmp_path, settings):
    receipt, key = tmp_path / "receipt.jws", tmp_path / "key.pem"
    receipt.write_text(token)
    key.write_text(receipts.public_key_pem())
    # Offline means the configured key plays no part.
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    out = io.StringIO()

    call_command("verify_receipt", str(receipt), "--public-key", str(key), stdout=out)

    assert "Receipt valid" in out.getvalue()


def test_the_command_verifies_with_the_published_key_set(token, tmp_path, settings):
    receipt, key = tmp_path / "receipt.jws", tmp_path / "keys.json"
    receipt.write_text(token)
    key.write_text(json.dumps(receipts.public_key_document()))
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    out = io.StringIO()

    call_command("verify_receipt", str(receipt), "--public-key", str(key), stdout=out)

    assert "Receipt valid" in out.getvalue()


def test_the_command_rejects_the_wrong_public_key(token, tmp_path, settings):
    receipt, key = tmp_path / "receipt.jws", tmp_path / "key.json"
    receipt.write_text(token)
    settings.CONSENT_SIGNING_KEY = OTHER_SEED
    key.write_text(json.dumps(receipts.public_jwk()))

    with pytest.raises(CommandError, match="Unknown signing key"):
        call_command("verify_receipt", str(receipt), "--public-key", str(key))


def ec_public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not a key", "neither a PEM public key nor a JWK"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a PEM public key"),
        (ec_public_key_pem(), "not an Ed25519 public key"),
        ('{"kty": "RSA", "n": "x"}', "not an Ed25519 JWK"),
        ('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "not a 32-byte Ed25519"),
        ('{"keys": []}', "no keys"),
    ],
)
def test_the_command_rejects_an_unusable_key_file(token, tmp_path, content, message):
    receipt, key = tmp_path / "receipt.jws", tmp_path / "key"
    receipt.write_text(token)
    key.write_text(content)

    with pytest.raises(CommandError, match=message):
        call_command("verify_receipt", str(receipt), "--public-key", str(key))


def test_a_receipt_made_now_verifies(consent, guardian):
    event = ConsentEvent.objects.create(
        consent=consent, kind="revoked", channel="portal", grantor=guardian
    )

    payload = receipts.verify(receipts.receipt_for(event))

    assert payload["consentTimestamp"] == int(event.created_at.timestamp())
    assert abs(payload["consentTimestamp"] - timezone.now().timestamp()) < 60
