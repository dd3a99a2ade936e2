"""API views: validate input, call one service or selector, serialize. No domain rules here."""

from typing import cast

import django_filters
from django.contrib import auth
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from api import filters as api_filters
from api import serializers as s
from api.audit import AuditedMixin, Shown
from api.authentication import token_is_expired, token_ttl
from audit.models import AccessEvent
from cases import selectors, services
from cases.models import (
    Case,
    Family,
    Handover,
    Organisation,
    OrganisationMembership,
    Service,
    ServiceLanguage,
    User,
)
from consent import policy
from consent.categories import Category
from koordinointi.security import lockout_message

UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class IsWorker(BasePermission):
    """An active worker of some organisation (not a family member, auditor or coordinator)."""

    message = _("Only workers of an organisation can do this.")

    def has_permission(self, request, view):
        return bool(
            request.user
            and request.user.is_authenticated
            and OrganisationMembership.objects.filter(
                user=request.user, is_active=True, role=OrganisationMembership.Role.WORKER
            ).exists()
        )


class TokenView(APIView):
    """Exchange a username and password for an API token.

    Throttled per client address, and locked out per username and address by django-axes (whose
    first authentication backend refuses a locked-out pair before any password is checked). A
    failure answers with a response rather than an exception, so that the request's transaction,
    which holds axes' count of failures, commits.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenResponseSerializer,
            400: OpenApiResponse(description="Bad input, or a wrong username or password"),
            429: OpenApiResponse(description="Too many attempts: locked out or throttled"),
        },
        auth=[],
    )
    def post(self, request):
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return Response({"detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
        if user is None or not user.is_active:
            return Response(
                {"detail": _("Wrong username or password.")}, status=status.HTTP_400_BAD_REQUEST
            )
        # A sign-in without a session: the signal tells django-axes to clear the failures and
        # Django to record last_login, as auth.login() does for the portal.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token = Token.objects.filter(user=user).first()
        if token is not None and token_is_expired(token):
            token.delete()
        token, _created = Token.objects.get_or_create(user=user)
        expires_at = token.created + token_ttl()
        body = {"token": token.key, "expires_at": expires_at}
        return Response(s.TokenResponseSerializer(body).data)


class LogoutView(APIView):
    """Sign out: the caller's token is deleted, so it answers 401 from now on."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        Token.objects.filter(user=request.user).delete()
        if request.auth is None:  # signed in with a session (the admin or the portal)
            auth.logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Who am I: my organisations and roles, and the families I belong to."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        user = (
            User.objects.prefetch_related(
                Prefetch(
                    "memberships",
                    queryset=OrganisationMembership.objects.filter(is_active=True).select_related(
                        "organisation"
                    ),
                    to_attr="active_memberships",
                ),
                "family_memberships",
            )
        ).get(pk=request.user.pk)
        return Response(s.MeSerializer(user).data)


class OrganisationFilter(django_filters.FilterSet):
    # By id, not by choice of existing rows: an unknown id finds nothing rather than a 400.
    area = django_filters.UUIDFilter(field_name="area")
    municipality = django_filters.UUIDFilter(field_name="municipality")

    class Meta:
        model = Organisation
        fields = ["kind", "area", "municipality"]


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.organisation_list()


class WorkerFilter(django_filters.FilterSet):
    organisation = django_filters.UUIDFilter(field_name="memberships__organisation")

    class Meta:
        model = User
        fields = ["organisation"]


class WorkerViewSet(viewsets.ReadOnlyModelViewSet):
    """The directory of workers, so that a handover or an invitation can name one."""

    serializer_class = s.WorkerSerializer
    filterset_class = WorkerFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.worker_list()


MAX_AGE = 150


