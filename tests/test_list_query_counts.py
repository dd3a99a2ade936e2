"""Every list endpoint has a pinned query count that does not grow with its rows (issue 7).

`LIST_QUERY_COUNT_TESTS` names, for each list route of the API, the test that pins its number
of SQL queries for a small and a larger list. `test_every_list_endpoint_has_a_query_count_test`
walks Django's URL resolver, so a new list endpoint fails it until its query count is pinned.
The lists that had no such test elsewhere get one here.
"""

import datetime
import importlib
import inspect

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.generics import ListAPIView

from cases import services
from cases.models import OrganisationMembership, Service
from consent import services as consent_services
from tests.factories import (
    MunicipalityFactory,
    OrganisationFactory,
    ServiceFactory,
    UserFactory,
    WorkerFactory,
    catalogue_entry,
)
from tests.query_counts import ACCESS_LOG, REQUEST

pytestmark = pytest.mark.django_db

HERE = "tests.test_list_query_counts"

# Route name -> "module::test" pinning its query count for a short and a longer list.
HSDS = "tests.test_hsds"
KEEPING = "tests.test_catalogue_keeping::test_the_keepers_lists_take_a_constant_number_of_queries"
LIST_QUERY_COUNT_TESTS = {
    "booking-slot-list": "tests.test_booking::test_the_slot_list_has_a_constant_number_of_queries",
    "booking-list": "tests.test_booking::test_the_booking_list_has_a_constant_number_of_queries",
    "case-list": (
        "tests.test_network::test_case_list_query_count_is_constant_with_members_and_consents"
    ),
    "family-list": "tests.test_cases_api::test_family_list_query_count_is_constant",
    "case-non-disclosure-list": (
        "tests.test_non_disclosure::test_the_list_of_markings_has_a_constant_number_of_queries"
    ),
    "service-list": "tests.test_cases_api::test_service_list_query_count_is_constant",
    # Organisations keep their catalogue entries (issue 17).
    **{
        f"catalogue-{name}-list": KEEPING
        for name in [
            "service",
            "location",
            "service-at-location",
            "schedule",
            "contact",
            "phone",
            "activity",
            "taxonomy-term",
        ]
    },
    # Open Referral HSDS 3.0 (issue 17).
    "hsds-service-list": f"{HSDS}::test_the_lists_take_a_constant_number_of_queries",
    "hsds-service-at-location-list": f"{HSDS}::test_the_lists_take_a_constant_number_of_queries",
    "hsds-organization-list": f"{HSDS}::test_the_lists_take_a_constant_number_of_queries",
    "hsds-taxonomy-term-list": f"{HSDS}::test_the_lists_take_a_constant_number_of_queries",
    "organisation-list": f"{HERE}::test_organisation_list",
    "worker-list": f"{HERE}::test_worker_list",
    "invitation-list": f"{HERE}::test_my_invitation_list",
    "consent-list": "tests.test_consent::test_consent_list_query_count_is_constant",
    "case-handover-list": "tests.test_handover::test_handover_list_query_count_is_constant",
    "case-member-list": f"{HERE}::test_network_member_list",
    "case-invitation-list": f"{HERE}::test_case_invitation_list",
    "case-note-list": "tests.test_network::test_note_list_query_count_is_constant",
    "case-consent-list": f"{HERE}::test_case_consent_request_list",
    "case-correction-list": (
        "tests.test_corrections::test_the_correction_list_has_a_constant_number_of_queries"
    ),
    "case-conversation-list": (
        "tests.test_messages::test_the_thread_list_and_a_thread_take_a_constant_number_of_queries"
    ),
    "case-plan-action-list": (
        "tests.test_coordination::test_the_action_list_has_a_constant_number_of_queries"
    ),
    "case-meeting-list": (
        "tests.test_coordination::"
        "test_the_meeting_and_referral_lists_have_a_constant_number_of_queries"
    ),
    "case-referral-list": (
        "tests.test_coordination::"
        "test_the_meeting_and_referral_lists_have_a_constant_number_of_queries"
    ),
    "case-referral-services": f"{HERE}::test_referral_service_search",
    "incoming-referral-list": (
        "tests.test_coordination::test_incoming_referrals_have_a_constant_number_of_queries"
    ),
    "reassignment-list": "tests.test_reassignment::test_the_queue_has_a_constant_number_of_queries",
    "catalogue-service-list": f"{HERE}::test_catalogue_service_list",
    "my-work": (
        "tests.test_my_work::test_my_work_has_the_same_number_of_queries_for_1_and_200_cases"
    ),
    "audit-events": "tests.test_audit_api::test_the_auditor_list_costs_the_same_for_any_page_size",
    "audit-events-export": f"{HERE}::test_audit_export",
    "audit-anomalies": "tests.test_audit_api::test_anomalies_cost_the_same_however_many_events",
    "family-access-history": (
        "tests.test_audit_api::test_the_familys_history_costs_the_same_for_any_page_size"
    ),
    "audit-emergency-access": (
        "tests.test_emergency_access::test_the_auditors_list_costs_the_same_for_any_page_size"
    ),
    "family-lookup": "tests.test_sensitive_data::test_lookup_query_count_is_pinned",
    "case-legal-basis-list": (
        "tests.test_legal_bases::test_the_list_of_bases_has_a_constant_number_of_queries"
    ),
    "audit-legal-bases-withheld": (
        "tests.test_legal_bases::test_the_auditors_review_has_a_constant_number_of_queries"
    ),
    "contact-request-list": (
        "tests.test_intake::test_the_intake_queue_has_a_constant_number_of_queries"
    ),
    "case-access-history": (
        "tests.test_audit_api::test_the_case_history_costs_the_same_for_any_page_size"
    ),
    "report-organisation-figures": (
        "tests.test_reports_figures::test_the_figure_list_has_a_constant_number_of_queries"
    ),
}

