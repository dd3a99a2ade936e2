"""Filter pieces: a boolean filter that refuses what is not a boolean, and the FilterSet that
uses it for the models' boolean fields; UTC date-time filters; and the catalogue's service filter,
which the public catalogue, the coordinators' catalogue and a case's referrals share."""

import datetime
import re
import uuid

import django_filters
from django import forms
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import FilterSet as RestFilterSet
from django_filters.widgets import BooleanWidget
from drf_spectacular.utils import extend_schema_field

from cases import selectors
from cases.models import Service, ServiceLanguage

_CODE = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")


class _CodeOrIdField(forms.CharField):
    """A UUID, or a code (a slug): `("id", UUID)` or `("code", text)`; anything else is refused
    with a message that says what fits, not "Enter a valid UUID"."""

    def __init__(self, *args, noun: "str | Promise" = "", **kwargs):
        self.noun = noun
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = (super().to_python(value) or "").strip()
        if value in self.empty_values:
            return None
        try:
            return ("id", uuid.UUID(value))
        except ValueError:
            pass
        if _CODE.match(value):
            return ("code", value.lower())
        raise forms.ValidationError(
            _("Give the %(noun)s's code (e.g. asikkala) or its id.") % {"noun": self.noun},
            code="invalid",
        )


# A UUID is of the code's characters too: the pattern says what the field can take (a value
# that fits it and names nothing finds nothing, as an unknown id does).
@extend_schema_field(
    {
        "type": "string",
        "pattern": "^[-a-zA-Z0-9_]{0,80}$",
        "description": "A code (e.g. asikkala) or a UUID.",
    }
)
class CodeOrIdFilter(django_filters.Filter):
    """An object named by its code or its id: `?municipality=asikkala` and
    `?municipality=<uuid>` find the same. An unknown code finds nothing, as an unknown id does.
    `field_name` is the path to the object; `through` an optional path that may repeat rows
    (many-to-many), matched by a subquery so that no row comes twice."""

    field_class = _CodeOrIdField

    def __init__(self, *args, noun: "str | Promise", code_field: str = "code", **kwargs):
        self.code_field = code_field
        super().__init__(*args, noun=noun, **kwargs)

    def filter(self, qs, value):
        if value is None:
            return qs
        kind, given = value
        lookup = (
            f"{self.field_name}__{self.code_field}__iexact" if kind == "code" else (self.field_name)
        )
        if "__" in self.field_name or kind == "code":
            # Through a many-to-many path a row could match twice: a subquery keeps each once.
            return qs.filter(
                pk__in=qs.model._default_manager.filter(**{lookup: given}).values("pk")
            )
        return qs.filter(**{lookup: given})


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
    municipality = CodeOrIdFilter(field_name="municipalities", noun=_("municipality"))
    area = CodeOrIdFilter(field_name="municipalities__areas", noun=_("family-centre area"))
    organisation = CodeOrIdFilter(field_name="organisation", noun=_("organisation"))
    taxonomy_term = CodeOrIdFilter(field_name="taxonomy_terms", noun=_("taxonomy term"))
    age = AgeFilter(method="filter_age", label="Child's age in years")
    q = django_filters.CharFilter(method="filter_text", label="Free text")
    language = django_filters.ChoiceFilter(
        field_name="languages__language",
        choices=ServiceLanguage.Language.choices,
        label="A language the service is offered in",
    )

    class Meta:
        model = Service
        fields = [
            "municipality",
            "area",
            "category",
            "low_threshold",
            "organisation",
            "language",
            "taxonomy_term",
        ]

    def filter_age(self, queryset, name, value):
        return selectors.service_by_age(queryset, value)

    def filter_text(self, queryset, name, value):
        # The same search as the admin's (cases/admin.py), so both find the same services.
        return selectors.service_catalogue_search(queryset, value)