@extend_schema_field({"type": "number", "minimum": 0, "maximum": MAX_AGE})
class AgeFilter(django_filters.NumberFilter):
    """A child's age in years, from 0 to MAX_AGE (so the schema says which numbers fit)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=MAX_AGE, **kwargs)


class ServiceFilter(api_filters.FilterSet):
    municipality = django_filters.UUIDFilter(field_name="municipalities")
    organisation = django_filters.UUIDFilter(field_name="organisation")
    age = AgeFilter(method="filter_age", label="Child's age in years")
    q = django_filters.CharFilter(method="filter_text", label="Free text")
    language = django_filters.ChoiceFilter(
        field_name="languages__language",
        choices=ServiceLanguage.Language.choices,
        label="A language the service is offered in",
    )

    class Meta:
        model = Service
        fields = ["municipality", "category", "low_threshold", "organisation", "language"]

    def filter_age(self, queryset, name, value):
        return selectors.service_by_age(queryset, value)

    def filter_text(self, queryset, name, value):
        # The same search as the admin's (cases/admin.py), so both find the same services.
        return selectors.service_catalogue_search(queryset, value)


class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    """The public service catalogue of the family centres."""

    serializer_class = s.ServiceSerializer
    filterset_class = ServiceFilter
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing, and nothing is logged
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.service_catalogue()


class FamilyFilter(django_filters.FilterSet):
    municipality = django_filters.UUIDFilter(field_name="municipality")

    class Meta:
        model = Family
        fields = ["municipality"]


class AccessContextMixin(AuditedMixin):
    """Serializes with the user's access to each object in the context, computed for the whole
    page at once (a constant number of queries), and logs what was shown."""

    audit_case_kwarg: str | None = "pk"

    def access_for(self, objects) -> dict:
        """{object id: (case, Access)} for `objects`."""
        raise NotImplementedError

    def get_serializer(self, instance=None, *args, **kwargs):
        if instance is not None and not getattr(self, "swagger_fake_view", False):
            objects = list(instance) if kwargs.get("many") else [instance]
            self._case_access = self.access_for(objects)
            kwargs["context"] = {
                **self.get_serializer_context(),
                "access": {key: access for key, (_case, access) in self._case_access.items()},
            }
        return super().get_serializer(instance, *args, **kwargs)

    def audit_shown(self):
        shown = []
        for obj in self.shown_objects():
            case, access = self._case_access.get(obj.pk, (None, None))
            if case is None:
                continue
            basic = {Category.BASIC} & access.categories
            shown.append(Shown(case, access, basic, {case.family.recorded_by_id} if basic else ()))
        return shown


class FamilyViewSet(
    AccessContextMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Families with a case you may see; their data shows only where you may read `basic`."""

    serializer_class = s.FamilySerializer
    filterset_class = FamilyFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.family_list(user=cast(User, self.request.user))

    audit_resource = "family"
    audit_case_kwarg = None
    audit_family_kwarg = "pk"

    def access_for(self, families):
        return selectors.family_access(user=cast(User, self.request.user), families=families)

    @extend_schema(request=s.FamilyCreateSerializer, responses={201: s.FamilySerializer})
    def create(self, request):
        """Register a family and open its case, with you as the responsible worker."""
        if not IsWorker().has_permission(request, self):
            raise PermissionDenied(IsWorker.message)
        data = s.FamilyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        family = services.family_create(actor=request.user, **data.validated_data)
        family = self.get_queryset().get(pk=family.pk)
        return Response(self.get_serializer(family).data, status=status.HTTP_201_CREATED)

    audit_read_actions = {"lookup": AccessEvent.Action.SEARCH}

    @extend_schema(
        request=s.FamilyLookupSerializer, responses=s.FamilySerializer(many=True), filters=False
    )
    @action(detail=False, methods=["post"])
    def lookup(self, request):
        """Find families by a member's personal identity code. The code goes in the body, never
        in a URL (URLs reach server and proxy logs). Only families whose basic data you may read
        are found; any other answers as no match at all."""
        data = s.FamilyLookupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        families = selectors.family_lookup(
            user=request.user, identity_code=data.validated_data["identity_code"]
        )
        return Response(self.get_serializer(families, many=True).data)

    @extend_schema(request=s.FamilyUpdateSerializer, responses=s.FamilySerializer)
    def partial_update(self, request, pk=None):
        family = self.get_object()
        if (
            not policy.cases_for_user(request.user, need=policy.MANAGE)
            .filter(family=family)
            .exists()
        ):
            raise PermissionDenied(_("Only the responsible worker can change the family."))
        data = s.FamilyUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.family_update(actor=request.user, family=family, data=data.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=family.pk)).data)


class CaseFilter(django_filters.FilterSet):
    # A plain UUID, not a choice among all families: an unseen family must filter exactly like
    # a missing one (an empty page), never answer differently.
    family = django_filters.UUIDFilter(field_name="family")

    class Meta:
        model = Case
        fields = ["status", "family"]