# Routes that answer a list but are not a DRF `list` action or a ListAPIView.
# The family lookup is a POST (the identity code goes in the body, never in a URL).
OTHER_LISTS = {
    "case-referral-services",
    "my-work",
    "audit-events-export",
    "audit-anomalies",
    "family-lookup",
    # A ListCreateAPIView (issue 18): the list of an organisation's figures, and their entry.
    "report-organisation-figures",
}


def _patterns(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern


def api_list_routes() -> set[str]:
    found = set()
    for pattern in _patterns(get_resolver().url_patterns):
        callback = pattern.callback
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view is None or not view.__module__.startswith("api."):
            continue
        actions = getattr(callback, "actions", None)
        if actions is not None:
            is_list = actions.get("get") == "list"
        else:
            is_list = issubclass(view, ListAPIView)
        if is_list or pattern.name in OTHER_LISTS:
            found.add(pattern.name)
    return found


def test_every_list_endpoint_has_a_query_count_test():
    routes = api_list_routes()
    assert OTHER_LISTS <= routes, "a route of OTHER_LISTS no longer exists"
    missing = sorted(routes - LIST_QUERY_COUNT_TESTS.keys())
    assert not missing, f"list endpoints without a pinned query count: {missing}"
    assert not LIST_QUERY_COUNT_TESTS.keys() - routes, "the table names a route that is gone"
    for route, target in LIST_QUERY_COUNT_TESTS.items():
        module_name, name = target.split("::")
        test = getattr(importlib.import_module(module_name), name, None)
        assert test is not None, f"{route}: {target} does not exist"
        source = inspect.getsource(test)
        # Pinned with pytest-django's fixture, or (tests/test_my_work.py) counted by hand.
        pinned = "django_assert_num_queries" in source or "len(queries) ==" in source
        assert pinned, f"{route}: {target} pins no query count"


# --- The lists without a query-count test elsewhere -----------------------------------------


def url(case, suffix):
    return f"/api/v1/cases/{case.pk}/{suffix}"


def count(response):
    assert response.status_code == 200, response.content
    return response.json()["count"]


def consent_for(case, owner, organisation, categories=("basic",)):
    return consent_services.consent_request(
        actor=owner,
        case=case,
        recipients=[organisation],
        categories=list(categories),
        purpose_code="care-coordination",
        purpose="Coordinating care",
        valid_until=timezone.now() + datetime.timedelta(days=90),
    )


def test_organisation_list(api, owner, django_assert_num_queries):
    client = api.as_user(owner)
    OrganisationFactory()
    # 1 token + user, 2 count, 3 page of organisations with area and municipality
    with django_assert_num_queries(3 + REQUEST):
        first = count(client.get("/api/v1/organisations/"))
    OrganisationFactory.create_batch(30)
    with django_assert_num_queries(3 + REQUEST):
        assert count(client.get("/api/v1/organisations/?page_size=100")) == first + 30


def test_worker_list(api, owner, organisation, django_assert_num_queries):
    client = api.as_user(owner)
    # 1 token + user, 2 count, 3 page of workers with a worker membership
    with django_assert_num_queries(3 + REQUEST):
        first = count(client.get("/api/v1/workers/"))
    for _ in range(20):
        WorkerFactory(membership__organisation=OrganisationFactory())
        WorkerFactory(membership__organisation=organisation)
    with django_assert_num_queries(3 + REQUEST):
        assert count(client.get("/api/v1/workers/?page_size=100")) == first + 40


def test_my_invitation_list(api, owner, nurse, municipality, django_assert_num_queries):
    clinic = nurse.memberships.get().organisation

    def invite(n):
        for i in range(n):
            family = services.family_create(actor=owner, name=f"F{i}", municipality=municipality)
            services.invitation_create(
                actor=owner, case=family.cases.get(), organisation=clinic, invited_user=nurse
            )

    invite(1)
    client = api.as_user(nurse)
    # 1 token + user, 2 count, 3 page of invitations with case, organisation and inviter
    with django_assert_num_queries(3 + REQUEST):
        assert count(client.get("/api/v1/invitations/")) == 1
    invite(12)
    with django_assert_num_queries(3 + REQUEST):
        assert count(client.get("/api/v1/invitations/?page_size=100")) == 13


def test_network_member_list(api, owner, family_case, django_assert_num_queries):
    client = api.as_user(owner)

    def add(n):
        for i in range(n):
            worker = WorkerFactory(membership__organisation=OrganisationFactory())
            services.network_add_professional(actor=owner, case=family_case, user=worker)
            services.network_add_informal(
                actor=owner, case=family_case, name=f"Mummo {i}", relationship="grandmother"
            )

    add(1)
    # 1 token + user, 2 case with permission join, 3 the policy's facts (memberships,
    # guardians, handovers, posts: one union; the responsible worker needs no consents),
    # 4 count, 5 page of members with accounts and organisations
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "members/"))) == 2
    add(15)
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "members/?page_size=100"))) == 32


