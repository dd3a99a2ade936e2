"""The admin: coordinators keep areas, organisations, services and accounts; nobody else gets in."""

from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client

from cases.models import Area, Case, Family, FamilyMember, Handover, Organisation, Service, User
from tests.query_counts import REQUEST

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


@pytest.fixture
def kaisa(seeded):
    return signed_in("kaisa.koordinaattori")


@pytest.fixture
def ulla(seeded):
    return signed_in("ulla.ulkopuolinen")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@demo.koordinointi.example", "x-pass-2026")


def add_area_form(**data):
    return dict(data)


def test_it_lets_the_coordinator_open_the_organisation_and_service_lists(kaisa):
    response = kaisa.get("/admin/cases/organisation/")
    assert response.status_code == 200
    assert "Asikkalan kunta, perusopetus" in response.content.decode()

    response = kaisa.get("/admin/cases/service/")
    assert response.status_code == 200
    assert "Lastenneuvola" in response.content.decode()


def test_it_lists_services_without_a_query_per_row(kaisa, django_assert_num_queries):
    # 1. session  2. user  3. user permissions  4. group permissions  5. is she a coordinator
    # (keeps every organisation's entries)  6. and so keeps the taxonomy (issue 17)
    # 7. organisations for the list filter  8. municipalities for the list filter  9. count of
    # matches  10. count of all  11. the page, with each service's organisation joined in
    with django_assert_num_queries(11 + REQUEST):
        response = kaisa.get("/admin/cases/service/")
    assert response.status_code == 200
    assert response.content.decode().count('class="field-name_fi"') == Service.objects.count()


