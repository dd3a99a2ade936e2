"""Words every app shares and none owns: data categories, when a dated row is in force, a
child's age. Imports no domain app."""

import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def in_force(
    now: datetime.datetime | None = None,
    *,
    prefix: str = "",
    active: str | None = "is_active",
    start: str | None = "started_at",
    end: str = "ended_at",
) -> Q:
    """Rows in force at `now`: active (where the model has the flag), started, and not ended.

    The one definition of "in force" for organisation memberships, network memberships and
    anything else with a start and an end (DESIGN.md, "In force").
    """
    now = now or timezone.now()
    condition = Q(**{f"{prefix}{end}__isnull": True}) | Q(**{f"{prefix}{end}__gt": now})
    if start is not None:
        condition &= Q(**{f"{prefix}{start}__lte": now})
    if active is not None:
        condition &= Q(**{f"{prefix}{active}": True})
    return condition


def is_in_force(
    row,
    now: datetime.datetime | None = None,
    *,
    active: str | None = "is_active",
    start: str | None = "started_at",
    end: str = "ended_at",
) -> bool:
    """The same rule as `in_force`, for a row already in memory."""
    now = now or timezone.now()
    ends = getattr(row, end)
    if ends is not None and ends <= now:
        return False
    if start is not None and getattr(row, start) > now:
        return False
    return active is None or bool(getattr(row, active))


class Category(models.TextChoices):
    BASIC = "basic", _("Basic information")
    PLAN = "plan", _("Plan")
    NOTES_SOCIAL = "notes_social", _("Social care notes")
    NOTES_HEALTH = "notes_health", _("Health care notes")
    NOTES_EDUCATION = "notes_education", _("Education notes")
    NOTES_GENERAL = "notes_general", _("General notes")


# The access log's categories are the data categories above and one more: `protected`, named
# beside them when a read showed data under a non-disclosure marking (where the family is, or
# free text flagged as protected). Not a `Category`: no consent or permission names it, and only
# the responsible worker and the members they name ever read it (consent/policy.py).
PROTECTED = "protected"
# And `messages` (issue 17): a read that showed the family's messages with its workers (a
# thread's subject or messages). Not a `Category` either: no consent names it; the family
# chooses, thread by thread, which network members read it (consent/policy.py).
MESSAGES = "messages"
LOG_CATEGORY_CHOICES = [
    *Category.choices,
    (PROTECTED, _("Protected (non-disclosure)")),
    (MESSAGES, _("Messages")),
]
LOG_CATEGORIES = frozenset(value for value, _label in LOG_CATEGORY_CHOICES)


def view_permission(category: str) -> str:
    """Codename of the per-case permission that lets a user read one data category."""
    return f"view_case_{category}"


def age_on(birth_date: datetime.date | None, today: datetime.date | None = None) -> int | None:
    """Age in whole years on `today` (None when the birth date is not known)."""
    if birth_date is None:
        return None
    today = today or timezone.localdate()
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


# --- Legal bases (issue 16) ---------------------------------------------------------------------
# A disclosure to an organisation is allowed by a consent or by a statutory basis recorded on the
# case. The list is short on purpose and extensible: a new basis is one more member here, with
# its statute reference below (the reference is a citation, not translated).


class StatutoryBasis(models.TextChoices):
    CHILD_WELFARE_NEED_ASSESSMENT = (
        "child_welfare_need_assessment",
        _("Assessment of the need for child welfare"),
    )
    MULTI_PROFESSIONAL_COOPERATION = (
        "multi_professional_cooperation",
        _("Multi-professional cooperation under the Social Welfare Act"),
    )
    AUTHORITY_REQUEST = "authority_request", _("Request of a court or another authority")


STATUTE_REFERENCES: dict[str, str] = {
    StatutoryBasis.CHILD_WELFARE_NEED_ASSESSMENT: "Lastensuojelulaki 417/2007, 27 § ja 41 §",
    StatutoryBasis.MULTI_PROFESSIONAL_COOPERATION: "Sosiaalihuoltolaki 1301/2014, 41 §",
    StatutoryBasis.AUTHORITY_REQUEST: "Asiakastietolaki 703/2023; the law the request names",
}


def statute_of(basis: str) -> str:
    """The statute reference of a statutory basis ("" for one not in the list)."""
    return STATUTE_REFERENCES.get(basis, "")


class Sector(models.TextChoices):
    """A sector-wide consent in the manner of the Kanta services: every organisation of the
    sector in the family's area, rather than named organisations."""

    SOCIAL_WELFARE = "social_welfare", _("Social welfare")
    HEALTH_CARE = "health_care", _("Health care")


# An organisation's sector is the category of its own records.
SECTOR_CATEGORIES: dict[str, str] = {
    Sector.SOCIAL_WELFARE: Category.NOTES_SOCIAL,
    Sector.HEALTH_CARE: Category.NOTES_HEALTH,
}