def test_case_invitation_list(api, owner, family_case, django_assert_num_queries):
    client = api.as_user(owner)

    def invite(n):
        for i in range(n):
            organisation = OrganisationFactory()
            services.invitation_create(
                actor=owner, case=family_case, organisation=organisation, email=f"w{i}@example.org"
            )

    invite(1)
    # 1 token + user, 2 case with permission join, 3 the policy's facts, 4 count,
    # 5 page of invitations with organisation, invited worker and inviter
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "invitations/"))) == 1
    invite(12)
    with django_assert_num_queries(5 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "invitations/?page_size=100"))) == 13


def test_case_consent_request_list(
    api, owner, family_case, guardian_user, django_assert_num_queries
):
    client = api.as_user(owner)

    def request(n):
        for _ in range(n):
            consent = consent_for(family_case, owner, OrganisationFactory(), ["basic", "plan"])
            consent_services.consent_decide(
                actor=guardian_user, consent=consent, decision="granted"
            )

    request(1)
    # 1 token + user, 2 case with permission join, 3 the policy's facts, 4 count,
    # 5 page of consents with requester, 6 their recipients, 7 their events
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "consent-requests/"))) == 1
    request(12)
    with django_assert_num_queries(7 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "consent-requests/?page_size=100"))) == 13


def test_referral_service_search(api, owner, family_case, django_assert_num_queries):
    client = api.as_user(owner)
    municipality = family_case.family.municipality

    def offer(n):
        for _ in range(n):
            service = catalogue_entry(organisation=OrganisationFactory())
            service.municipalities.add(municipality)

    offer(1)
    # 1 token + user, 2 case with permission join, 3 the policy's facts, 4 the children's
    # ages, 5 count, 6 page of services with organisations, 7 their municipalities,
    # 8 their languages, 9-17 the parts of each entry (tests/test_cases_api.py,
    # test_service_list_query_count_is_constant: terms, locations, their opening hours and
    # phones, opening hours at them, the services' own, contacts, their phones, phones)
    with django_assert_num_queries(17 + REQUEST + ACCESS_LOG):
        first = count(client.get(url(family_case, "referrals/services/")))
    assert first >= 1
    offer(15)
    with django_assert_num_queries(17 + REQUEST + ACCESS_LOG):
        assert count(client.get(url(family_case, "referrals/services/?page_size=100"))) == (
            first + 15
        )


def test_catalogue_service_list(api, organisation, django_assert_num_queries):

    coordinator = UserFactory(username="coordinator")
    OrganisationMembership.objects.create(
        user=coordinator, organisation=organisation, role=OrganisationMembership.Role.COORDINATOR
    )
    client = api.as_user(coordinator)

    def offer(n):
        for _ in range(n):
            service = ServiceFactory(organisation=OrganisationFactory())
            service.municipalities.add(MunicipalityFactory())

    offer(1)
    # 1 token + user, 2 is a coordinator, 3 a coordinator keeps every organisation's entries,
    # 4 count, 5 page of services with organisations, 6 their municipalities, 7 their
    # languages, 8 their taxonomy terms
    with django_assert_num_queries(8 + REQUEST):
        first = count(client.get("/api/v1/coordination/services/"))
    offer(20)
    with django_assert_num_queries(8 + REQUEST):
        assert count(client.get("/api/v1/coordination/services/?page_size=100")) == first + 20
    assert Service.objects.count() == first + 20


def test_audit_export(api, owner, family_case, django_assert_num_queries):

    auditor = UserFactory(username="auditor")
    OrganisationMembership.objects.create(
        user=auditor,
        organisation=family_case.responsible_organisation,
        role=OrganisationMembership.Role.AUDITOR,
    )
    reader = api.as_user(owner)

    def read(n):
        for _ in range(n):
            assert reader.get(f"/api/v1/cases/{family_case.pk}/").status_code == 200

    def export():
        response = client.get("/api/v1/audit/events/export/")
        assert response.status_code == 200
        return b"".join(response.streaming_content).decode().strip().splitlines()

    read(1)
    client = api.as_user(auditor)
    # 1 token + user, 2 the auditor's organisations, the export's own access-log event, then
    # (streamed after the request's transaction) 3 the events, in batches: one batch here
    with django_assert_num_queries(3 + REQUEST + ACCESS_LOG):
        lines = export()
    reader = api.as_user(owner)
    read(30)
    client = api.as_user(auditor)
    with django_assert_num_queries(3 + REQUEST + ACCESS_LOG):
        assert len(export()) == len(lines) + 30 + 1  # the reads and the first export
