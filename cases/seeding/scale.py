"""A deterministic data set at wellbeing-area size, for benchmarks (`manage.py seed_scale`).

`generate(families=N, workers=M, seed=S)` builds, with bulk inserts only:

- the Päijät-Häme areas, municipalities, organisations and services of the demo (the tables
  of cases.seeding.demo), plus a basic-education and an early-childhood organisation for every
  municipality that the demo gives none;
- M workers, each a member of one organisation (a few of two), an auditor of the wellbeing
  area's organisations and a coordinator;
- N families of 1-5 members (one or two guardians, some with joint custody, children 0-17, now
  and then someone else), a portal account for about a third of the guardians, a valid
  identity code for a few children (individual numbers 950-999, reserved for temporary ids);
- one case each (a few closed) with a responsible worker of a social-care organisation, a
  network of 1-8 members across organisations (a few close to the family, a few removed),
  notes in every data category, a plan for most with 0-4 plan actions (where the app has
  `PlanAction`), some invitations and handovers;
- consents in every state (pending, active, refused, withdrawn, expired), each with the
  consent events that lead to its state (grants by every guardian where custody is joint,
  children's views and refusals); receipts are not signed (they would be most of the time);
- guardian's permission rows (`CaseUserObjectPermission`), computed by the policy itself:
  `consent.policy.accesses_by_user` over each batch of cases: `policy.decide` for every user
  of each case, exactly as `policy.case_permissions` does for one case;
- N x `events_per_family` access events appended through `audit.chain.append` in big batches,
  so the chain, its checkpoints and their external copy verify (`manage.py verify_audit`).

One `random.Random(seed)` draws everything, ids included, and every timestamp is relative to
`now` (by default the start of the current day, UTC): the same arguments on a fresh database
give the same rows, which `digest()` checks. The audit tables are append-only (database
triggers), so a data set cannot be removed again: seed a freshly created database, with an empty
AUDIT_CHECKPOINT_DIR for the chain (`check_empty` refuses anything else).

Django's change history (django-auditlog) is not written for these rows: bulk inserts send no
signals.
"""

import datetime
import hashlib
import itertools
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import translation

from audit import chain as audit_chain
from audit import checkpoints
from audit.models import AccessEvent, Chain, Checkpoint
from cases import models as case_models
from cases.identity_code import blind_index
from cases.models import (
    Area,
    Case,
    CaseUserObjectPermission,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Municipality,
    NetworkMember,
    Note,
    Organisation,
    OrganisationMembership,
    Plan,
    Service,
    User,
)
from cases.seeding import demo
from consent import policy
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from koordinointi.vocabulary import Category

SCALE_PASSWORD = "scale-pass-2026"  # noqa: S105 - published on purpose, like the demo's
# Families are made, inserted and given permissions and access events a batch at a time. The
# batch size is part of the data set's definition (events are shuffled within a batch).
CHUNK = 1000
# A designated network member of PROBE_CASES cases (at most N), for the benchmark: a public
# health nurse of the child health clinic, with a consent in force on each of those cases.
MEMBER_USERNAME = "scale.member"
MEMBER_ORGANISATION = "phhva-lastenneuvola"
PROBE_CASES = 50
PROBE_CATEGORIES = ["basic", "notes_health", "plan"]
AUDITOR_USERNAME = "scale.auditor"
COORDINATOR_USERNAME = "scale.coordinator"

# Plan actions (who does what by when), where this version of the app has them.
PlanAction: Any = getattr(case_models, "PlanAction", None)
ACTION_TITLES = [
    "Perhetyön kartoitus",
    "Tukihenkilön haku",
    "Koulupalaveri",
    "Neuvolan seurantakäynti",
    "Harrastuksen etsiminen",
    "Kela-hakemuksen tekeminen",
    "Vanhemmuuden tuen ryhmä",
]
Kind = Organisation.Kind
State = Consent.State
EvKind = ConsentEvent.Kind
Channel = ConsentEvent.Channel
CATEGORIES = list(Category.values)
NOTE_CATEGORIES = [c for c in CATEGORIES if c.startswith("notes_")]

# Where responsible workers (and so the families' records) are: social-care register units.
RESPONSIBLE_ORGANISATIONS = {
    "phhva-perhesosiaalityo": 6,
    "phhva-perhekeskus": 2,
    "phhva-lastensuojelu-lahti": 1,
    "phhva-perheneuvola": 1,
}
# Inhabitants, roughly: families live where people live.
MUNICIPALITY_WEIGHTS = {
    "lahti": 120,
    "hollola": 23,
    "orimattila": 16,
    "asikkala": 8,
    "iitti": 7,
    "karkola": 4,
    "padasjoki": 3,
    "hartola": 3,
    "pukkila": 2,
    "myrskyla": 2,
}
KIND_WEIGHTS: dict[str, int] = {
    Kind.WELLBEING_AREA: 6,
    Kind.MUNICIPALITY: 4,
    Kind.NGO: 1,
    Kind.PARISH: 1,
    Kind.KELA: 1,
    Kind.PRIVATE: 1,
}
STATE_WEIGHTS = {
    State.ACTIVE: 45,
    State.PENDING: 15,
    State.REFUSED: 10,
    State.WITHDRAWN: 15,
    State.EXPIRED: 15,
}

