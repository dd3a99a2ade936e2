"""Reads of the access log: the auditor's events and anomalies, and the access histories shown
to a family and to a case's responsible worker. Who may read which events is decided in
consent.policy; these functions are given querysets already scoped there.
"""

import datetime
import uuid
from collections import deque
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Window
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, RowNumber
from django.utils import timezone

from audit import sequencer
from audit.models import AccessEvent
from cases.models import Case, Family, Organisation, OrganisationMembership, User

Role = AccessEvent.Role
Outcome = AccessEvent.Outcome

# Roles that read a case as part of its care: the family itself and its network.
NETWORK_ROLES = (Role.RESPONSIBLE, Role.MEMBER, Role.GUARDIAN)


def unsequenced_events() -> dict[str, int]:
    """Events committed by their requests but not yet on the chain, by chain: the access
    histories and the auditor's event list show them once the sequencer has chained them (a
    fraction of a second), verify reports how many wait."""
    return sequencer.unsequenced_counts()


# --- Access histories ---------------------------------------------------------------------------


def access_history_for_family(*, family: Family) -> QuerySet[AccessEvent]:
    """Who has read the family's data, newest first. The family's own reads (its guardians',
    in the portal or the API) are left out: the history answers "who has seen our data"."""
    return (
        AccessEvent.objects.filter(family_id=family.pk)
        .exclude(role=Role.GUARDIAN)
        .order_by("-created_at", "-seq")
    )


def access_history_for_case(*, case: Case) -> QuerySet[AccessEvent]:
    """Every event of the case, the family's own reads included, newest first."""
    return AccessEvent.objects.filter(case_id=case.pk).order_by("-created_at", "-seq")


@dataclass(frozen=True)
class People:
    """Names of the users and organisations that a page of events names, by id."""

    users: dict = field(default_factory=dict)  # id -> full name (or username)
    organisations: dict = field(default_factory=dict)  # id -> name
    workers: frozenset = frozenset()  # ids of the users who are (or were) workers


def people_of(events) -> People:
    """Resolve the readers and their organisations of `events` in two queries (none when the
    events name nobody). Users and organisations deleted since keep their ids in the log."""
    events = list(events)
    user_ids = {e.user_id for e in events if e.user_id}
    org_ids = {e.organisation_id for e in events if e.organisation_id}
    users, workers = {}, set()
    if user_ids:
        worker = OrganisationMembership.objects.filter(
            user_id=OuterRef("pk"), role=OrganisationMembership.Role.WORKER
        )
        rows = (
            User.objects.filter(pk__in=user_ids)
            .annotate(is_worker=Exists(worker))
            .values_list("pk", "first_name", "last_name", "username", "is_worker")
        )
        for pk, first, last, username, is_worker in rows:
            users[pk] = f"{first} {last}".strip() or username
            if is_worker:
                workers.add(pk)
    organisations = {}
    if org_ids:
        organisations = dict(Organisation.objects.filter(pk__in=org_ids).values_list("pk", "name"))
    return People(users=users, organisations=organisations, workers=frozenset(workers))


# --- Anomalies ----------------------------------------------------------------------------------


class Kind:
    DENIED_BURST = "denied_burst"
    NOT_IN_NETWORK = "not_in_network"
    OUTSIDE_OFFICE_HOURS = "outside_office_hours"
    EMERGENCY_ACCESS = "emergency_access"

    ALL = (DENIED_BURST, NOT_IN_NETWORK, OUTSIDE_OFFICE_HOURS, EMERGENCY_ACCESS)


