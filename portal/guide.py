"""The public service guide (issue 17, *sähköinen perhekeskus*): search and browse the
family-centre catalogue, a page per service, organisation and meeting place, and a calendar of
open activities. No sign-in, in Finnish, Swedish and English, each at its own address.

Public data only: every page calls one reader of `cases.guide_selectors` (which take no user and
log nothing, as the catalogue is nobody's family data) and renders it. Bad input in a search
shows the form with its message (400), never a 500; an unknown or inactive id answers 404.
"""

from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.http import Http404
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from cases import guide_selectors
from cases.models import ServiceLanguage
from portal.templatetags.guide import localised

# language -> the guide's address and its sub-addresses
ADDRESSES = {
    "fi": {
        "home": "palvelut/",
        "organisation": "palvelut/toimijat/",
        "places": "palvelut/kohtaamispaikat/",
        "calendar": "palvelut/tapahtumat/",
    },
    "sv": {
        "home": "tjanster/",
        "organisation": "tjanster/organisationer/",
        "places": "tjanster/motesplatser/",
        "calendar": "tjanster/kalender/",
    },
    "en": {
        "home": "services/",
        "organisation": "services/organisations/",
        "places": "services/meeting-places/",
        "calendar": "services/calendar/",
    },
}
LANGUAGES = tuple(ADDRESSES)
MAX_AGE = 17


class _MunicipalityField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        if translation.get_language() == "sv" and obj.name_sv:
            return obj.name_sv
        return obj.name


class _TermField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        language = translation.get_language()
        return getattr(obj, f"name_{language}", "") or obj.name_fi


def _municipality_field():
    return _MunicipalityField(
        label=gettext_lazy("Municipality"),
        queryset=guide_selectors.municipality_choices(),
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("All municipalities"),
        error_messages={"invalid_choice": gettext_lazy("Choose a municipality from the list.")},
    )


def _age_field():
    return forms.IntegerField(
        label=gettext_lazy("Child's age (years)"),
        required=False,
        min_value=0,
        max_value=MAX_AGE,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "invalid": gettext_lazy("Give the age as a whole number of years, from 0 to 17."),
            "min_value": gettext_lazy("Give the age as a whole number of years, from 0 to 17."),
            "max_value": gettext_lazy("Give the age as a whole number of years, from 0 to 17."),
        },
    )


class SearchForm(forms.Form):
    municipality = _municipality_field()
    age = _age_field()
    topic = _TermField(
        label=gettext_lazy("Topic"),
        queryset=guide_selectors.taxonomy_choices(),
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("All topics"),
        error_messages={"invalid_choice": gettext_lazy("Choose a topic from the list.")},
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language of the service"),
        choices=[("", gettext_lazy("Any language"))] + list(ServiceLanguage.Language.choices),
        required=False,
        error_messages={"invalid_choice": gettext_lazy("Choose a language from the list.")},
    )
    no_referral = forms.BooleanField(label=gettext_lazy("No referral needed"), required=False)
    q = forms.CharField(
        label=gettext_lazy("Search words"),
        required=False,
        max_length=200,
        error_messages={
            "max_length": gettext_lazy("Use at most 200 characters in the search words.")
        },
    )

    def filters(self) -> guide_selectors.ServiceFilters:
        data = self.cleaned_data
        return guide_selectors.ServiceFilters(
            municipality=data.get("municipality"),
            age=data.get("age"),
            term=data.get("topic"),
            language=data.get("language") or "",
            low_threshold=bool(data.get("no_referral")),
            text=(data.get("q") or "").strip(),
        )


class CalendarForm(forms.Form):
    municipality = _municipality_field()
    age = _age_field()


def _in_language(view):
    """The page in the language of its address; an Http404 answers with the guide's own page."""

    @wraps(view)
    def wrapper(request, *args, language: str, **kwargs):
        with translation.override(language):
            request.LANGUAGE_CODE = language
            try:
                response = view(request, *args, language=language, **kwargs)
            except Http404:
                response = render(
                    request,
                    "portal/guide/not_found.html",
                    _context(language, lambda code: reverse(f"guide-{code}")),
                    status=404,
                )
        response.headers["Content-Language"] = language
        return response

    return wrapper


def _context(language: str, address_in, **context) -> dict:
    """The page's context: the same page's address in each language, and the guide's menu."""
    languages = {code: address_in(code) for code in LANGUAGES} | {"current": language}
    links = {name: reverse(f"guide-{name}-{language}") for name in ("places", "calendar")}
    links["home"] = reverse(f"guide-{language}")
    links["contact"] = reverse(f"contact-{language}")
    return {"languages": languages, "public": True, "guide": links, **context}


