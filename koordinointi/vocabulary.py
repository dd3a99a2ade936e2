"""Words every app shares and none owns: when a dated row is in force. Imports no domain app."""

import datetime

from django.db.models import Q
from django.utils import timezone


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
