"""Authorization matrix: every /api/ URL pattern, every demo role, objects the role must not reach.

The patterns come from Django's URL resolver, and `TABLE` must name each of them with each of its
methods, so a new endpoint (or a new method on an old one) fails `test_every_api_pattern_*` until
someone decides here who may reach it. For every pattern, method, role and object of the seeded
demo (plus a second family, Korhonen, owned by ulla.ulkopuolinen, and a closed case, Nieminen),
the request must either be one the role may make, or answer 401/403/404 without a write and
without a trace of data the role may not see. An unseen object must also answer exactly as an
object that does not exist, so that the answer does not tell that it exists (DESIGN.md,
"Permission model").
"""

import datetime
import hashlib
import json
import re
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field

import django_filters
import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import transaction
from django.urls import get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api import hsds
from cases import booking, intake, messaging, services
from cases.models import (
    Activity,
    Booking,
    BookingSlot,
    Case,
    CaseUserObjectPermission,
    Contact,
    ContactRequest,
    Conversation,
    CorrectionRequest,
    EmergencyAccess,
    Family,
    FamilyMember,
    Handover,
    Invitation,
    Location,
    Meeting,
    Message,
    Municipality,
    NetworkMember,
    Note,
    Organisation,
    OrganisationMembership,
    OutboundMail,
    Phone,
    Plan,
    PlanAction,
    Reassignment,
    Referral,
    Schedule,
    Service,
    ServiceAtLocation,
    ServiceLanguage,
    TaxonomyTerm,
    User,
)
from cases.seeding import demo
from consent import legal_bases
from consent import services as consent_services
from consent.models import Consent, ConsentEvent
from tests.conftest import ANNA, HANNA, JENNI, KAISA, OLLI, PERSONAS, TERO, TIINA, ULLA
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    UserFactory,
    WorkerFactory,
    access_of,
)
from tests.routes import api_patterns, base_of, fill, params_of
from tests.routes import template_of as _template
from tests.routes import walk as _walk

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
USERS = PERSONAS
ROLES = (*USERS, ANONYMOUS)
SIGNED_IN = frozenset(USERS)
EVERYONE = frozenset(ROLES)
WORKERS = frozenset({TIINA, ANNA, OLLI, JENNI, ULLA})
NOBODY: frozenset = frozenset()

DENIED = frozenset({401, 403, 404})
PUBLIC_KINDS = {  # open to everyone, anonymous included: nothing to deny
    "public",
    "service",
    "hsds_organisation",
    "hsds_taxonomy",
    "hsds_taxonomy_term",
    "hsds_service_at_location",
}


