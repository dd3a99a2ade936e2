"""The public service guide (issue 17, acceptance 1) through Django's test client, on the seeded
Päijät-Häme demo: no sign-in; "Asikkala, age 8" lists exactly the demo's services for that
municipality and age; the filters; each service page shows its locations and opening hours from
the demo data; inactive services and locations never appear; 404s; bad input gets the form back
with a message (never a 500); a constant number of queries per page; nothing is logged.
"""

import re
import uuid

import pytest
from django.utils import timezone

from audit.models import AccessEvent
from cases.models import Activity, Location, Service
from cases.seeding import catalogue, demo
from tests.query_counts import REQUEST

pytestmark = pytest.mark.django_db

GUIDE = {"fi": "/palvelut/", "sv": "/tjanster/", "en": "/services/"}
PLACES = {
    "fi": "/palvelut/kohtaamispaikat/",
    "sv": "/tjanster/motesplatser/",
    "en": "/services/meeting-places/",
}
CALENDAR = {"fi": "/palvelut/tapahtumat/", "sv": "/tjanster/kalender/", "en": "/services/calendar/"}
ORGANISATIONS = {
    "fi": "/palvelut/toimijat/",
    "sv": "/tjanster/organisationer/",
    "en": "/services/organisations/",
}

# The demo's services for a child of 8 in Asikkala, by (organisation, Finnish name): written out
# here from the demo's tables by hand, not computed, so that a wrong filter cannot agree.
ASIKKALA_8 = {
    ("phhva-perhekeskus", "Perhekeskuksen palveluohjaus"),
    ("phhva-perhesosiaalityo", "Lapsiperheiden sosiaalityö"),
    ("phhva-perhesosiaalityo", "Perhetyö"),
    ("phhva-kouluterveydenhuolto", "Kouluterveydenhuolto"),
    ("phhva-oppilashuolto", "Koulukuraattori"),
    ("phhva-oppilashuolto", "Koulupsykologi"),
    ("phhva-perheneuvola", "Perheneuvola"),
    ("phhva-kotipalvelu", "Lapsiperheiden kotipalvelu"),
    ("asikkala-perusopetus", "Perusopetus"),
    ("asikkala-perusopetus", "Aamu- ja iltapäivätoiminta"),
    ("mll-paijat-hame", "Lastenhoitoapu"),
    ("ensi-ja-turvakoti", "Eroperheiden tuki"),
    ("lahden-seurakuntayhtyma", "Perheasiain neuvottelukeskus"),
    ("kela-lahti", "Lapsiperheiden etuudet"),
    ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"),
}
HOURS_FI = re.compile(r"\b(ma|ti|ke|to|pe|la|su)\b[–, a-z]* \d{1,2}\.\d\d–\d{1,2}\.\d\d")


@pytest.fixture
def world(demo_world):
    return demo_world


def service(code: str, name: str) -> Service:
    return Service.objects.get(organisation__code=code, name_fi=name)


def found(response) -> set[tuple[str, str]]:
    """(organisation code, Finnish name) of each service a results page lists."""
    ids = re.findall(
        r'<h3><a href="/(?:palvelut|tjanster|services)/([0-9a-f-]{36})/">', text(response)
    )
    return set(Service.objects.filter(pk__in=ids).values_list("organisation__code", "name_fi")) | (
        {("?", "?")} if len(ids) != len(set(ids)) else set()
    )


def text(response) -> str:
    return response.content.decode()


