"""The Päijät-Häme demo scenario of DESIGN.md: its data tables and the idempotent seeding."""

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from cases import services
from cases.identity_code import CHECK_CHARACTERS, blind_index
from cases.models import (
    Area,
    Case,
    Family,
    FamilyMember,
    Invitation,
    Municipality,
    NetworkMember,
    Note,
    Organisation,
    OrganisationMembership,
    Plan,
    Service,
    ServiceLanguage,
    User,
)
from cases.seeding import catalogue
from consent import policy
from koordinointi.vocabulary import Category

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published on purpose: demo installations only
EMAIL_DOMAIN = "demo.koordinointi.example"  # reserved TLD: no demo mail can reach a real inbox

Kind = Organisation.Kind
Cat = Service.Category
Role = OrganisationMembership.Role

# --- Areas and municipalities ----------------------------------------------------------------

AREAS = [
    ("north", "Pohjoinen perhekeskus"),
    ("east", "Itäinen perhekeskus"),
    ("south", "Eteläinen perhekeskus"),
]

# (code, name, Swedish name, areas). Lahti belongs to all three areas.
MUNICIPALITIES = [
    ("lahti", "Lahti", "Lahtis", ("north", "east", "south")),
    ("asikkala", "Asikkala", "Asikkala", ("north",)),
    ("padasjoki", "Padasjoki", "Padasjoki", ("north",)),
    ("hartola", "Hartola", "Gustav Adolfs", ("north",)),
    ("karkola", "Kärkölä", "Kärkölä", ("east",)),
    ("hollola", "Hollola", "Hollola", ("east",)),
    ("orimattila", "Orimattila", "Orimattila", ("south",)),
    ("iitti", "Iitti", "Itis", ("south",)),
    ("myrskyla", "Myrskylä", "Mörskom", ("south",)),
    ("pukkila", "Pukkila", "Pukkila", ("south",)),
]

ALL = tuple(code for code, *_ in MUNICIPALITIES)
LAHTI = ("lahti",)
NORTH = tuple(code for code, *_, areas in MUNICIPALITIES if "north" in areas)

# --- Organisations and their services --------------------------------------------------------


@dataclass(frozen=True)
class DemoService:
    name_fi: str
    name_sv: str
    name_en: str
    category: str
    description: str
    min_age: int = 0
    max_age: int = 17
    municipalities: tuple[str, ...] = ALL
    contact: str = ""
    low_threshold: bool = False
    languages: tuple[str, ...] = ("fi",)  # the catalogue's `language` filter


@dataclass(frozen=True)
class DemoOrganisation:
    code: str
    name: str
    kind: str
    services: tuple[DemoService, ...]
    area: str | None = None
    municipality: str | None = None
    phone: str = ""
    email: str = ""


def _email(local: str) -> str:
    return f"{local}@{EMAIL_DOMAIN}"


WB = "Päijät-Hämeen hyvinvointialue"