@dataclass(frozen=True)
class Thresholds:
    """What counts as an anomaly; each value from settings, with these defaults."""

    denied_burst: int = 5  # AUDIT_ANOMALY_DENIED_BURST: this many refusals of one user ...
    denied_burst_minutes: int = 10  # AUDIT_ANOMALY_DENIED_BURST_MINUTES: ... within this time
    window_days: int = 30  # AUDIT_ANOMALY_WINDOW_DAYS: how far back, unless asked
    office_hours: tuple = (7, 18)  # AUDIT_OFFICE_HOURS: [start, end) hours, local time
    office_days: tuple = (1, 2, 3, 4, 5)  # AUDIT_OFFICE_DAYS: ISO weekdays, Monday = 1
    time_zone: str = "Europe/Helsinki"  # AUDIT_OFFICE_TIME_ZONE
    samples: int = 5  # AUDIT_ANOMALY_SAMPLES: event ids shown per finding
    limit: int = 100  # AUDIT_ANOMALY_LIMIT: findings per kind, most events first

    @classmethod
    def from_settings(cls) -> "Thresholds":
        defaults = cls()
        return cls(
            denied_burst=getattr(settings, "AUDIT_ANOMALY_DENIED_BURST", defaults.denied_burst),
            denied_burst_minutes=getattr(
                settings, "AUDIT_ANOMALY_DENIED_BURST_MINUTES", defaults.denied_burst_minutes
            ),
            window_days=getattr(settings, "AUDIT_ANOMALY_WINDOW_DAYS", defaults.window_days),
            office_hours=tuple(getattr(settings, "AUDIT_OFFICE_HOURS", defaults.office_hours)),
            office_days=tuple(getattr(settings, "AUDIT_OFFICE_DAYS", defaults.office_days)),
            time_zone=getattr(settings, "AUDIT_OFFICE_TIME_ZONE", defaults.time_zone),
            samples=getattr(settings, "AUDIT_ANOMALY_SAMPLES", defaults.samples),
            limit=getattr(settings, "AUDIT_ANOMALY_LIMIT", defaults.limit),
        )


@dataclass
class Anomaly:
    kind: str
    user_id: uuid.UUID | None
    username: str
    count: int
    first: datetime.datetime
    last: datetime.datetime
    sample_event_ids: list = field(default_factory=list)


def anomaly_window(
    *, created_after=None, created_before=None, thresholds: Thresholds | None = None
) -> tuple[datetime.datetime, datetime.datetime]:
    """The period anomalies are looked for in: as asked, or the last `window_days` days."""
    thresholds = thresholds or Thresholds.from_settings()
    until = created_before or timezone.now()
    since = created_after or until - datetime.timedelta(days=thresholds.window_days)
    return since, until


def anomaly_list(
    *,
    events: QuerySet[AccessEvent],
    since: datetime.datetime,
    until: datetime.datetime,
    thresholds: Thresholds | None = None,
) -> list[Anomaly]:
    """The anomalies among `events` (already scoped to the auditor) in [since, until).

    - denied_burst: `denied_burst` or more refused attempts by one user within any span of
      `denied_burst_minutes` (anonymous attempts count as one user, null);
    - not_in_network: allowed reads of a case by someone whose role on it was neither
      responsible worker, network member nor guardian (a worker asked to take over, or no
      role at all);
    - outside_office_hours: allowed reads by anyone but the family outside `office_hours` on
      `office_days`, in `time_zone` (public holidays are not known here);
    - emergency_access: allowed reads under emergency access.

    Seven queries whatever the size of the log: the bursts are found in one pass over the
    refused attempts (streamed, memory bounded by one burst window), the other kinds are
    grouped and counted in SQL, with their sample ids from a window function.
    """
    thresholds = thresholds or Thresholds.from_settings()
    events = events.filter(created_at__gte=since, created_at__lt=until)
    allowed = events.filter(outcome=Outcome.ALLOWED)
    tz = ZoneInfo(thresholds.time_zone)
    start, end = thresholds.office_hours
    outside = (
        allowed.exclude(role=Role.GUARDIAN)
        .annotate(
            local_hour=ExtractHour("created_at", tzinfo=tz),
            local_day=ExtractIsoWeekDay("created_at", tzinfo=tz),
        )
        .filter(
            Q(local_hour__lt=start)
            | Q(local_hour__gte=end)
            | ~Q(local_day__in=thresholds.office_days)
        )
    )
    found = _denied_bursts(events.filter(outcome=Outcome.DENIED), thresholds)
    found += _grouped(
        Kind.NOT_IN_NETWORK,
        allowed.filter(case_id__isnull=False).exclude(role__in=NETWORK_ROLES),
        thresholds,
    )
    found += _grouped(Kind.OUTSIDE_OFFICE_HOURS, outside, thresholds)
    found += _grouped(Kind.EMERGENCY_ACCESS, allowed.filter(emergency=True), thresholds)
    return found


