"""Legal bases (issue 16, acceptance 1): a disclosure that a law allows without consent.

With a statutory basis recorded for Asikkala basic education on the Virtanen case, olli sees the
granted categories on the next request with no consent; the access-log entry names the basis;
hanna sees the basis in the portal; ending it ends access on the next request. Then: who may
record and end one, bad input, a basis withheld from the family (and the auditors' review of
it), the hash of an entry naming a basis, sector-wide consent, and constant query counts.
"""

import datetime
import uuid

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AccessEvent
from audit.verify import verify_chain
from cases import services
from cases.models import Organisation
from consent import legal_bases
from consent import services as consent_services
from consent.models import Consent, LegalBasis
from tests.conftest import ANNA, HANNA, OLLI, TERO, TIINA, ULLA, persona
from tests.factories import OrganisationFactory, WorkerFactory, access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

SCHOOL = "asikkala-perusopetus"
REASON = "Lastensuojelutarpeen selvitys: koulun havainnot Eelin poissaoloista"
WITHHELD = "Isä ei saa tietää selvityksestä ennen kotikäyntiä"


def _until(days: int = 30) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=days)


def _body(organisation: str = SCHOOL, **extra) -> dict:
    return {
        "organisation": str(Organisation.objects.get(code=organisation).pk),
        "categories": ["basic", "plan", "notes_general"],
        "basis": "child_welfare_need_assessment",
        "reason": REASON,
        "valid_until": _until().isoformat(),
        **extra,
    }


def record(case, organisation: str = SCHOOL, **extra) -> LegalBasis:
    tiina = persona(TIINA)
    fields = {
        "categories": ["basic", "plan", "notes_general"],
        "basis": "child_welfare_need_assessment",
        "reason": REASON,
        "valid_until": _until(),
        **extra,
    }
    return legal_bases.legal_basis_record(
        actor=tiina,
        case=case,
        access=access_of(tiina, case),
        organisation=Organisation.objects.get(code=organisation),
        **fields,
    )


def note_texts(client, case) -> set:
    return {n["category"] for n in client.get(f"/api/v1/cases/{case.pk}/notes/").json()["results"]}


def hanna_portal() -> Client:
    client = Client()
    client.force_login(persona(HANNA))
    return client


def last_read(username: str, case, resource: str = "case") -> AccessEvent:
    return (
        AccessEvent.objects.filter(username=username, case_id=case.pk, resource=resource)
        .order_by("-seq")
        .first()
    )


# --- Acceptance 1 -------------------------------------------------------------------------------


