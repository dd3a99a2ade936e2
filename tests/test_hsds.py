"""The catalogue in Open Referral HSDS 3.0 JSON (api/hsds.py): every document the HSDS endpoints
serve validates against the HSDS 3.0 JSON schemas kept in api/hsds_schema/ (draft 2020-12, as the
specification's openapi.json says, with format checking), their $refs resolved from the files,
never over the network."""

import datetime
import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cases.models import Location, Phone, ServiceLanguage
from tests.factories import (
    ContactFactory,
    LocationFactory,
    MunicipalityFactory,
    OrganisationFactory,
    PhoneFactory,
    ScheduleFactory,
    ServiceAtLocationFactory,
    ServiceFactory,
    TaxonomyTermFactory,
    catalogue_entry,
)
from tests.query_counts import REQUEST

pytestmark = pytest.mark.django_db

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "api" / "hsds_schema"
# openapi.json names its schemas by their address on GitHub: those are these files.
PUBLISHED = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
BASE = "/api/v1/hsds"


def _registry() -> Registry:
    resources = []
    for path in [*SCHEMA_DIR.glob("*.json"), *SCHEMA_DIR.glob("compiled/*.json")]:
        if path.name == "openapi.json":
            continue
        relative = path.relative_to(SCHEMA_DIR).as_posix()
        resource = Resource.from_contents(
            json.loads(path.read_text()), default_specification=DRAFT202012
        )
        # The files refer to each other by file name ("organization.json"), relative to the
        # one they are in: registered under a local base, and under their published address.
        resources += [(f"file:///hsds/{relative}", resource), (PUBLISHED + relative, resource)]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def _is_uri(value) -> bool:
    if not isinstance(value, str):
        return True
    try:
        URLValidator(schemes=["http", "https", "mailto", "urn"])(value)
    except DjangoValidationError:
        return bool(urlsplit(value).scheme) and " " not in value
    return True


FORMATS = jsonschema.FormatChecker()
# jsonschema checks "uri" only with a package this project does not install: checked here.
FORMATS.checks("uri")(_is_uri)


def validator(file: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"file:///hsds/{file}"}
    return jsonschema.Draft202012Validator(schema, registry=REGISTRY, format_checker=FORMATS)


