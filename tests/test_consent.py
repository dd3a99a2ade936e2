"""Consent: the demo scenario end to end, joint custody, children's views, receipts, expiry."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cases import services
from cases.models import Case, FamilyMember, Note
from consent import policy, receipts
from consent import services as consent_services
from consent.models import Consent, ConsentEvent, ImmutableError
from tests.conftest import persona as user
from tests.factories import OrganisationFactory, UserFactory, WorkerFactory, access_of
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario(demo_case):
    """The Virtanen case of the demo (tests/conftest.py)."""
    return demo_case


def note_texts(client, case):
    return {n["category"] for n in client.get(f"/api/v1/cases/{case.pk}/notes/").json()["results"]}


def school_consent(case):
    return Consent.objects.get(case=case, recipients__code="asikkala-perusopetus")


# --- The demo scenario of DESIGN.md --------------------------------------------------------


def test_anna_reads_basic_data_plan_and_health_notes_but_not_social_notes(api, scenario):
    client = api.as_user(user("anna.neuvola"))
    case = client.get(f"/api/v1/cases/{scenario.pk}/").json()
    assert case["family"]["name"] == "Virtanen"
    assert case["categories"] == ["basic", "notes_health", "plan"]
    assert client.get(f"/api/v1/cases/{scenario.pk}/plan/").json()["goals"]
    assert note_texts(client, scenario) == {"notes_health"}
    social = Note.objects.get(case=scenario, category="notes_social")
    assert client.get(f"/api/v1/cases/{scenario.pk}/notes/{social.pk}/").status_code == 404


def test_olli_sees_that_the_case_exists_its_worker_and_his_own_note_only(api, scenario):
    client = api.as_user(user("olli.opettaja"))
    case = client.get(f"/api/v1/cases/{scenario.pk}/").json()
    assert case["responsible_worker"]["name"] == "Tiina Vastuu"
    assert "family" not in case and "opening_reason" not in case
    assert "Virtanen" not in str(case)
    assert note_texts(client, scenario) == {"notes_education"}
    assert client.get(f"/api/v1/cases/{scenario.pk}/plan/").status_code == 404
    members = client.get(f"/api/v1/cases/{scenario.pk}/members/").json()["results"]
    assert {m["user"]["name"] for m in members} == {"Anna Neuvola", "Olli Opettaja"}


def test_ulla_gets_404_everywhere(api, scenario):
    client = api.as_user(user("ulla.ulkopuolinen"))
    assert client.get("/api/v1/cases/").json()["count"] == 0
    assert client.get("/api/v1/families/").json()["count"] == 0
    assert client.get("/api/v1/consents/").json()["count"] == 0
    for suffix in ["", "members/", "notes/", "plan/", "handovers/", "invitations/"]:
        assert client.get(f"/api/v1/cases/{scenario.pk}/{suffix}").status_code == 404, suffix


def test_jenni_accepts_her_invitation_and_then_sees_nothing_yet(api, scenario):
    jenni = user("jenni.jarjesto")
    client = api.as_user(jenni)
    assert client.get(f"/api/v1/cases/{scenario.pk}/").status_code == 404
    [invitation] = client.get("/api/v1/invitations/").json()["results"]
    response = client.post(f"/api/v1/invitations/{invitation['id']}/accept/")
    assert response.status_code == 200, response.content
    case = client.get(f"/api/v1/cases/{scenario.pk}/").json()
    assert case["categories"] == [] and "family" not in case
    assert note_texts(client, scenario) == set()


def test_hanna_grants_and_revokes_and_olli_follows_on_the_very_next_request(api, scenario):
    hanna, olli = api.as_user(user("hanna.huoltaja")), None
    consent = school_consent(scenario)
    response = hanna.post(f"/api/v1/consents/{consent.pk}/grant/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "active"

    olli = api.as_user(user("olli.opettaja"))
    case = olli.get(f"/api/v1/cases/{scenario.pk}/").json()
    assert case["family"]["name"] == "Virtanen"
    assert note_texts(olli, scenario) == {"notes_education", "notes_general"}
    assert olli.get(f"/api/v1/cases/{scenario.pk}/plan/").status_code == 200

    hanna = api.as_user(user("hanna.huoltaja"))
    response = hanna.post(f"/api/v1/consents/{consent.pk}/revoke/", {}, format="json")
    assert response.json()["state"] == "withdrawn"

    olli = api.as_user(user("olli.opettaja"))
    case = olli.get(f"/api/v1/cases/{scenario.pk}/").json()
    assert "family" not in case and case["categories"] == []
    assert note_texts(olli, scenario) == {"notes_education"}
    assert olli.get(f"/api/v1/cases/{scenario.pk}/plan/").status_code == 404


def test_hanna_sees_her_familys_consents_and_a_worker_cannot_grant_for_her(api, scenario):
    body = api.as_user(user("hanna.huoltaja")).get("/api/v1/consents/").json()
    assert sorted(c["state"] for c in body["results"]) == ["active", "pending"]
    consent = school_consent(scenario)
    response = api.as_user(user("olli.opettaja")).post(f"/api/v1/consents/{consent.pk}/grant/")
    assert response.status_code == 404
    consent.refresh_from_db()
    assert consent.state == "pending"


def test_the_responsible_worker_records_a_paper_consent_naming_the_guardian(api, scenario):
    guardian = FamilyMember.objects.get(family=scenario.family, role="guardian")
    consent = school_consent(scenario)
    client = api.as_user(user("tiina.vastuu"))
    response = client.post(f"/api/v1/consents/{consent.pk}/grant/", {"channel": "paper"})
    assert response.status_code == 400 and "grantor" in response.json()
    response = client.post(
        f"/api/v1/consents/{consent.pk}/grant/", {"channel": "paper", "grantor": str(guardian.pk)}
    )
    assert response.status_code == 200
    event = consent.events.get(kind="granted")
    assert (event.channel, event.grantor, event.actor) == ("paper", guardian, user("tiina.vastuu"))


def test_consent_requests_are_validated(api, scenario):
    client = api.as_user(user("tiina.vastuu"))
    url = f"/api/v1/cases/{scenario.pk}/consent-requests/"
    response = client.post(
        url,
        {
            "recipients": [],
            "categories": ["secrets"],
            "purpose_code": "x y",
            "purpose": "",
            "valid_until": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400
    assert {"recipients", "categories", "purpose_code", "purpose"} <= response.json().keys()
    before = Consent.objects.count()
    response = client.post(
        url,
        {
            "recipients": [str(OrganisationFactory().pk)],
            "categories": ["basic"],
            "purpose_code": "support",
            "purpose": "Support",
            "valid_until": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400 and "valid_until" in response.json()
    assert Consent.objects.count() == before


def test_a_request_records_the_exact_notice_shown_and_its_version(api, scenario):
    client = api.as_user(user("tiina.vastuu"))
    recipient = OrganisationFactory(name="Hollolan nuorisopalvelut")
    response = client.post(
        f"/api/v1/cases/{scenario.pk}/consent-requests/",
        {
            "recipients": [str(recipient.pk)],
            "categories": ["basic", "plan"],
            "purpose_code": "youth-work",
            "purpose": "Harrastustoiminnan tuki",
            "message": "Nuorisotyö voisi auttaa Ainoa.",
            "valid_until": (timezone.now() + datetime.timedelta(days=30)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "pending"
    assert body["notice_version"] == consent_services.NOTICE_VERSION
    assert "Hollolan nuorisopalvelut" in body["notice_text"]
    assert "Harrastustoiminnan tuki" in body["notice_text"]
    consent = Consent.objects.get(pk=body["id"])
    hanna = user("hanna.huoltaja")
    consent_services.consent_decide(actor=hanna, consent=consent, decision="granted")
    event = consent.events.get(kind="granted")
    assert event.notice_text == body["notice_text"]
    assert event.grantor.user == hanna and event.channel == "api"


# --- Joint custody --------------------------------------------------------------------------


@pytest.fixture
def joint_custody(owner, municipality):
    family = services.family_create(
        actor=owner,
        name="Nieminen",
        municipality=municipality,
        joint_custody=True,
        members=[
            {"role": "guardian", "first_name": "Mari", "last_name": "Nieminen"},
            {"role": "guardian", "first_name": "Jussi", "last_name": "Nieminen"},
        ],
    )
    mother, father = UserFactory(username="mari"), UserFactory(username="jussi")
    family.members.filter(first_name="Mari").update(user=mother)
    family.members.filter(first_name="Jussi").update(user=father)
    case = family.cases.get()
    nurse = WorkerFactory(username="nurse")
    services.network_add_professional(actor=owner, case=case, user=nurse)
    consent = consent_services.consent_request(
        actor=owner,
        case=case,
        recipients=[nurse.memberships.get().organisation],
        categories=["basic"],
        purpose_code="care",
        purpose="Care",
        valid_until=timezone.now() + datetime.timedelta(days=30),
    )
    return case, consent, mother, father, nurse


def test_joint_custody_shares_nothing_until_both_guardians_grant(api, joint_custody):
    case, consent, mother, father, nurse = joint_custody
    response = api.as_user(mother).post(f"/api/v1/consents/{consent.pk}/grant/")
    assert response.json()["state"] == "pending"
    granted_by = [e["grantor"] for e in response.json()["events"] if e["kind"] == "granted"]
    assert len(granted_by) == 1  # the portal can show who has answered
    assert "family" not in api.as_user(nurse).get(f"/api/v1/cases/{case.pk}/").json()
    # The same guardian granting twice does not count as two.
    assert api.as_user(mother).post(f"/api/v1/consents/{consent.pk}/grant/").status_code == 400

    response = api.as_user(father).post(f"/api/v1/consents/{consent.pk}/grant/")
    assert response.json()["state"] == "active"
    assert api.as_user(nurse).get(f"/api/v1/cases/{case.pk}/").json()["family"]["name"] == (
        "Nieminen"
    )


def test_one_guardian_alone_can_withdraw_under_joint_custody(api, joint_custody):
    case, consent, mother, father, nurse = joint_custody
    api.as_user(mother).post(f"/api/v1/consents/{consent.pk}/grant/")
    api.as_user(father).post(f"/api/v1/consents/{consent.pk}/grant/")
    response = api.as_user(father).post(f"/api/v1/consents/{consent.pk}/revoke/")
    assert response.json()["state"] == "withdrawn"
    assert "family" not in api.as_user(nurse).get(f"/api/v1/cases/{case.pk}/").json()


def test_joint_custody_rule_is_configurable(api, joint_custody, settings):
    settings.CONSENT_JOINT_CUSTODY_REQUIRES_ALL_GUARDIANS = False
    case, consent, mother, _father, nurse = joint_custody
    assert api.as_user(mother).post(f"/api/v1/consents/{consent.pk}/grant/").json()["state"] == (
        "active"
    )


# --- Children ------------------------------------------------------------------------------


def test_a_childs_view_is_recorded_from_twelve(api, scenario):
    consent = Consent.objects.get(case=scenario, state="active")
    aino = FamilyMember.objects.get(first_name="Aino")
    eeli = FamilyMember.objects.get(first_name="Eeli")
    client = api.as_user(user("hanna.huoltaja"))
    url = f"/api/v1/consents/{consent.pk}/child-view/"
    response = client.post(url, {"child": str(eeli.pk), "statement": "OK"})
    assert response.status_code == 400 and "child" in response.json()
    response = client.post(url, {"child": str(aino.pk), "statement": "Saa kertoa neuvolaan."})
    assert response.status_code == 200
    event = consent.events.get(kind="child_view")
    assert (event.subject, event.statement) == (aino, "Saa kertoa neuvolaan.")
    # Aino is 13: refusing disclosure of her own notes needs 15.
    response = client.post(
        url, {"child": str(aino.pk), "statement": "Ei", "refuse_own_notes": True}
    )
    assert response.status_code == 400 and "refuse_own_notes" in response.json()


def test_a_child_of_fifteen_may_refuse_disclosure_of_notes_about_them(api, scenario, settings):
    settings.CONSENT_CHILD_REFUSAL_AGE = 13  # Aino is 13 in the demo; the age is configurable
    tiina = user("tiina.vastuu")
    aino = FamilyMember.objects.get(first_name="Aino")
    services.note_create(
        actor=tiina,
        case=scenario,
        access=access_of(tiina, scenario),
        category="notes_health",
        subject=aino,
        text="About Aino",
    )
    anna = api.as_user(user("anna.neuvola"))
    texts = {n["text"] for n in anna.get(f"/api/v1/cases/{scenario.pk}/notes/").json()["results"]}
    assert "About Aino" in texts

    consent = Consent.objects.get(case=scenario, state="active")
    response = api.as_user(user("hanna.huoltaja")).post(
        f"/api/v1/consents/{consent.pk}/child-view/",
        {"child": str(aino.pk), "statement": "En halua", "refuse_own_notes": True},
    )
    assert response.status_code == 200, response.content
    anna = api.as_user(user("anna.neuvola"))
    texts = {n["text"] for n in anna.get(f"/api/v1/cases/{scenario.pk}/notes/").json()["results"]}
    assert "About Aino" not in texts
    assert texts  # her other consented notes still show


# --- Events, state, expiry, receipts ------------------------------------------------------


def test_consent_events_are_immutable(scenario):
    event = ConsentEvent.objects.filter(consent__case=scenario).first()
    event.statement = "changed"
    with pytest.raises(ImmutableError):
        event.save()
    with pytest.raises(ImmutableError):
        event.delete()


def test_the_state_column_equals_the_state_derived_from_events(api, scenario):
    api.as_user(user("hanna.huoltaja")).post(
        f"/api/v1/consents/{school_consent(scenario).pk}/grant/"
    )
    for consent in Consent.objects.all():
        derived = consent_services.derive_state(consent, list(consent.events.all()))
        assert consent.state == derived


def test_expire_consents_records_expiry_and_resyncs_permissions(scenario):
    consent = Consent.objects.get(case=scenario, state="active")
    Consent.objects.filter(pk=consent.pk).update(valid_until=timezone.now())
    anna = user("anna.neuvola")
    assert policy.access_for(anna, [scenario])[scenario.pk].categories == frozenset()
    call_command("expire_consents")
    consent.refresh_from_db()
    assert consent.state == "expired"
    assert consent.events.filter(kind="expired").count() == 1
    assert policy.stored_permissions(scenario) == policy.case_permissions(scenario)
    assert policy.stored_permissions(scenario)[anna.pk] == {"view_case", "change_case"}


def test_a_decision_receipt_verifies_with_the_published_key(api, scenario, tmp_path):
    consent = Consent.objects.get(case=scenario, state="active")
    hanna = api.as_user(user("hanna.huoltaja"))
    body = hanna.get(f"/api/v1/consents/{consent.pk}/receipt/").json()
    assert body["kind"] == "granted"
    keys = api.get("/api/v1/consent/public-key/").json()
    public = [receipts.public_key_from_jwk(k) for k in keys["keys"]]
    payload = receipts.verify(body["receipt"], public)
    assert payload["consentId"] == str(consent.pk)
    assert payload["decision"] == "granted"
    assert "Virtanen" not in str(payload)

    token = body["receipt"]
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(receipts.InvalidReceipt):
        receipts.verify(tampered, public)
    path = tmp_path / "receipt.jws"
    path.write_text(token)
    call_command("verify_receipt", str(path))


@pytest.mark.parametrize(
    "how", [{"HTTP_ACCEPT": "application/jose"}, {"QUERY_STRING": "format=jws"}]
)
def test_the_receipt_comes_as_the_bare_jws_that_the_command_verifies(api, scenario, tmp_path, how):
    consent = Consent.objects.get(case=scenario, state="active")
    hanna = api.as_user(user("hanna.huoltaja"))
    wrapped = hanna.get(f"/api/v1/consents/{consent.pk}/receipt/").json()
    response = hanna.get(f"/api/v1/consents/{consent.pk}/receipt/", **how)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jose"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith('.jws"')
    token = response.content.decode()
    assert token == wrapped["receipt"] and token.count(".") == 2
    assert receipts.verify(token)["decision"] == "granted"

    bare, json_form = tmp_path / "receipt.jws", tmp_path / "receipt.json"
    bare.write_bytes(response.content)
    json_form.write_text(json.dumps(wrapped))
    for path in (bare, json_form):
        out = io.StringIO()
        call_command("verify_receipt", str(path), stdout=out)
        assert "Receipt valid" in out.getvalue()
        assert '"decision": "granted"' in out.getvalue()


def test_the_command_refuses_json_without_a_receipt(tmp_path):
    path = tmp_path / "receipt.json"
    for text, message in [('{"kind": "granted"}', 'no "receipt"'), ("{nope", "nor JSON")]:
        path.write_text(text)
        with pytest.raises(CommandError, match=message):
            call_command("verify_receipt", str(path), stdout=io.StringIO())


def test_a_missing_receipt_answers_404_as_json_also_when_the_jws_is_asked_for(api, scenario):
    consent = school_consent(scenario)
    hanna = api.as_user(user("hanna.huoltaja"))
    response = hanna.get(f"/api/v1/consents/{consent.pk}/receipt/", HTTP_ACCEPT="application/jose")
    assert response.status_code == 404
    assert "detail" in json.loads(response.content)


def test_every_decision_yields_its_own_receipt(api, scenario):
    consent = school_consent(scenario)
    hanna = api.as_user(user("hanna.huoltaja"))
    assert hanna.get(f"/api/v1/consents/{consent.pk}/receipt/").status_code == 404
    hanna.post(f"/api/v1/consents/{consent.pk}/grant/")
    hanna.post(f"/api/v1/consents/{consent.pk}/revoke/")
    decisions = consent.events.filter(kind__in=["granted", "revoked"])
    assert all(event.receipt for event in decisions) and decisions.count() == 2
    revoked = decisions.get(kind="revoked")
    body = hanna.get(f"/api/v1/consents/{consent.pk}/receipt/?event={revoked.pk}").json()
    assert receipts.verify(body["receipt"])["decision"] == "revoked"


def test_guardian_tables_match_the_policy_for_the_whole_demo(scenario):
    for case in Case.objects.all():
        assert policy.stored_permissions(case) == policy.case_permissions(case)


def test_consent_list_query_count_is_constant(api, scenario, django_assert_num_queries):
    client = api.as_user(user("hanna.huoltaja"))
    # 1 token + user, 2 count, 3 page of consents with requester and case, 4 recipients,
    # 5 events; 1 for the policy facts of the cases shown (for the access log)
    with django_assert_num_queries(5 + 1 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/consents/").json()["count"] == 2
    tiina = user("tiina.vastuu")
    for _ in range(5):
        consent_services.consent_request(
            actor=tiina,
            case=scenario,
            recipients=[OrganisationFactory()],
            categories=["basic"],
            purpose_code="x",
            purpose="x",
            valid_until=timezone.now() + datetime.timedelta(days=3),
        )
    with django_assert_num_queries(5 + 1 + REQUEST + ACCESS_LOG):
        assert client.get("/api/v1/consents/").json()["count"] == 7


def test_a_decision_costs_the_same_queries_however_many_recipients_and_events(api, scenario):
    """Granting and withdrawing read the decided consent once more (its events), not through a
    second authorization: the count does not grow with recipients or earlier events."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tiina, hanna = user("tiina.vastuu"), user("hanna.huoltaja")
    client = api.as_user(hanna)

    def decided_queries(recipients: int) -> tuple[int, int]:
        consent = consent_services.consent_request(
            actor=tiina,
            case=scenario,
            recipients=[OrganisationFactory() for _ in range(recipients)],
            categories=["basic"],
            purpose_code="x",
            purpose="x",
            valid_until=timezone.now() + datetime.timedelta(days=3),
        )
        counts = []
        for action, state in (("grant", "active"), ("revoke", "withdrawn")):
            with CaptureQueriesContext(connection) as queries:
                response = client.post(
                    f"/api/v1/consents/{consent.pk}/{action}/", {}, format="json"
                )
            assert response.status_code == 200, response.content
            assert response.json()["state"] == state
            assert response.json()["events"][-1]["kind"] == (
                "granted" if action == "grant" else "revoked"
            )
            counts.append(len(queries))
        return counts[0], counts[1]

    assert decided_queries(1) == decided_queries(4)
