"""The case and family API: who sees what, what a worker can do, and how many queries it costs."""

import uuid

import pytest
from django.core.management import call_command

from cases import services
from cases.models import Case, Family
from tests.factories import MembershipFactory, MunicipalityFactory, UserFactory
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db


def case_url(case, suffix=""):
    return f"/api/v1/cases/{case.pk}/{suffix}"


def test_it_requires_authentication_for_cases(api, family_case):
    response = api.get("/api/v1/cases/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_it_lists_the_responsible_workers_case(api, owner, family_case):
    response = api.as_user(owner).get("/api/v1/cases/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == str(family_case.pk)
    assert row["family"]["name"] == "Virtanen"
    assert row["responsible_worker"]["id"] == str(owner.pk)
    assert row["status"] == "open"


def test_it_hides_the_case_from_an_outsider(api, outsider, family_case):
    client = api.as_user(outsider)
    assert client.get("/api/v1/cases/").json()["count"] == 0
    response = client.get(case_url(family_case))
    assert response.status_code == 404
    assert "Virtanen" not in response.content.decode()


def test_it_answers_404_to_an_outsider_for_every_case_action(api, outsider, family_case):
    client = api.as_user(outsider)
    assert client.patch(case_url(family_case), {"opening_reason": "x"}).status_code == 404
    assert client.post(case_url(family_case, "close/"), {"reason": "x"}).status_code == 404
    assert client.get(case_url(family_case, "handovers/")).status_code == 404
    assert client.get(f"/api/v1/families/{family_case.family_id}/").status_code == 404
    assert (
        client.patch(f"/api/v1/families/{family_case.family_id}/", {"name": "X"}).status_code == 404
    )
    family_case.refresh_from_db()
    assert family_case.status == "open"


def test_it_answers_404_for_unknown_and_malformed_ids(api, owner):
    client = api.as_user(owner)
    assert client.get(f"/api/v1/cases/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/cases/123/").status_code == 404
    assert client.get("/api/v1/cases/not-a-uuid/").status_code == 404


def test_a_worker_registers_a_family_and_becomes_responsible(api, owner, municipality):
    response = api.as_user(owner).post(
        "/api/v1/families/",
        {
            "name": "Korhonen",
            "municipality": str(municipality.pk),
            "members": [{"role": "guardian", "first_name": "Pekka", "last_name": "Korhonen"}],
            "opening_reason": "Asked for help with a child's sleep",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    family = Family.objects.get(pk=response.json()["id"])
    case = family.cases.get()
    assert case.responsible_worker == owner
    assert case.status == "open"
    assert response.json()["members"][0]["first_name"] == "Pekka"


def test_a_user_who_is_not_a_worker_cannot_register_a_family(api, municipality):
    guardian = UserFactory()
    response = api.as_user(guardian).post(
        "/api/v1/families/", {"name": "X", "municipality": str(municipality.pk)}, format="json"
    )
    assert response.status_code == 403
    assert Family.objects.count() == 0


def test_bad_family_input_is_a_400_and_writes_nothing(api, owner):
    response = api.as_user(owner).post(
        "/api/v1/families/",
        {"name": "", "municipality": str(uuid.uuid4()), "members": [{"role": "king"}]},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert {"name", "municipality", "members"} <= body.keys()
    assert Family.objects.count() == 0 and Case.objects.count() == 0


def test_a_worker_of_several_organisations_must_choose_one(api, owner, municipality):
    MembershipFactory(user=owner)
    response = api.as_user(owner).post(
        "/api/v1/families/", {"name": "X", "municipality": str(municipality.pk)}, format="json"
    )
    assert response.status_code == 400
    assert "organisation" in response.json()
    assert Family.objects.count() == 0


def test_the_responsible_worker_updates_the_family_and_case(api, owner, family_case):
    client = api.as_user(owner)
    response = client.patch(
        f"/api/v1/families/{family_case.family_id}/", {"joint_custody": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["joint_custody"] is True
    response = client.patch(case_url(family_case), {"opening_reason": "School absences"})
    assert response.status_code == 200
    assert response.json()["opening_reason"] == "School absences"


def test_closing_needs_a_reason_and_ends_change_rights(api, owner, family_case):
    client = api.as_user(owner)
    response = client.post(case_url(family_case, "close/"), {"reason": ""})
    assert response.status_code == 400
    assert "reason" in response.json()

    response = client.post(case_url(family_case, "close/"), {"reason": "Family's goals met"})
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closing_reason"] == "Family's goals met"
    # The record stays readable to the former responsible worker, but no longer changeable.
    assert client.get(case_url(family_case)).status_code == 200
    assert client.patch(case_url(family_case), {"opening_reason": "x"}).status_code == 403


def test_a_closed_family_can_get_a_new_case_but_never_two_open(api, owner, family_case):
    client = api.as_user(owner)
    response = client.post("/api/v1/cases/", {"family": str(family_case.family_id)})
    assert response.status_code == 400
    assert "family" in response.json()

    services.case_close(actor=owner, case=family_case, reason="Moved away")
    response = client.post("/api/v1/cases/", {"family": str(family_case.family_id)})
    assert response.status_code == 201
    assert response.json()["responsible_worker"]["id"] == str(owner.pk)


def test_a_worker_cannot_open_a_case_for_a_family_they_cannot_see(
    api, outsider, owner, family_case
):
    services.case_close(actor=owner, case=family_case, reason="Done")
    response = api.as_user(outsider).post("/api/v1/cases/", {"family": str(family_case.family_id)})
    assert response.status_code == 400
    assert Case.objects.count() == 1


def test_case_list_query_count_is_constant(api, owner, municipality, django_assert_num_queries):
    def make_families(n):
        for i in range(n):
            services.family_create(actor=owner, name=f"Family {i}", municipality=municipality)

    client = api.as_user(owner)
    make_families(2)
    # 1 token + user, 2 page count, 3 page of cases with family, municipality, worker,
    # organisation, 4 the policy's facts for the page (memberships, guardians, handovers,
    # posts: one union)
    with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/cases/").json()["count"] == 2
    make_families(30)
    with django_assert_num_queries(4 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/cases/?page_size=100").json()["count"] == 32


def test_family_list_query_count_is_constant(api, owner, municipality, django_assert_num_queries):
    client = api.as_user(owner)
    for i in range(2):
        services.family_create(
            actor=owner,
            name=f"Family {i}",
            municipality=municipality,
            members=[{"role": "child", "first_name": "A", "last_name": "B"}],
        )
    # 1 token + user, 2 count, 3 families with municipality and organisation, 4 their members,
    # 5 their cases visible to the user, 6 the policy's facts (one union)
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/families/").json()["count"] == 2
    for i in range(20):
        services.family_create(actor=owner, name=f"More {i}", municipality=municipality)
    with django_assert_num_queries(6 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/families/?page_size=100").json()["count"] == 22


def test_lists_take_a_page_size_up_to_their_maximum(api, owner, municipality):
    for i in range(3):
        services.family_create(actor=owner, name=f"F{i}", municipality=municipality)
    body = api.as_user(owner).get("/api/v1/cases/?page_size=1").json()
    assert len(body["results"]) == 1 and body["next"]
    # Issue 8: a huge page size is refused with a message, not silently capped.
    response = api.get("/api/v1/services/?page_size=100000")
    assert response.status_code == 400 and response.json()["page_size"]


def test_cases_filter_by_status(api, owner, municipality):
    first = services.family_create(actor=owner, name="A", municipality=municipality)
    services.family_create(actor=owner, name="B", municipality=municipality)
    services.case_close(actor=owner, case=first.cases.get(), reason="Done")
    client = api.as_user(owner)
    assert client.get("/api/v1/cases/?status=closed").json()["count"] == 1
    assert client.get("/api/v1/cases/?status=open").json()["count"] == 1
    assert client.get("/api/v1/cases/?status=bogus").status_code == 400


def test_me_tells_the_worker_their_organisations(api, owner, organisation):
    body = api.as_user(owner).get("/api/v1/me/").json()
    assert body["username"] == "owner"
    assert body["memberships"] == [
        {
            "organisation": {"id": str(organisation.pk), "name": organisation.name},
            "role": "worker",
            "title": "Social worker",
        }
    ]


def test_token_endpoint_gives_a_working_token(api, owner):
    response = api.post(
        "/api/v1/auth/token/", {"username": "owner", "password": "test-pass-2026"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/me/").json()["username"] == "owner"


def test_token_endpoint_refuses_a_wrong_password(api, owner):
    response = api.post(
        "/api/v1/auth/token/", {"username": "owner", "password": "wrong"}, format="json"
    )
    assert response.status_code in (400, 401)
    assert "token" not in response.json()
    assert response.json()["detail"]


def test_services_are_public_and_filterable(api, db):
    from tests.factories import ServiceFactory

    asikkala, hollola = MunicipalityFactory(name="Asikkala"), MunicipalityFactory(name="Hollola")
    clinic = ServiceFactory(name_fi="Lastenneuvola", category="health", min_age=0, max_age=6)
    clinic.municipalities.add(asikkala)
    club = ServiceFactory(
        name_fi="Nuorisotalo", category="youth", min_age=10, max_age=17, low_threshold=True
    )
    club.municipalities.add(hollola)

    def names(query):
        response = api.get(f"/api/v1/services/{query}")
        assert response.status_code == 200
        return {row["name_fi"] for row in response.json()["results"]}

    assert names("") == {"Lastenneuvola", "Nuorisotalo"}
    assert names(f"?municipality={asikkala.pk}") == {"Lastenneuvola"}
    assert names("?category=youth") == {"Nuorisotalo"}
    assert names("?age=4") == {"Lastenneuvola"}
    assert names("?age=12&low_threshold=true") == {"Nuorisotalo"}
    assert names("?q=neuvola") == {"Lastenneuvola"}
    assert api.post("/api/v1/services/", {}).status_code in (401, 403, 405)


def test_service_list_query_count_is_constant(api, db, django_assert_num_queries):

    from tests.factories import catalogue_entry

    municipality = MunicipalityFactory()
    for _ in range(2):
        catalogue_entry().municipalities.add(municipality)
    # 1 count, 2 services with organisation, 3 their municipalities, 4 their languages,
    # 5 taxonomy terms, 6 services at locations with the locations, 7 opening hours there,
    # 8 the locations' opening hours, 9 the locations' phones, 10 the services' opening hours,
    # 11 contacts, 12 their phones, 13 the services' phones
    with django_assert_num_queries(13 + REQUEST):
        api.get("/api/v1/services/")
    for _ in range(15):
        catalogue_entry().municipalities.add(municipality)
    with django_assert_num_queries(13 + REQUEST):
        assert api.get("/api/v1/services/").json()["count"] == 17


def test_organisations_need_a_signed_in_user(api, owner, organisation):
    assert api.get("/api/v1/organisations/").status_code == 401
    body = api.as_user(owner).get("/api/v1/organisations/").json()
    assert [row["name"] for row in body["results"]] == [organisation.name]


def test_healthz_answers_when_the_database_does(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ["/api/v1/cases/", "/api/v1/cases/{case_pk}/handovers/{id}/accept/", "/api/v1/me/"]:
        assert f"  {path}:" in text


def test_the_schema_and_docs_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