def _query(request) -> str:
    return f"?{request.GET.urlencode()}" if request.GET else ""


def _search_link(language: str, **params) -> str:
    return reverse(f"guide-{language}") + "?" + urlencode(params)


@_in_language
@require_GET
def home(request, *, language: str):
    """The front page: the search form, and the results when searched."""
    searched = any(name in request.GET for name in SearchForm.base_fields)
    form = SearchForm(request.GET if searched else None)
    results = None
    status = 200
    if searched:
        if form.is_valid():
            results = sorted(
                guide_selectors.service_search(form.filters()),
                key=lambda service: localised(service).casefold(),
            )
        else:
            status = 400
    terms = list(guide_selectors.taxonomy_choices())
    context = _context(
        language,
        lambda code: reverse(f"guide-{code}") + _query(request),
        form=form,
        results=results,
        searched=searched,
        topics=[(term, _search_link(language, topic=term.code)) for term in terms],
        current="home",
    )
    return render(request, "portal/guide/home.html", context, status=status)


@_in_language
@require_GET
def service_page(request, service_id, *, language: str):
    service = guide_selectors.service_get(service_id)
    context = _context(
        language,
        lambda code: reverse(f"guide-service-{code}", args=[service.pk]),
        service=service,
    )
    return render(request, "portal/guide/service.html", context)


@_in_language
@require_GET
def organisation_page(request, organisation_id, *, language: str):
    organisation = guide_selectors.organisation_get(organisation_id)
    context = _context(
        language,
        lambda code: reverse(f"guide-organisation-{code}", args=[organisation.pk]),
        organisation=organisation,
    )
    return render(request, "portal/guide/organisation.html", context)


@_in_language
@require_GET
def meeting_places(request, *, language: str):
    context = _context(
        language,
        lambda code: reverse(f"guide-places-{code}"),
        places=guide_selectors.meeting_places(),
        current="places",
    )
    return render(request, "portal/guide/places.html", context)


@_in_language
@require_GET
def meeting_place(request, location_id, *, language: str):
    place = guide_selectors.meeting_place_get(location_id)
    context = _context(
        language,
        lambda code: reverse(f"guide-place-{code}", args=[place.pk]),
        place=place,
        current="places",
    )
    return render(request, "portal/guide/place.html", context)


@_in_language
@require_GET
def calendar(request, *, language: str):
    """Open activities of the coming weeks, by municipality and age."""
    searched = any(name in request.GET for name in CalendarForm.base_fields)
    form = CalendarForm(request.GET if searched else None)
    status = 200
    activities = []
    if not searched:
        activities = guide_selectors.activity_calendar()
    elif form.is_valid():
        activities = guide_selectors.activity_calendar(
            municipality=form.cleaned_data.get("municipality"), age=form.cleaned_data.get("age")
        )
    else:
        status = 400
    days: list[tuple] = []
    for activity in activities:
        key = timezone.localtime(activity.starts_at).date()
        if not days or days[-1][0] != key:
            days.append((key, []))
        days[-1][1].append(activity)
    context = _context(
        language,
        lambda code: reverse(f"guide-calendar-{code}") + _query(request),
        form=form,
        days=days,
        days_ahead=guide_selectors.ACTIVITY_DAYS,
        current="calendar",
    )
    return render(request, "portal/guide/calendar.html", context, status=status)


urlpatterns = []
for _code, _paths in ADDRESSES.items():
    urlpatterns += [
        path(_paths["home"], home, {"language": _code}, name=f"guide-{_code}"),
        path(
            _paths["home"] + "<uuid:service_id>/",
            service_page,
            {"language": _code},
            name=f"guide-service-{_code}",
        ),
        path(
            _paths["organisation"] + "<uuid:organisation_id>/",
            organisation_page,
            {"language": _code},
            name=f"guide-organisation-{_code}",
        ),
        path(_paths["places"], meeting_places, {"language": _code}, name=f"guide-places-{_code}"),
        path(
            _paths["places"] + "<uuid:location_id>/",
            meeting_place,
            {"language": _code},
            name=f"guide-place-{_code}",
        ),
        path(_paths["calendar"], calendar, {"language": _code}, name=f"guide-calendar-{_code}"),
    ]
