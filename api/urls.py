"""API routes under /api/v1/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from api import (
    audit_views,
    auth_views,
    bookings,
    cases,
    catalogue,
    consents,
    corrections,
    emergency,
    families,
    family_copy,
    handovers,
    hsds,
    incoming_referrals,
    intake,
    legal_bases,
    me,
    meetings,
    messages,
    my_work,
    network,
    non_disclosures,
    organisations,
    plan_actions,
    reassignments,
    referrals,
    reports,
    responsibility_report,
    workers,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False  # JSON only; no ".json" variants of every route
router.register("organisations", organisations.OrganisationViewSet, basename="organisation")
router.register("workers", workers.WorkerViewSet, basename="worker")
router.register("services", catalogue.ServiceViewSet, basename="service")
router.register("families", families.FamilyViewSet, basename="family")
router.register("cases", cases.CaseViewSet, basename="case")
router.register("invitations", network.MyInvitationViewSet, basename="invitation")
router.register("consents", consents.ConsentViewSet, basename="consent")

case_router = SimpleRouter(trailing_slash=True)
case_router.register("handovers", handovers.HandoverViewSet, basename="case-handover")
case_router.register("members", network.NetworkMemberViewSet, basename="case-member")
case_router.register("invitations", network.CaseInvitationViewSet, basename="case-invitation")
case_router.register("notes", network.NoteViewSet, basename="case-note")
case_router.register("consent-requests", consents.CaseConsentViewSet, basename="case-consent")
case_router.register(
    "non-disclosures", non_disclosures.NonDisclosureViewSet, basename="case-non-disclosure"
)
case_router.register("corrections", corrections.CorrectionViewSet, basename="case-correction")
case_router.register("legal-bases", legal_bases.LegalBasisViewSet, basename="case-legal-basis")
case_router.register(
    "conversations", messages.ConversationViewSet, basename="case-conversation"
)  # messages (issue 17)

urlpatterns = [
    path("auth/token/", auth_views.TokenView.as_view(), name="auth-token"),
    path("auth/logout/", auth_views.LogoutView.as_view(), name="auth-logout"),
    path("me/", me.MeView.as_view(), name="me"),
    path("consent/public-key/", consents.PublicKeyView.as_view(), name="consent-public-key"),
    path("cases/<uuid:case_pk>/plan/", network.PlanView.as_view(), name="case-plan"),
    path(
        "cases/<uuid:case_pk>/family-copy/",
        family_copy.FamilyCopyView.as_view(),
        name="case-family-copy",
    ),
    path("cases/<uuid:case_pk>/", include(case_router.urls)),
    path("", include(router.urls)),
]

# The access log (api/audit_views.py): the auditor's API, and the family's and the responsible
# worker's access histories.
urlpatterns += [
    path("audit/events/", audit_views.AuditEventListView.as_view(), name="audit-events"),
    path(
        "audit/events/export/",
        audit_views.AuditEventExportView.as_view(),
        name="audit-events-export",
    ),
    path("audit/anomalies/", audit_views.AuditAnomalyView.as_view(), name="audit-anomalies"),
    path("audit/verify/", audit_views.AuditVerifyView.as_view(), name="audit-verify"),
    path(
        "families/<uuid:pk>/access-history/",
        audit_views.FamilyAccessHistoryView.as_view(),
        name="family-access-history",
    ),
    path(
        "cases/<uuid:case_pk>/access-history/",
        audit_views.CaseAccessHistoryView.as_view(),
        name="case-access-history",
    ),
]

# Coordination work: the plan's actions (api/plan_actions.py), network meetings (api/meetings.py),
# referrals and incoming referrals (api/referrals.py, api/incoming_referrals.py), my work
# (api/my_work.py), and the coordinators' reassignment queue (api/reassignments.py), report
# (api/responsibility_report.py), worker deactivation (api/workers.py) and catalogue
# (api/catalogue.py).
coordination_case_router = SimpleRouter(trailing_slash=True)
coordination_case_router.register(
    "plan/actions", plan_actions.PlanActionViewSet, basename="case-plan-action"
)
coordination_case_router.register("meetings", meetings.MeetingViewSet, basename="case-meeting")
coordination_case_router.register("referrals", referrals.ReferralViewSet, basename="case-referral")
coordination_router = SimpleRouter(trailing_slash=True)
coordination_router.register(
    "referrals/incoming", incoming_referrals.IncomingReferralViewSet, basename="incoming-referral"
)
coordination_router.register(
    "coordination/reassignments", reassignments.ReassignmentViewSet, basename="reassignment"
)
coordination_router.register(
    "coordination/services", catalogue.CatalogueViewSet, basename="catalogue-service"
)
urlpatterns += [
    path("me/work/", my_work.MyWorkView.as_view(), name="my-work"),
    path(
        "coordination/report/",
        responsibility_report.ResponsibilityReportView.as_view(),
        name="responsibility-report",
    ),
    path(
        "coordination/workers/<uuid:pk>/deactivate/",
        workers.WorkerDeactivateView.as_view(),
        name="worker-deactivate",
    ),
    path("cases/<uuid:case_pk>/", include(coordination_case_router.urls)),
    path("", include(coordination_router.urls)),
]

# Emergency access, break-the-glass (api/emergency.py): opening a case outside your network, and
# the auditors' list of the accesses opened.
urlpatterns += [
    path(
        "cases/<uuid:case_pk>/emergency-access/",
        emergency.EmergencyAccessOpenView.as_view(),
        name="case-emergency-access",
    ),
    path(
        "audit/emergency-access/",
        emergency.EmergencyAccessListView.as_view(),
        name="audit-emergency-access",
    ),
]

# Legal bases (api/legal_bases.py, issue 16): those of a case are under its case router above;
# the auditors review the ones withheld from families.
urlpatterns += [
    path(
        "audit/legal-bases/withheld/",
        legal_bases.WithheldLegalBasisListView.as_view(),
        name="audit-legal-bases-withheld",
    ),
]

# The front door (issue 17, api/intake.py): the intake queue of contact requests.
intake_router = SimpleRouter(trailing_slash=True)
intake_router.register(
    "intake/contact-requests", intake.ContactRequestViewSet, basename="contact-request"
)
urlpatterns += [path("", include(intake_router.urls))]

# Booking (issue 17, api/bookings.py): free times of workers, and the bookings of them.
booking_router = SimpleRouter(trailing_slash=True)
booking_router.register("booking/slots", bookings.SlotViewSet, basename="booking-slot")
booking_router.register("bookings", bookings.BookingViewSet, basename="booking")
urlpatterns += [path("", include(booking_router.urls))]

# Reports (issue 18, api/reports.py): the coordinators' suppressed indicators, as JSON and CSV,
# and the organisations' own monthly figures.
urlpatterns += [
    path("reports/indicators/", reports.IndicatorsView.as_view(), name="report-indicators"),
    path(
        "reports/indicators.csv",
        reports.IndicatorsCSVView.as_view(),
        name="report-indicators-csv",
    ),
    path(
        "reports/organisation-figures/",
        reports.OrganisationFigureListView.as_view(),
        name="report-organisation-figures",
    ),
]

# Organisations keep their own catalogue entries, coordinators everyone's and the taxonomy
# (issue 17, api/catalogue.py).
catalogue_router = SimpleRouter(trailing_slash=True)
for prefix, viewset, basename in [
    ("services", catalogue.CatalogueServiceViewSet, "service"),
    ("locations", catalogue.CatalogueLocationViewSet, "location"),
    ("services-at-locations", catalogue.CatalogueServiceAtLocationViewSet, "service-at-location"),
    ("schedules", catalogue.CatalogueScheduleViewSet, "schedule"),
    ("contacts", catalogue.CatalogueContactViewSet, "contact"),
    ("phones", catalogue.CataloguePhoneViewSet, "phone"),
    ("activities", catalogue.CatalogueActivityViewSet, "activity"),
    ("taxonomy-terms", catalogue.CatalogueTaxonomyTermViewSet, "taxonomy-term"),
]:
    catalogue_router.register(f"catalogue/{prefix}", viewset, basename=f"catalogue-{basename}")
urlpatterns += [path("", include(catalogue_router.urls))]

# Open Referral HSDS 3.0 (issue 17, api/hsds.py): the catalogue in HSDS JSON, public and
# read-only, its paths as the HSDS API specification has them (no trailing slash).
hsds_router = SimpleRouter(trailing_slash=False)
hsds_router.register("services", hsds.ServiceViewSet, basename="hsds-service")
hsds_router.register("organizations", hsds.OrganisationViewSet, basename="hsds-organization")
hsds_router.register("taxonomy_terms", hsds.TaxonomyTermViewSet, basename="hsds-taxonomy-term")
hsds_router.register(
    "service_at_locations", hsds.ServiceAtLocationViewSet, basename="hsds-service-at-location"
)
urlpatterns += [
    path("hsds/", hsds.RootView.as_view(), name="hsds-root"),
    path("hsds/taxonomies", hsds.TaxonomyListView.as_view(), name="hsds-taxonomies"),
    path("hsds/taxonomies/<uuid:pk>", hsds.TaxonomyView.as_view(), name="hsds-taxonomy"),
    path("hsds/", include(hsds_router.urls)),
]
