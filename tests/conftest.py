"""Shared fixtures: an API client that signs in as a given user, three fixed people, the demo
personas and the Virtanen scenario of DESIGN.md; and the scan of the whole session's log output
for personal data (tests/log_scan.py)."""

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from cases import services
from cases.seeding import demo
from tests import contract, log_scan
from tests.factories import (
    MunicipalityFactory,
    OrganisationFactory,
    UserFactory,
    WorkerFactory,
)


@pytest.fixture
def api(db, settings):
    """An API client; `api.as_user(user)` authenticates it with that user's token.

    The access log's chain head exists from the start, so that query counts of the first
    request equal those of every later one.
    """
    from audit.models import Chain

    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
    client = APIClient()

    def as_user(user):
        from rest_framework.authtoken.models import Token

        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    client.as_user = as_user
    return client


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="Family social work")


@pytest.fixture
def municipality(db):
    return MunicipalityFactory(name="Asikkala")


@pytest.fixture
def owner(organisation):
    """The responsible worker of `family_case`."""
    return WorkerFactory(username="owner", membership__organisation=organisation)


@pytest.fixture
def colleague(db):
    """A worker of another organisation, who can be handed the case."""
    return WorkerFactory(username="colleague")


@pytest.fixture
def outsider(organisation):
    """A worker of the same organisation with nothing to do with the case."""
    return WorkerFactory(username="outsider", membership__organisation=organisation)


@pytest.fixture
def nurse(db):
    """A worker of a clinic, to be added to `family_case`'s network."""
    return WorkerFactory(
        username="nurse",
        membership__organisation=OrganisationFactory(name="Clinic", note_category="notes_health"),
    )


@pytest.fixture
def family_case(owner, municipality):
    family = services.family_create(
        actor=owner,
        name="Virtanen",
        municipality=municipality,
        members=[
            {"role": "guardian", "first_name": "Hanna", "last_name": "Virtanen"},
            {"role": "child", "first_name": "Aino", "last_name": "Virtanen"},
        ],
    )
    return family.cases.get()


@pytest.fixture
def guardian_user(family_case):
    """The portal account of `family_case`'s guardian."""
    user = UserFactory(username="guardian")
    family_case.family.members.filter(role="guardian").update(user=user)
    return user


# --- The demo personas and the Virtanen scenario (DESIGN.md, "Demo scenario"), defined once ------

TIINA = "tiina.vastuu"  # family social worker: responsible worker of the Virtanen case
ANNA = "anna.neuvola"  # public health nurse: member, consent for basic, plan, notes_health
OLLI = "olli.opettaja"  # teacher: member, consent requested and not yet given
JENNI = "jenni.jarjesto"  # NGO family worker: invited, not a member
ULLA = "ulla.ulkopuolinen"  # social worker in Lahti: unrelated
HANNA = "hanna.huoltaja"  # guardian of the Virtanen family, portal user
TERO = "tero.tarkastaja"  # auditor of the wellbeing area
KAISA = "kaisa.koordinaattori"  # family-centre coordinator
PERSONAS = (TIINA, ANNA, OLLI, JENNI, ULLA, HANNA, TERO, KAISA)


def persona(username: str):
    """The user account of one demo persona (of a seeded demo)."""
    from cases.models import User

    return User.objects.get(username=username)


def persona_accounts() -> dict:
    """{username: user} of the demo personas (of a seeded demo)."""
    from cases.models import User

    return {user.username: user for user in User.objects.filter(username__in=PERSONAS)}


@dataclass
class DemoWorld:
    """The seeded demo: the Virtanen case and the personas' accounts."""

    seeded: object  # cases.seeding.demo.SeedResult
    case: object  # the Virtanen case
    users: dict  # username -> user, the demo personas


def _seed_demo_world() -> DemoWorld:
    seeded = demo.seed()
    return DemoWorld(seeded=seeded, case=seeded.case, users=persona_accounts())


@pytest.fixture
def demo_case(db):
    """The Virtanen case of the seeded demo, seeded anew for each test."""
    return demo.seed().case


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker):
    """The seeded demo, built once for a module and rolled back after it.

    Modules that build more on top of it do so in their own module-scoped fixture, inside this
    one's transaction (tests/test_authorization_matrix.py); each test's own changes are rolled
    back by its `db` savepoint as usual. Passwords are hashed with MD5 here: hashing the demo's
    passwords with the production hasher takes seconds.
    """
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        transaction.atomic(),
    ):
        yield _seed_demo_world()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _audit_checkpoints_in_tmp(settings, tmp_path):
    """Checkpoint copies outside the database go to a fresh folder in every test."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")


@pytest.fixture(autouse=True)
def _fresh_sign_in_rate_limits():
    """Sign-in rate limits count in the cache, which outlives each test's database transaction.

    (django-axes' lockout counts live in the database, so every test starts without them.)
    """
    cache.clear()
    yield
    cache.clear()


# --- No personal data in the log output of the whole suite (issue 8) ------------------------


def pytest_sessionstart(session):
    log_scan.install(log_scan.LogScanner(log_scan.demo_secrets()))
    # Every response of the test client to an operation of the schema is validated against
    # the schema (tests/contract.py): the `api` client and every other test client alike.
    contract.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    scanner = log_scan.session_scanner()
    if scanner is not None:
        log_scan.attach()
        scanner.current_test = item.nodeid
    try:
        return (yield)
    finally:
        if scanner is not None:
            scanner.current_test = ""


def pytest_sessionfinish(session, exitstatus):
    scanner = log_scan.session_scanner()
    if scanner is not None and scanner.leaks() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    scanner = log_scan.session_scanner()
    if scanner is None:
        return
    if scanner.leaks():
        terminalreporter.section("personal data in the log output", sep="=", red=True)
        terminalreporter.line(scanner.report())
    else:
        terminalreporter.line(
            f"log scan: {scanner.records_seen} log records, no personal data in them"
        )
