"""manage.py seed_demo: the Päijät-Häme demo of DESIGN.md, safe to rerun, refused in production."""

import datetime
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from cases.identity_code import birth_date_from_identity_code
from cases.models import (
    Area,
    Case,
    FamilyMember,
    Municipality,
    Organisation,
    OrganisationMembership,
    Service,
    User,
)
from cases.seeding import demo
from consent import policy

pytestmark = pytest.mark.django_db

USERNAMES = [
    "tiina.vastuu",
    "anna.neuvola",
    "olli.opettaja",
    "jenni.jarjesto",
    "ulla.ulkopuolinen",
    "hanna.huoltaja",
    "tero.tarkastaja",
    "kaisa.koordinaattori",
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed_demo(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    return seed_demo()


@pytest.fixture
def virtanen_case(seeded):
    return Case.objects.select_related("family__municipality").get(family__name="Virtanen")


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def signed_in(username: str) -> APIClient:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": demo.DEMO_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_it_creates_the_three_areas_and_their_municipalities(seeded):
    assert set(Area.objects.values_list("code", flat=True)) == {"north", "east", "south"}
    by_area = {
        area.code: {m.name for m in area.municipalities.all()} for area in Area.objects.all()
    }
    assert by_area == {
        "north": {"Lahti", "Asikkala", "Padasjoki", "Hartola"},
        "east": {"Lahti", "Kärkölä", "Hollola"},
        "south": {"Lahti", "Orimattila", "Iitti", "Myrskylä", "Pukkila"},
    }
    assert Municipality.objects.count() == 10
    assert Municipality.objects.filter(code="asikkala").exists()


def test_it_creates_organisations_of_every_kind_each_with_services(seeded):
    organisations = Organisation.objects.all()
    assert organisations.count() >= 18
    assert set(organisations.values_list("kind", flat=True)) == set(Organisation.Kind.values)
    assert not organisations.filter(services__isnull=True).exists()
    for service in Service.objects.prefetch_related("municipalities"):
        assert service.name_fi and service.name_sv and service.name_en
        assert service.description and service.contact
        assert service.min_age <= service.max_age
        assert service.municipalities.all(), service
    assert Service.objects.filter(low_threshold=True).exists()
    assert Service.objects.filter(municipalities__code="asikkala", category="health").exists()


def test_it_creates_the_demo_users_with_the_demo_password(seeded):
    # Besides the personas, only the report data's worker (issue 18), who cannot sign in.
    usernames = set(User.objects.values_list("username", flat=True))
    assert usernames == {*USERNAMES, demo.REPORT_WORKER}
    assert not User.objects.get(username=demo.REPORT_WORKER).has_usable_password()
    # Every sign-in passes its request: django-axes' backend counts failures per address.
    request = RequestFactory().post("/api/v1/auth/token/")
    for username in USERNAMES:
        assert authenticate(request, username=username, password=demo.DEMO_PASSWORD), username
    assert authenticate(request, username="tiina.vastuu", password="wrong-pass") is None


def test_it_places_each_demo_user_in_their_organisation_and_role(seeded):
    def memberships(username):
        return set(
            OrganisationMembership.objects.filter(user__username=username).values_list(
                "organisation__name", "role"
            )
        )

    assert memberships("tiina.vastuu") == {
        ("Päijät-Hämeen hyvinvointialue, perhesosiaalityö", "worker")
    }
    assert memberships("anna.neuvola") == {
        ("Päijät-Hämeen hyvinvointialue, lastenneuvola", "worker")
    }
    assert memberships("olli.opettaja") == {("Asikkalan kunta, perusopetus", "worker")}
    [(ngo, role)] = memberships("jenni.jarjesto")
    assert Organisation.objects.get(name=ngo).kind == "ngo" and role == "worker"
    [(ullas_organisation, _role)] = memberships("ulla.ulkopuolinen")
    assert ullas_organisation != "Päijät-Hämeen hyvinvointialue, perhesosiaalityö"
    assert memberships("hanna.huoltaja") == set()
    wellbeing_area = set(
        Organisation.objects.filter(kind="wellbeing_area").values_list("name", flat=True)
    )
    assert memberships("tero.tarkastaja") == {(name, "auditor") for name in wellbeing_area}
    # She takes the family centre's contact requests too (issue 17).
    assert {role for _name, role in memberships("kaisa.koordinaattori")} == {
        "coordinator",
        "intake",
    }


def test_it_lets_the_coordinator_keep_the_catalogue_and_nobody_else(seeded):
    kaisa = User.objects.get(username="kaisa.koordinaattori")
    assert kaisa.is_staff and not kaisa.is_superuser
    assert list(kaisa.groups.values_list("name", flat=True)) == ["coordinators"]
    for model in ["area", "municipality", "organisation", "service", "organisationmembership"]:
        for action in ["add", "change", "view", "delete"]:
            assert kaisa.has_perm(f"cases.{action}_{model}")
    assert kaisa.has_perm("cases.change_user")
    assert not kaisa.has_perm("cases.view_family")
    assert not kaisa.has_perm("cases.view_case")
    others = User.objects.exclude(pk=kaisa.pk)
    assert not others.filter(is_staff=True).exists()
    assert not others.filter(groups__isnull=False).exists()


def test_it_opens_the_virtanen_case_with_tiina_responsible(virtanen_case):
    tiina = User.objects.get(username="tiina.vastuu")
    assert virtanen_case.status == Case.Status.OPEN
    assert virtanen_case.responsible_worker == tiina
    assert virtanen_case.responsible_organisation.name == (
        "Päijät-Hämeen hyvinvointialue, perhesosiaalityö"
    )
    assert virtanen_case.family.municipality.name == "Asikkala"
    assert virtanen_case.family.joint_custody is False
    assert virtanen_case.opening_reason
    assert policy.cases_for_user(tiina, need=policy.CHANGE).filter(pk=virtanen_case.pk).exists()


def test_it_makes_aino_13_and_eeli_8_with_matching_identity_codes(virtanen_case):
    today = timezone.localdate()
    members = {m.first_name: m for m in virtanen_case.family.members.all()}
    assert set(members) == {"Hanna", "Aino", "Eeli"}
    assert {name: m.role for name, m in members.items()} == {
        "Hanna": "guardian",
        "Aino": "child",
        "Eeli": "child",
    }
    assert age_on(members["Aino"].birth_date, today) == 13
    assert age_on(members["Eeli"].birth_date, today) == 8
    for member in members.values():
        assert member.last_name == "Virtanen"
        assert birth_date_from_identity_code(member.identity_code) == member.birth_date
    assert members["Hanna"].identity_code[6] == "-"
    assert members["Aino"].identity_code[6] == members["Eeli"].identity_code[6] == "A"


def test_it_links_hanna_to_the_guardian_member(virtanen_case):
    guardian = FamilyMember.objects.get(user__username="hanna.huoltaja")
    assert guardian.family == virtanen_case.family
    assert guardian.role == FamilyMember.Role.GUARDIAN
    assert guardian.first_name == "Hanna"


def test_it_changes_nothing_when_run_twice(seeded):
    before = row_counts()
    hashes = dict(User.objects.values_list("username", "password"))

    output = seed_demo()

    assert row_counts() == before
    assert dict(User.objects.values_list("username", "password")) == hashes
    assert "already there" in output
    assert "tiina.vastuu" in output


def test_it_puts_back_demo_data_changed_since_the_last_run(seeded):
    organisation = Organisation.objects.get(code="asikkala-perusopetus")
    organisation.name = "Renamed"
    organisation.save(update_fields=["name"])
    Service.objects.get(name_fi="Lastenneuvola").municipalities.clear()

    output = seed_demo()

    organisation.refresh_from_db()
    assert organisation.name == "Asikkalan kunta, perusopetus"
    assert Service.objects.get(name_fi="Lastenneuvola").municipalities.count() == 10
    [updated] = [line for line in output.splitlines() if line.startswith("Updated:")]
    assert "1 organisation" in updated and "1 service" in updated
    # The scenario's one case, besides the report's (issue 18), which are not added again.
    assert Case.objects.exclude(family__name__startswith=demo.REPORT_FAMILY_PREFIX).count() == 1
    assert Case.objects.filter(family__name__startswith=demo.REPORT_FAMILY_PREFIX).count() == 54


def test_it_summarises_who_can_sign_in(seeded):
    assert demo.DEMO_PASSWORD in seeded
    for username in USERNAMES:
        assert username in seeded


def test_it_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        seed_demo()
    assert not User.objects.exists()
    assert not Area.objects.exists()


def test_it_runs_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    seed_demo("--force")
    assert Case.objects.filter(family__name="Virtanen", status="open").count() == 1


def test_it_lists_exactly_the_virtanen_case_to_tiina(virtanen_case):
    response = signed_in("tiina.vastuu").get("/api/v1/cases/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [row] = body["results"]
    assert row["id"] == str(virtanen_case.pk)
    assert row["family"]["name"] == "Virtanen"
    assert row["responsible_worker"]["name"] == "Tiina Vastuu"


def test_it_shows_ulla_nothing_of_the_virtanen_case(virtanen_case):
    client = signed_in("ulla.ulkopuolinen")
    assert client.get("/api/v1/cases/").json()["count"] == 0
    response = client.get(f"/api/v1/cases/{virtanen_case.pk}/")
    assert response.status_code == 404
    assert "Virtanen" not in response.content.decode()


def test_it_makes_identity_codes_with_a_valid_checksum():
    # The example code published by the Digital and Population Data Services Agency.
    assert demo.identity_code(datetime.date(1952, 10, 13), 308) == "131052-308T"
    assert demo.identity_code(datetime.date(2013, 2, 1), 912)[6] == "A"


def test_it_gives_the_right_age_even_on_a_leap_day():
    birth_date = demo.birth_date_for_age(8, today=datetime.date(2024, 2, 29))
    assert age_on(birth_date, datetime.date(2024, 2, 29)) == 8
    assert age_on(birth_date, datetime.date(2024, 8, 1)) == 8
