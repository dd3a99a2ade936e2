"""Sensitive data out of URLs and logs (issue 8): identity-code lookups only in request bodies,
no personal data in log records or error reports."""

import io
import json
import logging
import re
import sys

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from drf_spectacular.generators import SchemaGenerator
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from audit.models import AccessEvent
from cases.models import Family, User
from cases.seeding import demo
from koordinointi.log import (
    JsonFormatter,
    PersonalDataExceptionReporterFilter,
    PersonalDataFilter,
    mask_identity_codes,
)
from tests import log_scan
from tests.query_counts import ACCESS_LOG, REQUEST
from tests.test_authorization_matrix import api_patterns, params_of

pytestmark = pytest.mark.django_db

LOOKUP = "/api/v1/families/lookup/"
HANNA_CODE = demo.identity_code(demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"])
# A valid code that belongs to nobody in the database (a temporary-identifier number).
NOBODYS_CODE = demo.identity_code(demo.GUARDIAN["birth_date"], 990)


@pytest.fixture
def seeded(api):
    case = demo.seed().case
    return {"case": case, "users": {user.username: user for user in User.objects.all()}}


def lookup(api, user, code=HANNA_CODE):
    return api.as_user(user).post(LOOKUP, {"identity_code": code}, format="json")


# --- Identity-code lookups: only in the body -------------------------------------------------


def test_the_responsible_worker_finds_the_family_by_an_identity_code_in_the_body(api, seeded):
    response = lookup(api, seeded["users"]["tiina.vastuu"])
    assert response.status_code == 200, response.content
    [family] = response.json()
    assert family["id"] == str(seeded["case"].family_id)
    assert family["name"] == "Virtanen"
    assert {m["first_name"] for m in family["members"]} == {"Hanna", "Aino", "Eeli"}
    assert HANNA_CODE not in response.content.decode()  # codes are write-only


def test_a_lowercase_or_padded_code_finds_the_same_family(api, seeded):
    response = lookup(api, seeded["users"]["tiina.vastuu"], code=f" {HANNA_CODE.lower()} ")
    assert [f["name"] for f in response.json()] == ["Virtanen"]


def test_a_worker_with_consent_for_basic_data_finds_the_family(api, seeded):
    response = lookup(api, seeded["users"]["anna.neuvola"])  # the clinic's consent: basic
    assert [f["name"] for f in response.json()] == ["Virtanen"]


@pytest.mark.parametrize(
    "username",
    [
        "olli.opettaja",  # sees that the case exists, but the school's consent is pending
        "ulla.ulkopuolinen",  # unrelated
        "jenni.jarjesto",  # invited, not a member
        "tero.tarkastaja",  # auditor
        "kaisa.koordinaattori",  # coordinator
    ],
)
def test_an_unseen_match_answers_exactly_as_no_match(api, seeded, username):
    user = seeded["users"][username]
    unseen = lookup(api, user)
    missing = lookup(api, user, code=NOBODYS_CODE)
    assert unseen.status_code == missing.status_code == 200
    assert unseen.content == missing.content == b"[]"


def test_the_lookup_is_in_the_access_log_as_a_search(api, seeded):
    tiina = seeded["users"]["tiina.vastuu"]
    before = AccessEvent.objects.count()
    lookup(api, tiina)
    [event] = AccessEvent.objects.order_by("-seq")[: AccessEvent.objects.count() - before]
    assert (event.user_id, event.action, event.outcome) == (tiina.pk, "search", "allowed")
    assert (event.case_id, event.family_id) == (seeded["case"].pk, seeded["case"].family_id)
    assert event.categories == ["basic"]


def test_a_lookup_that_finds_nothing_logs_nothing_about_a_family(api, seeded):
    last = AccessEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    assert lookup(api, seeded["users"]["olli.opettaja"]).json() == []
    assert not AccessEvent.objects.filter(seq__gt=last, family_id__isnull=False).exists()


def test_the_lookup_takes_no_get_and_no_code_in_the_query_string(api, seeded):
    client = api.as_user(seeded["users"]["tiina.vastuu"])
    assert client.get(f"{LOOKUP}?identity_code={HANNA_CODE}").status_code == 405
    # The family list ignores it: the code filters nothing.
    listed = client.get(f"/api/v1/families/?identity_code={NOBODYS_CODE}").json()
    assert listed["count"] == Family.objects.count() == 1


def test_an_invalid_identity_code_is_a_400_that_does_not_repeat_it(api, seeded):
    bad = HANNA_CODE[:-1] + ("X" if HANNA_CODE[-1] != "X" else "Y")
    response = lookup(api, seeded["users"]["tiina.vastuu"], code=bad)
    assert response.status_code == 400
    assert "identity_code" in response.json()
    assert bad not in response.content.decode()


def test_anonymous_lookups_are_refused(api, seeded):
    response = APIClient().post(LOOKUP, {"identity_code": HANNA_CODE}, format="json")
    assert response.status_code == 401


def test_lookup_query_count_is_pinned(api, seeded, django_assert_num_queries):
    client = api.as_user(seeded["users"]["tiina.vastuu"])
    # 1 token + user, 2 families by blind index (visible to the user) with municipality and
    # organisation, 3 their members, 4 their cases visible to the user, 5 the policy's facts
    # (memberships, guardians, handovers, posts: one union); 6-7 the same access again for
    # the serializer.
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert len(client.post(LOOKUP, {"identity_code": HANNA_CODE}, format="json").json()) == 1


# --- No identity code in any URL -------------------------------------------------------------

IDENTITY_PARAMETER = re.compile(
    r"identity|hetu|henkilotunnus|henkilötunnus|ssn|social.?security|personal.?code|birth.?code",
    re.I,
)


def identity_parameters(schema: dict, patterns: dict) -> list[str]:
    """Query or path parameters (of the OpenAPI schema, and of the URL patterns) that could
    carry an identity code, judged by name and description."""
    found = []
    for template in patterns:
        for name in params_of(template):
            if IDENTITY_PARAMETER.search(name):
                found.append(f"{template}: path parameter {name}")
    for url, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in [*operations.get("parameters", []), *operation.get("parameters", [])]:
                if parameter.get("in") not in ("query", "path"):
                    continue
                text = f"{parameter.get('name', '')} {parameter.get('description', '')}"
                if IDENTITY_PARAMETER.search(text):
                    found.append(f"{method.upper()} {url}: {parameter['in']} {parameter['name']}")
    return found


def test_no_query_or_path_parameter_can_carry_an_identity_code():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert len(schema["paths"]) > 40  # the whole API, not an empty schema
    assert identity_parameters(schema, api_patterns()) == []


def test_the_parameter_check_would_catch_an_identity_code_in_a_url():
    schema = {
        "paths": {
            "/api/v1/families/": {
                "get": {"parameters": [{"in": "query", "name": "hetu", "description": ""}]}
            },
            "/api/v1/people/{pk}/": {
                "get": {
                    "parameters": [
                        {"in": "path", "name": "pk", "description": "Personal identity code"}
                    ]
                }
            },
            "/api/v1/lookup/": {
                "post": {"parameters": [{"in": "header", "name": "X-Identity-Code"}]}
            },
        }
    }
    found = identity_parameters(schema, {"/api/v1/members/{identity_code}/": {"GET"}})
    assert found == [
        "/api/v1/members/{identity_code}/: path parameter identity_code",
        "GET /api/v1/families/: query hetu",
        "GET /api/v1/people/{pk}/: path pk",
    ]


# --- No personal data in log records and error reports ---------------------------------------


def _explode(request):
    data = request.data  # a local variable holding the body, as any view might have
    code = data.get("identity_code")
    raise RuntimeError(f"processing failed for {code}")


failures: dict = {}


@api_view(["POST"])
@permission_classes([AllowAny])
def explode(request):
    return _explode(request)


@api_view(["POST"])
@permission_classes([AllowAny])
def explode_and_keep(request):
    """Fails as `explode` does, and keeps what an error report is made of."""
    try:
        _explode(request)
    except RuntimeError:
        failures["exc_info"], failures["request"] = sys.exc_info(), request._request
    return HttpResponse()


urlpatterns = [path("explode/", explode), path("explode-and-keep/", explode_and_keep)]


@pytest.fixture
def django_request_log():
    """What the production handler (settings.LOGGING: JSON, PersonalDataFilter) would write for
    django.request, captured in memory."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


@override_settings(ROOT_URLCONF=__name__)
def test_a_500_is_logged_as_json_without_the_body_or_the_identity_code(api, django_request_log):
    client = APIClient(raise_request_exception=False)
    with log_scan.expected_leak():  # the exception message names the code on purpose
        response = client.post(
            "/explode/", {"identity_code": HANNA_CODE, "name": "Virtanen"}, format="json"
        )
    assert response.status_code == 500
    lines = [json.loads(line) for line in django_request_log.getvalue().splitlines()]
    [entry] = [line for line in lines if line["level"] == "ERROR"]
    assert entry["path"] == "/explode/" and entry["method"] == "POST" and entry["status"] == 500
    assert "RuntimeError" in entry["exception"]
    text = django_request_log.getvalue()
    assert HANNA_CODE not in text and "Virtanen" not in text
    assert "***********" in entry["exception"]  # the code in the message was masked


@override_settings(ROOT_URLCONF=__name__)
def _error_report(filter_class, request_body: dict) -> str:
    """The text of Django's error report (as mailed to ADMINS) for a view that failed with the
    body in a local variable."""
    failures.clear()
    APIClient().post("/explode-and-keep/", request_body, format="json")
    reporter = ExceptionReporter(failures["request"], *failures["exc_info"])
    reporter.filter = filter_class()
    return reporter.get_traceback_text()


def test_error_reports_carry_no_request_body_nor_local_variables(api):
    body = {"identity_code": HANNA_CODE, "name": "Virtanen"}
    # Django's default filter shows the frames' variables, and with them the body.
    assert HANNA_CODE in _error_report(SafeExceptionReporterFilter, body)
    report = _error_report(PersonalDataExceptionReporterFilter, body)
    assert "RuntimeError" in report
    assert "Virtanen" not in report
    # Only the exception's own message, which the filter cannot reach, may name it.
    assert report.count(HANNA_CODE) == report.count(f"processing failed for {HANNA_CODE}")


def test_the_settings_use_the_filters():
    from django.conf import settings

    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == (
        "koordinointi.log.PersonalDataExceptionReporterFilter"
    )
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["formatter"] == "json" and "personal_data" in handler["filters"]


def test_identity_codes_are_masked_wherever_they_stand():
    text = f"a {HANNA_CODE}, b {HANNA_CODE.lower()}; c 010101A123N."
    assert mask_identity_codes(text) == "a ***********, b ***********; c ***********."
    uuid_like = "12345678-1234-5678-1234-567812345678"
    assert mask_identity_codes(uuid_like) == uuid_like


# --- The scan of the whole suite's log output (tests/log_scan.py, tests/conftest.py) ----------


def test_the_suite_log_scanner_flags_a_leak_without_failing_the_session():
    scanner = log_scan.LogScanner(secrets=["Virtanen", HANNA_CODE])
    # Its own logger, which does not propagate: the session's scan must not see these.
    logger = logging.getLogger("koordinointi.test.scanner")
    logger.propagate = False
    handler = scanner.handler()
    logger.addHandler(handler)
    try:
        logger.warning("family %s signed in", "Virtanen")
        logger.info("nothing personal here")
        logger.error("code %s", HANNA_CODE.lower())
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    leaks = scanner.leaks()
    assert [leak.logger for leak in leaks] == ["koordinointi.test.scanner"] * 2
    assert "Virtanen" in leaks[0].secrets and HANNA_CODE in leaks[1].secrets
    assert "WARNING koordinointi.test.scanner" in scanner.report()


def test_the_session_scanner_watches_the_demo_people():
    secrets = log_scan.demo_secrets()
    assert HANNA_CODE in secrets
    assert {"Virtanen", "Hanna", "Eeli", "Aino", "Korhonen"} <= set(secrets)
    assert log_scan.session_scanner() is not None, "tests/conftest.py installs the scanner"


def test_the_session_scanner_sees_every_tests_records():
    """Even after `django.setup()` replaced the root logger's handlers (tests/test_fuzz_api.py
    imports the WSGI application, which applies settings.LOGGING), the scan still sees."""
    scanner = log_scan.session_scanner()
    before = scanner.records_seen
    logging.getLogger("koordinointi.test.seen").warning("a record without personal data")
    assert scanner.records_seen == before + 1
