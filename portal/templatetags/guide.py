"""Template filters of the public service guide (portal/guide.py): names in the page's
language, opening hours in words ("ma–to 8.00–16.00"), clock times and map links."""

import datetime

from django import template
from django.utils import timezone, translation
from django.utils.translation import gettext as _

register = template.Library()

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _day_names() -> dict[str, str]:
    return {
        "MO": _("Mon"),
        "TU": _("Tue"),
        "WE": _("Wed"),
        "TH": _("Thu"),
        "FR": _("Fri"),
        "SA": _("Sat"),
        "SU": _("Sun"),
    }


@register.filter
def localised(obj, field: str = "name") -> str:
    """`obj.name_sv` on a Swedish page (`name_en` on an English one), Finnish when missing."""
    language = translation.get_language() or "fi"
    return getattr(obj, f"{field}_{language}", "") or getattr(obj, f"{field}_fi", "")


@register.filter
def clock(value) -> str:
    """A time of day as written in the page's language: 8.30 (fi, sv), 8:30 (en)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).time()
    separator = ":" if translation.get_language() == "en" else "."
    return f"{value.hour}{separator}{value.minute:02d}"


def days_in_words(byday: str) -> str:
    """'MO,TU,WE,TH' -> 'Mon–Thu'; 'TU,TH' -> 'Tue, Thu' (in the page's language)."""
    names = _day_names()
    indexes = sorted(DAYS.index(day) for day in byday.split(",") if day in DAYS)
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = []
    for run in runs:
        first, last = names[DAYS[run[0]]], names[DAYS[run[-1]]]
        if len(run) >= 3:
            parts.append(f"{first}–{last}")
        else:
            parts += [names[DAYS[i]] for i in run]
    return ", ".join(parts)


@register.filter
def hours(schedule) -> str:
    """One opening-hours row in words: 'Mon–Thu 8.00–16.00'."""
    words = days_in_words(schedule.byday)
    if schedule.opens_at and schedule.closes_at:
        words = f"{words} {clock(schedule.opens_at)}–{clock(schedule.closes_at)}".strip()
    return words


@register.filter
def map_url(location) -> str:
    """An OpenStreetMap link to the location's coordinates (no embedded map)."""
    if location.latitude is None or location.longitude is None:
        return ""
    lat, lon = location.latitude, location.longitude
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


@register.filter
def coordinates(location) -> str:
    if location.latitude is None or location.longitude is None:
        return ""
    return f"{location.latitude.normalize()}, {location.longitude.normalize()}"


@register.filter
def tel(number: str) -> str:
    """A tel: address of a Finnish number: '03 000 1000' -> 'tel:+358300001000'."""
    digits = "".join(c for c in number if c.isdigit())
    if digits.startswith("0"):
        digits = "358" + digits[1:]
    return f"tel:+{digits}"
