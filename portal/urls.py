"""Family portal URLs under /portal/. Every page of family data names its case or consent, and
answers 404 to anyone but a guardian of that family (tests/test_portal_matrix.py)."""

from django.urls import path
from django.views.i18n import set_language

from portal import booking, contact, conversations, feedback, oidc, views

app_name = "portal"
urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", set_language, name="language"),
    path("cases/<uuid:case_id>/", views.case_detail, name="case"),
    path("cases/<uuid:case_id>/network/", views.network, name="network"),
    path("cases/<uuid:case_id>/requests/", views.consent_requests, name="requests"),
    path("cases/<uuid:case_id>/consents/", views.consents, name="consents"),
    path("cases/<uuid:case_id>/history/", views.history, name="history"),
    path("cases/<uuid:case_id>/notes/", views.notes, name="notes"),
    path("cases/<uuid:case_id>/corrections/", views.corrections, name="corrections"),
    # Messages (issue 17): the threads and the form to start one; one thread and its answer.
    path(
        "cases/<uuid:case_id>/conversations/",
        conversations.conversations,
        name="conversations",
    ),
    path(
        "cases/<uuid:case_id>/conversations/<uuid:conversation_id>/",
        conversations.conversation,
        name="conversation",
    ),
    path("cases/<uuid:case_id>/copy.zip", views.copy_download, name="copy"),
    path("cases/<uuid:case_id>/copy.html", views.copy_html, name="copy_html"),
    path("cases/<uuid:case_id>/copy.json", views.copy_json, name="copy_json"),
    # Booking the responsible worker's free times (issue 17, portal/booking.py).
    path("cases/<uuid:case_id>/booking/", booking.booking_page, name="booking"),
    path(
        "cases/<uuid:case_id>/booking/<uuid:booking_id>/",
        booking.booking_detail,
        name="booking_detail",
    ),
    path(
        "cases/<uuid:case_id>/booking/<uuid:booking_id>/calendar.ics",
        booking.booking_calendar_file,
        name="booking_calendar",
    ),
    path(
        "cases/<uuid:case_id>/booking/<uuid:booking_id>/cancel/",
        booking.booking_cancel,
        name="booking_cancel",
    ),
    path(
        "cases/<uuid:case_id>/booking/<uuid:booking_id>/move/",
        booking.booking_move,
        name="booking_move",
    ),
    # The family's anonymous feedback (issue 18, portal/feedback.py).
    path("cases/<uuid:case_id>/feedback/", feedback.feedback, name="feedback"),
    path("consents/<uuid:consent_id>/grant/", views.consent_grant, name="grant"),
    path("consents/<uuid:consent_id>/refuse/", views.consent_refuse, name="refuse"),
    path("consents/<uuid:consent_id>/withdraw/", views.consent_withdraw, name="withdraw"),
    path(
        "consents/<uuid:consent_id>/receipts/<uuid:event_id>.jws",
        views.receipt,
        name="receipt",
    ),
    # A new guardian's account, from the link mailed when intake opened their case (issue 17).
    path("activate/<str:uidb64>/<str:token>/", contact.activate, name="activate"),
    # Production sign-in through the OIDC broker of strong identification (portal/oidc.py):
    # both answer 404 unless PORTAL_OIDC_ENABLED.
    path("oidc/authenticate/", oidc.start_view, name="oidc_authentication_init"),
    path("oidc/callback/", oidc.callback_view, name="oidc_authentication_callback"),
]
