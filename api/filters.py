"""Filter pieces: a boolean filter that refuses what is not a boolean, and the FilterSet that
uses it for the models' boolean fields; UTC date-time filters; and the catalogue's service filter,
which the public catalogue, the coordinators' catalogue and a case's referrals share."""

import datetime

import django_filters
from django import forms
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet as RestFilterSet
from django_filters.widgets import BooleanWidget
from drf_spectacular.utils import extend_schema_field

from cases import selectors
from cases.models import Service, ServiceLanguage


class _StrictBooleanWidget(BooleanWidget):
    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        raw = data.get(name)
        # django-filter's widget turns what it does not know into "no filter"; pass it on, so
        # that the field refuses it.
        return raw if value is None and raw not in (None, "") else value


class _StrictBooleanField(forms.NullBooleanField):
    widget = _StrictBooleanWidget

    def to_python(self, value):
        if value is True or value is False or value in (None, ""):
            return None if value == "" else value
        raise forms.ValidationError(_("Give true or false."), code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """`true` or `false`; anything else is a 400, not silently no filter."""

    field_class = _StrictBooleanField


class FilterSet(RestFilterSet):
    FILTER_DEFAULTS = {
        **RestFilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
    }


class _UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None or timezone.is_naive(value):
            return value
        # In UTC before it reaches the database: PostgreSQL refuses UTC offsets beyond ±15:59,
        # which ISO 8601 and Python allow (+21:14, say).
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError as error:
            raise forms.ValidationError(_("Give a date and time within years 1–9999.")) from error


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time, any UTC offset, compared in UTC."""

    field_class = _UtcIsoDateTimeField


MAX_AGE = 150


@extend_schema_field({"type": "number", "minimum": 0, "maximum": MAX_AGE})
class AgeFilter(django_filters.NumberFilter):
    """A child's age in years, from 0 to MAX_AGE (so the schema says which numbers fit)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=MAX_AGE, **kwargs)


class ServiceFilter(FilterSet):
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
