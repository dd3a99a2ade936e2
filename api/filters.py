"""Filter pieces: a boolean filter that refuses what is not a boolean, and the FilterSet that
uses it for the models' boolean fields."""

import datetime

import django_filters
from django import forms
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet as RestFilterSet
from django_filters.widgets import BooleanWidget


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