def _grouped(kind: str, events: QuerySet, thresholds: Thresholds) -> list[Anomaly]:
    """One finding per user: how many events, the first and the last, and the latest ids."""
    rows = list(
        events.order_by()
        .values("user_id")
        .annotate(
            name=Max("username"), count=Count("id"), first=Min("created_at"), last=Max("created_at")
        )
        .order_by("-count", "user_id")[: thresholds.limit]
    )
    if not rows:
        return []
    users = [row["user_id"] for row in rows]
    in_users = Q(user_id__in=[u for u in users if u is not None])
    if None in users:
        in_users |= Q(user_id__isnull=True)
    samples: dict = {}
    ranked = (
        events.filter(in_users)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("user_id")],
                order_by=[F("created_at").desc(), F("seq").desc()],
            )
        )
        .filter(rank__lte=thresholds.samples)
        .order_by("user_id", "rank")
        .values_list("user_id", "id")
    )
    for user_id, event_id in ranked:
        samples.setdefault(user_id, []).append(event_id)
    return [
        Anomaly(
            kind=kind,
            user_id=row["user_id"],
            username=row["name"],
            count=row["count"],
            first=row["first"],
            last=row["last"],
            sample_event_ids=samples.get(row["user_id"], []),
        )
        for row in rows
    ]


def _denied_bursts(denied: QuerySet, thresholds: Thresholds) -> list[Anomaly]:
    """Users with `denied_burst` refusals within `denied_burst_minutes`, in one pass.

    A sliding window over each user's refusals in time order: whenever it holds enough of them,
    all of them belong to a burst. `count` is how many refusals belong to some burst.
    """
    span = datetime.timedelta(minutes=thresholds.denied_burst_minutes)
    rows = (
        denied.order_by("user_id", "created_at", "seq")
        .values_list("user_id", "username", "created_at", "id")
        .iterator(chunk_size=2000)
    )
    found = []
    for user_id, user_rows in groupby(rows, key=itemgetter(0)):
        window: deque = deque()  # (index, time, id) of the refusals within `span` of the last
        latest: deque = deque(maxlen=thresholds.samples)  # ids of the latest burst refusals
        finding = None
        last_marked = -1  # index of the last refusal counted into a burst
        for index, (_user, username, created_at, event_id) in enumerate(user_rows):
            window.append((index, created_at, event_id))
            while created_at - window[0][1] >= span:
                window.popleft()
            if len(window) < thresholds.denied_burst:
                continue
            if finding is None:
                finding = Anomaly(Kind.DENIED_BURST, user_id, username, 0, window[0][1], created_at)
            # The window's refusals not yet counted are its newest ones (each is counted once,
            # so the pass stays linear however long the burst).
            fresh = []
            for item in reversed(window):
                if item[0] <= last_marked:
                    break
                fresh.append(item)
            fresh.reverse()
            finding.count += len(fresh)
            latest.extend(marked_id for _index, _time, marked_id in fresh)
            last_marked = index
            finding.last = created_at
        if finding is not None:
            finding.sample_event_ids = list(reversed(latest))  # newest first, as the others
            found.append(finding)
    found.sort(key=lambda a: (-a.count, str(a.user_id)))
    return found[: thresholds.limit]
