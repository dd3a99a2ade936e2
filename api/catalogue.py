"""The service catalogue: public to all, and kept by coordinators (inactive services too)."""

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from api import serializers as s
from api.filters import ServiceFilter
from api.views import UUID_REGEX
from cases import selectors, services
from cases.models import Municipality, Organisation, Service, ServiceLanguage, User
from consent import policy


class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    """The public service catalogue of the family centres."""

    serializer_class = s.ServiceSerializer
    filterset_class = ServiceFilter
    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: who asks changes nothing, and nothing is logged
    lookup_value_regex = UUID_REGEX

    def get_queryset(self):
        return selectors.service_catalogue()


class LanguageListField(serializers.ListField):
    """Languages in, as codes; a service's `ServiceLanguage` rows out, as codes."""

    child = serializers.ChoiceField(choices=ServiceLanguage.Language.choices)

    def to_representation(self, data):
        return [row.language for row in data.all()]


class CatalogueServiceSerializer(s.RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A catalogue entry as coordinators keep it."""

    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    municipalities = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Municipality.objects.all(), required=False
    )
    languages = LanguageListField(required=False, max_length=len(ServiceLanguage.Language.choices))

    class Meta:
        model = Service
        fields = [
            "id",
            "organisation",
            "name_fi",
            "name_sv",
            "name_en",
            "description",
            "category",
            "min_age",
            "max_age",
            "municipalities",
            "languages",
            "contact",
            "low_threshold",
            "is_active",
        ]
        extra_kwargs = {"description": {"max_length": 20000}}

    def validate(self, data):
        instance = self.instance
        low = data.get("min_age", instance.min_age if instance else 0)
        high = data.get("max_age", instance.max_age if instance else 17)
        if low > high:
            raise serializers.ValidationError({"max_age": _("The age range is empty.")})
        return data


class CatalogueFilter(ServiceFilter):
    class Meta(ServiceFilter.Meta):
        fields = [*ServiceFilter.Meta.fields, "is_active"]


class CatalogueViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Coordinators keep the service catalogue here (and in the admin): inactive services too.
    A service is never deleted (referrals name it): set `is_active` false to take it out."""

    serializer_class = CatalogueServiceSerializer
    filterset_class = CatalogueFilter
    lookup_value_regex = UUID_REGEX

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not policy.may_keep_catalogue(request.user):
            raise PermissionDenied

    def get_queryset(self):
        return (
            Service.objects.select_related("organisation")
            .prefetch_related("municipalities", "languages")
            .order_by("name_fi", "id")
        )

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.service_save(actor=cast(User, self.request.user), data=data)

    @extend_schema(request=CatalogueServiceSerializer(partial=True))
    def partial_update(self, request, pk=None):
        service = self.get_object()
        data = CatalogueServiceSerializer(service, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        service = services.service_save(
            actor=request.user, service=service, data=dict(data.validated_data)
        )
        return Response(CatalogueServiceSerializer(self.get_queryset().get(pk=service.pk)).data)