def test_a_recorded_basis_lets_olli_read_without_consent_until_it_ends(api, demo_case, settings):
    case = demo_case
    school_consent = Consent.objects.get(case=case, recipients__code=SCHOOL)
    olli = api.as_user(persona(OLLI))
    before = olli.get(f"/api/v1/cases/{case.pk}/").json()
    assert "family" not in before and before["categories"] == []

    tiina = api.as_user(persona(TIINA))
    response = tiina.post(f"/api/v1/cases/{case.pk}/legal-bases/", _body(), format="json")
    assert response.status_code == 201, response.content
    basis = response.json()
    assert basis["statute"] == "Lastensuojelulaki 417/2007, 27 § ja 41 §"
    assert basis["in_force"] is True and basis["recorded_by"]["name"] == "Tiina Vastuu"
    school_consent.refresh_from_db()
    assert school_consent.state == Consent.State.PENDING  # no consent given

    # The next request: the granted categories, and the log names the basis, not a consent.
    olli = api.as_user(persona(OLLI))
    body = olli.get(f"/api/v1/cases/{case.pk}/").json()
    assert body["family"]["name"] == "Virtanen"
    assert body["categories"] == ["basic", "notes_general", "plan"]
    event = last_read(OLLI, case)
    assert event.outcome == "allowed" and "basic" in event.categories
    assert event.legal_bases == [basis["id"]] and event.consents == []
    assert event.disclosed_from == [str(case.responsible_organisation_id)]
    assert note_texts(olli, case) == {"notes_education", "notes_general"}
    assert last_read(OLLI, case, "notes").legal_bases == [basis["id"]]
    assert olli.get(f"/api/v1/cases/{case.pk}/plan/").status_code == 200
    # olli lists the basis he reads under; the auditor's list shows the basis too.
    listed = olli.get(f"/api/v1/cases/{case.pk}/legal-bases/").json()["results"]
    assert [b["id"] for b in listed] == [basis["id"]]
    audit = api.as_user(persona(TERO)).get("/api/v1/audit/events/", {"case": str(case.pk)})
    assert any(row["legal_bases"] == [basis["id"]] for row in audit.json()["results"])

    # hanna sees the basis in the portal, and in her copy.
    page = hanna_portal().get(f"/portal/cases/{case.pk}/").content.decode()
    assert REASON in page and "417/2007" in page and "Asikkala" in page
    copy = hanna_portal().get(f"/portal/cases/{case.pk}/copy.json").json()
    assert [b["reason"] for b in copy["legal_bases"]] == [REASON]

    # Ended: the very next request is back to the first state.
    tiina = api.as_user(persona(TIINA))
    response = tiina.post(f"/api/v1/cases/{case.pk}/legal-bases/{basis['id']}/end/", {})
    assert response.status_code == 200, response.content
    assert response.json()["in_force"] is False and response.json()["ended_at"]
    olli = api.as_user(persona(OLLI))
    body = olli.get(f"/api/v1/cases/{case.pk}/").json()
    assert "family" not in body and body["categories"] == []
    assert last_read(OLLI, case).legal_bases == []
    assert note_texts(olli, case) == {"notes_education"}
    assert olli.get(f"/api/v1/cases/{case.pk}/plan/").status_code == 404
    assert olli.get(f"/api/v1/cases/{case.pk}/legal-bases/").json()["results"] == []
    # The family still sees that it was, and when it ended.
    page = hanna_portal().get(f"/portal/cases/{case.pk}/").content.decode()
    assert REASON in page
    # Every entry, those naming a basis among them, verifies.
    settings.AUDIT_CHAINS = [settings.AUDIT_CHAIN]
    assert verify_chain(settings.AUDIT_CHAIN, without_external=True).ok


def test_guardians_table_follows_the_basis(demo_case):
    from consent import policy

    basis = record(demo_case)
    assert policy.stored_permissions(demo_case) == policy.case_permissions(demo_case)
    olli = persona(OLLI)
    assert "view_case_basic" in policy.case_permissions(demo_case)[olli.pk]
    tiina = persona(TIINA)
    legal_bases.legal_basis_end(
        actor=tiina, case=demo_case, access=access_of(tiina, demo_case), legal_basis=basis
    )
    assert policy.stored_permissions(demo_case) == policy.case_permissions(demo_case)
    assert "view_case_basic" not in policy.case_permissions(demo_case)[olli.pk]


def test_a_basis_past_its_end_date_allows_nothing_even_before_anyone_ends_it(api, demo_case):
    basis = record(demo_case)
    LegalBasis.objects.filter(pk=basis.pk).update(
        valid_from=timezone.now() - datetime.timedelta(days=2),
        valid_until=timezone.now() - datetime.timedelta(seconds=1),
    )
    body = api.as_user(persona(OLLI)).get(f"/api/v1/cases/{demo_case.pk}/").json()
    assert "family" not in body and body["categories"] == []


def test_a_basis_for_an_organisation_outside_the_network_shows_nothing(api, demo_case):
    record(demo_case, organisation="mll-paijat-hame")
    jenni = api.as_user(persona("jenni.jarjesto"))
    assert jenni.get(f"/api/v1/cases/{demo_case.pk}/").status_code == 404


def test_an_entry_naming_a_basis_is_hashed_with_it(api, demo_case, settings):
    from tests.test_audit_tamper import disable_triggers, sql

    basis = record(demo_case)
    api.as_user(persona(OLLI)).get(f"/api/v1/cases/{demo_case.pk}/")
    event = last_read(OLLI, demo_case)
    assert event.legal_bases == [str(basis.pk)]
    settings.AUDIT_CHAINS = [settings.AUDIT_CHAIN]
    assert verify_chain(settings.AUDIT_CHAIN, without_external=True).ok
    disable_triggers()
    sql(
        "UPDATE audit_accessevent SET legal_bases = %s WHERE id = %s",
        ["[]", event.pk.hex if connection.vendor == "sqlite" else str(event.pk)],
    )
    result = verify_chain(settings.AUDIT_CHAIN, without_external=True)
    assert not result.ok and result.first_bad_seq == event.seq


