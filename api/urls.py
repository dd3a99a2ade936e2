"""API routes under /api/v1/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("organisations", views.OrganisationViewSet, basename="organisation")
router.register("workers", views.WorkerViewSet, basename="worker")
router.register("services", views.ServiceViewSet, basename="service")
router.register("families", views.FamilyViewSet, basename="family")
router.register("cases", views.CaseViewSet, basename="case")

case_router = SimpleRouter(trailing_slash=True)
case_router.register("handovers", views.HandoverViewSet, basename="case-handover")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("cases/<uuid:case_pk>/", include(case_router.urls)),
    path("", include(router.urls)),
]
