"""The public service guide's demo data (issue 17): a small taxonomy, the services' locations
with addresses and coordinates in Päijät-Häme, opening hours, phones and contacts, who each
service is for and how to get it, the family centre's meeting places (*kohtaamispaikat*) and
their open activities for the coming weeks, counted from the seeding day.

Called by `cases.seeding.demo.seed` with its seeder (which knows how to upsert idempotently);
this module does not import `demo`, so that the seeding package has no import cycle.
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from cases.models import (
    Activity,
    Contact,
    Location,
    Municipality,
    Organisation,
    Phone,
    Schedule,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MO_FR = "MO,TU,WE,TH,FR"
MO_TH = "MO,TU,WE,TH"
# How many days of open activities a run makes, from the seeding day on.
ACTIVITY_DAYS = 35
URL_BASE = "https://perhekeskus.demo.koordinointi.example"
EMAIL_DOMAIN = "demo.koordinointi.example"  # as the demo's: a reserved TLD

# --- The taxonomy (coordinators keep it) -----------------------------------------------------

# code, Finnish, Swedish, English, description
TAXONOMY = [
    ("parenting", "Vanhemmuus ja perhe-elämä", "Föräldraskap och familjeliv",
     "Parenting and family life",
     "Tukea vanhemmuuteen, arkeen ja vuorovaikutukseen."),
    ("health", "Terveys", "Hälsa", "Health",
     "Lapsen ja perheen terveys, kasvu ja kehitys."),
    ("early-childhood", "Varhaiskasvatus", "Småbarnspedagogik", "Early childhood",
     "Päivähoito, esiopetus, avoin varhaiskasvatus ja kerhot."),
    ("school", "Koulu ja oppiminen", "Skola och lärande", "School and learning",
     "Perusopetus, oppimisen tuki ja koulun hyvinvointipalvelut."),
    ("leisure", "Vapaa-aika ja harrastukset", "Fritid och hobbyer", "Leisure and hobbies",
     "Harrastukset, nuorisotyö ja yhteinen tekeminen."),
    ("money", "Raha-asiat ja etuudet", "Pengar och förmåner", "Money and benefits",
     "Lapsiperheiden etuudet ja taloudellinen tuki."),
    ("mental-health", "Mielenterveys", "Psykisk hälsa", "Mental health",
     "Keskusteluapu, tunne-elämän tuki ja mielenterveyspalvelut."),
    ("relationships", "Parisuhde ja ero", "Parrelation och skilsmässa",
     "Relationships and separation",
     "Parisuhteen tuki ja eroperheiden palvelut."),
    ("crisis", "Kriisit ja lastensuojelu", "Kriser och barnskydd", "Crisis and child welfare",
     "Äkilliset kriisit, lastensuojelu ja sosiaalityö."),
]  # fmt: skip

# --- Locations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLocation:
    organisation: str
    name_fi: str
    name_sv: str
    name_en: str
    address: str
    postal_code: str
    city: str
    municipality: str
    latitude: str
    longitude: str
    # (BYDAY, opens, closes) rows of the place's opening hours
    hours: tuple[tuple[str, str, str], ...] = ((MO_FR, "08:00", "16:00"),)
    phone: str = ""
    meeting_place: bool = False
    description: str = ""
    transportation: str = ""
    accessibility: str = ""
    location_type: str = Location.LocationType.PHYSICAL
    url: str = ""


STEP_FREE = "Esteetön sisäänkäynti, invapysäköinti ovella."

LOCATIONS = {
    # The family centre (wellbeing services county): offices and meeting places.
    "lahti-perhekeskus": DemoLocation(
        "phhva-perhekeskus", "Lahden perhekeskus", "Familjecentret i Lahtis",
        "Lahti family centre", "Vesijärvenkatu 11", "15140", "Lahti", "lahti",
        "60.984300", "25.658000", phone="03 000 1000",
        transportation="Bussipysäkki Vesijärvenkatu, 200 m matkakeskuksesta.",
        accessibility=STEP_FREE,
    ),
    "lahti-olkkari": DemoLocation(
        "phhva-perhekeskus", "Kohtaamispaikka Olkkari", "Mötesplatsen Olkkari",
        "Olkkari meeting place", "Aleksanterinkatu 18", "15140", "Lahti", "lahti",
        "60.982900", "25.658100", hours=((MO_TH, "09:00", "15:00"), ("FR", "09:00", "13:00")),
        phone="03 000 1020", meeting_place=True,
        description="Perhekeskuksen kohtaamispaikka keskustassa: perhekahvila, vertaisryhmät ja "
        "palveluohjaus saman katon alla. Tule sellaisenaan, ilmoittautumista ei tarvita.",
        transportation="Kävelykadun varrella; lähimmät bussipysäkit Aleksanterinkadulla.",
        accessibility=STEP_FREE + " Lastenvaunuille oma paikka.",
    ),
    "vaaksy-kohtaamispaikka": DemoLocation(
        "phhva-perhekeskus", "Kohtaamispaikka Vääksy", "Mötesplatsen Vääksy",
        "Vääksy meeting place", "Virtaintie 11", "17200", "Vääksy", "asikkala",
        "61.172100", "25.543200", hours=((MO_TH, "09:00", "15:00"), ("TH", "17:00", "19:30")),
        phone="03 000 1030", meeting_place=True,
        description="Asikkalan perheiden kohtaamispaikka Vääksyn keskustassa: perhekahvila, "
        "avoin varhaiskasvatus ja koululaisten vanhempien vertaisryhmä.",
        transportation="Linja-autoasema 300 m; pysäköinti talon edessä.",
        accessibility=STEP_FREE,
    ),
    "salpakangas-kohtaamispaikka": DemoLocation(
        "phhva-perhekeskus", "Kohtaamispaikka Salpakangas", "Mötesplatsen Salpakangas",
        "Salpakangas meeting place", "Salpakankaantie 2", "15870", "Hollola", "hollola",
        "60.988500", "25.514200", hours=(("TU,TH", "09:00", "13:00"),),
        phone="03 000 1040", meeting_place=True,
        description="Hollolan perheiden kohtaamispaikka kirjaston yhteydessä.",
        accessibility=STEP_FREE,
    ),
    "orimattila-kohtaamispaikka": DemoLocation(
        "phhva-perhekeskus", "Kohtaamispaikka Orimattila", "Mötesplatsen Orimattila",
        "Orimattila meeting place", "Erkontie 16", "16300", "Orimattila", "orimattila",
        "60.804600", "25.730500", hours=(("MO,WE", "09:00", "15:00"),),
        phone="03 000 1050", meeting_place=True,
        description="Orimattilan perheiden ja nuorten kohtaamispaikka.",
    ),
    "hartola-kohtaamispaikka": DemoLocation(
        "phhva-perhekeskus", "Kohtaamispaikka Hartola", "Mötesplatsen Gustav Adolfs",
        "Hartola meeting place", "Keskustie 4", "19600", "Hartola", "hartola",
        "61.582000", "26.017000", hours=(("TU", "17:00", "19:30"), ("FR", "09:00", "12:00")),
        phone="03 000 1060", meeting_place=True,
        description="Hartolan perheiden kohtaamispaikka seurakuntatalon alakerrassa.",
    ),
    # Family social work, child welfare, home help.
    "lahti-sosiaalipalvelut": DemoLocation(
        "phhva-perhesosiaalityo", "Lahden sosiaalipalvelukeskus", "Socialservicecentralen i Lahtis",
        "Lahti social services centre", "Harjukatu 36", "15100", "Lahti", "lahti",
        "60.978600", "25.653000", hours=((MO_FR, "08:00", "15:00"),), phone="03 000 1100",
        accessibility=STEP_FREE,
    ),
    "asikkala-sosiaalipalvelut": DemoLocation(
        "phhva-perhesosiaalityo", "Asikkalan sosiaalipalvelut", "Socialservicen i Asikkala",
        "Asikkala social services", "Terveystie 2", "17200", "Vääksy", "asikkala",
        "61.170400", "25.549800", hours=((MO_FR, "08:00", "15:00"),), phone="03 000 1101",
        accessibility=STEP_FREE,
    ),
    "lahti-lastensuojelu": DemoLocation(
        "phhva-lastensuojelu-lahti", "Lastensuojelun avohuolto, Lahti",
        "Barnskyddets öppenvård, Lahtis", "Child welfare community care, Lahti",
        "Harjukatu 36", "15100", "Lahti", "lahti", "60.978600", "25.653000",
        hours=((MO_FR, "08:00", "15:00"),),
    ),
    "lahti-kotipalvelu": DemoLocation(
        "phhva-kotipalvelu", "Lapsiperheiden kotipalvelun toimisto", "Hemservicens kontor",
        "Home help office", "Harjukatu 36", "15100", "Lahti", "lahti",
        "60.978600", "25.653000", hours=((MO_FR, "08:00", "15:00"),),
        description="Kotipalvelu tulee kotiinne; toimistossa ei ole asiakasvastaanottoa.",
    ),
    # Health care.
    "lahti-neuvola": DemoLocation(
        "phhva-lastenneuvola", "Keskustan neuvola", "Rådgivningen i centrum",
        "City centre child health clinic", "Saimaankatu 28", "15140", "Lahti", "lahti",
        "60.980500", "25.668100", hours=((MO_TH, "08:00", "16:00"), ("FR", "08:00", "14:00")),
        phone="03 000 1201", accessibility=STEP_FREE,
    ),
    "vaaksy-neuvola": DemoLocation(
        "phhva-lastenneuvola", "Vääksyn neuvola", "Rådgivningen i Vääksy",
        "Vääksy child health clinic", "Terveystie 2", "17200", "Vääksy", "asikkala",
        "61.170400", "25.549800", hours=((MO_TH, "08:00", "16:00"), ("FR", "08:00", "14:00")),
        phone="03 000 1202", accessibility=STEP_FREE,
    ),
    "pulkkilanharju-kth": DemoLocation(
        "phhva-kouluterveydenhuolto", "Kouluterveydenhuolto, Pulkkilanharjun koulu",
        "Skolhälsovården, Pulkkilanharju skola", "School health care, Pulkkilanharju school",
        "Koulutie 2", "17200", "Vääksy", "asikkala", "61.174500", "25.548900",
        hours=((MO_FR, "08:00", "15:00"),), phone="03 000 1301",
    ),
    "kivimaa-kth": DemoLocation(
        "phhva-kouluterveydenhuolto", "Kouluterveydenhuolto, Kivimaan koulu",
        "Skolhälsovården, Kivimaa skola", "School health care, Kivimaa school",
        "Kivimaankatu 1", "15210", "Lahti", "lahti", "60.967200", "25.672000",
        hours=((MO_FR, "08:00", "15:00"),), phone="03 000 1302",
    ),
    "pulkkilanharju-oppilashuolto": DemoLocation(
        "phhva-oppilashuolto", "Kuraattori ja psykologi, Pulkkilanharjun koulu",
        "Kurator och psykolog, Pulkkilanharju skola", "Social worker and psychologist, "
        "Pulkkilanharju school", "Koulutie 2", "17200", "Vääksy", "asikkala",
        "61.174500", "25.548900", hours=((MO_TH, "08:00", "15:00"),), phone="03 000 1401",
    ),
    "kivimaa-oppilashuolto": DemoLocation(
        "phhva-oppilashuolto", "Kuraattori ja psykologi, Kivimaan koulu",
        "Kurator och psykolog, Kivimaa skola", "Social worker and psychologist, Kivimaa school",
        "Kivimaankatu 1", "15210", "Lahti", "lahti", "60.967200", "25.672000",
        hours=((MO_FR, "08:00", "15:00"),), phone="03 000 1402",
    ),
    "lahti-perheneuvola": DemoLocation(
        "phhva-perheneuvola", "Lahden perheneuvola", "Familjerådgivningen i Lahtis",
        "Lahti family counselling clinic", "Sibeliuksenkatu 8", "15110", "Lahti", "lahti",
        "60.985100", "25.649400", phone="03 000 1500", accessibility=STEP_FREE,
    ),
    "vaaksy-perheneuvola": DemoLocation(
        "phhva-perheneuvola", "Perheneuvolan vastaanotto Vääksyssä",
        "Familjerådgivningens mottagning i Vääksy", "Family counselling clinic in Vääksy",
        "Terveystie 2", "17200", "Vääksy", "asikkala", "61.170400", "25.549800",
        hours=(("TU,TH", "09:00", "15:00"),), phone="03 000 1501",
    ),
    "lahti-nuorisopsykiatria": DemoLocation(
        "phhva-nuorisopsykiatria", "Nuorisopsykiatrian poliklinikka",
        "Ungdomspsykiatriska polikliniken", "Adolescent psychiatry outpatient clinic",
        "Keskussairaalankatu 7", "15850", "Lahti", "lahti", "60.993600", "25.620500",
        hours=((MO_FR, "08:00", "15:30"),), accessibility=STEP_FREE,
    ),
    # Municipalities.
    "pulkkilanharjun-koulu": DemoLocation(
        "asikkala-perusopetus", "Pulkkilanharjun koulu", "Pulkkilanharju skola",
        "Pulkkilanharju school", "Koulutie 2", "17200", "Vääksy", "asikkala",
        "61.174500", "25.548900", hours=((MO_FR, "08:00", "15:00"),), phone="03 000 2010",
        transportation="Koulukuljetukset Asikkalan kunnan reiteillä.",
    ),
    "asikkala-sivistystoimisto": DemoLocation(
        "asikkala-perusopetus", "Asikkalan sivistystoimisto", "Bildningsbyrån i Asikkala",
        "Asikkala education office", "Rantatie 6", "17200", "Vääksy", "asikkala",
        "61.171800", "25.546900", hours=((MO_FR, "09:00", "15:00"),), phone="03 000 2000",
    ),
    "vaaksyn-paivakoti": DemoLocation(
        "asikkala-varhaiskasvatus", "Vääksyn päiväkoti", "Daghemmet i Vääksy",
        "Vääksy day-care centre", "Päivöläntie 3", "17200", "Vääksy", "asikkala",
        "61.168900", "25.541600", hours=((MO_FR, "06:30", "17:00"),), phone="03 000 2110",
    ),
    "lahti-perusopetus": DemoLocation(
        "lahti-perusopetus", "Perusopetuksen palvelupiste", "Servicepunkten för grundläggande "
        "utbildning", "Basic education service point", "Kirkkokatu 31", "15140", "Lahti",
        "lahti", "60.981900", "25.660300", hours=((MO_FR, "09:00", "15:00"),),
    ),
    "nuorisotalo-kulma": DemoLocation(
        "lahti-nuorisopalvelut", "Nuorisotalo Kulma", "Ungdomsgården Kulma", "Kulma youth centre",
        "Kirkkokatu 12", "15140", "Lahti", "lahti", "60.983600", "25.662400",
        hours=(("TU,WE,TH", "14:00", "21:00"), ("FR", "14:00", "22:00")), phone="03 000 2310",
    ),
    "salpakankaan-paivakoti": DemoLocation(
        "hollola-varhaiskasvatus", "Salpakankaan päiväkoti", "Daghemmet i Salpakangas",
        "Salpakangas day-care centre", "Virastotie 3", "15870", "Hollola", "hollola",
        "60.988800", "25.513100", hours=((MO_FR, "06:30", "17:00"),), phone="03 000 2410",
    ),
    "orimattila-vapaa-aika": DemoLocation(
        "orimattila-vapaa-aika", "Orimattilan vapaa-aikapalvelut", "Fritidstjänsterna i "
        "Orimattila", "Orimattila leisure services", "Erkontie 13", "16300", "Orimattila",
        "orimattila", "60.805000", "25.730000", hours=((MO_FR, "09:00", "15:00"),),
    ),
    "nuorisotila-nappi": DemoLocation(
        "orimattila-vapaa-aika", "Nuorisotila Nappi", "Ungdomslokalen Nappi", "Nappi youth space",
        "Erkontie 13", "16300", "Orimattila", "orimattila", "60.805000", "25.730000",
        hours=(("TU,WE,TH", "14:00", "20:00"), ("FR", "16:00", "22:00")), phone="03 000 2510",
    ),
    # NGOs, parishes, Kela and a private provider.
    "mll-perhetalo": DemoLocation(
        "mll-paijat-hame", "MLL:n perhetalo", "MLL:s familjehus", "MLL family house",
        "Vapaudenkatu 6", "15110", "Lahti", "lahti", "60.986200", "25.654800",
        hours=((MO_TH, "09:00", "15:00"),), phone="03 000 3000", accessibility=STEP_FREE,
    ),
    "ensi-perhetalo": DemoLocation(
        "ensi-ja-turvakoti", "Ensi- ja turvakodin perhetalo", "Mödra- och skyddshemmets "
        "familjehus", "Mother and child home family house", "Vuorikatu 5", "15110", "Lahti",
        "lahti", "60.987000", "25.651900", phone="03 000 3100",
    ),
    "kompassi": DemoLocation(
        "monikulttuuriset-perheet", "Monikulttuurinen perhekeskus Kompassi",
        "Mångkulturella familjecentret Kompassi", "Kompassi multicultural family centre",
        "Mariankatu 19", "15110", "Lahti", "lahti", "60.984900", "25.652100",
        hours=((MO_TH, "10:00", "16:00"),), phone="03 000 3200",
    ),
    "vaaksyn-seurakuntatalo": DemoLocation(
        "asikkalan-seurakunta", "Vääksyn seurakuntatalo", "Församlingshemmet i Vääksy",
        "Vääksy parish hall", "Seurakuntatie 1", "17200", "Vääksy", "asikkala",
        "61.173300", "25.540200", hours=(("TU,WE,TH", "09:00", "12:00"),), phone="03 000 4000",
    ),
    "perheasiain-neuvottelukeskus": DemoLocation(
        "lahden-seurakuntayhtyma", "Perheasiain neuvottelukeskus",
        "Familjerådgivningscentralen", "Family counselling centre", "Vapaudenkatu 26", "15140",
        "Lahti", "lahti", "60.981200", "25.655600", phone="03 000 4100",
    ),
    "kela-lahti": DemoLocation(
        "kela-lahti", "Kelan palvelupiste Lahti", "FPA:s servicepunkt i Lahtis",
        "Kela service point Lahti", "Kauppakatu 11", "15140", "Lahti", "lahti",
        "60.982500", "25.661400", hours=((MO_FR, "09:00", "16:00"),),
        accessibility=STEP_FREE,
    ),
    "kela-verkko": DemoLocation(
        "kela-lahti", "Kelan asiointipalvelu verkossa", "FPA:s e-tjänst", "Kela online service",
        "", "", "", "", "", "", hours=(), location_type=Location.LocationType.VIRTUAL,
        url=URL_BASE + "/kela/asiointi",
        description="Hakemukset ja liitteet verkossa vuorokauden ympäri.",
    ),
    "kielo-hollola": DemoLocation(
        "terapiakeskus-kielo", "Terapiakeskus Kielo, Hollola", "Terapicentret Kielo, Hollola",
        "Kielo therapy centre, Hollola", "Hollolantie 20", "15870", "Hollola", "hollola",
        "60.987100", "25.519800", hours=((MO_TH, "08:00", "18:00"),), phone="03 000 6000",
    ),
    "kielo-lahti": DemoLocation(
        "terapiakeskus-kielo", "Terapiakeskus Kielo, Lahti", "Terapicentret Kielo, Lahtis",
        "Kielo therapy centre, Lahti", "Rautatienkatu 21", "15110", "Lahti", "lahti",
        "60.979100", "25.656700", hours=((MO_FR, "08:00", "17:00"),), phone="03 000 6001",
    ),
}  # fmt: skip

# --- What the guide says of each service -----------------------------------------------------


@dataclass(frozen=True)
class DemoGuide:
    locations: tuple[str, ...]
    terms: tuple[str, ...]
    eligibility: str
    application: str
    fees: str = "Maksuton."
    # (name, title, e-mail local part, phone)
    contacts: tuple[tuple[str, str, str, str], ...] = ()
    # (location key, BYDAY, opens, closes, description): hours of the service at one place
    hours_at: tuple[tuple[str, str, str, str, str], ...] = ()
    # (BYDAY, opens, closes, description): hours of the service itself (a phone line, say)
    hours: tuple[tuple[str, str, str, str], ...] = ()
    temporarily_closed: bool = False
    alert: str = ""


FREE = "Maksuton."
NO_REFERRAL = "Ei lähetettä: ota yhteyttä suoraan puhelimella tai tule paikan päälle."

CATALOGUE: dict[tuple[str, str], DemoGuide] = {
    ("phhva-perhekeskus", "Perhekeskuksen palveluohjaus"): DemoGuide(
        ("lahti-perhekeskus", "vaaksy-kohtaamispaikka"), ("parenting", "crisis"),
        "Kaikille Päijät-Hämeen lapsiperheille ja odottaville perheille.",
        NO_REFERRAL + " Voit myös jättää yhteydenottopyynnön verkossa.",
        contacts=(("Ronja Saarela", "Palveluohjaaja", "ronja.saarela", "03 000 1001"),),
        hours=((MO_FR, "09:00", "15:00", "Puhelinpalvelu"),),
    ),
    ("phhva-perhesosiaalityo", "Lapsiperheiden sosiaalityö"): DemoGuide(
        ("asikkala-sosiaalipalvelut", "lahti-sosiaalipalvelut"), ("crisis", "parenting"),
        "Perheille, joiden arjessa on huolia, joihin tarvitaan sosiaalihuollon tukea.",
        "Ota yhteyttä sosiaalipäivystykseen tai pyydä yhteydenottoa perhekeskuksen kautta. "
        "Palvelutarve arvioidaan yhdessä perheen kanssa.",
        hours=((MO_FR, "08:00", "15:00", "Sosiaalipäivystys"),),
    ),
    ("phhva-perhesosiaalityo", "Perhetyö"): DemoGuide(
        ("asikkala-sosiaalipalvelut", "lahti-sosiaalipalvelut"), ("parenting",),
        "Lapsiperheille, jotka tarvitsevat tukea vanhemmuuteen ja arjen sujumiseen.",
        "Perhetyö alkaa sosiaalityöntekijän palvelutarpeen arvion jälkeen.",
    ),
    ("phhva-lastenneuvola", "Lastenneuvola"): DemoGuide(
        ("vaaksy-neuvola", "lahti-neuvola"), ("health", "parenting"),
        "Alle kouluikäisille lapsille ja heidän perheilleen.",
        "Varaa aika neuvolan ajanvarauksesta. Neuvola kutsuu määräaikaistarkastuksiin.",
        hours_at=(("vaaksy-neuvola", "MO", "12:00", "13:00",
                   "Avoin vastaanotto ilman ajanvarausta"),),
    ),
    ("phhva-lastenneuvola", "Perhevalmennus"): DemoGuide(
        ("vaaksy-neuvola", "lahti-neuvola"), ("health", "parenting"),
        "Esikoistaan odottaville perheille ja vauvaperheille.",
        "Ilmoittaudu oman neuvolan terveydenhoitajalle.",
    ),
    ("phhva-kouluterveydenhuolto", "Kouluterveydenhuolto"): DemoGuide(
        ("pulkkilanharju-kth", "kivimaa-kth"), ("health", "school"),
        "Peruskoulun oppilaille ja heidän perheilleen.",
        "Oppilas voi mennä terveydenhoitajan vastaanotolle ilman ajanvarausta; huoltaja voi "
        "soittaa terveydenhoitajalle.",
        hours_at=(("pulkkilanharju-kth", MO_TH, "08:00", "15:00", "Terveydenhoitaja koululla"),),
    ),
    ("phhva-oppilashuolto", "Koulukuraattori"): DemoGuide(
        ("pulkkilanharju-oppilashuolto", "kivimaa-oppilashuolto"), ("school", "mental-health"),
        "Koululaisille ja heidän vanhemmilleen.",
        "Ota yhteyttä oman koulun kuraattoriin Wilmassa, puhelimella tai tule käymään.",
    ),
    ("phhva-oppilashuolto", "Koulupsykologi"): DemoGuide(
        ("pulkkilanharju-oppilashuolto", "kivimaa-oppilashuolto"), ("school", "mental-health"),
        "Koululaisille ja heidän vanhemmilleen.",
        "Ota yhteyttä oman koulun psykologiin; myös opettaja voi ohjata.",
        hours_at=(("pulkkilanharju-oppilashuolto", "TU,TH", "08:00", "15:00",
                   "Psykologi koululla"),),
    ),
    ("phhva-perheneuvola", "Perheneuvola"): DemoGuide(
        ("lahti-perheneuvola", "vaaksy-perheneuvola"), ("mental-health", "parenting"),
        "Alle 18-vuotiaiden lasten perheille, kun lapsen kehitys, tunne-elämä tai perheen "
        "vuorovaikutus huolettaa.",
        "Soita perheneuvolan ajanvaraukseen. Lähetettä ei tarvita.",
        hours=((MO_FR, "09:00", "11:00", "Puhelinaika"),),
    ),
    ("phhva-lastensuojelu-lahti", "Lastensuojelun avohuolto"): DemoGuide(
        ("lahti-lastensuojelu",), ("crisis",),
        "Lahtelaisille lapsille ja perheille, joiden tilanne vaatii lastensuojelun tukea.",
        "Lastensuojeluilmoituksen voi tehdä kuka tahansa. Hätätilanteessa soita 112.",
    ),
    ("phhva-kotipalvelu", "Lapsiperheiden kotipalvelu"): DemoGuide(
        ("lahti-kotipalvelu",), ("parenting",),
        "Perheille, joissa on alle 12-vuotiaita lapsia ja arki on tilapäisesti kuormittunut.",
        "Soita kotipalvelun ohjaajalle; tarve arvioidaan puhelimessa tai kotikäynnillä.",
        fees="Maksu määräytyy tulojen ja perheen koon mukaan.",
    ),
    ("phhva-nuorisopsykiatria", "Nuorisopsykiatrian poliklinikka"): DemoGuide(
        ("lahti-nuorisopsykiatria",), ("mental-health", "health"),
        "13-17-vuotiaille nuorille, joilla on erikoissairaanhoitoa vaativia mielenterveyden "
        "ongelmia.",
        "Lähete tarvitaan: lääkäri tai koulu- ja opiskeluterveydenhuolto tekee sen.",
        fees="Poliklinikkamaksu; alle 18-vuotiaille maksuton.",
    ),
    ("asikkala-perusopetus", "Perusopetus"): DemoGuide(
        ("pulkkilanharjun-koulu", "asikkala-sivistystoimisto"), ("school",),
        "Asikkalassa asuville oppivelvollisille lapsille.",
        "Kouluun ilmoittaudutaan kunnan kouluilmoittautumisessa tammikuussa.",
    ),
    ("asikkala-perusopetus", "Aamu- ja iltapäivätoiminta"): DemoGuide(
        ("pulkkilanharjun-koulu",), ("school", "leisure"),
        "Asikkalalaisille 1.- ja 2.-luokkalaisille sekä erityisen tuen oppilaille.",
        "Hae sivistystoimistosta keväällä; myöhemmin paikkoja täytetään tilanteen mukaan.",
        fees="Kuukausimaksu 120 € (iltapäivä) tai 160 € (aamu ja iltapäivä).",
        hours_at=(("pulkkilanharjun-koulu", MO_FR, "07:00", "17:00",
                   "Aamupäivä ennen koulua, iltapäivä koulun jälkeen"),),
    ),
    ("asikkala-varhaiskasvatus", "Varhaiskasvatus ja esiopetus"): DemoGuide(
        ("vaaksyn-paivakoti",), ("early-childhood",),
        "Asikkalalaisille 1-6-vuotiaille lapsille.",
        "Hae varhaiskasvatuspaikkaa neljä kuukautta ennen tarvetta.",
        fees="Varhaiskasvatusmaksu tulojen mukaan; esiopetus maksuton.",
    ),
    ("lahti-perusopetus", "Perusopetus"): DemoGuide(
        ("lahti-perusopetus",), ("school",),
        "Lahdessa asuville oppivelvollisille lapsille.",
        "Kouluun ilmoittaudutaan kaupungin kouluilmoittautumisessa.",
    ),
    ("lahti-nuorisopalvelut", "Nuorisotalot ja etsivä nuorisotyö"): DemoGuide(
        ("nuorisotalo-kulma",), ("leisure",),
        "12-17-vuotiaille lahtelaisille nuorille.",
        "Tule nuorisotalolle aukioloaikana.",
    ),
    ("hollola-varhaiskasvatus", "Varhaiskasvatus ja esiopetus"): DemoGuide(
        ("salpakankaan-paivakoti",), ("early-childhood",),
        "Hollolalaisille 1-6-vuotiaille lapsille.",
        "Hae varhaiskasvatuspaikkaa neljä kuukautta ennen tarvetta.",
        fees="Varhaiskasvatusmaksu tulojen mukaan; esiopetus maksuton.",
    ),
    ("orimattila-vapaa-aika", "Harrastamisen Suomen malli"): DemoGuide(
        ("orimattila-vapaa-aika",), ("leisure",),
        "Orimattilalaisille koululaisille.",
        "Ilmoittaudu harrastukseen koulun kautta syyskuussa.",
    ),
    ("orimattila-vapaa-aika", "Nuorisotyö"): DemoGuide(
        ("nuorisotila-nappi",), ("leisure",),
        "12-17-vuotiaille orimattilalaisille nuorille.",
        "Tule nuorisotilalle aukioloaikana.",
    ),
    ("mll-paijat-hame", "Perhekahvila"): DemoGuide(
        ("mll-perhetalo", "vaaksy-kohtaamispaikka", "orimattila-kohtaamispaikka"),
        ("parenting", "early-childhood"),
        "Vanhemmille ja alle kouluikäisille lapsille.",
        "Tule sellaisenaan, ilmoittautumista ei tarvita.",
        contacts=(("Pirjo Vainio", "Perhetoiminnan koordinaattori", "pirjo.vainio",
                   "03 000 3001"),),
    ),
    ("mll-paijat-hame", "Lastenhoitoapu"): DemoGuide(
        ("mll-perhetalo",), ("parenting",),
        "Perheille, joissa on alle 12-vuotiaita lapsia.",
        "Tilaa lastenhoitaja välityksestä viimeistään edellisenä päivänä.",
        fees="9 € tunnilta.",
        hours=((MO_FR, "09:00", "12:00", "Välityksen puhelinaika"),),
    ),
    ("ensi-ja-turvakoti", "Vauvaperhetyö"): DemoGuide(
        ("ensi-perhetalo",), ("parenting", "health"),
        "Vauvaperheille, joiden arki on kuormittunut.",
        NO_REFERRAL,
    ),
    ("ensi-ja-turvakoti", "Eroperheiden tuki"): DemoGuide(
        ("ensi-perhetalo", "lahti-olkkari"), ("relationships", "parenting"),
        "Eroa harkitseville ja eronneille vanhemmille sekä heidän lapsilleen.",
        NO_REFERRAL,
    ),
    ("monikulttuuriset-perheet", "Monikulttuurinen perheohjaus"): DemoGuide(
        ("kompassi",), ("parenting", "money"),
        "Maahan muuttaneille ja monikulttuurisille perheille.",
        "Tule Kompassiin aukioloaikana tai soita; tulkki järjestetään tarvittaessa.",
    ),
    ("asikkalan-seurakunta", "Päiväkerho"): DemoGuide(
        ("vaaksyn-seurakuntatalo",), ("early-childhood", "leisure"),
        "3-6-vuotiaille lapsille, kotikunnasta ja uskonnosta riippumatta.",
        "Ilmoittaudu lapsityönohjaajalle elokuussa; kesken kauden, jos tilaa on.",
        fees="Kerhomaksu 30 € lukukaudelta.",
    ),
    ("lahden-seurakuntayhtyma", "Perheasiain neuvottelukeskus"): DemoGuide(
        ("perheasiain-neuvottelukeskus",), ("relationships", "mental-health"),
        "Pareille ja perheille, kotikunnasta ja uskonnosta riippumatta.",
        "Varaa aika puhelimella. Lähetettä ei tarvita.",
        hours=((MO_TH, "09:00", "11:00", "Ajanvarauksen puhelinaika"),),
    ),
    ("kela-lahti", "Lapsiperheiden etuudet"): DemoGuide(
        ("kela-lahti", "kela-verkko"), ("money",),
        "Kaikille Suomessa asuville lapsiperheille.",
        "Hae etuutta Kelan asiointipalvelussa verkossa tai palvelupisteessä.",
    ),
    ("kela-lahti", "Kuntoutus ja sopeutumisvalmennus"): DemoGuide(
        ("kela-lahti",), ("health", "money"),
        "Pitkäaikaissairaille tai vammaisille lapsille ja heidän perheilleen.",
        "Hakemukseen tarvitaan lääkärin B-lausunto.",
    ),
    ("terapiakeskus-kielo", "Puheterapia"): DemoGuide(
        ("kielo-hollola", "kielo-lahti"), ("health",),
        "Lapsille, joiden puheen tai kielen kehitys huolettaa.",
        "Palveluseteli hyvinvointialueelta neuvolan tai koulun kautta, tai ajanvaraus suoraan.",
        fees="Palvelusetelillä omavastuu; muuten 95 € / 45 min.",
        temporarily_closed=True,
        alert="Hollolan toimipiste on suljettu remontin vuoksi 31.1. asti; Lahden toimipiste "
        "palvelee normaalisti.",
    ),
    ("terapiakeskus-kielo", "Toimintaterapia"): DemoGuide(
        ("kielo-hollola", "kielo-lahti"), ("health", "school"),
        "Lapsille, joilla on haasteita arjen taidoissa, leikissä tai koulutyössä.",
        "Palveluseteli hyvinvointialueelta tai ajanvaraus suoraan.",
        fees="Palvelusetelillä omavastuu; muuten 95 € / 45 min.",
    ),
}  # fmt: skip

# --- Open activities at the meeting places ---------------------------------------------------


@dataclass(frozen=True)
class DemoActivity:
    location: str
    organisation: str
    kind: str
    name_fi: str
    name_sv: str
    name_en: str
    weekday: str  # one BYDAY
    starts: str
    ends: str
    min_age: int
    max_age: int
    description: str = ""
    service: str = ""  # the organisation's service it belongs to (name_fi), if any


K = Activity.Kind

ACTIVITIES = [
    DemoActivity("vaaksy-kohtaamispaikka", "mll-paijat-hame", K.FAMILY_CAFE, "Perhekahvila",
                 "Familjecafé", "Family café", "TU", "09:30", "11:30", 0, 6,
                 "Kahvia, leikkiä ja juttuseuraa. Tule sellaisenaan.", service="Perhekahvila"),
    DemoActivity("vaaksy-kohtaamispaikka", "asikkala-varhaiskasvatus", K.OPEN_EARLY_CHILDHOOD,
                 "Avoin leikkiaamu", "Öppen lekmorgon", "Open play morning", "WE", "09:00",
                 "11:00", 1, 6, "Avoimen varhaiskasvatuksen ohjattua leikkiä ja laulua."),
    DemoActivity("vaaksy-kohtaamispaikka", "phhva-perhekeskus", K.PEER_GROUP,
                 "Koululaisten vanhempien vertaisryhmä", "Kamratgrupp för skolbarnens föräldrar",
                 "Peer group for parents of schoolchildren", "TH", "17:30", "19:00", 7, 12,
                 "Keskustelua koulunkäynnistä, kaverisuhteista ja arjen rytmistä. Lapsille "
                 "ohjattua toimintaa samaan aikaan."),
    DemoActivity("vaaksy-kohtaamispaikka", "asikkalan-seurakunta", K.OTHER,
                 "Perheiden pelikerho", "Spelklubb för familjer", "Family games club", "FR",
                 "17:00", "19:00", 6, 12, "Lautapelejä ja pihapelejä koko perheelle."),
    DemoActivity("lahti-olkkari", "ensi-ja-turvakoti", K.FAMILY_CAFE, "Vauvakahvila",
                 "Babycafé", "Baby café", "MO", "10:00", "12:00", 0, 1,
                 "Vauvaperheiden kohtaamishetki."),
    DemoActivity("lahti-olkkari", "mll-paijat-hame", K.FAMILY_CAFE, "Perhekahvila",
                 "Familjecafé", "Family café", "WE", "09:30", "11:30", 0, 6,
                 service="Perhekahvila"),
    DemoActivity("lahti-olkkari", "ensi-ja-turvakoti", K.PEER_GROUP,
                 "Eronneiden vanhempien vertaisryhmä", "Kamratgrupp för separerade föräldrar",
                 "Peer group for separated parents", "TH", "18:00", "19:30", 0, 17,
                 service="Eroperheiden tuki"),
    DemoActivity("lahti-olkkari", "monikulttuuriset-perheet", K.OTHER,
                 "Monikulttuurinen perhekerho", "Mångkulturell familjeklubb",
                 "Multicultural family club", "FR", "10:00", "12:00", 0, 6,
                 "Leikkiä ja suomen kieltä arjen keskellä."),
    DemoActivity("salpakangas-kohtaamispaikka", "hollola-varhaiskasvatus",
                 K.OPEN_EARLY_CHILDHOOD, "Avoin päiväkoti", "Öppet daghem", "Open day-care",
                 "TU", "09:00", "11:00", 1, 6),
    DemoActivity("salpakangas-kohtaamispaikka", "mll-paijat-hame", K.FAMILY_CAFE,
                 "Perhekahvila", "Familjecafé", "Family café", "TH", "09:30", "11:30", 0, 6,
                 service="Perhekahvila"),
    DemoActivity("orimattila-kohtaamispaikka", "mll-paijat-hame", K.FAMILY_CAFE,
                 "Perhekahvila", "Familjecafé", "Family café", "MO", "09:30", "11:30", 0, 6,
                 service="Perhekahvila"),
    DemoActivity("orimattila-kohtaamispaikka", "orimattila-vapaa-aika", K.OTHER,
                 "Nuorten iltapäivä", "Ungdomarnas eftermiddag", "Afternoon for teens", "WE",
                 "14:00", "17:00", 12, 17, service="Nuorisotyö"),
    DemoActivity("hartola-kohtaamispaikka", "phhva-perhekeskus", K.PEER_GROUP,
                 "Vanhempien iltaryhmä", "Kvällsgrupp för föräldrar", "Evening group for parents",
                 "TU", "18:00", "19:30", 0, 17),
    DemoActivity("hartola-kohtaamispaikka", "mll-paijat-hame", K.FAMILY_CAFE, "Perhekahvila",
                 "Familjecafé", "Family café", "FR", "09:30", "11:30", 0, 6,
                 service="Perhekahvila"),
]  # fmt: skip


def _time(text: str) -> datetime.time:
    return datetime.time.fromisoformat(text)


def _phone_of(contact: str) -> tuple[str, str] | None:
    """('03 000 1200', 'Neuvolan ajanvaraus') from 'Neuvolan ajanvaraus, puh. 03 000 1200'."""
    match = re.search(r"^(.*?),?\s*puh\.\s*([\d ]+)$", contact)
    if match is None:
        return None
    return match[2].strip(), match[1].strip()


def _slug(text: str) -> str:
    table = str.maketrans("äöå", "aoa")
    return re.sub(r"[^a-z0-9]+", "-", text.lower().translate(table)).strip("-")


def _set_rows(seeder: Any, model, owner: dict, wanted: list[dict], fields: tuple[str, ...]):
    """Make the rows of `model` owned by `owner` exactly `wanted` (compared on `fields`);
    nothing is written when they already are."""
    existing = model._default_manager.filter(**owner)
    have = sorted(tuple(str(row[f]) for f in fields) for row in existing.values(*fields))
    want = sorted(tuple(str(row.get(f, "")) for f in fields) for row in wanted)
    if have == want:
        return
    created = not existing.exists()
    existing.delete()
    for row in wanted:
        obj = model(**owner, **row)
        obj.full_clean()
        obj.save()
    if created:
        seeder.result.created[model] += len(wanted)
    else:
        seeder.result.updated[model] += 1


def _schedule_rows(hours) -> list[dict]:
    rows = []
    for row in hours:
        byday, opens, closes, *rest = row
        rows.append(
            {
                "byday": byday,
                "opens_at": _time(opens),
                "closes_at": _time(closes),
                "description": rest[0] if rest else "",
            }
        )
    return rows


SCHEDULE_FIELDS = ("byday", "opens_at", "closes_at", "description")
PHONE_FIELDS = ("number", "description")


def service_values(code: str, name: str, email_domain: str) -> dict:
    """The guide's fields of the demo service `name` of organisation `code`."""
    guide = CATALOGUE[(code, name)]
    return {
        "url": f"{URL_BASE}/{code}/{_slug(name)}",
        "email": f"{_slug(name)}.{code}@{email_domain}",
        "eligibility_description": guide.eligibility,
        "application_process": guide.application,
        "fees_description": guide.fees,
        "temporarily_closed": guide.temporarily_closed,
        "alert": guide.alert,
    }