# --- Who may record and end -------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [(ANNA, 403), (OLLI, 403), (HANNA, 403), (ULLA, 404)])
def test_only_the_responsible_worker_records_a_basis(api, demo_case, who, status):
    client = api.as_user(persona(who))
    response = client.post(f"/api/v1/cases/{demo_case.pk}/legal-bases/", _body(), format="json")
    assert response.status_code == status, response.content
    assert not LegalBasis.objects.exists()


@pytest.mark.parametrize(("who", "status"), [(ANNA, 403), (OLLI, 403), (HANNA, 403), (ULLA, 404)])
def test_only_the_responsible_worker_ends_a_basis(api, demo_case, who, status):
    basis = record(demo_case)
    client = api.as_user(persona(who))
    response = client.post(f"/api/v1/cases/{demo_case.pk}/legal-bases/{basis.pk}/end/", {})
    assert response.status_code == status, response.content
    basis.refresh_from_db()
    assert basis.ended_at is None


def test_a_basis_of_another_case_is_not_found(api, demo_case):
    ulla = persona(ULLA)
    other = services.family_create(
        actor=ulla,
        name="Muu",
        municipality=demo_case.family.municipality,
        members=[{"role": "guardian", "first_name": "Maija", "last_name": "Muu"}],
    ).cases.get()
    theirs = legal_bases.legal_basis_record(
        actor=ulla,
        case=other,
        access=access_of(ulla, other),
        organisation=Organisation.objects.get(code=SCHOOL),
        categories=["basic"],
        basis="authority_request",
        reason="Käräjäoikeuden pyyntö",
        valid_until=_until(),
    )
    tiina = api.as_user(persona(TIINA))
    response = tiina.post(f"/api/v1/cases/{demo_case.pk}/legal-bases/{theirs.pk}/end/", {})
    assert response.status_code == 404
    missing = tiina.post(f"/api/v1/cases/{demo_case.pk}/legal-bases/{uuid.uuid4()}/end/", {})
    assert missing.status_code == 404 and missing.json() == response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"basis": "because"}, "basis"),
        ({"categories": []}, "categories"),
        ({"categories": ["secrets"]}, "categories"),
        ({"reason": "   "}, "reason"),
        ({"valid_until": "2020-01-01T00:00:00Z"}, "valid_until"),
        ({"withheld_from_family": True}, "withheld_reason"),
        ({"withheld_reason": "Ei syytä"}, "withheld_reason"),
        ({"organisation": "not-a-uuid"}, "organisation"),
        ({"organisation": None}, "organisation"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, demo_case, change, field):
    client = api.as_user(persona(TIINA))
    response = client.post(
        f"/api/v1/cases/{demo_case.pk}/legal-bases/", {**_body(), **change}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not LegalBasis.objects.exists()


def test_the_responsible_organisation_needs_no_basis(api, demo_case):
    own = demo_case.responsible_organisation.code
    response = api.as_user(persona(TIINA)).post(
        f"/api/v1/cases/{demo_case.pk}/legal-bases/", _body(own), format="json"
    )
    assert response.status_code == 400 and "organisation" in response.json()


def test_a_basis_ends_once(api, demo_case):
    basis = record(demo_case)
    client = api.as_user(persona(TIINA))
    url = f"/api/v1/cases/{demo_case.pk}/legal-bases/{basis.pk}/end/"
    assert client.post(url, {}).status_code == 200
    again = client.post(url, {})
    assert again.status_code == 400 and again.json()


def test_no_basis_on_a_closed_case(api, demo_case):
    services.case_close(actor=persona(TIINA), case=demo_case, reason="Valmis")
    response = api.as_user(persona(TIINA)).post(
        f"/api/v1/cases/{demo_case.pk}/legal-bases/", _body(), format="json"
    )
    assert response.status_code == 403
    assert not LegalBasis.objects.exists()


# --- Withheld from the family -----------------------------------------------------------------


def test_a_basis_withheld_from_the_family_is_for_the_worker_and_the_auditor(api, demo_case):
    case = demo_case
    response = api.as_user(persona(TIINA)).post(
        f"/api/v1/cases/{case.pk}/legal-bases/",
        _body(withheld_from_family=True, withheld_reason=WITHHELD),
        format="json",
    )
    assert response.status_code == 201, response.content
    basis_id = response.json()["id"]
    assert response.json()["withheld_reason"] == WITHHELD

    # olli reads under it all the same, and never learns why the family is not told.
    olli = api.as_user(persona(OLLI))
    assert olli.get(f"/api/v1/cases/{case.pk}/").json()["family"]["name"] == "Virtanen"
    [seen] = olli.get(f"/api/v1/cases/{case.pk}/legal-bases/").json()["results"]
    assert seen["withheld_from_family"] is True and seen["withheld_reason"] == ""

    # The family sees nothing of it: portal, copy, API.
    client = hanna_portal()
    page = client.get(f"/portal/cases/{case.pk}/").content.decode()
    assert REASON not in page and WITHHELD not in page
    copy = client.get(f"/portal/cases/{case.pk}/copy.json").content.decode()
    assert REASON not in copy and WITHHELD not in copy and basis_id not in copy
    hanna = api.as_user(persona(HANNA))
    assert hanna.get(f"/api/v1/cases/{case.pk}/legal-bases/").json()["results"] == []

    # The auditor reviews it, with the reason; nobody else lists those withheld.
    tero = api.as_user(persona(TERO))
    [row] = tero.get("/api/v1/audit/legal-bases/withheld/").json()["results"]
    assert row["id"] == basis_id and row["withheld_reason"] == WITHHELD
    assert row["case"] == str(case.pk) and "reason" not in row
    for who in (TIINA, ANNA, OLLI, HANNA):
        assert (
            api.as_user(persona(who)).get("/api/v1/audit/legal-bases/withheld/").status_code == 403
        )
    # The withholding is in the change history, with who recorded it.
    entry = LogEntry.objects.get_for_object(LegalBasis.objects.get(pk=basis_id)).get()
    assert entry.actor == persona(TIINA)
    assert entry.changes_dict["withheld_reason"][1] == WITHHELD


def test_a_basis_the_family_sees_is_not_in_the_auditors_review(api, demo_case):
    record(demo_case)
    tero = api.as_user(persona(TERO))
    assert tero.get("/api/v1/audit/legal-bases/withheld/").json()["results"] == []


# --- Sector-wide consent ----------------------------------------------------------------------


def test_a_sector_wide_consent_names_every_health_care_organisation_of_the_area(api, demo_case):
    response = api.as_user(persona(TIINA)).post(
        f"/api/v1/cases/{demo_case.pk}/consent-requests/",
        {
            "sector": "health_care",
            "categories": ["basic"],
            "purpose_code": "kanta",
            "purpose": "Terveydenhuollon yhteinen suostumus",
            "valid_until": _until().isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sector"] == "health_care"
    names = {org["name"] for org in body["recipients"]}
    codes = set(Organisation.objects.filter(name__in=names).values_list("code", flat=True))
    assert {"phhva-lastenneuvola", "phhva-kouluterveydenhuolto"} <= codes
    # Not another sector's, and not a provider of another area (a Hollola therapy centre).
    assert not codes & {SCHOOL, "phhva-perhesosiaalityo", "terapiakeskus-kielo"}
    assert all(name in body["notice_text"] for name in names)
    # Granted, it reaches anna's clinic like any consent naming it.
    consent = Consent.objects.get(pk=body["id"])
    assert set(consent.recipients.values_list("code", flat=True)) == codes


def test_a_sector_consent_needs_a_known_sector_and_recipients_somewhere(api, demo_case):
    client = api.as_user(persona(TIINA))
    base = {
        "categories": ["basic"],
        "purpose_code": "kanta",
        "purpose": "x",
        "valid_until": _until().isoformat(),
    }
    url = f"/api/v1/cases/{demo_case.pk}/consent-requests/"
    unknown = client.post(url, {**base, "sector": "police"}, format="json")
    assert unknown.status_code == 400 and "sector" in unknown.json()
    nothing = client.post(url, base, format="json")
    assert nothing.status_code == 400 and "recipients" in nothing.json()


def test_a_sector_consent_in_force_lets_the_clinic_read(demo_case):
    from consent.models import ConsentEvent

    tiina, hanna = persona(TIINA), persona(HANNA)
    consent = consent_services.consent_request(
        actor=tiina,
        case=demo_case,
        recipients=[],
        sector="social_welfare",
        categories=["notes_general"],
        purpose_code="kanta",
        purpose="Sosiaalihuollon yhteinen suostumus",
        valid_until=_until(),
    )
    assert consent.sector == "social_welfare"
    assert consent.recipients.filter(code="phhva-oppilashuolto").exists()
    consent_services.consent_decide(
        actor=hanna, consent=consent, decision=ConsentEvent.Kind.GRANTED, channel="portal"
    )
    # A school social worker of the sector, joining the network, reads under it.
    curator = WorkerFactory(
        membership__organisation=Organisation.objects.get(code="phhva-oppilashuolto")
    )
    services.network_add_professional(actor=tiina, case=demo_case, user=curator, role="kuraattori")
    assert "notes_general" in access_of(curator, demo_case).categories


# --- Query counts --------------------------------------------------------------------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


def test_a_members_reads_cost_the_same_with_any_number_of_bases(api, demo_case):
    record(demo_case)
    olli = api.as_user(persona(OLLI))
    urls = [f"/api/v1/cases/{demo_case.pk}/", f"/api/v1/cases/{demo_case.pk}/notes/"]
    before = [_count(olli, url) for url in urls]
    for i in range(4):
        record(demo_case, organisation="phhva-lastenneuvola", categories=["notes_social"])
        record(demo_case, categories=["notes_social"], reason=f"Lisäperuste {i}")
        LegalBasis.objects.create(
            case=demo_case,
            organisation=OrganisationFactory(),
            categories=["basic"],
            basis="authority_request",
            reason="x",
            recorded_by=persona(TIINA),
            valid_until=_until(),
        )
    assert [_count(olli, url) for url in urls] == before


def test_the_list_of_bases_has_a_constant_number_of_queries(
    api, demo_case, django_assert_num_queries
):
    record(demo_case)
    client = api.as_user(persona(TIINA))
    url = f"/api/v1/cases/{demo_case.pk}/legal-bases/"
    # 1 token + user, 2 case with permission join, 3 the policy's facts, 4 count, 5 the page
    # with organisations and workers
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(url).json()["count"] == 1
    for i in range(5):
        record(demo_case, reason=f"Peruste {i}", withheld_from_family=True, withheld_reason="x")
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert client.get(url).json()["count"] == 6


def test_the_auditors_review_has_a_constant_number_of_queries(
    api, demo_case, django_assert_num_queries
):
    record(demo_case, withheld_from_family=True, withheld_reason=WITHHELD)
    client = api.as_user(persona(TERO))
    url = "/api/v1/audit/legal-bases/withheld/"
    # 1 token + user, 2 the auditor's organisations, 3 count, 4 the page
    with django_assert_num_queries(4 + REQUEST):
        assert client.get(url).json()["count"] == 1
    for i in range(5):
        record(demo_case, reason=f"Peruste {i}", withheld_from_family=True, withheld_reason="x")
    with django_assert_num_queries(4 + REQUEST):
        assert client.get(url).json()["count"] == 6


def test_a_basis_for_the_receiving_organisation_shows_it_the_referred_family(api, demo_case):
    ngo = Organisation.objects.get(code="mll-paijat-hame")
    referral = services.referral_create(
        actor=persona(TIINA),
        case=demo_case,
        service=ngo.services.first(),
        message="Lähete: lastenhoitoapu",
    )
    jenni = api.as_user(persona("jenni.jarjesto"))
    url = f"/api/v1/referrals/incoming/{referral.pk}/"
    assert "Virtanen" not in jenni.get(url).content.decode()
    basis = record(demo_case, organisation="mll-paijat-hame", categories=["basic"])
    assert "Virtanen" in jenni.get(url).content.decode()
    event = last_read("jenni.jarjesto", demo_case, "incoming-referrals")
    assert event.legal_bases == [str(basis.pk)] and event.consents == []
