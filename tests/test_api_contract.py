"""The API keeps to its OpenAPI schema where the fuzzer (tests/test_fuzz_api.py) found it did not:
each finding pinned as a plain test, so that it fails on its own when the fix goes."""

import json

import pytest
from rest_framework.test import APIClient

from cases.models import OrganisationMembership
from tests.factories import (
    MunicipalityFactory,
    OrganisationFactory,
    ServiceFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_an_api_address_that_is_no_route_answers_json_404(api, owner):
    client = api.as_user(owner)

    response = client.get("/api/v1/cases/not-a-uuid/")
    page = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("size", ["abc", "0", "-1", "true", "null", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_up_is_refused(api, size):
    response = api.get(f"/api/v1/services/?page_size={size}")

    assert response.status_code == 400
    assert "page_size" in response.json()


def test_an_empty_page_size_means_the_default_and_a_number_is_used(api):
    ServiceFactory.create_batch(3)

    assert len(api.get("/api/v1/services/?page_size=").json()["results"]) == 3
    assert len(api.get("/api/v1/services/?page_size=2").json()["results"]) == 2


def test_the_access_log_refuses_a_page_size_that_is_no_number(api):
    # The access log pages by cursor, and keeps to the same rule.
    auditor = WorkerFactory(membership__role=OrganisationMembership.Role.AUDITOR)

    response = api.as_user(auditor).get("/api/v1/audit/events/?page_size=abc")

    assert response.status_code == 400
    assert "page_size" in response.json()


@pytest.mark.parametrize("path", ["/api/v1/audit/events/", "/api/v1/audit/events/export/"])
def test_the_access_log_takes_any_utc_offset_and_refuses_times_beyond_year_9999(api, path):
    # PostgreSQL refuses offsets beyond ±15:59: the filter compares in UTC (found by the fuzzer,
    # on the streamed export, whose query runs after the request's transaction).
    auditor = WorkerFactory(membership__role=OrganisationMembership.Role.AUDITOR)
    client = api.as_user(auditor)

    response = client.get(path, {"created_before": "6827-10-06T11:23:56+21:14"})
    assert response.status_code == 200
    if path.endswith("export/"):
        assert b"".join(response.streaming_content).startswith(b"id,")
    response = client.get(path, {"created_after": "9999-12-31T23:59:59-15:00"})
    assert response.status_code == 400 and response.json()["created_after"]


@pytest.mark.parametrize("value", ["2", "AAA", "null", "-58800"])
def test_a_boolean_filter_refuses_what_is_not_a_boolean(api, value):
    response = api.get(f"/api/v1/services/?low_threshold={value}")

    assert response.status_code == 400
    assert "low_threshold" in response.json()


def test_a_boolean_filter_still_filters(api):
    ServiceFactory(low_threshold=True)
    ServiceFactory(low_threshold=False)

    assert api.get("/api/v1/services/?low_threshold=true").json()["count"] == 1
    assert api.get("/api/v1/services/?low_threshold=").json()["count"] == 2


def test_a_filter_by_an_id_that_names_nothing_finds_nothing(api, owner):
    service = ServiceFactory()
    client = api.as_user(owner)

    assert api.get(f"/api/v1/services/?organisation={NOWHERE}").json()["count"] == 0
    assert api.get(f"/api/v1/services/?organisation={service.organisation_id}").json()["count"] == 1
    for path in ["/api/v1/organisations/?municipality=", "/api/v1/organisations/?area="]:
        response = client.get(f"{path}{NOWHERE}")
        assert response.status_code == 200 and response.json()["count"] == 0
    assert client.get(f"/api/v1/families/?municipality={NOWHERE}").status_code == 200


@pytest.mark.parametrize("age", ["151", "-1", "1e281"])
def test_an_age_outside_a_lifetime_is_refused(api, age):
    response = api.get(f"/api/v1/services/?age={age}")

    assert response.status_code == 400
    assert "age" in response.json()


def test_an_organisation_without_municipality_matches_the_schema(api, owner, schema):
    OrganisationFactory(municipality=None, area=None)
    MunicipalityFactory()

    response = api.as_user(owner).get("/api/v1/organisations/?page_size=200")
    without = [row for row in response.json()["results"] if row["municipality"] is None]
    fields = schema["components"]["schemas"]["Organisation"]["properties"]

    assert without, "an organisation without a municipality is listed"
    # A nullable reference, as OpenAPI 3.0 can say it: one of the reference or null (issue 15).
    null = {"type": "object", "nullable": True, "enum": [None]}
    assert fields["municipality"]["oneOf"][1] == null
    assert fields["area"]["oneOf"][1] == null


def test_the_schema_does_not_require_fields_left_out_without_consent(schema):
    # GatedSerializer leaves out a field whose data category the reader may not read.
    components = schema["components"]["schemas"]

    assert "family" not in components["Case"].get("required", [])
    assert "members" not in components["Family"].get("required", [])
    assert "id" in components["Case"]["required"]


def test_the_schema_documents_the_errors_each_operation_can_give(schema):
    paths = schema["paths"]
    error = {"$ref": "#/components/schemas/Error"}

    detail = paths["/api/v1/cases/{id}/"]["get"]["responses"]
    close = paths["/api/v1/cases/{id}/close/"]["post"]["responses"]
    public = paths["/api/v1/services/"]["get"]["responses"]
    export = paths["/api/v1/audit/events/export/"]["get"]["responses"]
    log = paths["/api/v1/audit/events/"]["get"]["responses"]

    assert {"401", "403", "404"} <= set(detail) and "400" not in detail
    assert {"400", "401", "403", "404"} <= set(close)
    assert close["400"]["content"]["application/json"]["schema"] == error
    # Anyone may read the catalogue: no 401 or 403 to document; its filters can be wrong.
    assert "400" in public and "401" not in public and "403" not in public
    # DRF answers a cursor it cannot read with 404.
    assert "404" in log
    # The export answers its errors as CSV to a client that asked for CSV.
    assert set(export["403"]["content"]) == {"application/json", "text/csv"}


def test_every_query_parameter_that_may_be_empty_says_so(schema):
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    assert parameter.get("allowEmptyValue") is True, parameter["name"]


def test_the_page_size_is_documented_from_1_up(schema):
    parameters = schema["paths"]["/api/v1/workers/"]["get"]["parameters"]
    page_size = next(p for p in parameters if p["name"] == "page_size")

    assert page_size["schema"]["minimum"] == 1


def test_a_nul_character_in_a_text_filter_is_refused_as_the_schema_says(api):
    response = api.get("/api/v1/services/", {"q": "a\x00b"})
    assert response.status_code == 400 and response.json()["q"]
    schema = api.get("/api/schema/?format=json").json()
    parameters = schema["paths"]["/api/v1/services/"]["get"]["parameters"]
    q = next(parameter for parameter in parameters if parameter["name"] == "q")
    assert q["schema"]["pattern"] == "^[^\\u0000]*$"


# --- A schema that standard tools can trust (issue 15) -----------------------------------------


def test_the_schema_is_the_same_bytes_in_every_language():
    served = {
        language: APIClient()
        .get(
            "/api/schema/",
            HTTP_ACCEPT="application/vnd.oai.openapi+json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        .content
        for language in ["fi", "sv", "en"]
    }
    assert served["sv"] == served["en"] == served["fi"]
    names = json.loads(served["en"])["components"]["schemas"]
    # Component names come from English labels ("Category"), never the Finnish ones ("Luokka").
    assert not [name for name in names if "Luokka" in name or "Tila" in name]


def test_patch_bodies_carry_no_defaults(schema):
    def defaults(node, path=""):
        if isinstance(node, dict):
            found = [path] if "default" in node else []
            return found + [p for k, v in node.items() for p in defaults(v, f"{path}/{k}")]
        if isinstance(node, list):
            return [p for i, v in enumerate(node) for p in defaults(v, f"{path}/{i}")]
        return []

    components = schema["components"]["schemas"]
    patched = set()
    for operations in schema["paths"].values():
        if "patch" in operations:
            for media in operations["patch"].get("requestBody", {}).get("content", {}).values():
                patched.add(media["schema"]["$ref"].rsplit("/", 1)[-1])
    assert {"PatchedMeetingRequest", "PatchedPlanActionRequest"} <= patched
    for name in patched:
        assert not defaults(components[name]), name
    # The create bodies keep theirs (a client may leave the field out).
    assert components["PlanActionRequest"]["properties"]["status"]["default"] == "planned"


def test_no_nullable_without_a_type_and_blank_or_url_is_any_of(schema):
    def offenders(node):
        if isinstance(node, dict):
            bad = [node] if node.get("nullable") and "type" not in node else []
            return bad + [b for v in node.values() for b in offenders(v)]
        if isinstance(node, list):
            return [b for v in node for b in offenders(v)]
        return []

    assert not offenders(schema)
    video_link = schema["components"]["schemas"]["Meeting"]["properties"]["video_link"]
    assert "oneOf" not in video_link and len(video_link["anyOf"]) == 2
    email = schema["components"]["schemas"]["InvitationCreateRequest"]["properties"]["email"]
    assert all("default" not in branch for branch in email["anyOf"])


def test_states_kinds_and_keys_are_typed(schema):
    components = schema["components"]["schemas"]
    consent = components["Consent"]["properties"]
    assert consent["state"]["allOf"][0]["$ref"].endswith("/ConsentStateEnum")
    assert consent["categories"]["items"]["$ref"].endswith("/DataCategoryEnum")
    assert components["Receipt"]["properties"]["kind"]["$ref"].endswith("/ConsentEventKindEnum")
    key = components["ConsentPublicKeys"]["properties"]["keys"]["items"]
    assert set(components[key["$ref"].rsplit("/", 1)[-1]]["required"]) >= {"kty", "crv", "x"}


def test_every_operation_has_a_summary_and_a_security_requirement(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert "security" in operation, (method, path)
    assert schema["paths"]["/api/v1/auth/token/"]["post"]["security"] == []
    ics = schema["paths"]["/api/v1/cases/{case_pk}/meetings/{id}/ics/"]["get"]
    assert "format" not in {parameter["name"] for parameter in ics.get("parameters", [])}


def test_a_family_lookup_answers_the_plain_list_the_schema_says(api, owner, schema):
    lookup = schema["paths"]["/api/v1/families/lookup/"]["post"]["responses"]["200"]
    assert lookup["content"]["application/json"]["schema"]["type"] == "array"
    response = api.as_user(owner).post(
        "/api/v1/families/lookup/", {"identity_code": "131052-308T"}, format="json"
    )
    assert response.status_code == 200 and response.json() == []
