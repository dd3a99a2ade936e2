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
from tests import audit_tables, contract, log_scan
from tests.browser import chromium, empty_audit_tables, skip_or_fail_without_browser
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
def _audit_tables_emptied_after_transactional_tests(request):
    """A transactional test ends with Django's flush, which the append-only audit tables (the
    change history among them) refuse: they are emptied first, under purge permits."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so flushed after this
    yield
    audit_tables.empty_audit_tables()


@pytest.fixture(autouse=True)
def _audit_checkpoints_in_tmp(settings, tmp_path):
    """Checkpoint copies outside the database go to a fresh folder in every test (made, as a
    deployment makes it); the checkpoint timer is off unless a test turns it on."""
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "audit-checkpoints")
    (tmp_path / "audit-checkpoints").mkdir()
    settings.AUDIT_CHECKPOINT_INTERVAL = 0


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


# Under pytest-xdist each worker scans its own tests' log output and hands its tally to the
# controller, which fails the run and prints the report as a single session would.
_worker_tallies: list[dict] = []


def _tally() -> dict | None:
    scanner = log_scan.session_scanner()
    if scanner is None:
        return None
    tally = {"records": scanner.records_seen, "report": scanner.report() if scanner.leaks() else ""}
    for worker in _worker_tallies:
        tally["records"] += worker["records"]
        tally["report"] = "\n".join(filter(None, [tally["report"], worker["report"]]))
    return tally


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    tally = getattr(node, "workeroutput", {}).get("log_scan")
    if tally is not None:
        _worker_tallies.append(tally)


def pytest_sessionfinish(session, exitstatus):
    tally = _tally()
    if tally is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["log_scan"] = tally
    if tally["report"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tally = _tally()
    if tally is None:
        return
    if tally["report"]:
        terminalreporter.section("personal data in the log output", sep="=", red=True)
        terminalreporter.line(tally["report"])
    else:
        terminalreporter.line(f"log scan: {tally['records']} log records, no personal data in them")


@pytest.fixture(autouse=True)
def _inline_audit_sequencing(settings):
    """The suite's tests read the chain right after a request, so requests chain their events
    at once (inline) on both databases; background sequencing, the default on PostgreSQL, is
    tested in tests/test_audit_sequencer.py and measured by bench/audit_appends.py."""
    settings.AUDIT_SEQUENCING = "inline"


# --- What does not depend on the database runs once --------------------------------------------

_DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


def _runs_on(item, vendor: str) -> bool:
    """On PostgreSQL only the tests that use the database (the rest ran already on SQLite, the
    default, in the same CI run), and not those marked `sqlite_only` (the README walk serves
    its own SQLite demo); on SQLite not those marked `postgresql_only` (row and advisory
    locks)."""
    if vendor == "sqlite":
        return item.get_closest_marker("postgresql_only") is None
    if item.get_closest_marker("sqlite_only") is not None:
        return False
    return bool(
        item.get_closest_marker("django_db")
        or _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


def pytest_collection_modifyitems(config, items):
    """What does not run on this database is deselected, not skipped: not part of this run."""
    from django.db import connection

    keep, drop = [], []
    for item in items:
        (keep if _runs_on(item, connection.vendor) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- The browser tests (tests/test_*_browser.py), defined once ---------------------------------


@pytest.fixture
def browser():
    """Debian's chromium through Playwright (tests/browser.py); the test is skipped where it
    cannot run, or fails with REQUIRE_BROWSER=1 (as in CI)."""
    skip_or_fail_without_browser()
    with chromium() as browser:
        yield browser


@pytest.fixture
def seeded(transactional_db):
    """The demo seeded and committed, for a live server: its Virtanen case. The audit tables
    are emptied after (their append-only triggers refuse the test's flush)."""
    yield demo.seed().case
    empty_audit_tables()