GIRLS = (
    "Aino Eevi Ella Emma Helmi Iida Isla Lilja Linnea Livia Olivia Pihla Sofia Venla Viola Aada "
    "Enni Hilla Kerttu Lumi Minea Nella Oona Saga Siiri Vilja Elsa Alisa Aurora Hilma"
).split()
BOYS = (
    "Eeli Eino Elias Emil Hugo Leevi Leo Lenni Oliver Onni Otto Toivo Väinö Vilho Aaro Akseli "
    "Aleksi Daniel Eemil Joel Kasper Lauri Luka Mikael Niilo Noel Oskari Rasmus Veeti Viljami"
).split()
ADULT_WOMEN = (
    "Anna Hanna Johanna Katja Laura Maria Minna Niina Paula Riikka Sanna Satu Suvi Tiina Heidi "
    "Jenni Kaisa Elina Henna Kirsi Marjo Outi Pia Sari Terhi Ulla Veera Annika Emilia Noora"
).split()
ADULT_MEN = (
    "Antti Janne Jari Jukka Juha Jussi Kari Markku Matti Mikko Pekka Petri Sami Teemu Tero Timo "
    "Tuomas Ville Heikki Joni Marko Olli Pasi Risto Sakari Tommi Jarkko Lauri Esa Aki"
).split()
SURNAMES = (
    "Korhonen Virtanen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen "
    "Lehtonen Lehtinen Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen Salonen Turunen Salo "
    "Laitinen Tuominen Rantanen Karjalainen Jokinen Mattila Savolainen Lahtinen Ahonen Hiltunen "
    "Lindholm Leinonen Hakala Kettunen Miettinen Väisänen Pitkänen Aaltonen Räsänen Manninen "
    "Lindqvist Peltonen Anttila Koivisto Seppälä Lind Eskola Kivelä Hyvönen Honkanen Ojala"
).split()
OTHER_RELATIVES = ["Isoäiti", "Isoisä", "Täti", "Eno", "Setä", "Isosisko"]
NOTE_TEXTS = [
    "Kotikäynti tehty; arki on kuormittunut, sovittu seuraavasta tapaamisesta.",
    "Verkostopalaveri pidetty koululla, perhe oli mukana.",
    "Kasvu ja kehitys ikätasoista. Uni on parantunut.",
    "Poissaoloja syksyllä, lukemisen tukea lisätty.",
    "Vanhemmat toivovat yhtä yhteyshenkilöä.",
    "Ohjattu perheneuvolan vanhemmuuden tukeen.",
    "Puhelu huoltajan kanssa: tilanne rauhoittunut.",
    "Sovittu tukihenkilön kartoituksesta.",
    "Päiväkodissa sopeutuminen sujunut hyvin.",
    "Kela-asiat selvitetty yhdessä.",
]
NEEDS = [
    "Arjen kuormituksen keventäminen.",
    "Koulunkäynnin tuki ja poissaolojen vähentäminen.",
    "Vanhemmuuden tuki ja vertaistuki.",
    "Taloudellisen tilanteen selvittäminen.",
    "Lapsen tunnetaitojen tukeminen.",
]
GOALS = [
    "Säännöllinen arkirytmi kotona.",
    "Poissaolot vähenevät kevään aikana.",
    "Perhe saa tarvitsemansa tuen yhdestä paikasta.",
    "Harrastus löytyy syksyyn mennessä.",
]
FAMILY_VIEWS = [
    "Haluamme, että meillä on yksi ihminen, jolta kysyä.",
    "Toivomme apua arkeen, emme lisää tapaamisia.",
    "Lapsen oma toive on päästä harrastamaan.",
    "",
]
PURPOSES = [
    ("family-centre-coordination", "Perheen tuen yhteensovittaminen perhekeskuksen verkostossa"),
    ("school-support", "Koulunkäynnin tuen suunnittelu"),
    ("health-follow-up", "Terveydenhuollon seuranta yhdessä perheen kanssa"),
]
WORKER_TITLES = {
    "notes_health": "Terveydenhoitaja",
    "notes_education": "Opettaja",
    "notes_social": "Sosiaalityöntekijä",
    "notes_general": "Perhetyöntekijä",
}

# Fields left out of `digest()`: encrypted values (Fernet is randomised) and times of writing.
DIGEST_EXCLUDED = {
    FamilyMember: {"identity_code"},
    User: {"last_login"},
    Checkpoint: {"id", "created_at"},
    Service: {"updated_at"},  # auto_now: the time of writing, not the generator's data
}


class NotEmpty(Exception):
    """The database (or the checkpoint folder) already holds data: seed a fresh one."""


@dataclass
class ScaleResult:
    counts: Counter = field(default_factory=Counter)
    seconds: dict = field(default_factory=dict)
    member_username: str = MEMBER_USERNAME
    probe_case_ids: list = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{name}: {count}" for name, count in sorted(self.counts.items())]
        lines += [f"{phase}: {secs:.1f} s" for phase, secs in self.seconds.items()]
        return "\n".join(lines)


def organisation_notes_category(code: str) -> str:
    """The data category a worker of this organisation writes notes in."""
    if any(k in code for k in ("neuvola", "terveydenhuolto", "psykiatria", "terapia")):
        return Category.NOTES_HEALTH
    if any(k in code for k in ("perusopetus", "oppilashuolto", "varhaiskasvatus")):
        return Category.NOTES_EDUCATION
    if any(k in code for k in ("sosiaalityo", "lastensuojelu", "kotipalvelu", "perhekeskus")):
        return Category.NOTES_SOCIAL
    return Category.NOTES_GENERAL


