"""Organisations keep their own catalogue entries (issue 17): a worker whose membership is in
force creates and edits their organisation's services, locations, services at locations,
opening hours, contacts, phones and activities at /api/v1/catalogue/…, never another
organisation's; coordinators keep everything, and only they keep the taxonomy. And the public
catalogue's filters take codes as well as ids."""

import datetime

import pytest
from django.utils import timezone

from cases.models import OrganisationMembership, Schedule, Service
from tests.factories import (
    ActivityFactory,
    ContactFactory,
    LocationFactory,
    MembershipFactory,
    MunicipalityFactory,
    OrganisationFactory,
    PhoneFactory,
    ScheduleFactory,
    ServiceFactory,
    TaxonomyTermFactory,
    UserFactory,
    WorkerFactory,
    catalogue_entry,
)
from tests.query_counts import REQUEST

pytestmark = pytest.mark.django_db

C = "/api/v1/catalogue"


@pytest.fixture
def ngo(db):
    return OrganisationFactory(code="mll", name="MLL", kind="ngo")


@pytest.fixture
def other(db):
    return OrganisationFactory(code="parish", name="Seurakunta", kind="parish")


@pytest.fixture
def jenni(ngo):
    return WorkerFactory(username="jenni", membership__organisation=ngo)


@pytest.fixture
def kaisa(db):
    coordinator = UserFactory(username="kaisa")
    MembershipFactory(
        user=coordinator,
        organisation=OrganisationFactory(),
        role=OrganisationMembership.Role.COORDINATOR,
    )
    return coordinator


@pytest.fixture
def own(ngo):
    return ServiceFactory(organisation=ngo, name_fi="Perhekahvila")


@pytest.fixture
def theirs(other):
    return ServiceFactory(organisation=other, name_fi="Perhekerho")