# --- The table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """How one method of one pattern is probed.

    `kind` names the objects that fill the pattern's parameters (`World.targets`); each object
    says which roles may do `action` on it, and which may see it at all (`seen_by`). A role that
    may not see the object must get 401/403/404, the same answer as for an object that does not
    exist; a role that sees it but may not do `action` must get 403.
    """

    kind: str
    action: str
    seen_by: str = "read"
    # Statuses accepted besides the usual ones, each with the reason why it leaks nothing.
    also: tuple[tuple[int, str], ...] = ()
    # Send the request even when the role may make it (it writes nothing).
    safe: bool = False


def P(kind: str, action: str, **options) -> Probe:
    return Probe(kind, action, **options)


# Which URL parameters each kind of object fills.
KIND_PARAMS = {
    "public": set(),
    "signed_in": set(),
    "service": {"pk"},
    "organisation": {"pk"},
    "worker": {"pk"},
    "family": {"pk"},
    "case": {"pk", "case_pk"},
    "note": {"case_pk", "pk"},
    "member": {"case_pk", "pk"},
    "case_invitation": {"case_pk", "pk"},
    "handover": {"case_pk", "pk"},
    "consent": {"pk"},
    "my_invitation": {"token"},
    # Coordination (issue 6).
    "plan_action": {"case_pk", "pk"},
    "meeting": {"case_pk", "pk"},
    "referral": {"case_pk", "pk"},
    "correction": {"case_pk", "pk"},
    "legal_basis": {"case_pk", "pk"},
    "conversation": {"case_pk", "pk"},  # messages (issue 17)
    "incoming_referral": {"pk"},
    "queued_case": {"pk"},
    "deactivatable_worker": {"pk"},
    "catalogue_service": {"pk"},
    # The catalogue kept by organisations, and in HSDS 3.0 (issue 17).
    "catalogue_location": {"pk"},
    "catalogue_service_at_location": {"pk"},
    "catalogue_schedule": {"pk"},
    "catalogue_contact": {"pk"},
    "catalogue_phone": {"pk"},
    "catalogue_activity": {"pk"},
    "catalogue_taxonomy_term": {"pk"},
    "hsds_organisation": {"pk"},
    "hsds_taxonomy": {"pk"},
    "hsds_taxonomy_term": {"pk"},
    "hsds_service_at_location": {"pk"},
    # The front door (issue 17).
    "contact_request": {"pk"},
    # Booking (issue 17).
    "booking_slot": {"pk"},
    "booking": {"pk"},
}

# Every pattern under /api/, as "/path/{parameter}/", with each method it allows. Patterns that
# DRF's DefaultRouter also serves with a format suffix ("/api/v1/cases/{pk}.json") are covered by
# the row of the pattern without it, and probed in both forms.
TABLE: dict[str, dict[str, Probe]] = {
    # Public by design (DESIGN.md, "API conventions"): schema and docs, sign-in, the keys that
    # verify consent receipts, the service catalogue.
    "/api/schema/": {"GET": P("public", "read")},
    "/api/docs/": {"GET": P("public", "read")},
    "/api/v1/auth/token/": {"POST": P("public", "read", safe=True)},
    # Sign-out deletes the caller's own token: anyone signed in, nobody else's.
    "/api/v1/auth/logout/": {"POST": P("signed_in", "read")},
    "/api/v1/consent/public-key/": {"GET": P("public", "read")},
    "/api/v1/services/": {"GET": P("public", "read")},
    "/api/v1/services/{pk}/": {"GET": P("service", "read")},
    # Yourself, and the directory of organisations and workers: anyone signed in.
    "/api/v1/me/": {"GET": P("signed_in", "read")},
    "/api/v1/organisations/": {"GET": P("signed_in", "read")},
    "/api/v1/organisations/{pk}/": {"GET": P("organisation", "read")},
    "/api/v1/workers/": {"GET": P("signed_in", "read")},
    "/api/v1/workers/{pk}/": {"GET": P("worker", "read")},
    # Families and cases. Lists are filtered per user: the leak check reads every list.
    "/api/v1/families/": {
        "GET": P("signed_in", "read"),
        "POST": P("signed_in", "create_family"),
    },
    # A search by identity code, sent in the body: it reads, writes nothing, and finds only the
    # families whose basic data the role may read (the leak check holds it to that).
    "/api/v1/families/lookup/": {"POST": P("signed_in", "read", safe=True)},
    "/api/v1/families/{pk}/": {"GET": P("family", "read"), "PATCH": P("family", "manage")},
    "/api/v1/cases/": {
        "GET": P("signed_in", "read"),
        # The family is named in the body, not the URL: a family you may not open a case for is
        # "Invalid pk ... does not exist", the very answer for a family that does not exist (the
        # matrix checks that it is the same), so the 400 tells nothing.
        "POST": P("family", "open_case", also=((400, "unknown family in the body"),)),
    },
    "/api/v1/cases/{pk}/": {"GET": P("case", "read"), "PATCH": P("case", "manage")},
    "/api/v1/cases/{pk}/close/": {"POST": P("case", "manage")},
    "/api/v1/cases/{case_pk}/plan/": {
        "GET": P("case", "read_plan", seen_by="read_plan"),
        "PATCH": P("case", "write_plan", seen_by="read_plan"),
    },
    "/api/v1/cases/{case_pk}/members/": {"GET": P("case", "read"), "POST": P("case", "manage")},
    "/api/v1/cases/{case_pk}/members/{pk}/": {
        "GET": P("member", "read"),
        "DELETE": P("member", "manage"),
    },
    "/api/v1/cases/{case_pk}/invitations/": {
        "GET": P("case", "read_invitations"),
        "POST": P("case", "manage"),
    },
    "/api/v1/cases/{case_pk}/invitations/{pk}/": {"GET": P("case_invitation", "read")},
    "/api/v1/cases/{case_pk}/invitations/{pk}/withdraw/": {
        "POST": P("case_invitation", "manage"),
    },
    "/api/v1/cases/{case_pk}/notes/": {"GET": P("case", "read"), "POST": P("case", "write")},
    "/api/v1/cases/{case_pk}/notes/{pk}/": {"GET": P("note", "read")},
    "/api/v1/cases/{case_pk}/handovers/": {"GET": P("case", "read"), "POST": P("case", "manage")},
    "/api/v1/cases/{case_pk}/handovers/{pk}/": {"GET": P("handover", "read")},
    "/api/v1/cases/{case_pk}/handovers/{pk}/accept/": {"POST": P("handover", "accept")},
    "/api/v1/cases/{case_pk}/handovers/{pk}/decline/": {"POST": P("handover", "decline")},
    "/api/v1/cases/{case_pk}/consent-requests/": {
        "GET": P("case", "read_consents"),
        "POST": P("case", "manage"),
    },
    # Non-disclosure markings (issue 16): that one exists is seen by whoever sees the case;
    # the responsible worker alone marks, names who may see, and lifts.
    "/api/v1/cases/{case_pk}/non-disclosures/": {
        "GET": P("case", "read"),
        "POST": P("case", "manage"),
    },
    "/api/v1/cases/{case_pk}/non-disclosures/lift/": {"POST": P("case", "manage")},
    # Invitations waiting for you, answered by the e-mailed token or by id.
    "/api/v1/invitations/": {"GET": P("signed_in", "read")},
    "/api/v1/invitations/{token}/accept/": {"POST": P("my_invitation", "answer")},
    "/api/v1/invitations/{token}/decline/": {"POST": P("my_invitation", "answer")},
    # Consents: the family's, and those of cases you are responsible for.
    "/api/v1/consents/": {"GET": P("signed_in", "read")},
    "/api/v1/consents/{pk}/": {"GET": P("consent", "read")},
    "/api/v1/consents/{pk}/receipt/": {"GET": P("consent", "read")},
    "/api/v1/consents/{pk}/grant/": {"POST": P("consent", "decide")},
    "/api/v1/consents/{pk}/refuse/": {"POST": P("consent", "decide")},
    "/api/v1/consents/{pk}/revoke/": {"POST": P("consent", "decide")},
    "/api/v1/consents/{pk}/child-view/": {"POST": P("consent", "decide")},
    # The access log: auditors only; a family's history for its guardians (everyone else 404,
    # as for a family that does not exist); a case's history for its responsible worker.
    "/api/v1/audit/events/": {"GET": P("signed_in", "audit")},
    "/api/v1/audit/events/export/": {"GET": P("signed_in", "audit")},
    "/api/v1/audit/anomalies/": {"GET": P("signed_in", "audit")},
    "/api/v1/audit/verify/": {"GET": P("signed_in", "audit")},
    "/api/v1/families/{pk}/access-history/": {
        "GET": P("family", "read_history", seen_by="read_history")
    },
    "/api/v1/cases/{case_pk}/access-history/": {"GET": P("case", "read_history")},
    # The family's own copy and its correction requests (issue 16).
    "/api/v1/cases/{case_pk}/family-copy/": {
        "GET": P("case", "read_family_copy", seen_by="read_family_copy")
    },
    "/api/v1/cases/{case_pk}/corrections/": {
        "GET": P("case", "read_corrections"),
        "POST": P("case", "file_correction", seen_by="file_correction"),
    },
    "/api/v1/cases/{case_pk}/corrections/{pk}/": {"GET": P("correction", "read")},
    "/api/v1/cases/{case_pk}/corrections/{pk}/answer/": {"POST": P("correction", "manage")},
    # Legal bases (issue 16): whoever sees the case lists those the policy shows them (the
    # family's, a member's own organisation's); the responsible worker alone records and ends;
    # the auditors review those withheld from families.
    "/api/v1/cases/{case_pk}/legal-bases/": {
        "GET": P("case", "read"),
        "POST": P("case", "manage"),
    },
    "/api/v1/cases/{case_pk}/legal-bases/{pk}/end/": {"POST": P("legal_basis", "manage")},
    "/api/v1/audit/legal-bases/withheld/": {"GET": P("signed_in", "audit")},
    # Messages (issue 17): whoever sees the case lists the threads they are in (the list is
    # filtered: the leak check reads it); the family and the responsible worker start threads;
    # a thread is read and written by the family, the responsible worker and the members the
    # family chose. Anyone else gets 404 for it, as for a thread that does not exist.
    "/api/v1/cases/{case_pk}/conversations/": {
        "GET": P("case", "read"),
        "POST": P("case", "start_conversation"),
    },
    "/api/v1/cases/{case_pk}/conversations/{pk}/": {"GET": P("conversation", "read")},
    "/api/v1/cases/{case_pk}/conversations/{pk}/messages/": {
        "POST": P("conversation", "write"),
    },
    # Emergency access (issue 8): no demo role holds the emergency permission, so nobody may
    # open one; who sees the case gets 403, everyone else the 404 of a case that does not
    # exist. The auditors' list of the accesses opened: auditors only, as the rest of the log.
    "/api/v1/cases/{case_pk}/emergency-access/": {"POST": P("case", "break_glass")},
    "/api/v1/audit/emergency-access/": {"GET": P("signed_in", "audit")},
    # Coordination (issue 6). The plan's actions, meetings and referrals are data category
    # `plan`: who may not read the plan gets 404 for them, as for the plan itself.
    "/api/v1/cases/{case_pk}/plan/actions/": {
        "GET": P("case", "read_plan", seen_by="read_plan"),
        "POST": P("case", "write_plan", seen_by="read_plan"),
    },
    "/api/v1/cases/{case_pk}/plan/actions/{pk}/": {
        "GET": P("plan_action", "read"),
        "PATCH": P("plan_action", "write"),
    },
    "/api/v1/cases/{case_pk}/meetings/": {
        "GET": P("case", "read_plan", seen_by="read_plan"),
        "POST": P("case", "manage_plan", seen_by="read_plan"),
    },
    "/api/v1/cases/{case_pk}/meetings/{pk}/": {
        "GET": P("meeting", "read"),
        "PATCH": P("meeting", "manage"),
    },
    "/api/v1/cases/{case_pk}/meetings/{pk}/ics/": {"GET": P("meeting", "read")},
    "/api/v1/cases/{case_pk}/meetings/{pk}/minutes/": {"POST": P("meeting", "manage")},
    "/api/v1/cases/{case_pk}/referrals/": {
        "GET": P("case", "read_plan", seen_by="read_plan"),
        "POST": P("case", "manage_plan", seen_by="read_plan"),
    },
    # The catalogue chosen for the family (its municipality, its children's ages): basic data,
    # used by the responsible worker to refer.
    "/api/v1/cases/{case_pk}/referrals/services/": {
        "GET": P("case", "manage_plan", seen_by="read_plan")
    },
    "/api/v1/cases/{case_pk}/referrals/{pk}/": {"GET": P("referral", "read")},
    "/api/v1/cases/{case_pk}/referrals/{pk}/withdraw/": {"POST": P("referral", "manage")},
    # Referrals to the organisations you work for; anyone else: 404, as for none at all.
    "/api/v1/referrals/incoming/": {"GET": P("signed_in", "read")},
    "/api/v1/referrals/incoming/{pk}/": {"GET": P("incoming_referral", "read")},
    "/api/v1/referrals/incoming/{pk}/accept/": {"POST": P("incoming_referral", "answer")},
    "/api/v1/referrals/incoming/{pk}/decline/": {"POST": P("incoming_referral", "answer")},
    # Your own desk: anyone signed in (a worker's lists; empty for others).
    "/api/v1/me/work/": {"GET": P("signed_in", "read")},
    # Coordinators: 403 for everyone else whatever the object (so nothing shows whether it
    # exists); a coordinator gets 404 for a case whose worker is still in post.
    "/api/v1/coordination/reassignments/": {"GET": P("signed_in", "coordinate")},
    "/api/v1/coordination/reassignments/{pk}/": {"GET": P("queued_case", "read")},
    "/api/v1/coordination/reassignments/{pk}/reassign/": {
        "POST": P("queued_case", "reassign"),
    },
    "/api/v1/coordination/report/": {"GET": P("signed_in", "coordinate")},
    # Reports (issue 18): the suppressed indicators for coordinators only (403 for everyone
    # else); organisations' own figures: each worker lists and enters their organisation's.
    "/api/v1/reports/indicators/": {"GET": P("signed_in", "coordinate")},
    "/api/v1/reports/indicators.csv": {"GET": P("signed_in", "coordinate")},
    "/api/v1/reports/organisation-figures/": {
        "GET": P("signed_in", "read"),
        "POST": P("signed_in", "enter_figures"),
    },
    "/api/v1/coordination/workers/{pk}/deactivate/": {
        "POST": P("deactivatable_worker", "deactivate"),
    },
    "/api/v1/coordination/services/": {
        "GET": P("signed_in", "keep_catalogue"),
        "POST": P("signed_in", "keep_catalogue"),
    },
    "/api/v1/coordination/services/{pk}/": {
        "GET": P("catalogue_service", "keep_catalogue", seen_by="see"),
        "PATCH": P("catalogue_service", "keep_catalogue", seen_by="see"),
    },
    # Organisations keep their own catalogue entries, coordinators everyone's (issue 17): the
    # workers of the owning organisation (jenni for MLL) and kaisa; another organisation's
    # entry that the public catalogue shows is 403, one it does not show 404; 403 for who
    # keeps nothing (hanna, tero). Only coordinators keep the taxonomy.
    "/api/v1/catalogue/services/": {
        "GET": P("signed_in", "keep_entries"),
        "POST": P("signed_in", "keep_entries"),
    },
    "/api/v1/catalogue/services/{pk}/": {
        "GET": P("catalogue_service", "keep_entries", seen_by="see"),
        "PATCH": P("catalogue_service", "keep_entries", seen_by="see"),
    },
    **{
        f"/api/v1/catalogue/{name}/": {
            "GET": P("signed_in", "keep_entries"),
            "POST": P("signed_in", "keep_entries"),
        }
        for name in [
            "locations",
            "services-at-locations",
            "schedules",
            "contacts",
            "phones",
            "activities",
        ]
    },
    **{
        f"/api/v1/catalogue/{name}/{{pk}}/": {
            "GET": P(kind, "keep_entries", seen_by="see"),
            "PATCH": P(kind, "keep_entries", seen_by="see"),
            **({"DELETE": P(kind, "keep_entries", seen_by="see")} if deletable else {}),
        }
        for name, kind, deletable in [
            ("locations", "catalogue_location", False),
            ("services-at-locations", "catalogue_service_at_location", True),
            ("schedules", "catalogue_schedule", True),
            ("contacts", "catalogue_contact", True),
            ("phones", "catalogue_phone", True),
            ("activities", "catalogue_activity", False),
        ]
    },
    "/api/v1/catalogue/taxonomy-terms/": {
        "GET": P("signed_in", "keep_entries"),
        "POST": P("signed_in", "keep_taxonomy"),
    },
    "/api/v1/catalogue/taxonomy-terms/{pk}/": {
        "GET": P("catalogue_taxonomy_term", "keep_entries", seen_by="see"),
        "PATCH": P("catalogue_taxonomy_term", "keep_taxonomy", seen_by="see"),
    },
    # Open Referral HSDS 3.0 (issue 17): the public catalogue again, read-only, for everyone.
    "/api/v1/hsds/": {"GET": P("public", "read")},
    "/api/v1/hsds/services": {"GET": P("public", "read")},
    "/api/v1/hsds/services/{pk}": {"GET": P("service", "read")},
    "/api/v1/hsds/organizations": {"GET": P("public", "read")},
    "/api/v1/hsds/organizations/{pk}": {"GET": P("hsds_organisation", "read")},
    "/api/v1/hsds/taxonomies": {"GET": P("public", "read")},
    "/api/v1/hsds/taxonomies/{pk}": {"GET": P("hsds_taxonomy", "read")},
    "/api/v1/hsds/taxonomy_terms": {"GET": P("public", "read")},
    "/api/v1/hsds/taxonomy_terms/{pk}": {"GET": P("hsds_taxonomy_term", "read")},
    "/api/v1/hsds/service_at_locations": {"GET": P("public", "read")},
    "/api/v1/hsds/service_at_locations/{pk}": {"GET": P("hsds_service_at_location", "read")},
    # The intake queue of contact requests (issue 17): intake workers only; 403 for everyone
    # else whatever the request (so nothing shows whether one exists), and for an intake worker
    # 404 for a request outside their queue, as for one that does not exist.
    "/api/v1/intake/contact-requests/": {"GET": P("signed_in", "intake")},
    "/api/v1/intake/contact-requests/{pk}/": {"GET": P("contact_request", "read")},
    "/api/v1/intake/contact-requests/{pk}/take/": {"POST": P("contact_request", "act")},
    "/api/v1/intake/contact-requests/{pk}/open-case/": {"POST": P("contact_request", "act")},
    "/api/v1/intake/contact-requests/{pk}/refer-on/": {"POST": P("contact_request", "act")},
    "/api/v1/intake/contact-requests/{pk}/close/": {"POST": P("contact_request", "act")},
    # Booking (issue 17): workers publish free times; the families of their cases book them.
    # Lists are per user (the leak check reads them); a free time is seen by its worker and by
    # the families who may book it, a booking by the family and the worker whose time it is.
    "/api/v1/booking/slots/": {
        "GET": P("signed_in", "read"),
        "POST": P("signed_in", "publish"),
    },
    "/api/v1/booking/slots/{pk}/": {
        "GET": P("booking_slot", "read"),
        "DELETE": P("booking_slot", "withdraw"),
    },
    "/api/v1/booking/slots/{pk}/book/": {"POST": P("booking_slot", "book")},
    "/api/v1/bookings/": {"GET": P("signed_in", "read")},
    "/api/v1/bookings/{pk}/": {"GET": P("booking", "read")},
    "/api/v1/bookings/{pk}/calendar.ics/": {"GET": P("booking", "read")},
    "/api/v1/bookings/{pk}/cancel/": {"POST": P("booking", "cancel")},
    "/api/v1/bookings/{pk}/move/": {"POST": P("booking", "move")},
}

PROBE_TEXT = "Matrix probe"


def _future(hours: int = 0) -> str:
    return (timezone.now() + datetime.timedelta(days=30, hours=hours)).isoformat()


# Plausible bodies: what a request would send if the role were allowed, so that a missing check
# shows up as a 2xx (or a 400 from validation) instead of hiding behind a validation error.
BODIES = {
    ("/api/v1/auth/token/", "POST"): lambda w, t: [
        {"username": TIINA, "password": "not-the-password"}
    ],
    ("/api/v1/families/", "POST"): lambda w, t: [
        {"name": PROBE_TEXT, "municipality": w.ids["lahti"]}
    ],
    ("/api/v1/families/lookup/", "POST"): lambda w, t: [
        {
            "identity_code": demo.identity_code(
                demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"]
            )
        },
    ],
    ("/api/v1/families/{pk}/", "PATCH"): lambda w, t: [{"name": PROBE_TEXT}],
    ("/api/v1/cases/", "POST"): lambda w, t: [{"family": t.refs["family"]}],
    ("/api/v1/cases/{pk}/", "PATCH"): lambda w, t: [{"opening_reason": PROBE_TEXT}],
    ("/api/v1/cases/{pk}/close/", "POST"): lambda w, t: [{"reason": PROBE_TEXT}],
    ("/api/v1/cases/{case_pk}/plan/", "PATCH"): lambda w, t: [{"needs": PROBE_TEXT}],
    ("/api/v1/cases/{case_pk}/corrections/", "POST"): lambda w, t: [
        {"item_kind": "plan", "what_is_wrong": PROBE_TEXT, "should_say": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/legal-bases/", "POST"): lambda w, t: [
        {
            "organisation": w.ids["org_mll"],
            "categories": ["basic"],
            "basis": "authority_request",
            "reason": PROBE_TEXT,
            "valid_until": _future(),
        }
    ],
    ("/api/v1/cases/{case_pk}/corrections/{pk}/answer/", "POST"): lambda w, t: [
        {"outcome": "corrected", "answer": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/conversations/", "POST"): lambda w, t: [
        {"subject": PROBE_TEXT, "text": PROBE_TEXT},
        {"subject": PROBE_TEXT, "text": PROBE_TEXT, "members": [w.ids["v_anna"]]},
    ],
    ("/api/v1/cases/{case_pk}/conversations/{pk}/messages/", "POST"): lambda w, t: [
        {"text": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/members/", "POST"): lambda w, t: [
        {"kind": "informal", "name": PROBE_TEXT, "relationship": "naapuri"}
    ],
    ("/api/v1/cases/{case_pk}/invitations/", "POST"): lambda w, t: [
        {"organisation": w.ids["org_mll"], "email": "matrix.probe@example.org"}
    ],
    ("/api/v1/cases/{case_pk}/notes/", "POST"): lambda w, t: [
        {"category": "notes_general", "text": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/handovers/", "POST"): lambda w, t: [{"to_worker": w.ids[ANNA]}],
    ("/api/v1/cases/{case_pk}/consent-requests/", "POST"): lambda w, t: [
        {
            "recipients": [w.ids["org_mll"]],
            "categories": ["basic"],
            "purpose_code": "matrix-probe",
            "purpose": PROBE_TEXT,
            "valid_until": _future(),
        }
    ],
    ("/api/v1/consents/{pk}/grant/", "POST"): lambda w, t: _decisions(t),
    ("/api/v1/consents/{pk}/refuse/", "POST"): lambda w, t: _decisions(t),
    ("/api/v1/consents/{pk}/revoke/", "POST"): lambda w, t: _decisions(t),
    ("/api/v1/consents/{pk}/child-view/", "POST"): lambda w, t: [
        {"child": t.refs["child"], "statement": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/plan/actions/", "POST"): lambda w, t: [{"title": PROBE_TEXT}],
    ("/api/v1/cases/{case_pk}/plan/actions/{pk}/", "PATCH"): lambda w, t: [
        {"title": PROBE_TEXT, "status": "done"}
    ],
    ("/api/v1/cases/{case_pk}/meetings/", "POST"): lambda w, t: [
        {
            "title": PROBE_TEXT,
            "starts_at": _future(),
            "ends_at": _future(hours=1),
            "place": PROBE_TEXT,
        }
    ],
    ("/api/v1/cases/{case_pk}/meetings/{pk}/", "PATCH"): lambda w, t: [
        {"title": PROBE_TEXT, "status": "cancelled"}
    ],
    ("/api/v1/cases/{case_pk}/meetings/{pk}/minutes/", "POST"): lambda w, t: [
        {"category": "notes_general", "text": PROBE_TEXT}
    ],
    ("/api/v1/cases/{case_pk}/referrals/", "POST"): lambda w, t: [
        {"service": w.ids["mll_service"], "message": PROBE_TEXT}
    ],
    ("/api/v1/referrals/incoming/{pk}/decline/", "POST"): lambda w, t: [{"reason": PROBE_TEXT}],
    ("/api/v1/cases/{case_pk}/emergency-access/", "POST"): lambda w, t: [
        {"reason": f"{PROBE_TEXT}: emergency"}
    ],
    ("/api/v1/coordination/reassignments/{pk}/reassign/", "POST"): lambda w, t: [
        {"to_worker": w.ids[ANNA]}
    ],
    ("/api/v1/booking/slots/", "POST"): lambda w, t: [
        {"starts_at": _future(), "ends_at": _future(hours=1), "place": PROBE_TEXT}
    ],
    ("/api/v1/bookings/{pk}/move/", "POST"): lambda w, t: [{"slot": w.ids["free_slot"]}],
    ("/api/v1/coordination/services/", "POST"): lambda w, t: [
        {"organisation": w.ids["org_mll"], "name_fi": PROBE_TEXT, "category": "health"}
    ],
    ("/api/v1/coordination/services/{pk}/", "PATCH"): lambda w, t: [
        {"name_fi": PROBE_TEXT, "is_active": False}
    ],
    ("/api/v1/catalogue/services/", "POST"): lambda w, t: [
        {"organisation": w.ids["org_mll"], "name_fi": PROBE_TEXT, "category": "health"}
    ],
    ("/api/v1/catalogue/services/{pk}/", "PATCH"): lambda w, t: [
        {"name_fi": PROBE_TEXT, "is_active": False}
    ],
    ("/api/v1/catalogue/locations/", "POST"): lambda w, t: [
        {"organisation": w.ids["org_mll"], "name_fi": PROBE_TEXT}
    ],
    ("/api/v1/catalogue/locations/{pk}/", "PATCH"): lambda w, t: [{"name_fi": PROBE_TEXT}],
    ("/api/v1/catalogue/schedules/", "POST"): lambda w, t: [
        {"service": w.ids["mll_service"], "byday": "MO", "description": PROBE_TEXT}
    ],
    ("/api/v1/catalogue/schedules/{pk}/", "PATCH"): lambda w, t: [{"description": PROBE_TEXT}],
    ("/api/v1/catalogue/contacts/", "POST"): lambda w, t: [
        {"service": w.ids["mll_service"], "name": PROBE_TEXT}
    ],
    ("/api/v1/catalogue/contacts/{pk}/", "PATCH"): lambda w, t: [{"name": PROBE_TEXT}],
    ("/api/v1/catalogue/phones/", "POST"): lambda w, t: [
        {"service": w.ids["mll_service"], "number": "+358 3 000 0000"}
    ],
    ("/api/v1/catalogue/phones/{pk}/", "PATCH"): lambda w, t: [{"description": PROBE_TEXT}],
    ("/api/v1/catalogue/activities/{pk}/", "PATCH"): lambda w, t: [
        {"name_fi": PROBE_TEXT, "is_cancelled": True}
    ],
    ("/api/v1/catalogue/taxonomy-terms/", "POST"): lambda w, t: [
        {"code": "matrix-probe", "name_fi": PROBE_TEXT}
    ],
    ("/api/v1/catalogue/taxonomy-terms/{pk}/", "PATCH"): lambda w, t: [{"name_fi": PROBE_TEXT}],
    ("/api/v1/intake/contact-requests/{pk}/take/", "POST"): lambda w, t: [
        {"contact_by": timezone.localdate().isoformat()}
    ],
    ("/api/v1/intake/contact-requests/{pk}/open-case/", "POST"): lambda w, t: [
        {"responsible_worker": w.ids[TIINA]}
    ],
    ("/api/v1/intake/contact-requests/{pk}/refer-on/", "POST"): lambda w, t: [
        {"organisation": w.ids["org_intake"]}
    ],
    ("/api/v1/intake/contact-requests/{pk}/close/", "POST"): lambda w, t: [
        {"reason": "advised", "note": PROBE_TEXT}
    ],
}


def _decisions(target) -> list[dict]:
    # As the guardian herself, and as a worker recording a guardian's decision.
    return [{"channel": "api"}, {"channel": "on_behalf", "grantor": target.refs["guardian"]}]


def bodies_for(base: str, method: str, world, target) -> list:
    if method in ("GET", "DELETE"):
        return [None]
    plausible = BODIES.get((base, method), lambda w, t: [])(world, target)
    return [{}, *plausible]


# --- The world: seeded demo plus objects each role must not reach -----------------------------


@dataclass(frozen=True)
class Target:
    """One object a pattern can be filled with, and who may do what to it."""

    label: str
    kwargs: dict  # URL parameters that name it
    may: dict  # action -> roles that may do it
    refs: dict = field(default_factory=dict)  # ids the plausible bodies refer to
    # Why a 403 for this object, where a made-up one answers 404, tells nothing.
    existence_exempt: str = ""

    def allows(self, role: str, action: str) -> bool:
        return role in self.may.get(action, self.may.get(EVERY_ACTION, NOBODY))


@dataclass
class World:
    ids: dict[str, str]
    targets: dict[str, list[Target]]
    secrets: dict[str, frozenset]  # text or id -> roles that may see it in a response
    readable_cases: dict[str, set[str]]  # role -> ids of cases it may read
    tokens: dict[str, str]
    jenni_token: str


EVERY_ACTION = "*"


def _same(*roles) -> dict:
    """Every action allowed to the same roles (an object wholly one role's)."""
    return {EVERY_ACTION: frozenset(roles)}


def _token_hash(token: str) -> str:
    # As cases.services stores invitation tokens; `jenni_token_is_live` below proves it matches.
    return hashlib.sha256(token.encode()).hexdigest()


def _build_world(demo_world) -> World:
    users = dict(demo_world.users)
    orgs = {org.code: org for org in Organisation.objects.all()}
    lahti = Municipality.objects.get(code="lahti")
    asikkala = Municipality.objects.get(code="asikkala")
    tiina, anna, ulla = users[TIINA], users[ANNA], users[ULLA]
    ville = WorkerFactory(username="ville.vieras", first_name="Ville", last_name="Vieras")
    soon = timezone.now() + datetime.timedelta(days=90)

    # The Virtanen case of the demo, plus a person close to the family and a handover proposal.
    virtanen = demo_world.case
    v_family = virtanen.family
    v_guardian = v_family.members.get(role=FamilyMember.Role.GUARDIAN)
    v_aino = v_family.members.get(first_name="Aino")
    v_members = list(v_family.members.all())
    v_anna = NetworkMember.objects.get(case=virtanen, user=anna)
    v_olli = NetworkMember.objects.get(case=virtanen, user=users[OLLI])
    v_informal = services.network_add_informal(
        actor=tiina,
        case=virtanen,
        name="Mummo Virtanen",
        relationship="isoäiti",
        contact="040 111 2222",
    )
    v_handover = services.handover_propose(actor=tiina, case=virtanen, to_worker=ville)
    v_notes = {note.category: note for note in Note.objects.filter(case=virtanen)}
    v_clinic = Consent.objects.get(case=virtanen, recipients=orgs["phhva-lastenneuvola"])
    v_school = Consent.objects.get(case=virtanen, recipients=orgs["asikkala-perusopetus"])
    jenni_invitation = Invitation.objects.get(case=virtanen, invited_user=users[JENNI])
    jenni_token = secrets.token_urlsafe(32)
    Invitation.objects.filter(pk=jenni_invitation.pk).update(token_hash=_token_hash(jenni_token))
    plan = Plan.objects.get(case=virtanen)
    # Coordination (issue 6): an action of the plan, a network meeting, a referral to the NGO.
    mll_service = orgs["mll-paijat-hame"].services.get(name_fi="Lastenhoitoapu")
    meeting_start = timezone.now() + datetime.timedelta(days=7)
    v_action = services.plan_action_create(
        actor=tiina,
        case=virtanen,
        title="Toimenpide: iltahoidon järjestäminen",
        responsible_user=anna,
        due_date=timezone.localdate() + datetime.timedelta(days=5),
    )
    v_meeting = services.meeting_create(
        actor=tiina,
        case=virtanen,
        title="Verkostopalaveri koululla",
        starts_at=meeting_start,
        ends_at=meeting_start + datetime.timedelta(hours=1),
        place="Vääksyn koulu, luokka 3",
        agenda="Asialista: iltojen tuki",
        members=[NetworkMember.objects.get(case=virtanen, user=anna)],
    )
    v_referral = services.referral_create(
        actor=tiina,
        case=virtanen,
        service=mll_service,
        message="Lähete: äiti toivoo lastenhoitoapua iltoihin",
    )

    # Korhonen: ulla's own family, with one of everything.
    k_family = services.family_create(
        actor=ulla,
        name="Korhonen",
        municipality=lahti,
        members=[
            {"role": "guardian", "first_name": "Kalle", "last_name": "Korhonen"},
            {
                "role": "child",
                "first_name": "Kaapo",
                "last_name": "Korhonen",
                "birth_date": timezone.localdate() - datetime.timedelta(days=13 * 365 + 100),
            },
        ],
        opening_reason="Korhonen: isän jaksaminen, lastensuojeluilmoitus.",
    )
    korhonen = k_family.cases.get()
    k_guardian = k_family.members.get(role=FamilyMember.Role.GUARDIAN)
    k_child = k_family.members.get(role=FamilyMember.Role.CHILD)
    k_ville = services.network_add_professional(actor=ulla, case=korhonen, user=ville, role="x")
    k_informal = services.network_add_informal(
        actor=ulla,
        case=korhonen,
        name="Kerttu Korhonen",
        relationship="isoäiti",
        contact="040 333 4444",
    )
    k_note = services.note_create(
        actor=ulla,
        case=korhonen,
        access=access_of(ulla, korhonen),
        category="notes_social",
        text="Korhonen: kotikäynti, isä työtön.",
    )
    services.plan_update(actor=ulla, case=korhonen, data={"needs": "Korhonen: arjen tuki."})
    k_consent = consent_services.consent_request(
        actor=ulla,
        case=korhonen,
        recipients=[orgs["mll-paijat-hame"]],
        categories=["basic", "notes_social"],
        purpose_code="family-centre-coordination",
        purpose="Korhonen: tukiperhe",
        valid_until=soon,
    )
    k_invitation, k_token = services.invitation_create(
        actor=ulla,
        case=korhonen,
        organisation=orgs["mll-paijat-hame"],
        email="kutsu.korhonen@example.org",
        message="Korhonen: tervetuloa verkostoon.",
    )
    k_handover = services.handover_propose(
        actor=ulla, case=korhonen, to_worker=ville, message="Korhonen: siirto."
    )
    k_action = services.plan_action_create(actor=ulla, case=korhonen, title="Korhonen: toimi")
    # Correction requests (issue 16): hanna's on the Virtanen case; one on Korhonen's, as data.
    v_correction = CorrectionRequest.objects.create(
        case=virtanen,
        item_kind=CorrectionRequest.Item.PLAN,
        category="plan",
        what_is_wrong="Tavoite on väärin",
        should_say="Oikea tavoite",
        requested_by=users[HANNA],
    )
    k_correction = CorrectionRequest.objects.create(
        case=korhonen,
        item_kind=CorrectionRequest.Item.PLAN,
        category="plan",
        what_is_wrong="Korhonen: väärin",
        should_say="Korhonen: oikein",
        requested_by=ulla,
    )
    # Messages (issue 17): hanna's thread with tiina and anna (whom she chose; olli she did
    # not), and ulla's thread with the Korhonen family.
    v_thread = messaging.conversation_start(
        actor=users[HANNA],
        case=virtanen,
        access=access_of(users[HANNA], virtanen),
        subject="Viestiketju: Eelin iltapäivät",
        text="Viesti: Eeli väsyy iltapäivisin",
        members=[v_anna.pk],
    ).conversation
    k_thread = messaging.conversation_start(
        actor=ulla,
        case=korhonen,
        access=access_of(ulla, korhonen),
        subject="Korhonen: viestiketju",
        text="Korhonen: viesti",
    ).conversation
    k_meeting = services.meeting_create(
        actor=ulla,
        case=korhonen,
        title="Korhonen: palaveri",
        starts_at=meeting_start,
        ends_at=meeting_start + datetime.timedelta(hours=1),
        place="Korhonen: koti",
    )
    # To a service of an organisation no demo role works for.
    k_referral = services.referral_create(
        actor=ulla,
        case=korhonen,
        service=orgs["ensi-ja-turvakoti"].services.first(),
        message="Korhonen: lähete",
    )

    # Nieminen: tiina's closed case, where anna was a member; the network's access has ended.
    n_family = services.family_create(
        actor=tiina,
        name="Nieminen",
        municipality=asikkala,
        members=[{"role": "guardian", "first_name": "Niina", "last_name": "Nieminen"}],
        opening_reason="Nieminen: muutto paikkakunnalle.",
    )
    nieminen = n_family.cases.get()
    n_anna = services.network_add_professional(actor=tiina, case=nieminen, user=anna, role="x")
    n_note = services.note_create(
        actor=tiina,
        case=nieminen,
        access=access_of(tiina, nieminen),
        category="notes_social",
        text="Nieminen: perhe muuttaa pois.",
    )
    n_action = services.plan_action_create(actor=tiina, case=nieminen, title="Nieminen: toimi")
    n_meeting = services.meeting_create(
        actor=tiina,
        case=nieminen,
        title="Nieminen: palaveri",
        starts_at=meeting_start,
        ends_at=meeting_start + datetime.timedelta(hours=1),
        place="Nieminen: koti",
    )
    services.case_close(actor=tiina, case=nieminen, reason="Nieminen: muutti pois.")

    # Emergency access (issue 8): an on-call social worker of the wellbeing area has opened, in
    # an emergency, the Mäkinen case of a colleague (no demo role is in its network). tero, who
    # audits both organisations, lists the access: the case and the reason, never the family.
    veera = WorkerFactory(
        username="veera.vastuu", membership__organisation=orgs["phhva-perhesosiaalityo"]
    )
    m_family = services.family_create(
        actor=veera,
        name="Mäkinen",
        municipality=lahti,
        members=[{"role": "guardian", "first_name": "Maija", "last_name": "Mäkinen"}],
        opening_reason="Mäkinen: päihdehuoli.",
    )
    makinen = m_family.cases.get()
    eeva = WorkerFactory(
        username="eeva.paivystys",
        first_name="Eeva",
        last_name="Päivystäjä",
        membership__organisation=orgs["phhva-lastensuojelu-lahti"],
    )
    eeva.user_permissions.add(Permission.objects.get(codename="emergency_access"))
    emergency_reason = "Päivystys: poliisin virka-apupyyntö yöllä"
    m_emergency = services.emergency_access_open(
        actor=User.objects.get(pk=eeva.pk), case=makinen, reason=emergency_reason
    )

    # Legal bases (issue 16), each for an organisation no demo role reads the case through, so
    # that no access changes (a basis for the NGO on Virtanen would show jenni's incoming
    # referral the family): one the Virtanen family sees, for Kela; ulla's on Korhonen; and
    # one on Mäkinen withheld from the family, which tero reviews.
    basis_fields = {
        "categories": ["basic"],
        "basis": "multi_professional_cooperation",
        "valid_until": soon,
    }
    v_basis = legal_bases.legal_basis_record(
        actor=tiina,
        case=virtanen,
        access=access_of(tiina, virtanen),
        reason="Peruste: verkostotyö Kelan kanssa",
        organisation=orgs["kela-lahti"],
        **basis_fields,
    )
    k_basis = legal_bases.legal_basis_record(
        actor=ulla,
        case=korhonen,
        access=access_of(ulla, korhonen),
        reason="Korhonen: peruste",
        organisation=orgs["mll-paijat-hame"],
        **basis_fields,
    )
    m_basis = legal_bases.legal_basis_record(
        actor=veera,
        case=makinen,
        access=access_of(veera, makinen),
        reason="Mäkinen: peruste",
        withheld_from_family=True,
        withheld_reason="Päivystys: kertominen vaarantaisi lapsen",
        organisation=orgs["mll-paijat-hame"],
        **basis_fields,
    )

    # Laine: the case of a worker whose account is closed; it waits in the coordinator's
    # reassignment queue, where Kaisa sees that it exists and nothing of the family.
    veikko = WorkerFactory(
        username="veikko.vanha",
        first_name="Veikko",
        last_name="Vanha",
        membership__organisation=orgs["phhva-perhesosiaalityo"],
    )
    l_family = services.family_create(
        actor=veikko,
        name="Laine",
        municipality=asikkala,
        members=[{"role": "guardian", "first_name": "Liisa", "last_name": "Laine"}],
        opening_reason="Laine: toimeentulon huolet.",
    )
    laine = l_family.cases.get()
    services.worker_deactivate(actor=users[KAISA], worker=veikko)
    retired_service = Service.objects.create(
        organisation=orgs["kela-lahti"],
        name_fi="Lakkautettu palvelu",
        category=Service.Category.FINANCIAL,
        is_active=False,
    )

    # The catalogue's parts (issue 17): MLL's (jenni's organisation), public; and a location
    # another organisation took out of the catalogue.
    mll = orgs["mll-paijat-hame"]
    c_term = TaxonomyTerm.objects.create(code="matrix-term", name_fi="Matriisitermi")
    mll_service.taxonomy_terms.add(c_term)
    c_location = Location.objects.create(organisation=mll, name_fi="MLL:n perhetalo")
    c_at = ServiceAtLocation.objects.create(service=mll_service, location=c_location)
    c_schedule = Schedule.objects.create(location=c_location, byday="MO")
    c_contact = Contact.objects.create(service=mll_service, name="MLL:n yhteyshenkilö")
    c_phone = Phone.objects.create(contact=c_contact, number="+358 3 111 1111")
    c_activity = Activity.objects.create(
        organisation=mll,
        location=c_location,
        kind=Activity.Kind.FAMILY_CAFE,
        name_fi="MLL:n perhekahvila",
        starts_at=timezone.now() + datetime.timedelta(days=2),
        ends_at=timezone.now() + datetime.timedelta(days=2, hours=2),
    )
    c_closed_location = Location.objects.create(
        organisation=orgs["kela-lahti"], name_fi="Suljettu toimipiste", is_active=False
    )

    # The front door (issue 17): a request in the family centre's queue, which kaisa takes, and
    # one referred on to another organisation's intake, which no demo role sees.
    other_intake = OrganisationFactory(name="Toinen vastaanotto", code="toinen-vastaanotto")
    MembershipFactory(
        user=UserFactory(username="irja.intake"), organisation=other_intake, role="intake"
    )
    c_queued = intake.contact_request_submit(
        first_name="Sanna",
        last_name="Salonen",
        municipality=asikkala,
        need="Yhteydenotto: arki on raskasta",
        email="sanna.salonen@example.org",
        reach_by="email",
    )
    c_referred = intake.contact_request_submit(
        first_name="Raili",
        last_name="Rantanen",
        municipality=lahti,
        need="Yhteydenotto: siirretty eteenpäin",
        phone="040 999 8888",
    )
    ContactRequest.objects.filter(pk=c_referred.pk).update(organisation=other_intake)

    # Booking (issue 17): two free times of tiina (one booked by hanna), one of ulla booked for
    # the Korhonen case (its guardian has no account: ulla's own row, as data).
    slot_start = timezone.now() + datetime.timedelta(days=10)
    v_free_slot, v_booked_slot = (
        booking.slot_publish(
            actor=tiina,
            starts_at=slot_start + datetime.timedelta(hours=hours),
            ends_at=slot_start + datetime.timedelta(hours=hours + 1),
            place=place,
        )
        for hours, place in ((0, "Vapaa aika: perhekeskus 2"), (2, "Varattu aika: perhekeskus 3"))
    )
    v_booking = booking.booking_create(actor=users[HANNA], slot_id=v_booked_slot.pk)
    k_slot = booking.slot_publish(
        actor=ulla,
        starts_at=slot_start,
        ends_at=slot_start + datetime.timedelta(hours=1),
        place="Korhonen: vastaanotto",
    )
    k_booking = Booking.objects.create(slot=k_slot, case=korhonen, booked_by=ulla)

    ids = {
        "free_slot": str(v_free_slot.pk),
        ANNA: str(anna.pk),
        TIINA: str(tiina.pk),
        "org_intake": str(other_intake.pk),
        "lahti": str(lahti.pk),
        "org_mll": str(orgs["mll-paijat-hame"].pk),
        "mll_service": str(mll_service.pk),
        "v_anna": str(v_anna.pk),
    }
    s = str
    V, K, N = s(virtanen.pk), s(korhonen.pk), s(nieminen.pk)
    v_sees = frozenset({TIINA, ANNA, OLLI, HANNA})
    v_basic = frozenset({TIINA, ANNA, HANNA})  # anna by consent, hanna as the family
    family_only = frozenset({TIINA, HANNA})

    def case(label, pk, may):
        return Target(label, {"pk": pk, "case_pk": pk}, may)

    def sub(label, case_pk, pk, may, **extra):
        return Target(label, {"case_pk": case_pk, "pk": s(pk)}, may, **extra)

    targets = {
        "public": [Target("public resource", {}, _same(*EVERYONE))],
        "signed_in": [
            Target(
                "the collection",
                {},
                {
                    "read": SIGNED_IN,
                    "create_family": WORKERS,
                    "audit": {TERO},
                    "coordinate": {KAISA},
                    "keep_catalogue": {KAISA},
                    "keep_entries": WORKERS | {KAISA},
                    "keep_taxonomy": {KAISA},
                    "intake": {KAISA},
                    "publish": WORKERS,
                    "enter_figures": WORKERS,
                },
            )
        ],
        "service": [
            Target(
                "a catalogue service",
                {"pk": s(orgs["mll-paijat-hame"].services.first().pk)},
                _same(*EVERYONE),
            )
        ],
        "organisation": [
            Target(
                "ulla's organisation",
                {"pk": s(korhonen.responsible_organisation_id)},
                _same(*SIGNED_IN),
            )
        ],
        "worker": [Target("ulla in the directory", {"pk": s(ulla.pk)}, _same(*SIGNED_IN))],
        "family": [
            Target(
                "Virtanen family",
                {"pk": s(v_family.pk)},
                {
                    "read": v_sees,
                    "manage": {TIINA},
                    "open_case": {TIINA},
                    "read_history": {HANNA},
                },
                refs={"family": s(v_family.pk)},
            ),
            Target(
                "Korhonen family",
                {"pk": s(k_family.pk)},
                _same(ULLA),
                refs={"family": s(k_family.pk)},
            ),
            Target(
                "Nieminen family (case closed)",
                {"pk": s(n_family.pk)},
                # Reopening is the responsible worker's; the family's data stays frozen.
                {"read": {TIINA}, "open_case": {TIINA}},
                refs={"family": s(n_family.pk)},
            ),
        ],
        "case": [
            case(
                "Virtanen case",
                V,
                {
                    "read": v_sees,
                    "manage": {TIINA},
                    "write": {TIINA, ANNA, OLLI},
                    "read_plan": v_basic,
                    "write_plan": {TIINA, ANNA},
                    "manage_plan": {TIINA},
                    # DESIGN.md lets the family "see" its network's invitations and consents:
                    # the invitations waiting (as in the portal) and the consents of its own
                    # family; the matrix leaves hanna's GET to the leak check.
                    "read_invitations": family_only,
                    "read_consents": family_only,
                    "read_history": {TIINA},
                    # The family's own copy and its correction requests (issue 16): the
                    # responsible worker reads and answers the requests, only the family files
                    # them; anyone else gets 404, as for a case that does not exist.
                    "read_family_copy": {HANNA},
                    "read_corrections": family_only,
                    "file_correction": {HANNA},
                    # Messages (issue 17): the family and the responsible worker start threads.
                    "start_conversation": family_only,
                },
            ),
            case("Korhonen case", K, _same(ULLA)),
            case(
                "Nieminen case (closed)",
                N,
                {
                    key: {TIINA}
                    for key in (
                        "read",
                        "read_plan",
                        "read_invitations",
                        "read_consents",
                        "read_history",
                    )
                },
            ),
        ],
        "note": [
            sub(
                "Virtanen social note by tiina",
                V,
                v_notes["notes_social"].pk,
                {"read": family_only},
            ),
            sub(
                "Virtanen general note by tiina",
                V,
                v_notes["notes_general"].pk,
                {"read": family_only},
            ),
            sub(
                "Virtanen health note by anna",
                V,
                v_notes["notes_health"].pk,
                {"read": {TIINA, ANNA, HANNA}},
            ),
            sub(
                "Virtanen education note by olli",
                V,
                v_notes["notes_education"].pk,
                {"read": {TIINA, OLLI, HANNA}},
            ),
            sub("Korhonen note", K, k_note.pk, _same(ULLA)),
            sub("Nieminen note (case closed)", N, n_note.pk, {"read": {TIINA}}),
            sub("Korhonen note under the Virtanen case", V, k_note.pk, {}),
            sub("Virtanen social note under the Korhonen case", K, v_notes["notes_social"].pk, {}),
        ],
        "member": [
            sub("anna in the Virtanen network", V, v_anna.pk, {"read": v_sees, "manage": {TIINA}}),
            sub(
                "Virtanen grandmother (informal)",
                V,
                v_informal.pk,
                {"read": v_basic, "manage": {TIINA}},
            ),
            sub("ville in the Korhonen network", K, k_ville.pk, _same(ULLA)),
            sub("Korhonen grandmother (informal)", K, k_informal.pk, _same(ULLA)),
            sub("anna in the closed Nieminen network", N, n_anna.pk, {"read": {TIINA}}),
            sub("Korhonen grandmother under the Virtanen case", V, k_informal.pk, {}),
            sub("Virtanen grandmother under the Korhonen case", K, v_informal.pk, {}),
        ],
        "case_invitation": [
            sub(
                "jenni's invitation to Virtanen",
                V,
                jenni_invitation.pk,
                {"read": family_only, "manage": {TIINA}},
            ),
            sub("Korhonen e-mail invitation", K, k_invitation.pk, _same(ULLA)),
            sub("Korhonen invitation under the Virtanen case", V, k_invitation.pk, {}),
            sub("jenni's invitation under the Korhonen case", K, jenni_invitation.pk, {}),
        ],
        "handover": [
            # Proposed to ville: no demo role may accept it; tiina may withdraw it.
            sub(
                "Virtanen handover to ville", V, v_handover.pk, {"read": v_sees, "decline": {TIINA}}
            ),
            sub(
                "Korhonen handover to ville", K, k_handover.pk, {"read": {ULLA}, "decline": {ULLA}}
            ),
            sub("Korhonen handover under the Virtanen case", V, k_handover.pk, {}),
            sub("Virtanen handover under the Korhonen case", K, v_handover.pk, {}),
        ],
        "consent": [
            Target(
                label,
                {"pk": s(consent.pk)},
                _same(*roles),
                refs={"guardian": s(guardian.pk), "child": s(child.pk)},
            )
            for label, consent, roles, guardian, child in (
                (
                    "Virtanen consent for the clinic (active)",
                    v_clinic,
                    family_only,
                    v_guardian,
                    v_aino,
                ),
                (
                    "Virtanen consent for the school (pending)",
                    v_school,
                    family_only,
                    v_guardian,
                    v_aino,
                ),
                ("Korhonen consent (pending)", k_consent, {ULLA}, k_guardian, k_child),
            )
        ],
        "my_invitation": [
            Target(
                "jenni's invitation by its token",
                {"token": jenni_token},
                _same(JENNI),
                existence_exempt="the token is the e-mailed secret: whoever holds it may learn "
                "that it is for someone else",
            ),
            Target("jenni's invitation by id", {"token": s(jenni_invitation.pk)}, _same(JENNI)),
            Target(
                "Korhonen e-mail invitation by its token",
                {"token": k_token},
                {},
                existence_exempt="as above: the token is the secret",
            ),
            Target("Korhonen e-mail invitation by id", {"token": s(k_invitation.pk)}, {}),
        ],
        "plan_action": [
            sub("Virtanen action", V, v_action.pk, {"read": v_basic, "write": {TIINA, ANNA}}),
            sub("Korhonen action", K, k_action.pk, _same(ULLA)),
            sub("Nieminen action (case closed)", N, n_action.pk, {"read": {TIINA}}),
            sub("Korhonen action under the Virtanen case", V, k_action.pk, {}),
            sub("Virtanen action under the Korhonen case", K, v_action.pk, {}),
        ],
        "correction": [
            sub(
                "hanna's Virtanen correction",
                V,
                v_correction.pk,
                {"read": family_only, "manage": {TIINA}},
            ),
            sub("Korhonen correction", K, k_correction.pk, _same(ULLA)),
            sub("Korhonen correction under the Virtanen case", V, k_correction.pk, {}),
            sub("Virtanen correction under the Korhonen case", K, v_correction.pk, {}),
        ],
        "legal_basis": [
            sub("Virtanen basis for the NGO", V, v_basis.pk, {"read": v_sees, "manage": {TIINA}}),
            sub("Korhonen basis", K, k_basis.pk, _same(ULLA)),
            sub("Mäkinen basis under the Virtanen case", V, m_basis.pk, {}),
            sub("Virtanen basis under the Korhonen case", K, v_basis.pk, {}),
        ],
        "conversation": [
            sub(
                "hanna's Virtanen thread (anna chosen, olli not)",
                V,
                v_thread.pk,
                _same(TIINA, ANNA, HANNA),
            ),
            sub("Korhonen thread", K, k_thread.pk, _same(ULLA)),
            sub("Korhonen thread under the Virtanen case", V, k_thread.pk, {}),
            sub("Virtanen thread under the Korhonen case", K, v_thread.pk, {}),
        ],
        "meeting": [
            sub("Virtanen meeting", V, v_meeting.pk, {"read": v_basic, "manage": {TIINA}}),
            sub("Korhonen meeting", K, k_meeting.pk, _same(ULLA)),
            sub("Nieminen meeting (case closed)", N, n_meeting.pk, {"read": {TIINA}}),
            sub("Korhonen meeting under the Virtanen case", V, k_meeting.pk, {}),
            sub("Virtanen meeting under the Korhonen case", K, v_meeting.pk, {}),
        ],
        "referral": [
            sub("Virtanen referral", V, v_referral.pk, {"read": v_basic, "manage": {TIINA}}),
            sub("Korhonen referral", K, k_referral.pk, _same(ULLA)),
            sub("Korhonen referral under the Virtanen case", V, k_referral.pk, {}),
            sub("Virtanen referral under the Korhonen case", K, v_referral.pk, {}),
        ],
        "incoming_referral": [
            # To the NGO: jenni works there. No consent names it: she sees the case id and the
            # service, not the family nor the message.
            Target(
                "Virtanen referral to the NGO",
                {"pk": s(v_referral.pk)},
                {"read": {JENNI}, "answer": {JENNI}},
            ),
            Target("Korhonen referral to the shelter", {"pk": s(k_referral.pk)}, {}),
        ],
        "queued_case": [
            Target(
                "Laine case (its worker has left)",
                {"pk": s(laine.pk)},
                {"read": {KAISA}, "reassign": {KAISA}},
            ),
            Target("Virtanen case (its worker in post)", {"pk": V}, {}),
            Target("Korhonen case (its worker in post)", {"pk": K}, {}),
        ],
        "deactivatable_worker": [
            # The directory shows every worker to anyone signed in: no existence to hide.
            Target(
                "ulla's account", {"pk": s(ulla.pk)}, {"read": SIGNED_IN, "deactivate": {KAISA}}
            ),
            Target("kaisa's own account", {"pk": s(users[KAISA].pk)}, {"read": SIGNED_IN}),
        ],
        "contact_request": [
            Target(
                "a contact request in the family centre's queue",
                {"pk": s(c_queued.pk)},
                {"read": {KAISA}, "act": {KAISA}},
            ),
            Target(
                "a contact request referred to another organisation", {"pk": s(c_referred.pk)}, {}
            ),
        ],
        "catalogue_service": [
            Target(
                "a public catalogue service",
                {"pk": s(mll_service.pk)},
                {"see": EVERYONE, "keep_catalogue": {KAISA}, "keep_entries": {KAISA, JENNI}},
            ),
            Target(
                "a service taken out of the catalogue",
                {"pk": s(retired_service.pk)},
                {"keep_catalogue": {KAISA}, "keep_entries": {KAISA}},
            ),
        ],
        # The catalogue kept by organisations (issue 17).
        **{
            kind: [
                Target(
                    f"MLL's {label}",
                    {"pk": s(entry.pk)},
                    {"see": EVERYONE, "keep_entries": {KAISA, JENNI}},
                )
            ]
            + extra
            for kind, label, entry, extra in [
                (
                    "catalogue_location",
                    "location",
                    c_location,
                    [
                        Target(
                            "a location taken out of the catalogue",
                            {"pk": s(c_closed_location.pk)},
                            {"keep_entries": {KAISA}},
                        )
                    ],
                ),
                ("catalogue_service_at_location", "service at a location", c_at, []),
                ("catalogue_schedule", "opening hours", c_schedule, []),
                ("catalogue_contact", "contact", c_contact, []),
                ("catalogue_phone", "phone", c_phone, []),
                ("catalogue_activity", "family café", c_activity, []),
            ]
        },
        "catalogue_taxonomy_term": [
            Target(
                "a term of the taxonomy",
                {"pk": s(c_term.pk)},
                {
                    "see": EVERYONE,
                    "keep_entries": WORKERS | {KAISA},
                    "keep_taxonomy": {KAISA},
                },
            )
        ],
        "hsds_organisation": [Target("MLL in HSDS", {"pk": s(mll.pk)}, _same(*EVERYONE))],
        "hsds_taxonomy": [
            Target(
                "the taxonomy in HSDS", {"pk": hsds.taxonomy_id(c_term.taxonomy)}, _same(*EVERYONE)
            )
        ],
        "hsds_taxonomy_term": [Target("a term in HSDS", {"pk": s(c_term.pk)}, _same(*EVERYONE))],
        "hsds_service_at_location": [
            Target("MLL's service at its house in HSDS", {"pk": s(c_at.pk)}, _same(*EVERYONE))
        ],
        "booking_slot": [
            Target(
                "tiina's free time",
                {"pk": s(v_free_slot.pk)},
                {"read": family_only, "withdraw": {TIINA}, "book": {HANNA}},
            ),
            # Booked: no longer offered (hanna's booking shows it); booking it again is a 409.
            Target(
                "tiina's booked time",
                {"pk": s(v_booked_slot.pk)},
                {"read": {TIINA}, "withdraw": {TIINA}, "book": {HANNA}},
                existence_exempt="hanna's own booking names this time: a 409 for booking it "
                "again tells her nothing new",
            ),
            Target(
                "ulla's booked time (Korhonen)",
                {"pk": s(k_slot.pk)},
                {"read": {ULLA}, "withdraw": {ULLA}},
            ),
        ],
        "booking": [
            Target(
                "hanna's booking of tiina's time",
                {"pk": s(v_booking.pk)},
                {"read": family_only, "cancel": family_only, "move": {HANNA}},
            ),
            Target(
                "the Korhonen booking", {"pk": s(k_booking.pk)}, {"read": {ULLA}, "cancel": {ULLA}}
            ),
        ],
    }

    secrets_: dict[str, frozenset] = {}

    def secret(value, roles):
        secrets_[s(value)] = frozenset(roles)

    # Virtanen: basic data only where `basic` is readable.
    for text in ("Virtanen", "Hanna", "Aino", demo.OPENING_REASON, "040 111 2222"):
        secret(text, v_basic)
    secret("Eeli", v_sees)  # in olli's own note and in his role in the network
    for member in v_members:
        secret(member.pk, v_basic)
    secret(v_informal.pk, v_basic)
    secret(v_family.pk, v_sees)
    secret(V, v_sees | {JENNI})  # jenni's invitation names the case
    secret(v_anna.pk, v_sees)
    secret(v_olli.pk, v_sees)
    secret(v_handover.pk, v_sees)
    for text in (plan.needs, plan.goals, plan.family_view):
        secret(text, v_basic)
    for category, readers in (
        ("notes_social", family_only),
        ("notes_general", family_only),
        ("notes_health", {TIINA, ANNA, HANNA}),
        ("notes_education", {TIINA, OLLI, HANNA}),
    ):
        secret(v_notes[category].pk, readers)
        secret(v_notes[category].text, readers)
    for consent in (v_clinic, v_school):
        secret(consent.pk, family_only)
    # The plan's actions, meetings and referrals: those who may read the plan. The NGO sees
    # that its referral exists (it names the case), not its message.
    for value in (
        v_action.pk,
        v_action.title,
        v_meeting.pk,
        v_meeting.title,
        v_meeting.place,
        v_meeting.agenda,
        v_referral.message,
    ):
        secret(value, v_basic)
    secret(v_referral.pk, v_basic | {JENNI})
    # Messages (issue 17): the thread and its words, for those in it.
    for value in (v_thread.pk, v_thread.subject, "Viesti: Eeli väsyy iltapäivisin"):
        secret(value, {TIINA, ANNA, HANNA})
    secret(v_clinic.purpose, family_only)
    secret(v_clinic.message, family_only)
    secret(jenni_invitation.pk, {TIINA, JENNI, HANNA})
    secret(jenni_token, NOBODY)
    for member in v_members:
        if member.identity_code:
            secret(member.identity_code, NOBODY)
    # Korhonen: ulla's alone.
    for value in (
        "Korhonen",
        "040 333 4444",
        K,
        k_family.pk,
        k_guardian.pk,
        k_child.pk,
        k_ville.pk,
        k_informal.pk,
        k_note.pk,
        k_consent.pk,
        k_invitation.pk,
        k_handover.pk,
        k_action.pk,
        k_meeting.pk,
        k_referral.pk,
        k_thread.pk,
    ):
        secret(value, {ULLA})
    secret(k_token, NOBODY)
    # Mäkinen: nobody's; tero audits the emergency access to it. Its opening is in the access
    # log (written by the service that opens it), and an access event names the case and the
    # family by id (DESIGN.md, "Access log"): those ids reach tero, the family's names nobody.
    for value in ("Mäkinen", "Maija"):
        secret(value, NOBODY)
    for value in (makinen.pk, m_family.pk, m_emergency.pk, emergency_reason):
        secret(value, {TERO})
    # Legal bases: the family sees its own; the withheld one's reason is for the auditor only.
    for value in (v_basis.pk, v_basis.reason):
        secret(value, family_only)
    for value in (k_basis.pk, k_basis.reason):
        secret(value, {ULLA})
    for value in (m_basis.pk, m_basis.withheld_reason):
        secret(value, {TERO})
    secret(m_basis.reason, NOBODY)
    # Nieminen: tiina's (the responsible worker keeps seeing her closed case).
    for value in (
        "Nieminen",
        "Niina",
        N,
        n_family.pk,
        n_anna.pk,
        n_note.pk,
        n_action.pk,
        n_meeting.pk,
    ):
        secret(value, {TIINA})
    # Laine: nobody's but the coordinator's queue, which names the case and not the family.
    for value in ("Laine", "Liisa", l_family.pk):
        secret(value, NOBODY)
    secret(laine.pk, {KAISA})
    # Contact requests: the intake worker's who sees them.
    for value in ("Salonen", "sanna.salonen@example.org", c_queued.need, c_queued.pk):
        secret(value, {KAISA})
    for value in ("Rantanen", "040 999 8888", c_referred.need, c_referred.pk):
        secret(value, NOBODY)
    # Booking: a free time is its worker's and the families' who may book it.
    secret(v_free_slot.pk, family_only)
    secret(v_free_slot.place, family_only)
    secret(v_booked_slot.place, family_only)
    secret(v_booking.pk, family_only)
    secret(k_slot.place, {ULLA})
    secret(k_booking.pk, {ULLA})
    secret(k_slot.pk, {ULLA})

    readable_cases = {role: set() for role in ROLES}
    for target in targets["case"]:
        for role in ROLES:
            if target.allows(role, "read"):
                readable_cases[role].add(target.kwargs["pk"])

    tokens = {username: Token.objects.create(user=users[username]).key for username in USERS}
    return World(
        ids=ids,
        targets=targets,
        secrets=secrets_,
        readable_cases=readable_cases,
        tokens=tokens,
        jenni_token=jenni_token,
    )


@pytest.fixture(scope="module")
def world(demo_world):
    """The seeded demo (tests/conftest.py) and the extra objects, built once for this module
    inside the demo world's transaction, and rolled back with it."""
    return _build_world(demo_world)


def client_for(world: World, role: str) -> APIClient:
    client = APIClient()
    if role != ANONYMOUS:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


# --- Checks ----------------------------------------------------------------------------------

WATCHED = (
    Family,
    FamilyMember,
    Case,
    CaseUserObjectPermission,
    NetworkMember,
    Invitation,
    Note,
    Plan,
    Handover,
    Consent,
    Consent.recipients.through,
    ConsentEvent,
    User,
    OrganisationMembership,
    Organisation,
    Token,
    PlanAction,
    Meeting,
    Meeting.members.through,
    Meeting.family_members.through,
    Referral,
    Reassignment,
    Service,
    ServiceLanguage,
    OutboundMail,
    CorrectionRequest,
    EmergencyAccess,
    Conversation,
    Conversation.members.through,
    Message,
    # Not ConversationRead: an allowed read of a thread moves the reader's read marker, by
    # design (tests/test_messages.py holds that a refused one moves none).
    ContactRequest,
    BookingSlot,
    Booking,
)


def fingerprint() -> dict:
    """The contents of the domain tables (the access log may grow: denied reads are logged)."""
    state = {
        model._meta.label: list(model.objects.order_by("pk").values_list()) for model in WATCHED
    }
    state["auditlog.LogEntry"] = LogEntry.objects.count()
    return state


@dataclass
class Outcome:
    status: int | None
    text: str
    error: str = ""
    changed: list[str] = field(default_factory=list)


def send(client: APIClient, method: str, url: str, body, baseline: dict) -> Outcome:
    """Make the request in a savepoint that is rolled back, so no probe affects the next."""
    with transaction.atomic():
        try:
            if body is None:
                response = client.generic(method, url)
            else:
                response = client.generic(
                    method, url, json.dumps(body), content_type="application/json"
                )
        except Exception as exc:  # the test client re-raises what the view did not handle
            transaction.set_rollback(True)
            return Outcome(None, "", error=f"{type(exc).__name__}: {exc}")
        after = fingerprint()
        transaction.set_rollback(True)
    changed = [label for label in baseline if baseline[label] != after[label]]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return Outcome(response.status_code, content.decode(errors="replace"), "", changed)


def leaks(world: World, role: str, text: str, request_text: str) -> list[str]:
    """Secrets in a response that the role may not see and did not send itself."""
    return sorted(
        value
        for value, roles in world.secrets.items()
        if value and role not in roles and value in text and value not in request_text
    )


def _ghost(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        return secrets.token_urlsafe(32)
    return str(uuid.uuid4())


def _substitute(obj, mapping: dict):
    if isinstance(obj, str):
        return mapping.get(obj, obj)
    if isinstance(obj, list):
        return [_substitute(item, mapping) for item in obj]
    if isinstance(obj, dict):
        return {key: _substitute(value, mapping) for key, value in obj.items()}
    return obj


def _normalise(text: str, mapping: dict) -> str:
    for real, ghost in mapping.items():
        text = text.replace(real, "<id>").replace(ghost, "<id>")
    return text


def existence_shows(
    client, method, template, target, body, outcome, baseline, *, readable, what, counts
) -> str | None:
    """Ask the same request of made-up ids in place of the ones the role may not read: the
    answer must be the same, word for word, or the refusal tells that the object exists. The
    failure's text, or None."""
    mapping = {
        value: _ghost(value)
        for value in [*target.kwargs.values(), *target.refs.values()]
        if value not in readable
    }
    if not mapping:
        return None
    ghost_url = fill(template, _substitute(target.kwargs, mapping))
    ghost = send(client, method, ghost_url, _substitute(body, mapping), baseline)
    counts["ghost"] += 1
    if (ghost.status, _normalise(ghost.text, mapping)) == (
        outcome.status,
        _normalise(outcome.text, mapping),
    ):
        return None
    return (
        f"EXISTENCE SHOWS: {what}; but for a made-up object "
        f"{method} {ghost_url} -> {ghost.error or ghost.status} {ghost.text[:200]}"
    )


def describe(role, method, url, body, target, outcome: Outcome) -> str:
    got = outcome.error or f"{outcome.status} {outcome.text[:300]}"
    sent = "" if body is None else f" {json.dumps(body)}"
    return f"{role} {method} {url}{sent} [{target.label}] -> {got}"


# --- Tests -----------------------------------------------------------------------------------


def test_every_api_pattern_is_in_the_table_with_its_methods():
    found = api_patterns()
    rows: dict[str, frozenset[str]] = {}
    problems = []
    for template, methods in found.items():
        base = base_of(template)
        if template != base and rows.get(base, methods) != methods:
            problems.append(f"{template} allows {sorted(methods)}, unlike {base}")
        rows[base] = rows.get(base, frozenset()) | methods
        leftover = re.sub(r"{\w+}", "", template)
        if re.search(r"[\\()\[\]?*+<>^$|]", leftover):
            problems.append(f"{template}: cannot read this pattern; teach _template() its syntax")
    for template in sorted(set(rows) - set(TABLE)):
        problems.append(
            f"{template} {sorted(rows[template])} is not in TABLE: decide who may reach it"
        )
    for template in sorted(set(TABLE) - set(rows)):
        problems.append(f"{template} is in TABLE but no longer routed: remove its row")
    for template in sorted(set(TABLE) & set(rows)):
        if set(TABLE[template]) != rows[template]:
            problems.append(
                f"{template} allows {sorted(rows[template])}, TABLE has {sorted(TABLE[template])}"
            )
    for template, row in TABLE.items():
        for method, probe in row.items():
            missing = params_of(template) - KIND_PARAMS[probe.kind]
            if missing:
                problems.append(f"{method} {template}: kind {probe.kind!r} cannot fill {missing}")
    assert not problems, "\n".join(problems)


def test_the_table_reads_django_patterns_the_way_the_api_routes_them():
    found = api_patterns()
    assert found["/api/v1/cases/{case_pk}/notes/{pk}/"] == {"GET"}
    suffixed = r"api/v1/^cases/(?P<pk>[0-9a-f]{8})\.(?P<format>[a-z0-9]+)/?$"
    assert _template(suffixed) == "/api/v1/cases/{pk}.{format}"
    assert base_of("/api/v1/cases/{pk}.{format}") == "/api/v1/cases/{pk}/"
    assert found["/api/v1/invitations/{token}/accept/"] == {"POST"}
    assert found["/api/v1/cases/{case_pk}/plan/"] == {"GET", "PATCH"}
    assert "/healthz" not in found and not any(t.startswith("/admin") for t in found)


def test_no_role_reaches_what_it_must_not(world):
    baseline = fingerprint()
    clients = {role: client_for(world, role) for role in ROLES}
    failures: list[str] = []
    denied_per_pattern: Counter = Counter()
    counts: Counter = Counter()

    for template in sorted(api_patterns()):
        base = base_of(template)
        for method, probe in TABLE[base].items():
            for target in world.targets[probe.kind]:
                url = fill(template, target.kwargs)
                for role in ROLES:
                    allowed = target.allows(role, probe.action)
                    if allowed and not (method == "GET" or probe.safe):
                        continue  # a write the role may make: other tests cover it
                    seen = target.allows(role, probe.seen_by)
                    for body in bodies_for(base, method, world, target):
                        outcome = send(clients[role], method, url, body, baseline)
                        counts["allowed" if allowed else "denied"] += 1
                        request_text = url + ("" if body is None else json.dumps(body))
                        what = describe(role, method, url, body, target, outcome)
                        if outcome.error or outcome.status >= 500:
                            failures.append(f"SERVER ERROR {what}")
                            continue
                        if outcome.changed:
                            failures.append(f"WROTE {outcome.changed}: {what}")
                        leaked = leaks(world, role, outcome.text, request_text)
                        if leaked:
                            failures.append(f"LEAKED {leaked}: {what}")
                        if allowed:
                            continue
                        denied_per_pattern[template] += 1
                        also = {status for status, _reason in probe.also}
                        expected = ({403} if seen else DENIED) | also
                        if role == ANONYMOUS:
                            expected = {401} | also
                        if outcome.status not in expected:
                            failures.append(f"EXPECTED {sorted(expected)}: {what}")
                            continue
                        if seen or target.existence_exempt:
                            continue
                        # Unseen: the answer must be the one for an object that does not exist.
                        shows = existence_shows(
                            clients[role],
                            method,
                            template,
                            target,
                            body,
                            outcome,
                            baseline,
                            readable=world.readable_cases[role],
                            what=what,
                            counts=counts,
                        )
                        if shows:
                            failures.append(shows)

    print(f"\nauthorization matrix: {dict(counts)} requests over {len(api_patterns())} patterns")
    assert not failures, f"{len(failures)} authorization failures:\n" + "\n".join(failures)
    unprobed = [
        template
        for template in api_patterns()
        if denied_per_pattern[template] == 0
        and any(p.kind not in PUBLIC_KINDS for p in TABLE[base_of(template)].values())
    ]
    assert not unprobed, f"patterns with no denied probe (the matrix would be vacuous): {unprobed}"
    assert counts["denied"] > 1000, counts


def _related_model(model, path: str):
    """The model a filter's field path points at (None for a plain field)."""
    related = None
    for part in path.split("__"):
        try:
            related = model._meta.get_field(part).related_model
        except Exception:  # a lookup or a method filter, not a field
            return None
        if related is None:
            return None
        model = related
    return related


def test_filters_do_not_tell_that_an_unseen_object_exists(world):
    """A list filtered by an object the user may not see answers as if it did not exist."""
    private = {
        Case: "case",
        Family: "family",
        Consent: "consent",
        Note: "note",
        NetworkMember: "member",
        Invitation: "case_invitation",
        Handover: "handover",
        FamilyMember: None,
    }
    baseline = fingerprint()
    failures: list[str] = []
    probed = 0
    for route, callback in _walk(get_resolver().url_patterns):
        template = _template(route)
        actions = getattr(callback, "actions", None) or {}
        if not template.startswith("/api/") or actions.get("get") != "list":
            continue
        if template != base_of(template):
            continue  # the format-suffix form filters through the same FilterSet
        view = callback.cls
        filterset = getattr(view, "filterset_class", None)
        if filterset is None and getattr(view, "filterset_fields", None):
            filterset = django_filters.filterset.filterset_factory(
                view.serializer_class.Meta.model, fields=view.filterset_fields
            )
        if filterset is None:
            continue
        for name, flt in filterset.base_filters.items():
            model = _related_model(filterset._meta.model, flt.field_name)
            if model not in private:
                continue
            kind = private[model]
            assert kind is not None, f"{template}?{name}=: add the {model.__name__} objects"
            for role in USERS:
                case_ids = sorted(world.readable_cases[role])
                if "case_pk" in params_of(template) and not case_ids:
                    continue
                url = fill(template, {"case_pk": case_ids[0] if case_ids else ""})
                for target in world.targets[kind]:
                    value = target.kwargs.get("pk")
                    if value is None or target.allows(role, "read"):
                        continue
                    outcome = send(
                        client_for(world, role), "GET", f"{url}?{name}={value}", None, baseline
                    )
                    made_up = str(uuid.uuid4())
                    ghost = send(
                        client_for(world, role), "GET", f"{url}?{name}={made_up}", None, baseline
                    )
                    probed += 1
                    mapping = {value: made_up}
                    if (outcome.status, _normalise(outcome.text, mapping)) != (
                        ghost.status,
                        _normalise(ghost.text, mapping),
                    ):
                        failures.append(
                            f"{role} GET {url}?{name}=<{target.label}> -> {outcome.status} "
                            f"{outcome.text[:120]}; a made-up id -> {ghost.status} "
                            f"{ghost.text[:160]}"
                        )
    assert probed, "no filter on a private model was probed"
    assert not failures, f"{len(failures)} filters reveal unseen objects:\n" + "\n".join(failures)


# --- Positive checks: the matrix above is not passing because nothing answers -----------------


def get(world, role, url):
    return client_for(world, role).get(url)


def ids_of(response) -> list[str]:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return [row["id"] for row in rows]


def target(world, kind, label) -> Target:
    return next(t for t in world.targets[kind] if t.label == label)


def test_every_role_signs_in_with_its_token(world):
    for role in USERS:
        response = get(world, role, "/api/v1/me/")
        assert response.status_code == 200, (role, response.content)
        assert response.json()["username"] == role


def test_the_responsible_worker_reaches_her_case_and_all_of_it(world):
    case_id = target(world, "case", "Virtanen case").kwargs["pk"]
    base = f"/api/v1/cases/{case_id}/"
    case = get(world, TIINA, base)
    assert case.status_code == 200 and case.json()["family"]["name"] == "Virtanen"
    members = get(world, TIINA, base + "members/")
    assert members.status_code == 200 and len(ids_of(members)) == 3  # anna, olli, grandmother
    notes = get(world, TIINA, base + "notes/")
    assert notes.status_code == 200 and len(ids_of(notes)) == 4
    plan = get(world, TIINA, base + "plan/")
    assert plan.status_code == 200 and plan.json()["needs"] == demo.PLAN["needs"]
    consents = get(world, TIINA, base + "consent-requests/")
    assert consents.status_code == 200 and len(ids_of(consents)) == 2
    invitations = get(world, TIINA, base + "invitations/")
    assert invitations.status_code == 200 and len(ids_of(invitations)) == 1


def test_ulla_reaches_the_korhonen_case_that_the_others_must_not(world):
    case_id = target(world, "case", "Korhonen case").kwargs["pk"]
    response = get(world, ULLA, f"/api/v1/cases/{case_id}/")
    assert response.status_code == 200 and response.json()["family"]["name"] == "Korhonen"
    assert len(ids_of(get(world, ULLA, f"/api/v1/cases/{case_id}/notes/"))) == 1
    assert get(world, TIINA, f"/api/v1/cases/{case_id}/").status_code == 404


def test_hanna_reaches_her_familys_consents(world):
    consent_ids = {t.kwargs["pk"] for t in world.targets["consent"] if t.allows(HANNA, "read")}
    response = get(world, HANNA, "/api/v1/consents/")
    assert response.status_code == 200
    assert set(ids_of(response)) == consent_ids and len(consent_ids) == 2
    for consent_id in consent_ids:
        assert get(world, HANNA, f"/api/v1/consents/{consent_id}/").status_code == 200


def test_anna_reads_health_notes_but_not_tiinas_social_note(world):
    case_id = target(world, "case", "Virtanen case").kwargs["pk"]
    health = target(world, "note", "Virtanen health note by anna").kwargs["pk"]
    social = target(world, "note", "Virtanen social note by tiina").kwargs["pk"]
    notes = get(world, ANNA, f"/api/v1/cases/{case_id}/notes/")
    assert notes.status_code == 200
    assert health in ids_of(notes) and social not in ids_of(notes)
    assert get(world, ANNA, f"/api/v1/cases/{case_id}/notes/{health}/").status_code == 200
    assert get(world, ANNA, f"/api/v1/cases/{case_id}/notes/{social}/").status_code == 404


def test_olli_sees_the_case_without_the_family_and_only_his_own_note(world):
    case_id = target(world, "case", "Virtanen case").kwargs["pk"]
    own = target(world, "note", "Virtanen education note by olli").kwargs["pk"]
    case = get(world, OLLI, f"/api/v1/cases/{case_id}/")
    assert case.status_code == 200
    assert "family" not in case.json() and case.json()["categories"] == []
    notes = get(world, OLLI, f"/api/v1/cases/{case_id}/notes/")
    assert notes.status_code == 200 and ids_of(notes) == [own]


def test_jenni_sees_her_invitation_and_its_token_is_live(world):
    invitation_id = target(world, "my_invitation", "jenni's invitation by id").kwargs["token"]
    response = get(world, JENNI, "/api/v1/invitations/")
    assert response.status_code == 200 and ids_of(response) == [invitation_id]
    jenni = User.objects.get(username=JENNI)
    found = services.invitation_by_key(user=jenni, key=world.jenni_token)
    assert str(found.pk) == invitation_id


def test_the_closed_case_stays_visible_to_its_worker_only(world):
    case_id = target(world, "case", "Nieminen case (closed)").kwargs["pk"]
    response = get(world, TIINA, f"/api/v1/cases/{case_id}/")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert get(world, ANNA, f"/api/v1/cases/{case_id}/").status_code == 404


def test_a_wrong_password_gets_no_token(world):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": TIINA, "password": "not-the-password"}, format="json"
    )
    assert response.status_code == 400 and "token" not in response.json()


def test_tero_lists_the_emergency_access_and_nobody_else_does(world):
    for role in USERS:
        response = get(world, role, "/api/v1/audit/emergency-access/")
        if role == TERO:
            [row] = response.json()["results"]
            assert row["username"] == "eeva.paivystys"
            assert row["reason"] == "Päivystys: poliisin virka-apupyyntö yöllä"
        else:
            assert response.status_code == 403, role