def seed_catalogue(
    seeder: Any,
    *,
    municipalities: dict[str, Municipality],
    organisations: dict[str, Organisation],
) -> None:
    """The guide's data on top of the demo's organisations and services; idempotent."""
    terms = {
        code: seeder.upsert(
            TaxonomyTerm,
            {"code": code},
            {"name_fi": fi, "name_sv": sv, "name_en": en, "description": description},
        )
        for code, fi, sv, en, description in TAXONOMY
    }
    locations = {}
    for key, data in LOCATIONS.items():
        location = seeder.upsert(
            Location,
            {"organisation": organisations[data.organisation], "name_fi": data.name_fi},
            {
                "name_sv": data.name_sv,
                "name_en": data.name_en,
                "location_type": data.location_type,
                "is_meeting_place": data.meeting_place,
                "description": data.description,
                "transportation": data.transportation,
                "accessibility": data.accessibility,
                "url": data.url,
                "address": data.address,
                "postal_code": data.postal_code,
                "city": data.city,
                "municipality": municipalities[data.municipality] if data.municipality else None,
                "latitude": Decimal(data.latitude) if data.latitude else None,
                "longitude": Decimal(data.longitude) if data.longitude else None,
                "is_active": True,
            },
        )
        _set_rows(
            seeder, Schedule, {"location": location}, _schedule_rows(data.hours), SCHEDULE_FIELDS
        )
        phones = [{"number": data.phone, "description": ""}] if data.phone else []
        _set_rows(seeder, Phone, {"location": location}, phones, PHONE_FIELDS)
        locations[key] = location

    services = {
        (s.organisation.code, s.name_fi): s
        for s in Service.objects.filter(
            organisation__in=list(organisations.values())
        ).select_related("organisation")
    }
    for (code, name), guide in CATALOGUE.items():
        service = services[(code, name)]
        seeder.set_m2m(service, "taxonomy_terms", [terms[t] for t in guide.terms])
        here = {}
        for key in guide.locations:
            here[key] = seeder.upsert(
                ServiceAtLocation, {"service": service, "location": locations[key]}, {}
            )
        for key, at in here.items():
            rows = [row[1:] for row in guide.hours_at if row[0] == key]
            _set_rows(
                seeder,
                Schedule,
                {"service_at_location": at},
                _schedule_rows(rows),
                SCHEDULE_FIELDS,
            )
        _set_rows(
            seeder, Schedule, {"service": service}, _schedule_rows(guide.hours), SCHEDULE_FIELDS
        )
        phone = _phone_of(service.contact)
        phones = [{"number": phone[0], "description": phone[1]}] if phone else []
        _set_rows(seeder, Phone, {"service": service}, phones, PHONE_FIELDS)
        for person, title, local, number in guide.contacts:
            contact = seeder.upsert(
                Contact,
                {"service": service, "name": person},
                {"title": title, "email": f"{local}@{EMAIL_DOMAIN}"},
            )
            _set_rows(
                seeder,
                Phone,
                {"contact": contact},
                [{"number": number, "description": ""}],
                PHONE_FIELDS,
            )
    _activities(seeder, organisations=organisations, locations=locations, services=services)


def _activities(seeder: Any, *, organisations, locations, services) -> None:
    """Each activity on its weekday for ACTIVITY_DAYS days from the seeding day: the calendar
    is never empty, whenever the demo was seeded (a later run adds the weeks after)."""
    zone = timezone.get_current_timezone()
    days = [seeder.today + datetime.timedelta(days=n) for n in range(ACTIVITY_DAYS)]
    for data in ACTIVITIES:
        service = services.get((data.organisation, data.service)) if data.service else None
        for day in days:
            if WEEKDAYS[day.weekday()] != data.weekday:
                continue
            starts = datetime.datetime.combine(day, _time(data.starts), tzinfo=zone)
            seeder.upsert(
                Activity,
                {
                    "location": locations[data.location],
                    "name_fi": data.name_fi,
                    "starts_at": starts,
                },
                {
                    "organisation": organisations[data.organisation],
                    "service": service,
                    "kind": data.kind,
                    "name_sv": data.name_sv,
                    "name_en": data.name_en,
                    "description": data.description,
                    "ends_at": datetime.datetime.combine(day, _time(data.ends), tzinfo=zone),
                    "min_age": data.min_age,
                    "max_age": data.max_age,
                    "is_cancelled": False,
                },
            )