def words(response) -> str:
    """The page as text: tags out, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(response)))


# --- Search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_asikkala_age_8_lists_exactly_the_demos_services_for_them(world, client, language):
    response = client.get(GUIDE[language], {"municipality": "asikkala", "age": "8"})
    assert response.status_code == 200
    assert response["Content-Language"] == language
    assert f'<html lang="{language}">' in text(response)
    assert found(response) == ASIKKALA_8


def test_the_guide_needs_no_sign_in_and_logs_nothing(world, client):
    before = AccessEvent.objects.count()
    for language in GUIDE:
        assert client.get(GUIDE[language]).status_code == 200
        assert client.get(GUIDE[language], {"municipality": "asikkala"}).status_code == 200
        assert client.get(PLACES[language]).status_code == 200
        assert client.get(CALENDAR[language]).status_code == 200
    palveluohjaus = service("phhva-perhekeskus", "Perhekeskuksen palveluohjaus")
    assert client.get(f"/palvelut/{palveluohjaus.pk}/").status_code == 200
    assert AccessEvent.objects.count() == before


def test_the_front_page_shows_the_form_and_no_results_until_searched(world, client):
    response = client.get(GUIDE["fi"])
    assert response.status_code == 200
    assert 'name="municipality"' in text(response) and 'name="age"' in text(response)
    assert 'name="topic"' in text(response) and 'name="language"' in text(response)
    assert 'name="no_referral"' in text(response) and 'name="q"' in text(response)
    assert found(response) == set()
    # An empty search lists every active service.
    assert len(found(client.get(GUIDE["fi"], {"q": ""}))) == Service.objects.count()


def test_filters_by_topic_language_no_referral_and_words(world, client):
    def search(**params):
        response = client.get(GUIDE["fi"], params)
        assert response.status_code == 200
        return found(response)

    assert search(municipality="asikkala", topic="money") == {
        ("kela-lahti", "Lapsiperheiden etuudet"),
        ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"),
    }
    assert search(topic="money") == {
        ("kela-lahti", "Lapsiperheiden etuudet"),
        ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"),
        ("monikulttuuriset-perheet", "Monikulttuurinen perheohjaus"),
    }
    assert search(language="sv") == {
        ("phhva-perhekeskus", "Perhekeskuksen palveluohjaus"),
        ("lahden-seurakuntayhtyma", "Perheasiain neuvottelukeskus"),
        ("kela-lahti", "Lapsiperheiden etuudet"),
        ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"),
    }
    assert search(municipality="asikkala", age="8", no_referral="on") == ASIKKALA_8 - {
        ("phhva-perhesosiaalityo", "Lapsiperheiden sosiaalityö"),
        ("phhva-perhesosiaalityo", "Perhetyö"),
        ("asikkala-perusopetus", "Perusopetus"),
        ("asikkala-perusopetus", "Aamu- ja iltapäivätoiminta"),
        ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"),
    }
    assert search(q="kaverisuhteisiin") == {("phhva-oppilashuolto", "Koulukuraattori")}
    assert search(q="PSYKOLOGISET arviot") == {("phhva-oppilashuolto", "Koulupsykologi")}
    assert search(municipality="lahti", age="15", topic="mental-health") == {
        ("phhva-oppilashuolto", "Koulukuraattori"),
        ("phhva-oppilashuolto", "Koulupsykologi"),
        ("phhva-perheneuvola", "Perheneuvola"),
        ("phhva-nuorisopsykiatria", "Nuorisopsykiatrian poliklinikka"),
        ("lahden-seurakuntayhtyma", "Perheasiain neuvottelukeskus"),
    }
    assert search(municipality="pukkila", age="8", q="kuraattori", language="ar") == set()


def test_results_show_organisation_who_it_is_for_and_links(world, client):
    response = client.get(GUIDE["fi"], {"municipality": "asikkala", "age": "8"})
    page = text(response)
    aip = service("asikkala-perusopetus", "Aamu- ja iltapäivätoiminta")
    assert f'href="/palvelut/{aip.pk}/"' in page
    assert f'href="/palvelut/toimijat/{aip.organisation_id}/"' in page
    assert "Asikkalalaisille 1.- ja 2.-luokkalaisille" in page
    assert "Ei lähetettä" in page
    # The language links keep the search.
    assert 'href="/tjanster/?municipality=asikkala&amp;age=8"' in page
    assert 'href="/palvelut/ota-yhteytta/"' in page


@pytest.mark.parametrize(
    "params, message",
    [
        ({"age": "kahdeksan"}, "Anna ikä kokonaisina vuosina"),
        ({"age": "18"}, "Anna ikä kokonaisina vuosina"),
        ({"age": "-1"}, "Anna ikä kokonaisina vuosina"),
        ({"age": "8.5"}, "Anna ikä kokonaisina vuosina"),
        ({"municipality": "atlantis"}, "Valitse kunta luettelosta"),
        ({"topic": "x' OR 1=1"}, "Valitse aihe luettelosta"),
        ({"language": "xx"}, "Valitse kieli luettelosta"),
        ({"q": "x" * 201}, "enintään 200 merkkiä"),
    ],
)
def test_bad_input_shows_the_form_with_a_message(world, client, params, message):
    response = client.get(GUIDE["fi"], params)
    assert response.status_code == 400
    assert 'role="alert"' in text(response)
    assert message in words(response)
    assert 'name="municipality"' in text(response)
    assert found(response) == set()


def test_bad_calendar_input_shows_the_form_with_a_message(world, client):
    response = client.get(CALENDAR["en"], {"age": "old", "municipality": "nowhere"})
    assert response.status_code == 400
    assert "Give the age as a whole number" in words(response)
    assert "Choose a municipality from the list" in words(response)


# --- A service's page ------------------------------------------------------------------------


def test_each_service_page_shows_its_locations_and_opening_hours(world, client):
    services = Service.objects.prefetch_related("at_locations__location").select_related(
        "organisation"
    )
    assert services.count() == len(catalogue.CATALOGUE)
    for one in services:
        response = client.get(f"/palvelut/{one.pk}/")
        assert response.status_code == 200, one
        page = words(response)
        assert one.name_fi in page and one.organisation.name in page
        assert one.eligibility_description in page and one.application_process in page
        locations = [at.location for at in one.at_locations.all()]
        assert locations, one
        for location in locations:
            assert location.name_fi in page, (one, location)
            if location.address:
                assert f"{location.address}, {location.postal_code} {location.city}" in page
                assert f"mlat={location.latitude}&amp;mlon={location.longitude}" in text(response)
        assert HOURS_FI.search(page), one


def test_a_service_page_in_three_languages(world, client):
    aip = service("asikkala-perusopetus", "Aamu- ja iltapäivätoiminta")
    fi = words(client.get(f"/palvelut/{aip.pk}/"))
    assert "Aamu- ja iltapäivätoiminta" in fi
    assert "Pulkkilanharjun koulu" in fi and "Koulutie 2, 17200 Vääksy" in fi
    assert "ma–pe 7.00–17.00" in fi  # the service's own hours at the school
    assert "ma–pe 8.00–15.00" in fi  # the school's
    assert "Kuukausimaksu 120 €" in fi and "Koulu ja oppiminen" in fi
    assert "03 000 2000" in fi
    sv = words(client.get(f"/tjanster/{aip.pk}/"))
    assert "Morgon- och eftermiddagsverksamhet" in sv and "Pulkkilanharju skola" in sv
    assert "mån–fre 7.00–17.00" in sv
    en = words(client.get(f"/services/{aip.pk}/"))
    assert "Before- and after-school activities" in en and "Pulkkilanharju school" in en
    assert "Mon–Fri 7:00–17:00" in en


def test_a_service_page_shows_contacts_phones_email_web_site_and_a_closure(world, client):
    guidance = service("phhva-perhekeskus", "Perhekeskuksen palveluohjaus")
    response = client.get(f"/palvelut/{guidance.pk}/")
    page = text(response)
    assert "Ronja Saarela" in page and 'href="tel:+35830001001"' in page
    assert f'href="mailto:{guidance.email}"' in page and f'href="{guidance.url}"' in page
    assert "ma–pe 9.00–15.00" in words(response) and "Puhelinpalvelu" in page
    assert 'href="/palvelut/ota-yhteytta/"' in page
    # A meeting place among its locations links to the place's page.
    vaaksy = Location.objects.get(name_fi="Kohtaamispaikka Vääksy")
    assert f'href="/palvelut/kohtaamispaikat/{vaaksy.pk}/"' in page
    speech = service("terapiakeskus-kielo", "Puheterapia")
    closed = words(client.get(f"/palvelut/{speech.pk}/"))
    assert "Tilapäisesti suljettu" in closed and "remontin vuoksi" in closed


def test_inactive_services_and_locations_never_appear(world, client):
    counselling = service("phhva-perheneuvola", "Perheneuvola")
    counselling.is_active = False
    counselling.save(update_fields=["is_active"])
    vaaksy = Location.objects.get(name_fi="Kohtaamispaikka Vääksy")
    vaaksy.is_active = False
    vaaksy.save(update_fields=["is_active"])

    listed = found(client.get(GUIDE["fi"], {"municipality": "asikkala", "age": "8"}))
    assert listed == ASIKKALA_8 - {("phhva-perheneuvola", "Perheneuvola")}
    assert client.get(f"/palvelut/{counselling.pk}/").status_code == 404
    organisation = client.get(f"/palvelut/toimijat/{counselling.organisation_id}/")
    assert organisation.status_code == 200 and "Perheneuvola</a>" not in text(organisation)
    guidance = service("phhva-perhekeskus", "Perhekeskuksen palveluohjaus")
    page = text(client.get(f"/palvelut/{guidance.pk}/"))
    assert "Lahden perhekeskus" in page and "Kohtaamispaikka Vääksy" not in page
    assert "Kohtaamispaikka Vääksy" not in text(client.get(PLACES["fi"]))
    assert client.get(f"{PLACES['fi']}{vaaksy.pk}/").status_code == 404
    assert "Koululaisten vanhempien vertaisryhmä" not in text(client.get(CALENDAR["fi"]))


def test_an_activity_of_an_inactive_service_is_listed_without_a_link_to_it(world, client):
    separation = service("ensi-ja-turvakoti", "Eroperheiden tuki")
    link = f'href="/palvelut/{separation.pk}/"'
    assert link in text(client.get(CALENDAR["fi"]))
    separation.is_active = False
    separation.save(update_fields=["is_active"])
    page = text(client.get(CALENDAR["fi"]))
    assert "Eronneiden vanhempien vertaisryhmä" in page and link not in page


def test_unknown_ids_answer_404_in_the_guides_language(world, client):
    ghost = uuid.uuid4()
    school = Location.objects.get(name_fi="Pulkkilanharjun koulu")  # not a meeting place
    service_at_a_place = service("mll-paijat-hame", "Perhekahvila")
    for url, language in [
        (f"/palvelut/{ghost}/", "fi"),
        (f"/tjanster/{ghost}/", "sv"),
        (f"/services/{school.pk}/", "en"),
        (f"/palvelut/toimijat/{ghost}/", "fi"),
        (f"/services/organisations/{service_at_a_place.pk}/", "en"),
        (f"/palvelut/kohtaamispaikat/{ghost}/", "fi"),
        (f"/tjanster/motesplatser/{school.pk}/", "sv"),
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response["Content-Language"] == language
        assert GUIDE[language] in text(response)
    assert client.get("/palvelut/not-a-uuid/").status_code == 404


def test_the_guide_answers_get_only(world, client):
    assert client.post(GUIDE["fi"], {"q": "x"}).status_code == 405
    assert client.post(CALENDAR["fi"]).status_code == 405


# --- Organisations, meeting places and the calendar ------------------------------------------


def test_an_organisation_page_lists_its_services_and_locations(world, client):
    clinic = service("phhva-lastenneuvola", "Lastenneuvola").organisation
    page = words(client.get(f"/palvelut/toimijat/{clinic.pk}/"))
    assert "Lastenneuvola" in page and "Perhevalmennus" in page
    assert "Vääksyn neuvola" in page and "Terveystie 2, 17200 Vääksy" in page
    assert "ma–to 8.00–16.00" in page and "pe 8.00–14.00" in page


def test_meeting_places_in_several_municipalities(world, client):
    response = client.get(PLACES["fi"])
    page = words(response)
    for name in ("Kohtaamispaikka Vääksy", "Kohtaamispaikka Olkkari", "Kohtaamispaikka Hartola"):
        assert name in page
    places = Location.objects.filter(is_meeting_place=True)
    assert places.values("municipality").distinct().count() >= 4


def test_a_meeting_place_shows_its_hours_and_coming_activities(world, client):
    vaaksy = Location.objects.get(name_fi="Kohtaamispaikka Vääksy")
    page = words(client.get(f"{PLACES['fi']}{vaaksy.pk}/"))
    assert "Virtaintie 11, 17200 Vääksy" in page and "ma–to 9.00–15.00" in page
    assert "Perhekahvila" in page and "Koululaisten vanhempien vertaisryhmä" in page
    assert "Ikä 7–12" in page
    en = words(client.get(f"{PLACES['en']}{vaaksy.pk}/"))
    assert "Peer group for parents of schoolchildren" in en and "Ages 7–12" in en


def test_the_calendar_is_never_empty_and_filters_by_municipality_and_age(world, client):
    now = timezone.now()
    coming = Activity.objects.filter(starts_at__gte=now)
    assert coming.filter(starts_at__lt=now + timezone.timedelta(days=7)).count() >= 10
    page = words(client.get(CALENDAR["fi"]))
    for name in ("Perhekahvila", "Avoin leikkiaamu", "Vauvakahvila", "Avoin päiväkoti"):
        assert name in page
    response = client.get(CALENDAR["fi"], {"municipality": "asikkala", "age": "8"})
    assert response.status_code == 200
    names = set(re.findall(r"<h3>([^<]+)</h3>", text(response)))
    assert names == {"Koululaisten vanhempien vertaisryhmä", "Perheiden pelikerho"}
    assert "Kohtaamispaikka Vääksy" in words(response)
    teens = client.get(CALENDAR["en"], {"age": "14"})
    assert set(re.findall(r"<h3>([^<]+)</h3>", text(teens))) == {
        "Peer group for separated parents",
        "Afternoon for teens",
        "Evening group for parents",
    }


def test_the_demo_activities_are_relative_to_the_seeding_day(world):
    today = timezone.localdate()
    later = today + timezone.timedelta(days=60)
    result = demo.seed(today=later)
    assert result.created[Activity] > 0
    latest = Activity.objects.latest("starts_at")
    assert timezone.localtime(latest.starts_at).date() >= later + timezone.timedelta(days=28)


def test_links_between_the_guide_and_the_contact_form(world, client):
    for language, form in (
        ("fi", "/palvelut/ota-yhteytta/"),
        ("sv", "/tjanster/kontakt/"),
        ("en", "/services/contact/"),
    ):
        assert f'href="{form}"' in text(client.get(GUIDE[language]))
        assert f'href="{GUIDE[language]}"' in text(client.get(form))


# --- Query counts ----------------------------------------------------------------------------


def test_search_takes_a_constant_number_of_queries(world, client, django_assert_num_queries):
    # The form's choices (municipalities, topics), the services with their languages and
    # topics, and the topic links.
    with django_assert_num_queries(6 + REQUEST):
        few = client.get(GUIDE["fi"], {"q": "kaverisuhteisiin"})
    with django_assert_num_queries(6 + REQUEST):
        many = client.get(GUIDE["fi"], {"q": ""})
    assert len(found(few)) == 1 and len(found(many)) > 20
    # One more for each chosen municipality or topic (the form looks it up).
    with django_assert_num_queries(8 + REQUEST):
        client.get(GUIDE["fi"], {"municipality": "asikkala", "age": "8", "topic": "money"})
    with django_assert_num_queries(8 + REQUEST):
        client.get(GUIDE["fi"], {"municipality": "lahti", "topic": "health"})


def test_a_service_page_takes_a_constant_number_of_queries(
    world, client, django_assert_num_queries
):
    # The service, its languages, topics, municipalities, phones, hours and contacts; its
    # places with their hours, the place's own hours and phones: 11, whatever their number;
    # one more (the contacts' phones) when it has named contacts.
    one_place = service("phhva-nuorisopsykiatria", "Nuorisopsykiatrian poliklinikka")
    two_places = service("kela-lahti", "Lapsiperheiden etuudet")
    assert one_place.at_locations.count() == 1 and two_places.at_locations.count() == 2
    for one in (one_place, two_places):
        with django_assert_num_queries(11 + REQUEST):
            client.get(f"/palvelut/{one.pk}/")
    two_with_a_contact = service("phhva-perhekeskus", "Perhekeskuksen palveluohjaus")
    three_with_a_contact = service("mll-paijat-hame", "Perhekahvila")
    assert three_with_a_contact.at_locations.count() == 3
    for one in (two_with_a_contact, three_with_a_contact):
        with django_assert_num_queries(12 + REQUEST):
            client.get(f"/palvelut/{one.pk}/")


def test_the_other_pages_take_a_constant_number_of_queries(
    world, client, django_assert_num_queries
):
    small = service("phhva-kotipalvelu", "Lapsiperheiden kotipalvelu").organisation
    large = service("phhva-perhekeskus", "Perhekeskuksen palveluohjaus").organisation
    for organisation in (small, large):
        with django_assert_num_queries(6 + REQUEST):
            client.get(f"/palvelut/toimijat/{organisation.pk}/")
    for place in Location.objects.filter(is_meeting_place=True):
        with django_assert_num_queries(5 + REQUEST):
            client.get(f"{PLACES['fi']}{place.pk}/")
    with django_assert_num_queries(2 + REQUEST):
        client.get(PLACES["fi"])
    # The municipalities of the form, the activities and their services; one more to find the
    # chosen municipality.
    for params in ({}, {"age": "3"}):
        with django_assert_num_queries(3 + REQUEST):
            client.get(CALENDAR["fi"], params)
    for params in ({"municipality": "hartola", "age": "3"}, {"municipality": "lahti"}):
        with django_assert_num_queries(4 + REQUEST):
            client.get(CALENDAR["fi"], params)