def check_empty() -> None:
    """Refuse a database with cases, access events or our accounts, or a non-empty external
    checkpoint copy of the chain (verification would then fail)."""
    if Case.objects.exists() or AccessEvent.objects.exists() or Organisation.objects.exists():
        raise NotEmpty(
            "This database already has organisations, cases or access events. seed_scale is "
            "for an empty, freshly migrated database: the access log is append-only and cannot "
            "be cleared. Create a new database (or SQLite file) and run migrate first."
        )
    if User.objects.filter(username__in=[MEMBER_USERNAME, AUDITOR_USERNAME]).exists():
        raise NotEmpty("The scale accounts exist already: use a fresh database.")
    try:
        path = checkpoints.external_path(settings.AUDIT_CHAIN)
    except ValueError:
        return
    if path.exists() and path.stat().st_size > 0:
        raise NotEmpty(
            f"{path} already holds checkpoints of chain {settings.AUDIT_CHAIN!r}: a fresh "
            "database needs an empty AUDIT_CHECKPOINT_DIR (or another AUDIT_CHAIN)."
        )


def default_now() -> datetime.datetime:
    """The start of the current day, UTC: runs on the same day make the same data."""
    today = datetime.datetime.now(datetime.UTC).date()
    return datetime.datetime.combine(today, datetime.time(0), tzinfo=datetime.UTC)