def assert_valid(document, file: str):
    errors = sorted(validator(file).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


PAGE_FIELDS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page"}


def assert_page(body, file: str):
    assert PAGE_FIELDS | {"empty", "contents"} <= set(body)
    assert body["size"] == len(body["contents"])
    for item in body["contents"]:
        assert_valid(item, file)


@pytest.fixture
def world(db):
    """A realistic catalogue: one service with every optional part filled, one with none."""
    asikkala = MunicipalityFactory(code="asikkala", name="Asikkala")
    padasjoki = MunicipalityFactory(code="padasjoki", name="Padasjoki")
    parent = TaxonomyTermFactory(code="perhe", name_fi="Perheet", description="Perheille")
    term = TaxonomyTermFactory(
        code="perhetyo",
        name_fi="Perhetyö",
        name_sv="Familjearbete",
        name_en="Family work",
        parent=parent,
        term_uri="https://example.org/taxonomy/perhetyo",
    )
    ngo = OrganisationFactory(
        name="MLL Päijät-Häme",
        kind="ngo",
        url="https://mll.example.org/",
        description="Lapsiperheiden tukea.",
        email="info@mll.example.org",
        phone="+358 3 123 4567",
    )
    full = ServiceFactory(
        organisation=ngo,
        name_fi="Perhekahvila",
        name_sv="Familjecafé",
        name_en="Family café",
        description="Avoin kohtaamispaikka.",
        url="https://mll.example.org/kahvila",
        email="kahvila@mll.example.org",
        eligibility_description="Alle kouluikäisten perheet.",
        application_process="Tule paikalle.",
        fees_description="Maksuton.",
        temporarily_closed=True,
        alert="Suljettu joulun ajan.",
        min_age=0,
        max_age=6,
    )
    full.municipalities.set([asikkala, padasjoki])
    full.taxonomy_terms.set([term, parent])
    ServiceLanguage.objects.create(service=full, language="fi")
    ServiceLanguage.objects.create(service=full, language="sv")
    place = LocationFactory(
        organisation=ngo,
        name_fi="Perhetalo",
        name_en="Family house",
        description="Talo torin laidalla.",
        transportation="Bussi 1.",
        accessibility="Esteetön sisäänkäynti.",
        url="https://mll.example.org/perhetalo",
        address="Keskustie 1",
        postal_code="17200",
        city="Vääksy",
        municipality=asikkala,
        latitude=Decimal("61.172300"),
        longitude=Decimal("25.549800"),
        is_meeting_place=True,
    )
    at = ServiceAtLocationFactory(service=full, location=place, description="Tiistaisin.")
    ScheduleFactory(location=place, byday="MO,TU,WE,TH,FR")
    ScheduleFactory(
        service_at_location=at,
        byday="TU",
        opens_at=datetime.time(9, 30),
        closes_at=datetime.time(11),
        valid_from=datetime.date(2026, 1, 1),
        valid_to=datetime.date(2026, 12, 31),
        description="Perhekahvila",
    )
    ScheduleFactory(service=full, byday="MO", freq="WEEKLY")
    contact = ContactFactory(
        service=full,
        name="Maija Malli",
        title="Perhetyöntekijä",
        department="Perhetyö",
        email="maija@mll.example.org",
    )
    PhoneFactory(contact=contact, number="+358 40 111 2222", type=Phone.Type.CELL)
    PhoneFactory(service=full, number="+358 3 765 4321", extension="12", description="Vaihde")
    PhoneFactory(service=full, number="+358 3 765 4322", extension="x9")
    PhoneFactory(location=place, number="+358 3 765 4323")
    PhoneFactory(organisation=ngo, number="+358 3 765 4324")
    ContactFactory(organisation=ngo, name="Toimisto", email="toimisto@mll.example.org")
    ContactFactory(location=place, title="Talon emäntä")
    LocationFactory(
        organisation=ngo,
        name_fi="Verkossa",
        location_type=Location.LocationType.VIRTUAL,
        url="https://mll.example.org/chat",
    )

    bare_organisation = OrganisationFactory(name="Pieni yhdistys")
    bare = ServiceFactory(organisation=bare_organisation, name_fi="Vertaistuki", name_en="")
    ServiceAtLocationFactory(service=bare, location=LocationFactory(organisation=bare_organisation))
    retired = ServiceFactory(organisation=bare_organisation, name_fi="Lopetettu", is_active=False)
    return {
        "full": full,
        "bare": bare,
        "retired": retired,
        "ngo": ngo,
        "term": term,
        "at": at,
        "asikkala": asikkala,
        "bare_organisation": bare_organisation,
    }


def test_the_root_says_hsds_3_0_and_where_the_schema_is(api):
    response = api.get(f"{BASE}/")

    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "3.0"
    assert body["openapi_url"] == "http://testserver/api/schema/"
    root = json.loads((SCHEMA_DIR / "openapi.json").read_text())["paths"]["/"]
    schema = root["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(body)


def test_every_service_validates_as_a_list_item_and_as_a_whole_service(api, world):
    page = api.get(f"{BASE}/services").json()
    assert_page(page, "compiled/service_list.json")
    assert page["total_items"] == 2  # the retired one is not in the catalogue
    full_page = api.get(f"{BASE}/services", {"full": "true"}).json()
    assert_page(full_page, "compiled/service.json")
    assert_page(full_page, "service.json")

    for service in (world["full"], world["bare"]):
        response = api.get(f"{BASE}/services/{service.pk}")
        assert response.status_code == 200
        assert_valid(response.json(), "compiled/service.json")
        assert_valid(response.json(), "service.json")


def test_a_service_with_every_part_shows_every_part(api, world):
    body = api.get(f"{BASE}/services/{world['full'].pk}").json()

    assert body["status"] == "temporarily closed"
    assert body["alert"] == "Suljettu joulun ajan."
    assert body["organization"]["website"] == "https://mll.example.org/"
    [at] = body["service_at_locations"]
    location = at["location"]
    assert location["latitude"] == pytest.approx(61.1723)
    assert location["addresses"][0]["address_1"] == "Keskustie 1"
    assert location["addresses"][0]["country"] == "FI"
    assert location["schedules"][0]["byday"] == "MO,TU,WE,TH,FR"
    assert at["schedules"][0]["opens_at"] == "09:30"
    assert location["phones"][0]["number"] == "+358 3 765 4323"
    assert {language["code"] for language in body["languages"]} == {"fi", "sv"}
    assert {area["name"] for area in body["service_areas"]} == {"Asikkala", "Padasjoki"}
    terms = {attribute["taxonomy_term"]["code"] for attribute in body["attributes"]}
    assert terms == {"perhe", "perhetyo"}
    assert body["contacts"][0]["phones"][0]["type"] == "cell"
    extensions = {phone.get("extension") for phone in body["phones"]}
    assert 12 in extensions  # a plain number as HSDS types it; "x9" goes in the description


def test_a_service_with_no_optional_part_is_still_a_valid_service(api, world):
    body = api.get(f"{BASE}/services/{world['bare'].pk}").json()

    assert body["status"] == "active"
    assert body["phones"] == body["contacts"] == body["attributes"] == []
    assert "url" not in body and "email" not in body  # left out, not null
    assert body["service_at_locations"][0]["location"]["addresses"] == []


def test_a_service_out_of_the_catalogue_or_unknown_is_404(api, world):
    assert api.get(f"{BASE}/services/{world['retired'].pk}").status_code == 404
    assert api.get(f"{BASE}/services/00000000-0000-4000-8000-000000000000").status_code == 404


def test_every_organization_validates(api, world):
    page = api.get(f"{BASE}/organizations").json()
    assert_page(page, "compiled/organization_list.json")
    assert page["total_items"] == 2

    for organisation in (world["ngo"], world["bare_organisation"]):
        body = api.get(f"{BASE}/organizations/{organisation.pk}").json()
        assert_valid(body, "compiled/organization.json")
        assert_valid(body, "organization.json")
    body = api.get(f"{BASE}/organizations/{world['ngo'].pk}").json()
    assert {location["location_type"] for location in body["locations"]} == {"physical", "virtual"}
    assert [service["name"] for service in body["services"]] == ["Perhekahvila"]


def test_taxonomies_and_their_terms_validate(api, world):
    taxonomies = api.get(f"{BASE}/taxonomies").json()
    assert_page(taxonomies, "taxonomy.json")
    [taxonomy] = taxonomies["contents"]
    assert_valid(api.get(f"{BASE}/taxonomies/{taxonomy['id']}").json(), "taxonomy.json")

    terms = api.get(f"{BASE}/taxonomy_terms").json()
    assert_page(terms, "taxonomy_term.json")
    assert terms["total_items"] == 2
    one = api.get(f"{BASE}/taxonomy_terms/{world['term'].pk}").json()
    assert_valid(one, "taxonomy_term.json")
    assert one["parent_id"] and one["taxonomy_id"] == taxonomy["id"]
    top = api.get(f"{BASE}/taxonomy_terms", {"top_only": "true"}).json()
    assert [term["code"] for term in top["contents"]] == ["perhe"]


def test_services_at_locations_validate(api, world):
    page = api.get(f"{BASE}/service_at_locations").json()
    assert_page(page, "compiled/service_at_location_list.json")
    assert page["total_items"] == 2

    body = api.get(f"{BASE}/service_at_locations/{world['at'].pk}").json()
    assert_valid(body, "compiled/service_at_location.json")
    assert_valid(body, "service_at_location.json")
    assert body["service"]["name"] == "Perhekahvila"


def test_the_envelope_pages_as_hsds_says(api, world):
    ServiceFactory.create_batch(3)

    first = api.get(f"{BASE}/services", {"per_page": 2}).json()
    last = api.get(f"{BASE}/services", {"per_page": 2, "page": 3}).json()
    nothing = api.get(f"{BASE}/services", {"search": "no-such-service"}).json()

    assert (first["total_items"], first["total_pages"], first["page_number"]) == (5, 3, 1)
    assert first["first_page"] and not first["last_page"] and not first["empty"]
    assert (last["size"], last["last_page"], last["first_page"]) == (1, True, False)
    assert nothing["empty"] and nothing["total_items"] == 0 and nothing["contents"] == []
    assert api.get(f"{BASE}/services", {"per_page": 0}).status_code == 400


def test_the_filters_find_by_code_or_id_and_refuse_what_is_neither(api, world):
    def names(**query):
        response = api.get(f"{BASE}/services", query)
        assert response.status_code == 200, response.json()
        return {service["name"] for service in response.json()["contents"]}

    assert names(municipality="asikkala") == {"Perhekahvila"}
    assert names(municipality=str(world["asikkala"].pk)) == {"Perhekahvila"}
    assert names(municipality="Asikkala") == {"Perhekahvila"}
    assert names(taxonomy_term_id="perhetyo") == {"Perhekahvila"}
    assert names(taxonomy_term_id=str(world["term"].pk)) == {"Perhekahvila"}
    assert names(organization_id=str(world["bare_organisation"].pk)) == {"Vertaistuki"}
    assert names(age=8) == {"Vertaistuki"}
    assert names(search="kohtaamispaikka") == {"Perhekahvila"}
    taxonomy = api.get(f"{BASE}/taxonomies").json()["contents"][0]["id"]
    assert names(taxonomy_id=taxonomy) == {"Perhekahvila"}
    assert names(municipality="no-such-place") == set()
    response = api.get(f"{BASE}/services", {"municipality": "Ä ä!"})
    assert response.status_code == 400
    assert "asikkala" in response.json()["municipality"][0]  # says what a code looks like


def test_hsds_is_public_and_logs_nothing(api, world, owner):
    from audit.models import AccessEvent

    before = AccessEvent.objects.count()
    assert api.get(f"{BASE}/services/{world['full'].pk}").status_code == 200
    assert api.as_user(owner).get(f"{BASE}/services").status_code == 200
    assert api.post(f"{BASE}/services", {}).status_code == 405
    assert AccessEvent.objects.count() == before


def test_the_lists_take_a_constant_number_of_queries(api, world, django_assert_num_queries):
    for _ in range(3):
        catalogue_entry(organisation=world["ngo"])
    # 1. count  2. the page, organisations joined  3. municipalities  4. languages  5. terms
    # 6. services at locations, locations joined  7. their opening hours  8. the locations'
    # opening hours  9. the locations' phones  10. the services' opening hours  11. contacts
    # 12. their phones  13. the services' phones
    with django_assert_num_queries(13 + REQUEST):
        assert api.get(f"{BASE}/services", {"full": "true"}).status_code == 200
    # 1. count  2. the page  (then: 3. schedules  4. location schedules  5. location phones)
    with django_assert_num_queries(5 + REQUEST):
        assert api.get(f"{BASE}/service_at_locations").status_code == 200
    with django_assert_num_queries(2 + REQUEST):
        assert api.get(f"{BASE}/organizations").status_code == 200
    TaxonomyTermFactory.create_batch(3, parent=world["term"])
    # 1. count  2. the page (a term's taxonomy is named in its row)
    with django_assert_num_queries(2 + REQUEST):
        assert api.get(f"{BASE}/taxonomy_terms").json()["total_items"] == 8
    # 1. count  2. the page (one-to-one fields only)
    with django_assert_num_queries(2 + REQUEST):
        assert api.get(f"{BASE}/services").json()["total_items"] == 5


def test_the_schemas_refuse_what_hsds_does_not_allow(api, world):
    # The check can fail: a document the schemas must refuse is refused, through the $refs.
    body = api.get(f"{BASE}/services/{world['full'].pk}").json()
    without_status = {key: value for key, value in body.items() if key != "status"}
    bad_location = json.loads(json.dumps(body))
    bad_location["service_at_locations"][0]["location"]["latitude"] = "north"
    bad_email = {**body, "email": "not an address"}
    bad_uri = {**body, "organization": {**body["organization"], "website": "not a uri"}}

    for document in (without_status, bad_location, bad_email, bad_uri):
        assert list(validator("compiled/service.json").iter_errors(document))
        assert list(validator("service.json").iter_errors(document))