def test_an_ngo_worker_edits_its_own_service_and_not_another_organisations(api, jenni, own, theirs):
    client = api.as_user(jenni)
    term = TaxonomyTermFactory()

    response = client.patch(
        f"{C}/services/{own.pk}/",
        {
            "url": "https://mll.example.org/kahvila",
            "eligibility_description": "Alle kouluikäisten perheet.",
            "temporarily_closed": True,
            "alert": "Kiinni joulun ajan.",
            "taxonomy_terms": [str(term.pk)],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    own.refresh_from_db()
    assert own.url == "https://mll.example.org/kahvila" and own.temporarily_closed
    assert list(own.taxonomy_terms.all()) == [term]
    public = api.get(f"/api/v1/services/{own.pk}/").json()
    assert public["status"] == "temporarily closed" and public["taxonomy_terms"][0]["id"]
    # Another organisation's service, which the public catalogue shows: 403.
    assert client.patch(f"{C}/services/{theirs.pk}/", {"name_fi": "x"}).status_code == 403
    assert client.get(f"{C}/services/{theirs.pk}/").status_code == 403
    # Nor can she move her own service to another organisation.
    moved = client.patch(f"{C}/services/{own.pk}/", {"organisation": str(theirs.organisation_id)})
    assert moved.status_code == 403
    theirs.refresh_from_db()
    own.refresh_from_db()
    assert theirs.name_fi == "Perhekerho" and own.organisation.code == "mll"


def test_a_service_taken_out_of_another_organisations_catalogue_is_404(api, jenni, other):
    retired = ServiceFactory(organisation=other, is_active=False)

    assert api.as_user(jenni).get(f"{C}/services/{retired.pk}/").status_code == 404
    assert api.as_user(jenni).get(f"{C}/services/{other.pk}/").status_code == 404


def test_the_lists_show_only_what_the_worker_keeps_and_the_coordinator_everything(
    api, jenni, kaisa, own, theirs
):
    mine = api.as_user(jenni).get(f"{C}/services/").json()
    everything = api.as_user(kaisa).get(f"{C}/services/").json()

    assert [row["id"] for row in mine["results"]] == [str(own.pk)]
    assert {row["id"] for row in everything["results"]} == {str(own.pk), str(theirs.pk)}


def test_a_worker_keeps_every_part_of_their_organisations_entries(api, jenni, ngo, own, other):
    client = api.as_user(jenni)

    def post(path, body):
        response = client.post(f"{C}/{path}/", body, format="json")
        assert response.status_code == 201, (path, response.json())
        return response.json()["id"]

    location = post(
        "locations",
        {
            "organisation": str(ngo.pk),
            "name_fi": "Perhetalo",
            "address": "Keskustie 1",
            "postal_code": "17200",
            "city": "Vääksy",
            "latitude": "61.172300",
            "longitude": "25.549800",
        },
    )
    at = post("services-at-locations", {"service": str(own.pk), "location": location})
    post(
        "schedules",
        {"location": location, "byday": "MO,TU", "opens_at": "08:00", "closes_at": "16:00"},
    )
    schedule = post(
        "schedules",
        {"service_at_location": at, "byday": "TU", "opens_at": "09:30", "closes_at": "11:00"},
    )
    contact = post(
        "contacts", {"service": str(own.pk), "name": "Maija", "email": "maija@mll.example.org"}
    )
    post("phones", {"contact": contact, "number": "+358 40 111 2222", "type": "cell"})
    post("phones", {"location": location, "number": "+358 3 123 4567"})
    starts = timezone.now() + datetime.timedelta(days=3)
    activity = post(
        "activities",
        {
            "organisation": str(ngo.pk),
            "location": location,
            "service": str(own.pk),
            "kind": "family_cafe",
            "name_fi": "Perhekahvila",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + datetime.timedelta(hours=2)).isoformat(),
            "max_age": 6,
        },
    )

    assert client.patch(f"{C}/schedules/{schedule}/", {"closes_at": "12:00"}).status_code == 200
    assert client.patch(f"{C}/activities/{activity}/", {"is_cancelled": True}).status_code == 200
    assert client.delete(f"{C}/schedules/{schedule}/").status_code == 204
    assert not Schedule.objects.filter(pk=schedule).exists()
    body = api.get(f"/api/v1/services/{own.pk}/").json()
    [place] = body["locations"]
    assert place["location"]["address"] == "Keskustie 1"
    assert place["location"]["schedules"][0]["byday"] == "MO,TU"
    assert body["contacts"][0]["phones"][0]["number"] == "+358 40 111 2222"
    # Another organisation's entries, old and new: refused.
    their_location = LocationFactory(organisation=other)
    refused = [
        client.post(f"{C}/locations/", {"organisation": str(other.pk), "name_fi": "x"}),
        client.post(f"{C}/schedules/", {"location": str(their_location.pk), "byday": "MO"}),
        client.post(
            f"{C}/services-at-locations/",
            {"service": str(own.pk), "location": str(their_location.pk)},
        ),
        client.patch(f"{C}/locations/{their_location.pk}/", {"name_fi": "x"}),
        client.delete(f"{C}/phones/{PhoneFactory(location=their_location).pk}/"),
        client.patch(f"{C}/contacts/{ContactFactory(organisation=other).pk}/", {"name": "x"}),
        client.patch(f"{C}/activities/{ActivityFactory(organisation=other).pk}/", {"name_fi": "x"}),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)


def test_a_service_may_be_given_at_the_family_centres_meeting_place(api, jenni, own, other):
    meeting_place = LocationFactory(organisation=other, is_meeting_place=True)

    response = api.as_user(jenni).post(
        f"{C}/services-at-locations/",
        {"service": str(own.pk), "location": str(meeting_place.pk)},
        format="json",
    )

    assert response.status_code == 201, response.json()
    # But its opening hours there are the NGO's to keep, the place's the parish's.
    at = response.json()["id"]
    assert (
        api.as_user(jenni)
        .post(f"{C}/schedules/", {"service_at_location": at, "byday": "WE"})
        .status_code
        == 201
    )
    assert (
        api.as_user(jenni)
        .post(f"{C}/schedules/", {"location": str(meeting_place.pk), "byday": "WE"})
        .status_code
        == 403
    )


def test_only_coordinators_keep_the_taxonomy(api, jenni, kaisa):
    term = TaxonomyTermFactory()
    body = {"code": "perhetyo", "name_fi": "Perhetyö"}

    assert api.as_user(jenni).get(f"{C}/taxonomy-terms/").status_code == 200
    assert api.as_user(jenni).post(f"{C}/taxonomy-terms/", body).status_code == 403
    assert (
        api.as_user(jenni).patch(f"{C}/taxonomy-terms/{term.pk}/", {"name_fi": "x"}).status_code
        == 403
    )
    assert api.as_user(kaisa).post(f"{C}/taxonomy-terms/", body).status_code == 201
    assert (
        api.as_user(kaisa).patch(f"{C}/taxonomy-terms/{term.pk}/", {"name_fi": "Uusi"}).status_code
        == 200
    )


def test_the_coordinator_keeps_every_organisations_entries(api, kaisa, theirs):
    location = LocationFactory(organisation=theirs.organisation)
    client = api.as_user(kaisa)

    assert (
        client.patch(f"{C}/services/{theirs.pk}/", {"fees_description": "Maksuton."}).status_code
        == 200
    )
    assert client.patch(f"{C}/locations/{location.pk}/", {"is_active": False}).status_code == 200
    # The coordinators' catalogue route keeps the new fields as well.
    response = client.patch(
        f"/api/v1/coordination/services/{theirs.pk}/", {"email": "kerho@example.org"}
    )
    assert response.status_code == 200 and response.json()["email"] == "kerho@example.org"


def test_who_keeps_nothing_is_refused_and_whose_membership_ended_at_once(api, jenni, own):
    guardian = UserFactory()
    auditor = WorkerFactory(membership__role=OrganisationMembership.Role.AUDITOR)

    assert api.get(f"{C}/services/").status_code == 401
    assert api.as_user(guardian).get(f"{C}/services/").status_code == 403
    assert api.as_user(auditor).get(f"{C}/locations/").status_code == 403
    client = api.as_user(jenni)
    assert client.get(f"{C}/services/{own.pk}/").status_code == 200
    jenni.memberships.update(ended_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get(f"{C}/services/").status_code == 403
    assert client.patch(f"{C}/services/{own.pk}/", {"name_fi": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("schedules", {"byday": "MO", "opens_at": "16:00", "closes_at": "08:00"}, "closes_at"),
        ("schedules", {"byday": "MO", "opens_at": "08:00", "closes_at": "08:00"}, "closes_at"),
        ("schedules", {"byday": "MONDAY"}, "byday"),
        ("schedules", {"byday": "MO,XX"}, "byday"),
        (
            "schedules",
            {"byday": "MO", "valid_from": "2026-02-01", "valid_to": "2026-01-01"},
            "valid_to",
        ),
        ("locations", {"name_fi": "x", "latitude": "91"}, "latitude"),
        ("locations", {"name_fi": "x", "longitude": "-180.5"}, "longitude"),
        ("locations", {"name_fi": "x", "colour": "red"}, "colour"),
        ("services", {"name_fi": "x", "category": "health", "min_age": 9, "max_age": 3}, "max_age"),
        ("phones", {"number": "call me"}, "number"),
    ],
)
def test_bad_input_is_refused_with_a_message(api, jenni, ngo, own, path, body, field):
    owner = {"schedules": {"service": str(own.pk)}, "phones": {"service": str(own.pk)}}.get(
        path, {"organisation": str(ngo.pk)}
    )

    response = api.as_user(jenni).post(f"{C}/{path}/", {**owner, **body}, format="json")

    assert response.status_code == 400
    assert response.json()[field][0]


def test_an_entry_with_two_owners_or_none_is_refused(api, jenni, own, ngo):
    client = api.as_user(jenni)
    two = client.post(
        f"{C}/phones/", {"service": str(own.pk), "organisation": str(ngo.pk), "number": "+358 1 2"}
    )
    none = client.post(f"{C}/contacts/", {"name": "x"})
    schedule = ScheduleFactory(service=own)
    moved = client.patch(
        f"{C}/schedules/{schedule.pk}/", {"location": str(LocationFactory(organisation=ngo).pk)}
    )

    assert two.status_code == none.status_code == moved.status_code == 400
    assert "organisation, service, location, contact" in two.json()["non_field_errors"][0]


def test_the_keepers_lists_take_a_constant_number_of_queries(
    api, jenni, ngo, django_assert_num_queries
):
    client = api.as_user(jenni)

    def fill():
        service = catalogue_entry(organisation=ngo)
        ActivityFactory(organisation=ngo, service=service)
        ContactFactory(organisation=ngo)

    fill()
    # 1. token and user  2. is she a coordinator  3. her organisations (may she keep any)
    # 4. a coordinator?  5. her organisations (the list's filter)  6. count  7. the page
    lists = ["locations", "services-at-locations", "schedules", "contacts", "phones", "activities"]
    counts = {}
    for name in lists:
        with django_assert_num_queries(7 + REQUEST) as context:
            assert client.get(f"{C}/{name}/").status_code == 200
        counts[name] = len(context)
    # Services: 8. their municipalities  9. languages  10. taxonomy terms
    with django_assert_num_queries(10 + REQUEST):
        assert client.get(f"{C}/services/").status_code == 200
    # Terms: 1. token and user  2. coordinator?  3. her organisations  4. count  5. the page
    with django_assert_num_queries(5 + REQUEST):
        assert client.get(f"{C}/taxonomy-terms/").status_code == 200
    fill()
    fill()
    for name in lists:
        with django_assert_num_queries(counts[name]):
            assert client.get(f"{C}/{name}/").json()["count"] >= 3
    with django_assert_num_queries(10 + REQUEST):
        assert client.get(f"{C}/services/").json()["count"] == 3


# --- The public catalogue's filters: codes as well as ids ------------------------------------


def test_the_services_filter_by_municipality_code_or_id(api):
    asikkala = MunicipalityFactory(code="asikkala", name="Asikkala")
    here = ServiceFactory(name_fi="Täällä")
    here.municipalities.add(asikkala)
    ServiceFactory(name_fi="Muualla").municipalities.add(MunicipalityFactory())

    by_code = api.get("/api/v1/services/?municipality=asikkala")
    by_id = api.get(f"/api/v1/services/?municipality={asikkala.pk}")
    by_name = api.get("/api/v1/services/?municipality=Asikkala")
    bad = api.get("/api/v1/services/?municipality=Asikkala!")

    assert by_code.status_code == 200
    assert [row["name_fi"] for row in by_code.json()["results"]] == ["Täällä"]
    assert by_id.json()["results"] == by_code.json()["results"] == by_name.json()["results"]
    assert bad.status_code == 400
    assert "asikkala" in bad.json()["municipality"][0]
    assert "UUID" not in bad.json()["municipality"][0]


def test_the_other_catalogue_filters_take_codes_too(api, jenni, ngo, own):
    municipality = MunicipalityFactory(code="padasjoki")
    own.municipalities.add(municipality)
    area = municipality.areas.create(code="pohjoinen", name="Pohjoinen")
    ngo.municipality = municipality
    ngo.area = area
    ngo.save()

    assert api.get("/api/v1/services/?organisation=mll").json()["count"] == 1
    assert api.get("/api/v1/services/?area=pohjoinen").json()["count"] == 1
    assert api.get("/api/v1/services/?area=etela").json()["count"] == 0
    client = api.as_user(jenni)
    assert client.get("/api/v1/organisations/?municipality=padasjoki").json()["count"] == 1
    assert client.get("/api/v1/organisations/?area=pohjoinen").json()["count"] == 1
    assert client.get("/api/v1/organisations/?area=!").status_code == 400
    assert Service.objects.count() == 1