class CaseViewSet(
    AccessContextMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Coordination cases you may see; data categories you may not read are left out."""

    serializer_class = s.CaseSerializer
    filterset_class = CaseFilter
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.case_list(user=cast(User, self.request.user))

    def access_for(self, cases):
        # A case fetched by `_case_get` comes with the access computed for it in this request:
        # computing it again would cost the same six queries a second time.
        known = getattr(self, "_known_access", {})
        missing = [case for case in cases if case.pk not in known]
        accesses = {**known, **policy.access_for(self.request.user, missing)}
        return {case.pk: (case, accesses[case.pk]) for case in cases}

    def _case_get(self, pk):
        case, access = selectors.case_get(user=cast(User, self.request.user), case_id=pk)
        self._known_access = {case.pk: access}
        return case

    def get_object(self):
        return self._case_get(self.kwargs["pk"])

    def _fresh(self, pk):
        return self.get_serializer(self._case_get(pk))

    @extend_schema(request=s.CaseCreateSerializer, responses={201: s.CaseSerializer})
    def create(self, request):
        """Open a new case for a family whose earlier case is closed."""
        if not IsWorker().has_permission(request, self):
            raise PermissionDenied(IsWorker.message)
        data = s.CaseCreateSerializer(
            data=request.data, families=selectors.families_of_my_cases(user=request.user)
        )
        data.is_valid(raise_exception=True)
        case = services.case_open(actor=request.user, **data.validated_data)
        return Response(self._fresh(case.pk).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CaseUpdateSerializer, responses=s.CaseSerializer)
    def partial_update(self, request, pk=None):
        case, access = selectors.case_get(user=request.user, case_id=pk)
        policy.require(access, "manage")
        data = s.CaseUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.case_update(actor=request.user, case=case, **data.validated_data)
        return Response(self._fresh(pk).data)

    @extend_schema(request=s.CaseCloseSerializer, responses=s.CaseSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the case with a reason; the network's access ends, the records are kept."""
        case, access = selectors.case_get(user=request.user, case_id=pk)
        policy.require(access, "manage")
        data = s.CaseCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.case_close(actor=request.user, case=case, reason=data.validated_data["reason"])
        return Response(self._fresh(pk).data)


class CaseScopedMixin(AuditedMixin):
    """For views under /cases/{case_pk}/: fetch the case and the user's access once, and log
    what the response showed of it."""

    def case_and_access(self):
        if not hasattr(self, "_case_and_access"):
            self._case_and_access = selectors.case_get(
                user=cast(User, self.request.user), case_id=self.kwargs["case_pk"]
            )
        return self._case_and_access

    def shown_categories(self, case, access) -> tuple[set, set]:
        """(data categories, organisations that recorded them) this response showed."""
        return set(), set()

    def audit_shown(self):
        if not hasattr(self, "_case_and_access"):
            return []
        case, access = self._case_and_access
        categories, sources = self.shown_categories(case, access)
        return [Shown(case, access, categories, sources)]


class HandoverViewSet(
    CaseScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Handovers of one case: proposed by the responsible worker, accepted by the receiver."""

    serializer_class = s.HandoverSerializer
    lookup_value_regex = UUID_REGEX
    audit_resource = "handovers"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Handover.objects.none()
        case, _access = self.case_and_access()
        return selectors.handover_list(case=case)

    @extend_schema(request=s.HandoverProposeSerializer, responses={201: s.HandoverSerializer})
    def create(self, request, case_pk=None):
        """Propose that another worker takes over responsibility for the case."""
        case, access = self.case_and_access()
        policy.require(access, "manage")
        data = s.HandoverProposeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handover = services.handover_propose(actor=request.user, case=case, **data.validated_data)
        return Response(
            s.HandoverSerializer(self.get_queryset().get(pk=handover.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, case_pk=None, pk=None):
        """Accept the handover: you become the responsible worker at once."""
        handover = get_object_or_404(self.get_queryset(), pk=pk)
        services.handover_accept(actor=request.user, handover=handover)
        return Response(s.HandoverSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=None, responses=s.HandoverSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, case_pk=None, pk=None):
        """Decline (receiver) or withdraw (proposer) the handover."""
        handover = get_object_or_404(self.get_queryset(), pk=pk)
        handover = services.handover_decline(actor=request.user, handover=handover)
        return Response(s.HandoverSerializer(handover).data)
