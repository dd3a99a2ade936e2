"""Schemathesis against our own OpenAPI schema, in-process through WSGI, as every demo role.

Every operation of `/api/schema/` is fuzzed with Schemathesis' default checks (no server errors,
status codes, content types and response bodies as documented, negative data rejected,
authentication not ignored), and then the stateful phase chains operations through the links of
the schema. The requests go through `koordinointi.wsgi.application` in this thread, inside the
test's database transaction, against the seeded Päijät-Häme demo.

FUZZ_EXAMPLES sets Hypothesis' examples per operation (default 100, as CI runs it); a local run
can use fewer: `FUZZ_EXAMPLES=10 python -m pytest tests/test_fuzz_api.py`.
"""

import os
import zlib

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.pytest.lazy import get_all_tests

from audit.models import Chain
from cases.models import User
from cases.seeding import demo
from koordinointi.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
SEED = 8  # issue 8; a fixed seed makes every run send the same requests

ROLES = [
    "tiina.vastuu",  # responsible worker of the demo case
    "anna.neuvola",  # network member with consent
    "olli.opettaja",  # network member whose consent is pending
    "jenni.jarjesto",  # third-sector worker
    "ulla.ulkopuolinen",  # outsider
    "hanna.huoltaja",  # guardian
    "tero.tarkastaja",  # auditor
    "kaisa.koordinaattori",  # coordinator
]


@pytest.fixture
def wsgi_in_test_transaction():
    """Keep Django's per-request connection handling out, as its own test client does.

    The WSGI handler would otherwise close the test's connection after every request, in the
    middle of the transaction that the `db` fixture rolls back at the end.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def demo_tokens(db, settings, wsgi_in_test_transaction):
    """The seeded demo, and an API token for each of its roles."""
    Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
    demo.seed()
    return {
        username: Token.objects.get_or_create(user=User.objects.get(username=username))[0].key
        for username in ROLES
    }


def role_for(case) -> str:
    """A role for an example that Schemathesis builds without Hypothesis drawing it (explicit
    examples and the coverage phase): derived from the example, so that it replays the same."""
    key = repr((case.method, case.path, case.path_parameters, case.query, case.body))
    return ROLES[zlib.crc32(key.encode()) % len(ROLES)]


# Schemathesis' configuration, as its schemathesis.toml would say it.
CONFIG = f"""
# Every example is a real request against the database: slow and large by design.
suppress-health-check = ["too_slow", "filter_too_much", "data_too_large"]

[generation]
max-examples = {EXAMPLES}
deterministic = true
database = "none"
# The demo roles' tokens sign the requests in (below); Schemathesis' `ignored_auth` check still
# sends each operation without them and with a wrong one.
with-security-parameters = false

[[operations]]
# A write can be refused by the state of the data, which no schema describes: a family that
# already has an open case, a handover already answered, an id in the body that names nothing
# (or nothing you may use), credentials that are wrong. The API answers these with 400 and a
# message, in its one error format, as DRF does; so 400 is an expected answer to a write even
# when the request fits the schema. Reads get no such allowance. And sign-in is throttled and
# locked out per address (429, documented on the token endpoint, the only write that answers it;
# status_code_conformance still fails an undocumented 429 anywhere).
include-method = ["POST", "PATCH", "PUT", "DELETE"]
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "400", "401", "403", "404", "409", "429",
]
"""


@pytest.fixture
def fuzz_schema(demo_tokens):
    config = SchemathesisConfig.from_str(CONFIG)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)

    @schema.auth(refresh_interval=None)
    class DemoRole:
        """Signs every request in as one of the demo roles (Schemathesis' own auth, so that its
        `ignored_auth` check knows these are valid credentials and tries without them)."""

        def get(self, case, context):
            return demo_tokens[role_for(case)]

        def set(self, case, token, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Token {token}"}

    @schema.hook
    def before_generate_case(context, strategy):
        # For generated examples Hypothesis draws the role with the rest of the example, so that
        # every operation is tried as every role, and a failure shrinks and replays as the role
        # it happened with. A request sent without credentials on purpose stays without.
        def as_role(case_and_role):
            case, role = case_and_role
            if "Authorization" in (case.headers or {}):
                case.headers["Authorization"] = f"Token {demo_tokens[role]}"
            return case

        return st.tuples(strategy, st.sampled_from(ROLES)).map(as_role)

    schema.demo_tokens = demo_tokens
    return schema


def run_operation_tests(schema, test_func) -> list[str]:
    """Run Schemathesis' test of every operation (examples, coverage and fuzzing phases).

    One pytest test drives them all, so that the demo is seeded once and every operation runs
    against the same data; every failure is collected and reported, not only the first.
    """
    failures = []
    for result in get_all_tests(schema=schema, test_func=test_func, settings=None, given_kwargs={}):
        if isinstance(result, Err):
            failures.append(f"schema error: {result.err()}")
            continue
        operation, operation_test = result.ok()
        try:
            operation_test()
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{operation.label}\n{exc}")
    return failures


def test_every_operation_holds_up_against_generated_requests(fuzz_schema, demo_tokens):
    def check(case):
        case.call_and_validate()

    failures = run_operation_tests(fuzz_schema, check)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)


def test_sequences_of_operations_hold_up_in_the_stateful_phase(fuzz_schema):
    """Schemathesis' stateful phase: chains of calls that feed one response's ids into the next
    request. drf-spectacular writes no OpenAPI links, so the links are the ones Schemathesis
    infers from the schema (its dependency analysis: `results/*/id` of a list into `{id}` and
    `{case_pk}` of the operations below it), about 400 of them."""
    machine = fuzz_schema.as_state_machine()
    assert fuzz_schema.statistic.transitions.total > 100

    machine.run(
        settings=hypothesis.settings(
            max_examples=EXAMPLES,
            # Each scenario a chain of up to 10 calls: long enough to create, read and change.
            stateful_step_count=10,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