class _Generator:
    def __init__(self, *, families, workers, seed, events_per_family, now, log):
        self.n_families = families
        self.n_workers = workers
        self.events_per_family = events_per_family
        self.rnd = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
        self.seed = seed
        self.now = now or default_now()
        self.today = self.now.date()
        self.log = log or (lambda message: None)
        self.result = ScaleResult()
        self.policy_now = None  # the moment permissions are decided (real time)
        self.probe_case_ids: list = []
        self.usernames: dict = {}

    # --- helpers ---------------------------------------------------------------------------

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rnd.getrandbits(128), version=4)

    def ago(self, days_min: float, days_max: float) -> datetime.datetime:
        seconds = self.rnd.uniform(days_min * 86400, days_max * 86400)
        return self.now - datetime.timedelta(seconds=int(seconds))

    def weighted(self, weights: dict):
        return self.rnd.choices(list(weights), weights=list(weights.values()))[0]

    def insert(self, model, objects, batch_size=None) -> None:
        if objects:
            model.objects.bulk_create(objects, batch_size=batch_size)
            self.result.counts[model._meta.label] += len(objects)

    # --- the world: areas, municipalities, organisations, services, workers ------------------

    def world(self) -> None:
        areas = {code: Area(id=self.uid(), code=code, name=name) for code, name in demo.AREAS}
        self.insert(Area, list(areas.values()))
        municipalities, links = {}, []
        for code, name, name_sv, area_codes in demo.MUNICIPALITIES:
            municipality = Municipality(id=self.uid(), code=code, name=name, name_sv=name_sv)
            municipalities[code] = municipality
            links += [(municipality, areas[a]) for a in area_codes]
        self.insert(Municipality, list(municipalities.values()))
        Through = Municipality.areas.through
        self.insert(Through, [Through(municipality=m, area=a) for m, a in links])

        organisations, services, service_links = {}, [], []
        for data in demo.ORGANISATIONS:
            organisation = Organisation(
                id=self.uid(),
                code=data.code,
                name=data.name,
                kind=data.kind,
                area=areas[data.area] if data.area else None,
                municipality=municipalities[data.municipality] if data.municipality else None,
                phone=data.phone,
                email=data.email,
            )
            organisations[data.code] = organisation
            for s in data.services:
                service = Service(
                    id=self.uid(),
                    organisation=organisation,
                    name_fi=s.name_fi,
                    name_sv=s.name_sv,
                    name_en=s.name_en,
                    description=s.description,
                    category=s.category,
                    min_age=s.min_age,
                    max_age=s.max_age,
                    contact=s.contact,
                    low_threshold=s.low_threshold,
                )
                services.append(service)
                service_links += [(service, municipalities[m]) for m in s.municipalities]
        for code, name, *_ in demo.MUNICIPALITIES:
            for suffix, label in (("perusopetus", "perusopetus"), ("varhaiskasvatus", "varhais")):
                org_code = f"{code}-{suffix}"
                if org_code in organisations:
                    continue
                long = "perusopetus" if label == "perusopetus" else "varhaiskasvatus"
                organisations[org_code] = Organisation(
                    id=self.uid(),
                    code=org_code,
                    name=f"{name}, {long}",
                    kind=Kind.MUNICIPALITY,
                    municipality=municipalities[code],
                )
        self.insert(Organisation, list(organisations.values()))
        self.insert(Service, services)
        ServiceThrough = Service.municipalities.through
        self.insert(
            ServiceThrough, [ServiceThrough(service=s, municipality=m) for s, m in service_links]
        )
        self.areas, self.municipalities, self.organisations = areas, municipalities, organisations

    def accounts(self) -> None:
        # A fixed salt, so that the hash (and the digest) is the same on every run.
        password = make_password(SCALE_PASSWORD, salt=f"scale{self.seed}".ljust(12, "0"))
        self.password = password
        users, memberships = [], []
        organisations = list(self.organisations.values())
        # Every responsible organisation and the clinic get workers first, then every other
        # organisation one, then the rest by the size of the kind of organisation.
        first = [self.organisations[code] for code in RESPONSIBLE_ORGANISATIONS]
        first.append(self.organisations[MEMBER_ORGANISATION])
        first += [o for o in organisations if o not in first]
        weights = {o.code: KIND_WEIGHTS[o.kind] for o in organisations}
        self.workers = []  # (user, organisation)
        self.by_org: dict = {code: [] for code in self.organisations}
        for i in range(self.n_workers):
            if i < len(first):
                organisation = first[i]
            else:
                organisation = self.organisations[self.weighted(weights)]
            woman = self.rnd.random() < 0.8
            first_name = self.rnd.choice(ADULT_WOMEN if woman else ADULT_MEN)
            last_name = self.rnd.choice(SURNAMES)
            user = User(
                id=self.uid(),
                username=f"worker{i + 1:05d}",
                first_name=first_name,
                last_name=last_name,
                email=f"worker{i + 1:05d}@{demo.EMAIL_DOMAIN}",
                password=password,
                date_joined=self.ago(30, 2000),
            )
            users.append(user)
            title = WORKER_TITLES[organisation_notes_category(organisation.code)]
            memberships.append(self.membership(user, organisation, title))
            self.workers.append((user, organisation))
            self.by_org[organisation.code].append(user)
            if self.rnd.random() < 0.02:  # a few also work for a second organisation
                other = self.rnd.choice(organisations)
                if other is not organisation:
                    memberships.append(self.membership(user, other, title))
        member = User(
            id=self.uid(),
            username=MEMBER_USERNAME,
            first_name="Sanna",
            last_name="Seuranta",
            email=f"{MEMBER_USERNAME}@{demo.EMAIL_DOMAIN}",
            password=password,
            date_joined=self.ago(30, 400),
        )
        clinic = self.organisations[MEMBER_ORGANISATION]
        memberships.append(self.membership(member, clinic, "Terveydenhoitaja"))
        self.member = member
        auditor = User(
            id=self.uid(),
            username=AUDITOR_USERNAME,
            first_name="Tero",
            last_name="Tarkastaja",
            email=f"{AUDITOR_USERNAME}@{demo.EMAIL_DOMAIN}",
            password=password,
            date_joined=self.ago(30, 400),
        )
        memberships += [
            self.membership(auditor, o, "Tietosuojavastaava", OrganisationMembership.Role.AUDITOR)
            for o in organisations
            if o.kind == Kind.WELLBEING_AREA
        ]
        coordinator = User(
            id=self.uid(),
            username=COORDINATOR_USERNAME,
            first_name="Kaisa",
            last_name="Koordinaattori",
            email=f"{COORDINATOR_USERNAME}@{demo.EMAIL_DOMAIN}",
            password=password,
            is_staff=True,
            date_joined=self.ago(30, 400),
        )
        memberships.append(
            self.membership(
                coordinator,
                self.organisations["phhva-perhekeskus"],
                "Perhekeskuskoordinaattori",
                OrganisationMembership.Role.COORDINATOR,
            )
        )
        self.insert(User, [*users, member, auditor, coordinator])
        self.insert(OrganisationMembership, memberships)
        self.responsible_pool = [
            (u, self.organisations[code])
            for code, weight in RESPONSIBLE_ORGANISATIONS.items()
            for u in self.by_org[code]
            for _ in range(weight)
        ]

    def membership(self, user, organisation, title, role=OrganisationMembership.Role.WORKER):
        return OrganisationMembership(
            id=self.uid(),
            user=user,
            organisation=organisation,
            role=role,
            title=title,
            started_at=self.ago(30, 2000),
        )

    # --- families, one batch at a time --------------------------------------------------------

    def families(self) -> None:
        n = self.n_families
        probes = sorted({(j * n) // min(PROBE_CASES, n) for j in range(min(PROBE_CASES, n))})
        self.probes = set(probes)
        municipality_weights = {code: MUNICIPALITY_WEIGHTS[code] for code in self.municipalities}
        self.perm_ids = policy.permission_ids()
        self.event_index = 0
        self.total_events = n * self.events_per_family
        self.event_step = datetime.timedelta(days=365) / max(self.total_events, 1)
        self.event_base = self.now - datetime.timedelta(days=365)
        started = time.perf_counter()
        for start in range(0, n, CHUNK):
            with transaction.atomic():
                batch = _Batch()
                for index in range(start, min(start + CHUNK, n)):
                    self.family(index, batch, municipality_weights)
                batch.insert(self)
                facts = self.permissions(batch)
                self.access_events(batch, facts)
            done = min(start + CHUNK, n)
            elapsed = time.perf_counter() - started
            self.log(f"  {done}/{n} families, {elapsed:.0f} s")
        self.result.probe_case_ids = [str(case_id) for case_id in self.probe_case_ids]

    def person_name(self, girl: bool, adult: bool) -> str:
        if adult:
            return self.rnd.choice(ADULT_WOMEN if girl else ADULT_MEN)
        return self.rnd.choice(GIRLS if girl else BOYS)

    def family(self, index: int, batch: "_Batch", municipality_weights: dict) -> None:
        rnd = self.rnd
        probe = index in self.probes
        responsible, responsible_org = rnd.choice(self.responsible_pool)
        surname = rnd.choice(SURNAMES)
        family = Family(
            id=self.uid(),
            name=surname,
            municipality=self.municipalities[self.weighted(municipality_weights)],
            recorded_by=responsible_org,
            created_at=self.ago(1, 1500),
        )
        batch.families.append(family)
        # Members: 1-5, one or two guardians, children, now and then another relative.
        size = rnd.choices([1, 2, 3, 4, 5], weights=[10, 25, 30, 22, 13])[0]
        guardians = 2 if size >= 3 and rnd.random() < 0.6 else 1
        family.joint_custody = guardians == 2 and rnd.random() < 0.5
        members, children = [], []
        for g in range(guardians):
            born = self.today - datetime.timedelta(days=rnd.randint(20 * 365, 55 * 365))
            member = FamilyMember(
                id=self.uid(),
                family=family,
                role=FamilyMember.Role.GUARDIAN,
                first_name=self.person_name(girl=(g == 0) == (rnd.random() < 0.85), adult=True),
                last_name=surname,
                birth_date=born,
            )
            if probe and g == 0 or rnd.random() < 0.3:  # a portal account
                user = User(
                    id=self.uid(),
                    username=f"family{index + 1:06d}.{g + 1}",
                    first_name=member.first_name,
                    last_name=surname,
                    password=f"!scale{index}.{g}",  # unusable: families sign in through OIDC
                    date_joined=family.created_at,
                )
                batch.users.append(user)
                member.user = user
            members.append(member)
        for _ in range(size - guardians):
            if rnd.random() < 0.08:
                relative = rnd.choice(OTHER_RELATIVES)
                born = self.today - datetime.timedelta(days=rnd.randint(16 * 365, 75 * 365))
                members.append(
                    FamilyMember(
                        id=self.uid(),
                        family=family,
                        role=FamilyMember.Role.OTHER,
                        first_name=self.person_name(girl=relative.startswith("Is"), adult=True),
                        last_name=surname,
                        birth_date=born,
                    )
                )
                continue
            age_days = rnd.randint(30, 17 * 365 + 300)
            born = self.today - datetime.timedelta(days=age_days)
            child = FamilyMember(
                id=self.uid(),
                family=family,
                role=FamilyMember.Role.CHILD,
                first_name=self.person_name(girl=rnd.random() < 0.5, adult=False),
                last_name=surname,
                birth_date=born,
            )
            if rnd.random() < 0.02 and born.year >= 2000:
                code = demo.identity_code(born, rnd.randint(950, 999))
                child.identity_code = code
                child.identity_code_index = blind_index(code)
            members.append(child)
            children.append(child)
        batch.members += members
        guardian_members = members[:guardians]

        closed = not probe and rnd.random() < 0.05
        opened = max(family.created_at, self.ago(1, 1200))
        case = Case(
            id=self.uid(),
            family=family,
            responsible_worker=responsible,
            responsible_organisation=responsible_org,
            status=Case.Status.CLOSED if closed else Case.Status.OPEN,
            opening_reason=rnd.choice(NEEDS),
            opened_at=opened,
        )
        if closed:
            case.closed_at = opened + (self.now - opened) * rnd.uniform(0.3, 0.95)
            case.closing_reason = "Tavoitteet saavutettu; perhe ei tarvitse enää tukea."
        batch.cases.append(case)
        if probe:
            self.probe_case_ids.append(case.id)

        # The network: 1-8 members across organisations.
        size = rnd.choices(range(1, 9), weights=[14, 22, 22, 16, 11, 7, 5, 3])[0]
        network, professionals, used = [], [], {responsible.pk}
        if probe:
            clinic = self.organisations[MEMBER_ORGANISATION]
            nm = self.network_member(case, responsible, self.member, clinic, "Terveydenhoitaja")
            network.append(nm)
            professionals.append(nm)
            used.add(self.member.pk)
        for _ in range(size - len(network)):
            if rnd.random() < 0.1:
                network.append(
                    NetworkMember(
                        id=self.uid(),
                        case=case,
                        kind=NetworkMember.Kind.INFORMAL,
                        name=f"{self.person_name(rnd.random() < 0.6, True)} {rnd.choice(SURNAMES)}",
                        relationship=rnd.choice(OTHER_RELATIVES + ["Naapuri", "Valmentaja"]),
                        contact=f"040 {rnd.randint(1000000, 9999999)}",
                        added_by=responsible,
                        added_at=self.between(opened, self.now),
                    )
                )
                continue
            user, organisation = rnd.choice(self.workers)
            if user.pk in used:
                continue
            used.add(user.pk)
            title = WORKER_TITLES[organisation_notes_category(organisation.code)]
            nm = self.network_member(case, responsible, user, organisation, title)
            if rnd.random() < 0.05:
                nm.removed_at = self.between(nm.added_at, self.now)
            else:
                professionals.append(nm)
            network.append(nm)
        batch.network += network

        # Consents, each with the events that lead to its state.
        count = rnd.choices([0, 1, 2, 3], weights=[20, 40, 28, 12])[0]
        states = [self.weighted(STATE_WEIGHTS) for _ in range(count)]
        if index < len(STATE_WEIGHTS):  # every state, even in the smallest data set
            states.append(list(STATE_WEIGHTS)[index])
        for state in states:
            recipients = {nm.organisation for nm in professionals if rnd.random() < 0.6}
            if not recipients:
                recipients = {
                    rnd.choice(professionals).organisation
                    if professionals
                    else rnd.choice(list(self.organisations.values()))
                }
            k = rnd.randint(1, 4)
            categories = sorted(rnd.sample(CATEGORIES, k))
            self.consent(
                batch, case, responsible, guardian_members, children, recipients, categories, state
            )
        if probe:  # the designated member's consent in force
            self.consent(
                batch,
                case,
                responsible,
                guardian_members,
                [],
                {self.organisations[MEMBER_ORGANISATION]},
                PROBE_CATEGORIES,
                State.ACTIVE,
            )

        # Notes: the responsible worker's and the members', in their organisations' categories.
        writers: list[tuple[Any, Any]] = [(responsible, responsible_org)]
        writers += [(m.user, m.organisation) for m in network if m.user]
        note_count = rnd.choices(range(0, 7), weights=[8, 20, 22, 18, 14, 10, 8])[0]
        wanted: list[str | None] = [None] * note_count
        if index < len(CATEGORIES):  # every category, even in the smallest data set
            wanted.append(CATEGORIES[index])
        if probe:
            wanted += [Category.NOTES_HEALTH, Category.NOTES_SOCIAL]
        for category in wanted:
            author, organisation = rnd.choice(writers)
            if category is None:
                own = organisation_notes_category(organisation.code)
                category = own if rnd.random() < 0.85 else rnd.choice(CATEGORIES)
            batch.notes.append(
                Note(
                    id=self.uid(),
                    case=case,
                    category=category,
                    author=author,
                    organisation=organisation,
                    subject=rnd.choice(children) if children and rnd.random() < 0.3 else None,
                    text=" ".join(rnd.sample(NOTE_TEXTS, rnd.randint(1, 3))),
                    created_at=self.between(opened, self.now),
                )
            )
        if probe or rnd.random() < 0.7:
            batch.plans.append(
                Plan(
                    id=self.uid(),
                    case=case,
                    needs=" ".join(rnd.sample(NEEDS, 2)),
                    family_view=rnd.choice(FAMILY_VIEWS),
                    goals=" ".join(rnd.sample(GOALS, 2)),
                    updated_at=self.between(opened, self.now),
                    updated_by=responsible,
                )
            )
            if PlanAction is not None:
                self.plan_actions(batch, case, responsible, professionals)
        if not closed and not probe:
            if rnd.random() < 0.02:  # an invitation waiting for an answer
                invited, organisation = rnd.choice(self.workers)
                if invited.pk not in used:
                    token = f"{rnd.getrandbits(128):032x}"
                    created = self.ago(0, 10)
                    batch.invitations.append(
                        Invitation(
                            id=self.uid(),
                            case=case,
                            organisation=organisation,
                            invited_user=invited,
                            role=WORKER_TITLES[organisation_notes_category(organisation.code)],
                            token_hash=hashlib.sha256(token.encode()).hexdigest(),
                            invited_by=responsible,
                            created_at=created,
                            expires_at=created + datetime.timedelta(days=14),
                        )
                    )
            roll = rnd.random()
            if roll < 0.02:  # a handover proposed, or one declined earlier
                to_worker, to_org = rnd.choice(self.responsible_pool)
                if to_worker.pk != responsible.pk:
                    proposed = self.between(opened, self.now)
                    batch.handovers.append(
                        Handover(
                            id=self.uid(),
                            case=case,
                            from_worker=responsible,
                            to_worker=to_worker,
                            to_organisation=to_org,
                            message="Siirtyy koululaisten palveluihin.",
                            status=Handover.Status.PROPOSED
                            if roll < 0.01
                            else Handover.Status.DECLINED,
                            proposed_at=proposed,
                            decided_at=None if roll < 0.01 else self.between(proposed, self.now),
                        )
                    )

    def plan_actions(self, batch, case, responsible, professionals) -> None:
        """0-4 actions of the plan, each done by the responsible worker or a member."""
        rnd = self.rnd
        statuses = {"planned": 40, "in_progress": 25, "done": 30, "dropped": 5}
        for _ in range(rnd.choices(range(5), weights=[20, 30, 25, 15, 10])[0]):
            member = rnd.choice(professionals) if professionals and rnd.random() < 0.6 else None
            created = self.between(case.opened_at, self.now)
            batch.actions.append(
                PlanAction(
                    id=self.uid(),
                    case=case,
                    title=rnd.choice(ACTION_TITLES),
                    description=rnd.choice(GOALS),
                    responsible_user=member.user if member else responsible,
                    responsible_member=member,
                    due_date=self.today + datetime.timedelta(days=rnd.randint(-60, 120)),
                    status=self.weighted(statuses),
                    created_by=responsible,
                    created_at=created,
                    updated_at=self.between(created, self.now),
                )
            )

    def between(self, start: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
        if end <= start:
            return start
        seconds = (end - start).total_seconds()
        return start + datetime.timedelta(seconds=int(self.rnd.uniform(0, seconds)))

    def network_member(self, case, responsible, user, organisation, role) -> NetworkMember:
        return NetworkMember(
            id=self.uid(),
            case=case,
            kind=NetworkMember.Kind.PROFESSIONAL,
            user=user,
            organisation=organisation,
            role=role,
            added_by=responsible,
            added_at=self.between(case.opened_at, self.now),
        )

    def consent(self, batch, case, responsible, guardians, children, recipients, categories, state):
        rnd = self.rnd
        purpose_code, purpose = rnd.choice(PURPOSES)
        if state == State.EXPIRED:
            requested = self.ago(60, 900)
            until = self.between(requested + datetime.timedelta(days=30), self.now)
            until = min(until, self.now - datetime.timedelta(days=1))
        else:
            requested = max(case.opened_at, self.ago(1, 700))
            until = self.now + datetime.timedelta(days=rnd.randint(30, 730))
        consent = Consent(
            id=self.uid(),
            case=case,
            categories=categories,
            purpose_code=purpose_code,
            purpose=purpose,
            message="",
            notice_version=consent_services.NOTICE_VERSION,
            notice_text="",
            valid_from=requested,
            valid_until=until,
            requested_by=responsible,
            requested_at=requested,
            state=state,
        )
        recipients = sorted(recipients, key=lambda o: o.code)
        consent.notice_text = consent_services.notice_text(consent, recipients)
        batch.consents.append(consent)
        batch.recipients += [(consent, organisation) for organisation in recipients]

        moment = [requested]

        def event(kind, channel, *, actor=None, grantor=None, subject=None, statement=""):
            moment[0] = self.between(moment[0], min(self.now, until))
            batch.consent_events.append(
                ConsentEvent(
                    id=self.uid(),
                    consent=consent,
                    kind=kind,
                    channel=channel,
                    actor=actor,
                    grantor=grantor,
                    subject=subject,
                    notice_version=consent.notice_version,
                    notice_text=consent.notice_text if kind != EvKind.EXPIRED else "",
                    statement=statement,
                    created_at=moment[0],
                )
            )

        def decide(kind, guardian):
            if guardian.user is not None:
                event(kind, Channel.PORTAL, actor=guardian.user, grantor=guardian)
            else:
                channel = Channel.ON_BEHALF if rnd.random() < 0.7 else Channel.PAPER
                event(kind, channel, actor=responsible, grantor=guardian)

        event(EvKind.REQUESTED, Channel.API, actor=responsible)
        family = case.family
        granted = state in (State.ACTIVE, State.WITHDRAWN) or (
            state == State.EXPIRED and rnd.random() < 0.7
        )
        if granted:
            deciders = guardians if family.joint_custody else [rnd.choice(guardians)]
            for guardian in deciders:
                decide(EvKind.GRANTED, guardian)
            if state == State.ACTIVE:
                for child in children:
                    age = consent_services.child_age(child, self.today)
                    if age is not None and age >= 15 and rnd.random() < 0.1:
                        event(
                            EvKind.CHILD_REFUSED,
                            Channel.ON_BEHALF,
                            actor=responsible,
                            grantor=child,
                            subject=child,
                            statement="En halua, että minua koskevia merkintöjä jaetaan.",
                        )
                    elif age is not None and age >= 12 and rnd.random() < 0.2:
                        event(
                            EvKind.CHILD_VIEW,
                            Channel.ON_BEHALF,
                            actor=responsible,
                            grantor=child,
                            subject=child,
                            statement="Sopii, että opettaja tietää.",
                        )
        if state == State.REFUSED:
            decide(EvKind.REFUSED, rnd.choice(guardians))
        elif state == State.WITHDRAWN:
            decide(EvKind.REVOKED, rnd.choice(guardians))
        elif state == State.EXPIRED:
            moment[0] = until
            batch.consent_events.append(
                ConsentEvent(
                    id=self.uid(),
                    consent=consent,
                    kind=EvKind.EXPIRED,
                    channel=Channel.SYSTEM,
                    notice_version=consent.notice_version,
                    created_at=until,
                )
            )

    # --- permissions, by the policy ---------------------------------------------------------

    def permissions(self, batch: "_Batch") -> dict:
        """Guardian's rows for the batch's cases: `policy.case_permissions`, for many cases."""
        facts = policy.load_facts(batch.cases, now=self.policy_now)
        accesses = policy.accesses_by_user(batch.cases, now=self.policy_now)
        rows = []
        for case in batch.cases:
            f = facts[case.pk]
            f.accesses = accesses[case.pk]
            for user_id, access in f.accesses.items():
                rows += [
                    CaseUserObjectPermission(
                        user_id=user_id, permission_id=self.perm_ids[name], content_object=case
                    )
                    for name in sorted(access.codenames())
                ]
        self.insert(CaseUserObjectPermission, rows, batch_size=5000)
        return facts

    # --- the access log ------------------------------------------------------------------------

    def access_events(self, batch: "_Batch", facts: dict) -> None:
        rnd = self.rnd
        events = []
        outsiders = self.workers
        for case in batch.cases:
            f = facts[case.pk]
            readers = [(uid, a) for uid, a in f.accesses.items() if a.view]
            for _ in range(self.events_per_family):
                if not readers or rnd.random() < 0.04:
                    user, _org = rnd.choice(outsiders)
                    events.append(self.denied_event(case, user))
                    continue
                user_id, access = rnd.choice(readers)
                events.append(self.allowed_event(case, user_id, access, f))
        rnd.shuffle(events)
        for event in events:  # times rise along the chain, over the past year
            event.created_at = (
                self.event_base
                + self.event_step * self.event_index
                + datetime.timedelta(microseconds=rnd.randint(0, 999))
            )
            self.event_index += 1
        for start in range(0, len(events), 5000):
            audit_chain.append(events[start : start + 5000])
        self.result.counts[AccessEvent._meta.label] += len(events)

    def request_fields(self) -> dict:
        rnd = self.rnd
        return {
            "request_id": f"{rnd.getrandbits(128):032x}",
            "client_address": ".".join(
                ["10", str(rnd.randint(0, 255)), str(rnd.randint(0, 255)), str(rnd.randint(1, 254))]
            ),
        }

    def allowed_event(self, case, user_id, access, facts) -> AccessEvent:
        rnd = self.rnd
        resource = rnd.choices(
            ["case", "notes", "plan", "members", "family"], weights=[40, 30, 12, 10, 8]
        )[0]
        action = AccessEvent.Action.VIEW
        responsible_org = case.responsible_organisation_id
        categories: set[str] = set()
        sources: set = set()
        if resource in ("case", "family"):
            if rnd.random() < 0.4:
                action = AccessEvent.Action.LIST
            if access.can_read(Category.BASIC):
                categories, sources = {Category.BASIC}, {case.family.recorded_by_id}
        elif resource == "notes":
            action = AccessEvent.Action.LIST
            readable = [c for c in NOTE_CATEGORIES if c in access.categories]
            if readable:
                categories = set(rnd.sample(readable, rnd.randint(1, len(readable))))
                sources = {responsible_org}
                if facts.members:
                    # Sorted: the policy's facts come in the database's order, which varies.
                    sources.add(rnd.choice(sorted(facts.members.values(), key=str)))
        elif resource == "plan":
            if not access.can_read(Category.PLAN):
                resource = "members"
            else:
                categories, sources = {Category.PLAN}, {responsible_org}
        organisation_id = access.organisation_id
        disclosed = sorted({str(o) for o in sources if o is not None and o != organisation_id})
        return AccessEvent(
            id=self.uid(),
            user_id=user_id,
            username=self.usernames.get(user_id, ""),
            organisation_id=organisation_id,
            role=access.role,
            case_id=case.pk,
            family_id=case.family_id,
            controller_id=responsible_org,
            resource=resource,
            categories=sorted(str(c) for c in categories),
            action=action,
            outcome=AccessEvent.Outcome.ALLOWED,
            disclosed_from=disclosed,
            consents=access.consents_for(categories) if disclosed else [],
            **self.request_fields(),
        )

    def denied_event(self, case, user) -> AccessEvent:
        return AccessEvent(
            id=self.uid(),
            user_id=user.pk,
            username=user.username,
            role=AccessEvent.Role.NONE,
            case_id=case.pk,
            family_id=case.family_id,
            controller_id=case.responsible_organisation_id,
            resource="case",
            categories=[],
            action=AccessEvent.Action.VIEW,
            outcome=AccessEvent.Outcome.DENIED,
            **self.request_fields(),
        )

    # --- all of it --------------------------------------------------------------------------

    def run(self) -> ScaleResult:
        self.policy_now = datetime.datetime.now(datetime.UTC)
        phases = self.result.seconds
        started = time.perf_counter()
        with transaction.atomic():
            self.world()
            self.accounts()
            Chain.objects.get_or_create(name=settings.AUDIT_CHAIN)
        phases["organisations and workers"] = time.perf_counter() - started
        self.usernames = {u.pk: u.username for u, _org in self.workers}
        self.usernames[self.member.pk] = self.member.username
        step = time.perf_counter()
        self.families()
        phases["families, cases, permissions, access log"] = time.perf_counter() - step
        step = time.perf_counter()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            phases["ANALYZE"] = time.perf_counter() - step
        phases["total"] = time.perf_counter() - started
        return self.result


class _Batch:
    """The rows of one batch of families, inserted in the order of their foreign keys."""

    def __init__(self):
        self.users, self.families, self.members, self.cases = [], [], [], []
        self.network, self.consents, self.recipients, self.consent_events = [], [], [], []
        self.notes, self.plans, self.invitations, self.handovers = [], [], [], []
        self.actions = []

    def insert(self, gen: _Generator) -> None:
        gen.insert(User, self.users)
        for user in self.users:
            gen.usernames[user.pk] = user.username
        gen.insert(Family, self.families)
        gen.insert(FamilyMember, self.members)
        gen.insert(Case, self.cases)
        gen.insert(NetworkMember, self.network)
        gen.insert(Handover, self.handovers)
        gen.insert(Invitation, self.invitations)
        gen.insert(Consent, self.consents)
        Through = Consent.recipients.through
        gen.insert(Through, [Through(consent=c, organisation=o) for c, o in self.recipients])
        gen.insert(ConsentEvent, self.consent_events)
        gen.insert(Note, self.notes)
        gen.insert(Plan, self.plans)
        if PlanAction is not None:
            gen.insert(PlanAction, self.actions)


def generate(
    *,
    families: int,
    workers: int,
    seed: int = 1,
    events_per_family: int = 10,
    now: datetime.datetime | None = None,
    log=None,
) -> ScaleResult:
    """Build the data set into the current (empty) database; see the module's docstring."""
    if families < 1 or workers < 1:
        raise ValueError("Give at least one family and one worker.")
    check_empty()
    generator = _Generator(
        families=families,
        workers=workers,
        seed=seed,
        events_per_family=events_per_family,
        now=now,
        log=log,
    )
    with translation.override(settings.LANGUAGE_CODE):  # the consents' notice texts
        return generator.run()


# --- a digest of the whole data set, for determinism checks -------------------------------------


def _plain(value) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def digest() -> str:
    """SHA-256 over every row the generator writes, in a fixed order, with foreign keys as ids
    (permissions by codename; encrypted values and writing times left out)."""
    sha = hashlib.sha256()
    plain_models = [
        Area,
        Municipality,
        Organisation,
        Service,
        User,
        OrganisationMembership,
        Family,
        FamilyMember,
        Case,
        NetworkMember,
        Handover,
        Invitation,
        Note,
        Plan,
        *([PlanAction] if PlanAction is not None else []),
        Consent,
        ConsentEvent,
        Chain,
        AccessEvent,
        Checkpoint,
    ]
    for model in plain_models:
        excluded = DIGEST_EXCLUDED.get(model, set())
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if f.name not in excluded and f.attname not in excluded
        ]
        order = ["chain", "seq"] if model in (AccessEvent, Checkpoint) else ["pk"]
        sha.update(f"#{model._meta.label}:{','.join(names)}\n".encode())
        for row in model.objects.order_by(*order).values_list(*names).iterator(chunk_size=5000):
            sha.update(("|".join(_plain(v) for v in row) + "\n").encode())
    links = [
        (Municipality.areas.through, "municipality_id", "area_id"),
        (Service.municipalities.through, "service_id", "municipality_id"),
        (Consent.recipients.through, "consent_id", "organisation_id"),
    ]
    for model, left, right in links:
        sha.update(f"#{model._meta.label}\n".encode())
        rows = model._default_manager.order_by(left, right).values_list(left, right)
        for row in rows.iterator(chunk_size=5000):
            sha.update(("|".join(_plain(v) for v in row) + "\n").encode())
    # Permission rows by (case, user), each with its codenames sorted here: databases collate
    # text differently, UUIDs alike.
    sha.update(f"#{CaseUserObjectPermission._meta.label}\n".encode())
    rows = CaseUserObjectPermission.objects.order_by("content_object_id", "user_id").values_list(
        "content_object_id", "user_id", "permission__codename"
    )
    group, names = None, []
    for case_id, user_id, codename in itertools.chain(rows.iterator(chunk_size=5000), [(0, 0, 0)]):
        if (case_id, user_id) != group:
            if group is not None:
                sha.update(f"{group[0]}|{group[1]}|{','.join(sorted(names))}\n".encode())
            group, names = (case_id, user_id), []
        names.append(codename)
    return sha.hexdigest()