def test_it_filters_and_searches_services(kaisa):
    response = kaisa.get("/admin/cases/service/", {"q": "neuvola", "low_threshold__exact": "1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Lastenneuvola" in body
    assert "Perheneuvola" in body
    assert "Nuorisopsykiatrian poliklinikka" not in body

    response = kaisa.get("/admin/cases/service/", {"category__exact": "financial"})
    assert "Lapsiperheiden etuudet" in response.content.decode()
    assert "Lastenneuvola" not in response.content.decode()


def test_it_shows_an_organisation_with_its_members(kaisa):
    organisation = Organisation.objects.get(code="phhva-perhesosiaalityo")
    response = kaisa.get(f"/admin/cases/organisation/{organisation.pk}/change/")
    assert response.status_code == 200
    assert "tiina.vastuu" in response.content.decode()


def test_it_shows_a_service_with_its_municipalities_to_choose_from(kaisa):
    service = Service.objects.get(name_fi="Perusopetus", organisation__code="asikkala-perusopetus")
    response = kaisa.get(f"/admin/cases/service/{service.pk}/change/")
    assert response.status_code == 200
    assert "selectfilter" in response.content.decode()  # filter_horizontal's widget


def test_it_lets_the_coordinator_add_an_area(kaisa):
    assert kaisa.get("/admin/cases/area/add/").status_code == 200

    response = kaisa.post(
        "/admin/cases/area/add/", add_area_form(code="heinola", name="Heinolan perhekeskus")
    )

    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/admin/cases/area/"
    assert Area.objects.get(code="heinola").name == "Heinolan perhekeskus"


def test_it_keeps_a_worker_out_of_the_admin(ulla):
    response = ulla.get("/admin/cases/organisation/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")

    response = ulla.post(
        "/admin/cases/area/add/", add_area_form(code="heinola", name="Heinolan perhekeskus")
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not Area.objects.filter(code="heinola").exists()


def test_it_does_not_let_a_coordinator_hand_out_admin_rights(kaisa, superuser):
    own_page = kaisa.get(
        f"/admin/cases/user/{User.objects.get(username='kaisa.koordinaattori').pk}/change/"
    )
    assert own_page.status_code == 200
    for field in ["is_superuser", "is_staff", "groups", "user_permissions"]:
        assert f'name="{field}"' not in own_page.content.decode()

    root = signed_in("root")
    user = User.objects.get(username="tiina.vastuu")
    assert (
        'name="is_superuser"' in root.get(f"/admin/cases/user/{user.pk}/change/").content.decode()
    )


def test_it_does_not_let_a_coordinator_take_over_a_superuser(kaisa, superuser):
    response = kaisa.post(
        f"/admin/cases/user/{superuser.pk}/password/",
        {"password1": "taken-over-2026", "password2": "taken-over-2026"},
    )
    assert response.status_code == 403
    assert (
        kaisa.post(f"/admin/cases/user/{superuser.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    superuser.refresh_from_db()
    assert superuser.check_password("x-pass-2026")


def test_it_lets_the_coordinator_reset_a_workers_password(kaisa):
    tiina = User.objects.get(username="tiina.vastuu")
    response = kaisa.post(
        f"/admin/cases/user/{tiina.pk}/password/",
        {"password1": "uusi-salasana-2026", "password2": "uusi-salasana-2026"},
    )
    assert response.status_code == 302
    tiina.refresh_from_db()
    assert tiina.check_password("uusi-salasana-2026")


def test_it_registers_only_the_catalogue_and_accounts_of_the_domain_apps():
    # Everything else holds family data, which must be read through the policy and the
    # access log; the admin bypasses both.
    registered = {
        model._meta.label
        for model in admin.site._registry
        if model._meta.app_label in {"cases", "consent", "audit"}
    }
    assert registered == {
        "cases.Area",
        "cases.Municipality",
        "cases.Organisation",
        "cases.Service",
        "cases.User",
        # The rest of the public catalogue (issue 17): no family data.
        "cases.Activity",
        "cases.Contact",
        "cases.Location",
        "cases.Phone",
        "cases.Schedule",
        "cases.ServiceAtLocation",
        "cases.TaxonomyTerm",
    }


def test_it_keeps_family_data_out_of_the_admin(seeded, superuser):
    for model in [Family, FamilyMember, Case, Handover]:
        assert not admin.site.is_registered(model)
    assert signed_in("root").get("/admin/cases/family/").status_code == 404


# --- Organisations keep their own catalogue entries in the admin too (issue 17) ---------------


def test_an_ngo_worker_keeps_only_her_organisations_entries_in_the_admin(db):
    from cases.models import Location, OrganisationMembership
    from tests.factories import LocationFactory, OrganisationFactory, ServiceFactory, UserFactory

    ngo, parish = OrganisationFactory(name="MLL"), OrganisationFactory(name="Seurakunta")
    worker = UserFactory(username="ngo.staff", is_staff=True)
    OrganisationMembership.objects.create(user=worker, organisation=ngo)
    own = ServiceFactory(organisation=ngo, name_fi="Oma palvelu")
    theirs = ServiceFactory(organisation=parish, name_fi="Toisen palvelu")
    their_place = LocationFactory(organisation=parish, name_fi="Toisen paikka")
    client = Client()
    client.force_login(worker)

    listed = client.get("/admin/cases/service/").content.decode()
    assert "Oma palvelu" in listed and "Toisen palvelu" not in listed
    assert client.get(f"/admin/cases/service/{own.pk}/change/").status_code == 200
    assert client.get(f"/admin/cases/service/{theirs.pk}/change/").status_code != 200
    assert client.get(f"/admin/cases/location/{their_place.pk}/change/").status_code != 200
    assert client.get("/admin/cases/taxonomyterm/").status_code == 403
    # A new location for her organisation, and none for another.
    added = client.post(
        "/admin/cases/location/add/",
        {"organisation": str(ngo.pk), "location_type": "physical", "name_fi": "Perhetalo"},
    )
    assert added.status_code == 302, added.content.decode()[:2000]
    refused = client.post(
        "/admin/cases/location/add/",
        {"organisation": str(parish.pk), "location_type": "physical", "name_fi": "Vieras"},
    )
    assert refused.status_code == 200  # the form refuses an organisation she does not keep
    assert set(Location.objects.values_list("name_fi", flat=True)) == {
        "Perhetalo",
        "Toisen paikka",
    }