ORGANISATIONS = [
    # The wellbeing services county: each register unit is an organisation of its own.
    DemoOrganisation(
        code="phhva-perhekeskus",
        name=f"{WB}, perhekeskus",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1000",
        email=_email("perhekeskus"),
        services=(
            DemoService(
                "Perhekeskuksen palveluohjaus",
                "Familjecentrets servicehandledning",
                "Family centre service guidance",
                Cat.FAMILY_SUPPORT,
                "Neuvontaa ja ohjausta lapsiperheille: kerromme, mistä apua saa, ja ohjaamme "
                "oikeaan palveluun ilman lähetettä.",
                contact="Palveluohjaus arkisin 9-15, puh. 03 000 1000",
                low_threshold=True,
                languages=("fi", "sv", "en"),
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-perhesosiaalityo",
        name=f"{WB}, perhesosiaalityö",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1100",
        email=_email("perhesosiaalityo"),
        services=(
            DemoService(
                "Lapsiperheiden sosiaalityö",
                "Socialt arbete för barnfamiljer",
                "Social work for families with children",
                Cat.SOCIAL,
                "Sosiaalityöntekijä arvioi perheen tuen tarpeen ja kokoaa perheen ympärille "
                "tarvittavat palvelut sosiaalihuoltolain mukaisesti.",
                contact="Sosiaalipäivystys arkisin 8-15, puh. 03 000 1100",
            ),
            DemoService(
                "Perhetyö",
                "Familjearbete",
                "Family work",
                Cat.FAMILY_SUPPORT,
                "Perhetyöntekijä tukee vanhemmuutta ja arjen sujumista perheen kotona.",
                contact="Perhetyön ohjaaja, puh. 03 000 1110",
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-lastenneuvola",
        name=f"{WB}, lastenneuvola",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1200",
        email=_email("lastenneuvola"),
        services=(
            DemoService(
                "Lastenneuvola",
                "Barnrådgivning",
                "Child health clinic",
                Cat.HEALTH,
                "Lapsen kasvun, kehityksen ja hyvinvoinnin seuranta sekä vanhemmuuden tuki "
                "ennen kouluikää.",
                max_age=6,
                contact="Neuvolan ajanvaraus, puh. 03 000 1200",
                low_threshold=True,
                languages=("fi", "en"),
            ),
            DemoService(
                "Perhevalmennus",
                "Familjeförberedelse",
                "Antenatal family classes",
                Cat.HEALTH,
                "Ryhmätapaamisia esikoistaan odottaville ja vauvaperheille.",
                max_age=1,
                contact="Neuvolan ajanvaraus, puh. 03 000 1200",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-kouluterveydenhuolto",
        name=f"{WB}, koulu- ja opiskeluterveydenhuolto",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1300",
        email=_email("kouluterveydenhuolto"),
        services=(
            DemoService(
                "Kouluterveydenhuolto",
                "Skolhälsovård",
                "School health care",
                Cat.HEALTH,
                "Terveydenhoitajan ja koululääkärin määräaikaiset terveystarkastukset ja "
                "vastaanotto koulussa.",
                min_age=7,
                max_age=16,
                contact="Oman koulun terveydenhoitaja",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-oppilashuolto",
        name=f"{WB}, koulukuraattori- ja koulupsykologipalvelut",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1400",
        email=_email("oppilashuolto"),
        services=(
            DemoService(
                "Koulukuraattori",
                "Skolkurator",
                "School social worker",
                Cat.SOCIAL,
                "Keskusteluapua koulunkäyntiin, kaverisuhteisiin ja perheen tilanteeseen.",
                min_age=6,
                max_age=17,
                contact="Oman koulun kuraattori",
                low_threshold=True,
            ),
            DemoService(
                "Koulupsykologi",
                "Skolpsykolog",
                "School psychologist",
                Cat.MENTAL_HEALTH,
                "Oppimisen ja hyvinvoinnin tuki sekä psykologiset arviot koulussa.",
                min_age=6,
                max_age=17,
                contact="Oman koulun psykologi",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-perheneuvola",
        name=f"{WB}, perheneuvola",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1500",
        email=_email("perheneuvola"),
        services=(
            DemoService(
                "Perheneuvola",
                "Familjerådgivning",
                "Family counselling clinic",
                Cat.MENTAL_HEALTH,
                "Tukea lapsen kehitykseen, tunne-elämään ja perheen vuorovaikutukseen liittyvissä "
                "huolissa. Ei lähetettä.",
                contact="Perheneuvolan ajanvaraus, puh. 03 000 1500",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-lastensuojelu-lahti",
        name=f"{WB}, lastensuojelu (Lahti)",
        kind=Kind.WELLBEING_AREA,
        municipality="lahti",
        phone="03 000 1600",
        email=_email("lastensuojelu.lahti"),
        services=(
            DemoService(
                "Lastensuojelun avohuolto",
                "Öppenvård inom barnskyddet",
                "Child welfare community care",
                Cat.SOCIAL,
                "Lastensuojelun sosiaalityö ja avohuollon tukitoimet lahtelaisille perheille.",
                municipalities=LAHTI,
                contact="Lastensuojeluilmoitukset, puh. 03 000 1600",
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-kotipalvelu",
        name=f"{WB}, lapsiperheiden kotipalvelu",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1700",
        email=_email("kotipalvelu"),
        services=(
            DemoService(
                "Lapsiperheiden kotipalvelu",
                "Hemservice för barnfamiljer",
                "Home help for families with children",
                Cat.FAMILY_SUPPORT,
                "Käytännön apua lastenhoitoon ja kodin arkeen esimerkiksi vauva-aikana, "
                "sairauden tai jaksamisen haasteiden vuoksi.",
                max_age=12,
                contact="Kotipalvelun ohjaaja, puh. 03 000 1700",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="phhva-nuorisopsykiatria",
        name=f"{WB}, nuorisopsykiatria",
        kind=Kind.WELLBEING_AREA,
        phone="03 000 1800",
        email=_email("nuorisopsykiatria"),
        services=(
            DemoService(
                "Nuorisopsykiatrian poliklinikka",
                "Ungdomspsykiatriska polikliniken",
                "Adolescent psychiatry outpatient clinic",
                Cat.MENTAL_HEALTH,
                "Erikoissairaanhoidon tutkimus ja hoito 13-17-vuotiaille. Lähete tarvitaan.",
                min_age=13,
                contact="Poliklinikan sairaanhoitaja, puh. 03 000 1800",
            ),
        ),
    ),
    # Municipalities: education, early childhood education and youth work stay with them.
    DemoOrganisation(
        code="asikkala-perusopetus",
        name="Asikkalan kunta, perusopetus",
        kind=Kind.MUNICIPALITY,
        area="north",
        municipality="asikkala",
        phone="03 000 2000",
        email=_email("perusopetus.asikkala"),
        services=(
            DemoService(
                "Perusopetus",
                "Grundläggande utbildning",
                "Basic education",
                Cat.EDUCATION,
                "Asikkalan peruskoulut vuosiluokilla 1-9, oppimisen ja koulunkäynnin tuki.",
                min_age=7,
                max_age=16,
                municipalities=("asikkala",),
                contact="Sivistystoimisto, puh. 03 000 2000",
            ),
            DemoService(
                "Aamu- ja iltapäivätoiminta",
                "Morgon- och eftermiddagsverksamhet",
                "Before- and after-school activities",
                Cat.LEISURE,
                "Ohjattua toimintaa 1.-2.-luokkalaisille ennen ja jälkeen koulupäivän.",
                min_age=7,
                max_age=9,
                municipalities=("asikkala",),
                contact="Sivistystoimisto, puh. 03 000 2000",
            ),
        ),
    ),
    DemoOrganisation(
        code="asikkala-varhaiskasvatus",
        name="Asikkalan kunta, varhaiskasvatus",
        kind=Kind.MUNICIPALITY,
        area="north",
        municipality="asikkala",
        phone="03 000 2100",
        email=_email("varhaiskasvatus.asikkala"),
        services=(
            DemoService(
                "Varhaiskasvatus ja esiopetus",
                "Småbarnspedagogik och förskoleundervisning",
                "Early childhood education and pre-primary education",
                Cat.EARLY_CHILDHOOD,
                "Päiväkodit, perhepäivähoito ja esiopetus Asikkalassa.",
                min_age=1,
                max_age=6,
                municipalities=("asikkala",),
                contact="Varhaiskasvatuksen palveluohjaus, puh. 03 000 2100",
            ),
        ),
    ),
    DemoOrganisation(
        code="lahti-perusopetus",
        name="Lahden kaupunki, perusopetus",
        kind=Kind.MUNICIPALITY,
        phone="03 000 2200",
        email=_email("perusopetus.lahti"),
        services=(
            DemoService(
                "Perusopetus",
                "Grundläggande utbildning",
                "Basic education",
                Cat.EDUCATION,
                "Lahden peruskoulut vuosiluokilla 1-9, oppimisen ja koulunkäynnin tuki.",
                min_age=7,
                max_age=16,
                municipalities=LAHTI,
                contact="Perusopetuksen palvelupiste, puh. 03 000 2200",
            ),
        ),
    ),
    DemoOrganisation(
        code="lahti-nuorisopalvelut",
        name="Lahden kaupunki, nuorisopalvelut",
        kind=Kind.MUNICIPALITY,
        phone="03 000 2300",
        email=_email("nuoriso.lahti"),
        services=(
            DemoService(
                "Nuorisotalot ja etsivä nuorisotyö",
                "Ungdomsgårdar och uppsökande ungdomsarbete",
                "Youth centres and outreach youth work",
                Cat.YOUTH,
                "Avoimet nuorisotalot, pienryhmät ja etsivän nuorisotyön tuki 12-17-vuotiaille.",
                min_age=12,
                municipalities=LAHTI,
                contact="Nuorisopalvelut, puh. 03 000 2300",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="hollola-varhaiskasvatus",
        name="Hollolan kunta, varhaiskasvatus",
        kind=Kind.MUNICIPALITY,
        area="east",
        municipality="hollola",
        phone="03 000 2400",
        email=_email("varhaiskasvatus.hollola"),
        services=(
            DemoService(
                "Varhaiskasvatus ja esiopetus",
                "Småbarnspedagogik och förskoleundervisning",
                "Early childhood education and pre-primary education",
                Cat.EARLY_CHILDHOOD,
                "Päiväkodit, perhepäivähoito, avoin varhaiskasvatus ja esiopetus Hollolassa.",
                min_age=1,
                max_age=6,
                municipalities=("hollola",),
                contact="Varhaiskasvatuksen palveluohjaus, puh. 03 000 2400",
            ),
        ),
    ),
    DemoOrganisation(
        code="orimattila-vapaa-aika",
        name="Orimattilan kaupunki, nuoriso- ja vapaa-aikapalvelut",
        kind=Kind.MUNICIPALITY,
        area="south",
        municipality="orimattila",
        phone="03 000 2500",
        email=_email("vapaa-aika.orimattila"),
        services=(
            DemoService(
                "Harrastamisen Suomen malli",
                "Hobbymodellen i Finland",
                "Finnish model for leisure activities",
                Cat.LEISURE,
                "Maksuttomia harrastuksia koulupäivän yhteydessä.",
                min_age=7,
                max_age=16,
                municipalities=("orimattila",),
                contact="Vapaa-aikapalvelut, puh. 03 000 2500",
                low_threshold=True,
            ),
            DemoService(
                "Nuorisotyö",
                "Ungdomsarbete",
                "Youth work",
                Cat.YOUTH,
                "Nuorisotila, leirit ja nuorten tieto- ja neuvontapalvelu.",
                min_age=12,
                municipalities=("orimattila",),
                contact="Nuorisotila, puh. 03 000 2510",
                low_threshold=True,
            ),
        ),
    ),
    # Non-governmental organisations.
    DemoOrganisation(
        code="mll-paijat-hame",
        name="Mannerheimin Lastensuojeluliitto, Päijät-Hämeen piiri",
        kind=Kind.NGO,
        phone="03 000 3000",
        email=_email("mll.paijat-hame"),
        services=(
            DemoService(
                "Perhekahvila",
                "Familjecafé",
                "Family café",
                Cat.FAMILY_SUPPORT,
                "Vertaistukea ja yhdessäoloa vanhemmille ja pienille lapsille. Tule sellaisenaan.",
                max_age=6,
                contact="Perhetoiminnan koordinaattori, puh. 03 000 3000",
                low_threshold=True,
                languages=("fi", "en"),
            ),
            DemoService(
                "Lastenhoitoapu",
                "Barnvaktsservice",
                "Childminding service",
                Cat.FAMILY_SUPPORT,
                "Koulutetun lastenhoitajan tilapäistä apua kotiin.",
                max_age=12,
                contact="Lastenhoitoavun välitys, puh. 03 000 3010",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="ensi-ja-turvakoti",
        name="Päijät-Hämeen ensi- ja turvakoti ry",
        kind=Kind.NGO,
        phone="03 000 3100",
        email=_email("ensijaturvakoti"),
        services=(
            DemoService(
                "Vauvaperhetyö",
                "Arbete med babyfamiljer",
                "Support for families with babies",
                Cat.FAMILY_SUPPORT,
                "Kotikäyntejä ja ryhmiä vauvaperheille, joiden arki on kuormittunut.",
                max_age=3,
                contact="Vauvaperhetyö, puh. 03 000 3100",
                low_threshold=True,
            ),
            DemoService(
                "Eroperheiden tuki",
                "Stöd för familjer i skilsmässa",
                "Support for separating families",
                Cat.FAMILY_SUPPORT,
                "Keskustelu- ja vertaistukea eroa harkitseville ja eronneille vanhemmille.",
                contact="Erotyö, puh. 03 000 3110",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="monikulttuuriset-perheet",
        name="Monikulttuuristen perheiden tuki ry",
        kind=Kind.NGO,
        phone="03 000 3200",
        email=_email("monikulttuuriset-perheet"),
        services=(
            DemoService(
                "Monikulttuurinen perheohjaus",
                "Mångkulturell familjehandledning",
                "Multicultural family guidance",
                Cat.FAMILY_SUPPORT,
                "Ohjausta ja vertaistukea maahan muuttaneille ja monikulttuurisille perheille "
                "omalla kielellä.",
                municipalities=LAHTI + ("hollola", "orimattila"),
                contact="Perheohjaaja, puh. 03 000 3200",
                low_threshold=True,
                languages=("fi", "en", "ru", "uk", "ar", "so"),
            ),
        ),
    ),
    # Parishes.
    DemoOrganisation(
        code="asikkalan-seurakunta",
        name="Asikkalan seurakunta",
        kind=Kind.PARISH,
        area="north",
        municipality="asikkala",
        phone="03 000 4000",
        email=_email("asikkalan-seurakunta"),
        services=(
            DemoService(
                "Päiväkerho",
                "Dagklubb",
                "Day club for children",
                Cat.LEISURE,
                "Kerhoaamuja 3-6-vuotiaille lapsille seurakuntatalolla.",
                min_age=3,
                max_age=6,
                municipalities=("asikkala",),
                contact="Lapsityönohjaaja, puh. 03 000 4000",
                low_threshold=True,
            ),
        ),
    ),
    DemoOrganisation(
        code="lahden-seurakuntayhtyma",
        name="Lahden seurakuntayhtymä, perheasiain neuvottelukeskus",
        kind=Kind.PARISH,
        phone="03 000 4100",
        email=_email("perheasiat.lahti"),
        services=(
            DemoService(
                "Perheasiain neuvottelukeskus",
                "Familjerådgivningscentralen",
                "Family counselling centre",
                Cat.FAMILY_SUPPORT,
                "Pari- ja perheterapeuttista keskusteluapua parisuhteen ja perheen kriiseihin. "
                "Maksutonta, ei lähetettä.",
                contact="Ajanvaraus, puh. 03 000 4100",
                low_threshold=True,
                languages=("fi", "sv", "en"),
            ),
        ),
    ),
    # Kela and a private provider.
    DemoOrganisation(
        code="kela-lahti",
        name="Kela, Lahden palvelupiste",
        kind=Kind.KELA,
        phone="020 000 5000",
        email=_email("kela.lahti"),
        services=(
            DemoService(
                "Lapsiperheiden etuudet",
                "Förmåner för barnfamiljer",
                "Benefits for families with children",
                Cat.FINANCIAL,
                "Lapsilisä, vanhempainpäivärahat, lastenhoidon tuet ja elatustuki.",
                contact="Kelan perheasiat, puh. 020 000 5000",
                low_threshold=True,
                languages=("fi", "sv", "en"),
            ),
            DemoService(
                "Kuntoutus ja sopeutumisvalmennus",
                "Rehabilitering och anpassningsträning",
                "Rehabilitation and adaptation training",
                Cat.HEALTH,
                "Kelan järjestämä kuntoutus ja perhekurssit pitkäaikaissairaille lapsille.",
                contact="Kelan kuntoutusasiat, puh. 020 000 5010",
                languages=("fi", "sv"),
            ),
        ),
    ),
    DemoOrganisation(
        code="terapiakeskus-kielo",
        name="Terapiakeskus Kielo Oy",
        kind=Kind.PRIVATE,
        area="east",
        municipality="hollola",
        phone="03 000 6000",
        email=_email("terapiakeskus-kielo"),
        services=(
            DemoService(
                "Puheterapia",
                "Talterapi",
                "Speech therapy",
                Cat.HEALTH,
                "Puheen ja kielen kehityksen arviointi ja terapia, myös palvelusetelillä.",
                municipalities=("hollola", "karkola") + LAHTI,
                contact="Ajanvaraus, puh. 03 000 6000",
            ),
            DemoService(
                "Toimintaterapia",
                "Arbetsterapi",
                "Occupational therapy",
                Cat.HEALTH,
                "Arjen taitojen, leikin ja koulutyön tuki toimintaterapiassa.",
                municipalities=("hollola", "karkola") + LAHTI,
                contact="Ajanvaraus, puh. 03 000 6000",
            ),
        ),
    ),
]

WELLBEING_AREA_ORGANISATIONS = tuple(o.code for o in ORGANISATIONS if o.kind == Kind.WELLBEING_AREA)

# --- Users -----------------------------------------------------------------------------------

COORDINATORS_GROUP = "coordinators"
# The models a coordinator keeps in the admin, with all four model permissions.
COORDINATOR_MODELS = (Area, Municipality, Organisation, Service, OrganisationMembership, User)


# Whose records an organisation keeps, by what it mainly does (its first service).
NOTE_CATEGORY_BY_SERVICE = {
    "health": Category.NOTES_HEALTH,
    "mental_health": Category.NOTES_HEALTH,
    "social": Category.NOTES_SOCIAL,
    "early_childhood": Category.NOTES_EDUCATION,
    "education": Category.NOTES_EDUCATION,
}


def note_category_of(data) -> str:
    if not data.services:
        return Category.NOTES_GENERAL
    return NOTE_CATEGORY_BY_SERVICE.get(data.services[0].category, Category.NOTES_GENERAL)


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    who: str  # for the summary printed after seeding
    memberships: tuple[tuple[str, str, str], ...] = ()  # (organisation code, role, title)
    is_staff: bool = False
    groups: tuple[str, ...] = ()


USERS = [
    DemoUser(
        "tiina.vastuu",
        "Tiina",
        "Vastuu",
        "family social worker; responsible worker of the Virtanen case",
        memberships=(("phhva-perhesosiaalityo", Role.WORKER, "Sosiaalityöntekijä"),),
    ),
    DemoUser(
        "anna.neuvola",
        "Anna",
        "Neuvola",
        "public health nurse, child health clinic",
        memberships=(("phhva-lastenneuvola", Role.WORKER, "Terveydenhoitaja"),),
    ),
    DemoUser(
        "olli.opettaja",
        "Olli",
        "Opettaja",
        "teacher, Asikkala basic education",
        memberships=(("asikkala-perusopetus", Role.WORKER, "Luokanopettaja"),),
    ),
    DemoUser(
        "jenni.jarjesto",
        "Jenni",
        "Järjestö",
        "family worker, NGO",
        memberships=(("mll-paijat-hame", Role.WORKER, "Perhetyöntekijä"),),
    ),
    DemoUser(
        "ulla.ulkopuolinen",
        "Ulla",
        "Ulkopuolinen",
        "social worker in Lahti; unrelated to the Virtanen case",
        memberships=(("phhva-lastensuojelu-lahti", Role.WORKER, "Sosiaalityöntekijä"),),
    ),
    DemoUser(
        "hanna.huoltaja",
        "Hanna",
        "Virtanen",
        "guardian of the Virtanen family (portal)",
    ),
    DemoUser(
        "tero.tarkastaja",
        "Tero",
        "Tarkastaja",
        "auditor of the wellbeing area",
        memberships=tuple(
            (code, Role.AUDITOR, "Tietosuojavastaava") for code in WELLBEING_AREA_ORGANISATIONS
        ),
    ),
    DemoUser(
        "kaisa.koordinaattori",
        "Kaisa",
        "Koordinaattori",
        "family-centre coordinator (admin at /admin/); takes contact requests",
        memberships=(
            ("phhva-perhekeskus", Role.COORDINATOR, "Perhekeskuskoordinaattori"),
            # She takes the family centre's contact requests (issue 17, cases/intake.py).
            ("phhva-perhekeskus", Role.INTAKE, "Perhekeskuskoordinaattori"),
        ),
        is_staff=True,
        groups=(COORDINATORS_GROUP,),
    ),
]

# --- The Virtanen family ---------------------------------------------------------------------

FAMILY_NAME = "Virtanen"
FAMILY_MUNICIPALITY = "asikkala"
RESPONSIBLE_WORKER = "tiina.vastuu"
RESPONSIBLE_ORGANISATION = "phhva-perhesosiaalityo"
OPENING_REASON = (
    "Äiti otti yhteyttä perhekeskuksen palveluohjaukseen: yksinhuoltajan arki on kuormittunut, "
    "ja Eelin koulunkäynnissä on ollut haasteita syksystä asti."
)
GUARDIAN_USERNAME = "hanna.huoltaja"
# Individual numbers 900-999 are reserved for temporary identifiers and never belong to a
# real person, so the demo codes cannot collide with anyone's.
GUARDIAN: dict[str, Any] = {
    "first_name": "Hanna",
    "birth_date": datetime.date(1987, 5, 14),
    "individual": 904,
}
CHILDREN = [  # first name, age on the seeding day, individual number (odd: boy, even: girl)
    ("Aino", 13, 912),
    ("Eeli", 8, 917),
]


def identity_code(birth_date: datetime.date, individual: int) -> str:
    """A valid Finnish personal identity code for the birth date (century signs '-' and 'A')."""
    if not 1900 <= birth_date.year <= 2099:
        raise ValueError("Demo identity codes cover births in 1900-2099 only.")
    sign = "-" if birth_date.year < 2000 else "A"
    digits = f"{birth_date:%d%m%y}{individual:03d}"
    return f"{digits[:6]}{sign}{digits[6:]}{CHECK_CHARACTERS[int(digits) % 31]}"


def birth_date_for_age(age: int, *, today: datetime.date) -> datetime.date:
    """A birth date that makes the child `age` today and for about half a year to come."""
    try:
        anniversary = today.replace(year=today.year - age)
    except ValueError:  # 29 February
        anniversary = today.replace(year=today.year - age, day=28)
    return anniversary - datetime.timedelta(days=182)


# --- Seeding ---------------------------------------------------------------------------------


@dataclass
class SeedResult:
    """What a run created and changed, counted per model class."""

    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    case: Case | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


_M = TypeVar("_M", bound=models.Model)


class _Seeder:
    def __init__(self, *, today: datetime.date):
        self.today = today
        self.result = SeedResult()
        self._password_hash: str | None = None
        self._new: set[tuple[type[models.Model], object]] = set()  # made in this run

    def upsert(self, model: type[_M], lookup: dict, values: dict) -> _M:
        """get_or_create by a natural key, then save only the fields that differ (if any)."""
        obj = model._default_manager.filter(**lookup).first()
        if obj is None:
            obj = model(**lookup, **values)
            obj.full_clean()
            obj.save()
            self.result.created[model] += 1
            self._new.add((model, obj.pk))
            return obj
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.full_clean()
            obj.save(update_fields=changed)
            self.result.updated[model] += 1
        return obj

    def set_m2m(self, obj: models.Model, name: str, wanted: Sequence[models.Model]) -> None:
        manager = getattr(obj, name)
        if set(manager.values_list("pk", flat=True)) != {o.pk for o in wanted}:
            manager.set(wanted)
            if (type(obj), obj.pk) not in self._new:
                self.result.updated[type(obj)] += 1

    def set_languages(self, service: Service, wanted: tuple[str, ...]) -> None:
        if set(service.languages.values_list("language", flat=True)) != set(wanted):
            service.languages.all().delete()
            ServiceLanguage.objects.bulk_create(
                [ServiceLanguage(service=service, language=code) for code in wanted]
            )
            if (Service, service.pk) not in self._new:
                self.result.updated[Service] += 1

    def password_hash(self) -> str:
        if self._password_hash is None:  # hashing is slow on purpose: do it once
            self._password_hash = make_password(DEMO_PASSWORD)
        return self._password_hash

    def areas(self) -> dict[str, Area]:
        return {code: self.upsert(Area, {"code": code}, {"name": name}) for code, name in AREAS}

    def municipalities(self, areas: dict[str, Area]) -> dict[str, Municipality]:
        municipalities = {}
        for code, name, name_sv, area_codes in MUNICIPALITIES:
            municipality = self.upsert(
                Municipality, {"code": code}, {"name": name, "name_sv": name_sv}
            )
            self.set_m2m(municipality, "areas", [areas[area] for area in area_codes])
            municipalities[code] = municipality
        return municipalities

    def organisations(
        self, areas: dict[str, Area], municipalities: dict[str, Municipality]
    ) -> dict[str, Organisation]:
        organisations = {}
        for data in ORGANISATIONS:
            organisation = self.upsert(
                Organisation,
                {"code": data.code},
                {
                    "name": data.name,
                    "kind": data.kind,
                    "area": areas[data.area] if data.area else None,
                    "municipality": municipalities[data.municipality]
                    if data.municipality
                    else None,
                    "phone": data.phone,
                    "email": data.email,
                    "note_category": note_category_of(data),
                },
            )
            for service_data in data.services:
                service = self.upsert(
                    Service,
                    {"organisation": organisation, "name_fi": service_data.name_fi},
                    {
                        "name_sv": service_data.name_sv,
                        "name_en": service_data.name_en,
                        "description": service_data.description,
                        "category": service_data.category,
                        "min_age": service_data.min_age,
                        "max_age": service_data.max_age,
                        "contact": service_data.contact,
                        "low_threshold": service_data.low_threshold,
                        "is_active": True,
                        # What the public guide says of it (issue 17).
                        **catalogue.service_values(data.code, service_data.name_fi, EMAIL_DOMAIN),
                    },
                )
                self.set_m2m(
                    service,
                    "municipalities",
                    [municipalities[code] for code in service_data.municipalities],
                )
                self.set_languages(service, service_data.languages)
            organisations[data.code] = organisation
        return organisations

    def coordinators_group(self) -> Group:
        group, created = Group.objects.get_or_create(name=COORDINATORS_GROUP)
        if created:
            self.result.created[Group] += 1
            self._new.add((Group, group.pk))
        wanted = []
        for model in COORDINATOR_MODELS:
            content_type = ContentType.objects.get_for_model(model)
            codenames = [
                f"{action}_{model._meta.model_name}"
                for action in ("add", "change", "view", "delete")
            ]
            permissions = list(
                Permission.objects.filter(content_type=content_type, codename__in=codenames)
            )
            if len(permissions) != len(codenames):
                raise RuntimeError(
                    f"Model permissions of {model._meta.label} are missing: run migrate first."
                )
            wanted += permissions
        self.set_m2m(group, "permissions", wanted)
        return group

    def users(self, organisations: dict[str, Organisation]) -> dict[str, User]:
        groups = {COORDINATORS_GROUP: self.coordinators_group()}
        users = {}
        for data in USERS:
            values = {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "email": _email(data.username),
                "is_staff": data.is_staff,
                "is_active": True,
            }
            user = User.objects.filter(username=data.username).first()
            if user is None:
                # The password is set only when the account is made: running seed_demo again
                # must not change anything, and hashing it again would.
                values["password"] = self.password_hash()
            user = self.upsert(User, {"username": data.username}, values)
            for code, role, title in data.memberships:
                self.upsert(
                    OrganisationMembership,
                    {"user": user, "organisation": organisations[code], "role": role},
                    {"title": title, "is_active": True, "ended_at": None},
                )
            wanted_groups = {groups[name] for name in data.groups}
            if not wanted_groups <= set(user.groups.all()):
                user.groups.add(*wanted_groups)
                if (User, user.pk) not in self._new:
                    self.result.updated[User] += 1
            users[data.username] = user
        return users

    def family_case(
        self,
        municipalities: dict[str, Municipality],
        organisations: dict[str, Organisation],
        users: dict[str, User],
    ) -> Case:
        guardian_code = identity_code(GUARDIAN["birth_date"], GUARDIAN["individual"])
        guardian = (
            FamilyMember.objects.filter(
                identity_code_index=blind_index(guardian_code), role=FamilyMember.Role.GUARDIAN
            )
            .select_related("family")
            .first()
        )
        if guardian is not None:
            if guardian.user_id != users[GUARDIAN_USERNAME].pk:
                guardian.user = users[GUARDIAN_USERNAME]
                guardian.save(update_fields=["user"])
                self.result.updated[FamilyMember] += 1
            family = guardian.family
        else:
            members = [
                {
                    "role": FamilyMember.Role.GUARDIAN,
                    "first_name": GUARDIAN["first_name"],
                    "last_name": FAMILY_NAME,
                    "birth_date": GUARDIAN["birth_date"],
                    "identity_code": guardian_code,
                    "user": users[GUARDIAN_USERNAME],
                }
            ]
            for first_name, age, individual in CHILDREN:
                birth_date = birth_date_for_age(age, today=self.today)
                members.append(
                    {
                        "role": FamilyMember.Role.CHILD,
                        "first_name": first_name,
                        "last_name": FAMILY_NAME,
                        "birth_date": birth_date,
                        "identity_code": identity_code(birth_date, individual),
                    }
                )
            family = services.family_create(
                actor=users[RESPONSIBLE_WORKER],
                name=FAMILY_NAME,
                municipality=municipalities[FAMILY_MUNICIPALITY],
                joint_custody=False,
                members=members,
                organisation=organisations[RESPONSIBLE_ORGANISATION],
                opening_reason=OPENING_REASON,
            )
            self.result.created[Family] += 1
            self.result.created[FamilyMember] += len(members)
            self.result.created[Case] += 1
        # The latest case: a demo whose case was closed by hand is left as it is.
        return Case.objects.filter(family=family).latest("opened_at")


NETWORK = [  # username, role on the case
    ("anna.neuvola", "Terveydenhoitaja, lastenneuvola"),
    ("olli.opettaja", "Eelin luokanopettaja"),
]
INVITED = ("jenni.jarjesto", "mll-paijat-hame", "Perhetyöntekijä")
NOTES = [  # author, category, text
    (
        "tiina.vastuu",
        "notes_social",
        "Kotikäynti tehty. Äiti kertoo väsymyksestä; sovittu perhetyön kartoituksesta.",
    ),
    (
        "tiina.vastuu",
        "notes_general",
        "Verkostopalaveri pidetään koululla. Perhe toivoo, että asiat hoidetaan yhden "
        "luukun kautta.",
    ),
    ("anna.neuvola", "notes_health", "Aino: kasvu ja kehitys ikätasoista. Uni on parantunut."),
    ("olli.opettaja", "notes_education", "Eeli: poissaoloja syksyllä, lukemisen tukea lisätty."),
]
PLAN = {
    "needs": "Arjen kuormituksen keventäminen; Eelin koulunkäynnin tuki.",
    "family_view": "Haluamme, että meillä on yksi ihminen, jolta kysyä.",
    "goals": "Säännöllinen arkirytmi kotona; Eelin poissaolot vähenevät kevään aikana.",
}
# recipient organisation, categories, given by the guardian?
CONSENTS = [
    ("phhva-lastenneuvola", ["basic", "plan", "notes_health"], True),
    ("asikkala-perusopetus", ["basic", "plan", "notes_general"], False),
]


def seed_case_network(
    *,
    case: Case,
    users: dict[str, User],
    organisations: dict[str, Organisation],
    result: SeedResult,
) -> None:
    """The Virtanen case's network, notes, plan and consents (DESIGN.md, "Demo scenario").

    Made once, through the same services as the API; a case that already has a network (from an
    earlier run, or changed by hand since) is left as it is.
    """
    from consent import services as consent_services
    from consent.models import Consent, ConsentEvent

    if case is None or case.network.exists() or case.consents.exists():
        return
    tiina = users[RESPONSIBLE_WORKER]
    for username, role in NETWORK:
        services.network_add_professional(actor=tiina, case=case, user=users[username], role=role)
        result.created[NetworkMember] += 1
    username, organisation_code, role = INVITED
    services.invitation_create(
        actor=tiina,
        case=case,
        organisation=organisations[organisation_code],
        invited_user=users[username],
        role=role,
    )
    result.created[Invitation] += 1
    for username, category, text in NOTES:
        author = users[username]
        access = policy.access_for(author, [case])[case.pk]
        services.note_create(actor=author, case=case, access=access, category=category, text=text)
        result.created[Note] += 1
    services.plan_update(actor=tiina, case=case, data=PLAN)
    result.created[Plan] += 1
    hanna = users[GUARDIAN_USERNAME]
    for organisation_code, categories, given in CONSENTS:
        consent = consent_services.consent_request(
            actor=tiina,
            case=case,
            recipients=[organisations[organisation_code]],
            categories=categories,
            purpose_code="family-centre-coordination",
            purpose="Perheen tuen yhteensovittaminen perhekeskuksen verkostossa",
            message="Toivomme, että voimme jakaa tietoja, jotta teidän ei tarvitse kertoa "
            "asioitanne moneen kertaan.",
            valid_until=timezone.now() + datetime.timedelta(days=365),
        )
        result.created[Consent] += 1
        if given:
            consent_services.consent_decide(
                actor=hanna,
                consent=consent,
                decision=ConsentEvent.Kind.GRANTED,
                channel=ConsentEvent.Channel.PORTAL,
            )


@transaction.atomic
def seed(*, today: datetime.date | None = None) -> SeedResult:
    """Create or complete the demo data; a second run changes nothing."""
    seeder = _Seeder(today=today or timezone.localdate())
    areas = seeder.areas()
    municipalities = seeder.municipalities(areas)
    organisations = seeder.organisations(areas, municipalities)
    catalogue.seed_catalogue(seeder, municipalities=municipalities, organisations=organisations)
    users = seeder.users(organisations)
    case = seeder.family_case(municipalities, organisations, users)
    seed_case_network(case=case, users=users, organisations=organisations, result=seeder.result)
    seeder.result.case = case
    return seeder.result


# --- Report data (issue 18) ------------------------------------------------------------------
# Enough anonymous-looking cases in the south area for the coordinators' report to show figures
# above the suppression threshold: families "Raporttiperhe N" with no members, cases of a
# worker who is no persona, over the last six months. seed_demo adds them after the scenario;
# demo.seed() (the tests' world) does not, so no persona's data changes.
REPORT_FAMILY_PREFIX = "Raporttiperhe"
REPORT_WORKER = "raportti.tyontekija"


@transaction.atomic
def seed_report_data(*, today: datetime.date | None = None) -> int:
    """The report's demo cases, organisations' figures and feedback answers; the number of
    cases created (0 when they are there already)."""
    from reports.models import FeedbackAnswer, OrganisationFigure

    if Family.objects.filter(name__startswith=REPORT_FAMILY_PREFIX).exists():
        return 0
    today = today or timezone.localdate()
    organisation = Organisation.objects.get(code="orimattila-vapaa-aika")
    worker, _created = User.objects.get_or_create(
        username=REPORT_WORKER,
        defaults={"first_name": "Raportti", "last_name": "Työntekijä", "password": "!"},
    )
    OrganisationMembership.objects.get_or_create(user=worker, organisation=organisation)
    municipalities = list(Municipality.objects.filter(code__in=["orimattila", "iitti", "myrskyla"]))
    area = Area.objects.get(code="south")
    ngo = Organisation.objects.get(code="mll-paijat-hame")
    service = ngo.services.order_by("name_fi").first()
    created = 0
    first = today.replace(day=1)
    for back in range(6):
        if back:
            first = (first - datetime.timedelta(days=1)).replace(day=1)
        for n in range(9):
            municipality = municipalities[n % len(municipalities)]
            family = Family.objects.create(
                name=f"{REPORT_FAMILY_PREFIX} {first:%Y-%m} {n}",
                municipality=municipality,
                recorded_by=organisation,
            )
            opened = timezone.make_aware(
                datetime.datetime.combine(first + datetime.timedelta(days=n), datetime.time(9))
            )
            closed = back > 0 and n < 6
            Case.objects.create(
                family=family,
                responsible_worker=worker,
                responsible_organisation=organisation,
                opened_at=opened,
                status=Case.Status.CLOSED if closed else Case.Status.OPEN,
                closed_at=opened + datetime.timedelta(days=20) if closed else None,
                closing_reason="Tavoitteet saavutettu" if closed else "",
            )
            created += 1
        FeedbackAnswer.objects.bulk_create(
            FeedbackAnswer(area=area, month=first, help_at_right_time=reply)
            for reply in ["yes"] * 7 + ["no"] * 5 + [""] * 5
        )
        if service is not None:
            OrganisationFigure.objects.get_or_create(
                organisation=ngo,
                service=service,
                month=first,
                defaults={"participants": 24 + back, "sessions": 8, "new_families": 5},
            )
    return created
