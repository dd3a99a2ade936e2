"""The indicators of knowledge-based management (issue 18): figures by family-centre area,
municipality, organisation kind and month, computed from the live data in a constant number of
queries (never from the access log) and suppressed (reports/suppression.py) before anyone sees
them. The definitions are in docs/architecture.md, "4k Indicators", and INDICATORS below."""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, Max, Min, OuterRef, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from cases.models import (
    Case,
    ContactRequest,
    EmergencyAccess,
    Handover,
    Meeting,
    Municipality,
    NetworkMember,
    NonDisclosure,
    Organisation,
    OrganisationMembership,
    Reassignment,
    Referral,
    Service,
)
from consent import policy
from consent.models import ConsentEvent
from reports import suppression
from reports.models import QUESTIONS, FeedbackAnswer, FeedbackPrompt, OrganisationFigure

KINDS = tuple(Organisation.Kind.values)
MAX_MONTHS = 36


@dataclass(frozen=True)
class Indicator:
    key: str
    kind: str  # "count", "sum", "median_days" or "share"
    label: object
    definition: object
    # A count broken down at area level (service, reply): the parts' labels come with the data.
    breakdown: str = ""
    # A share: (the "yes" count's key, the "no" count's key), or the breakdown values.
    of: tuple[str, ...] = ()


def _formatted(template, **values):
    """A translatable template filled in when shown, in the language of the moment."""
    return lazy(lambda: str(template) % {k: str(v) for k, v in values.items()}, str)()


def _network_kind(kind: str, label) -> Indicator:
    return Indicator(
        f"network_includes_{kind}",
        "count",
        _formatted(_("Open cases whose network includes: %(kind)s"), kind=label),
        _(
            "Cases open at the end of the month with at least one network member in force then "
            "from an organisation of this kind."
        ),
    )


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "cases_new",
        "count",
        _("New cases"),
        _("Cases opened in the month."),
    ),
    Indicator(
        "cases_open",
        "count",
        _("Open cases"),
        _("Cases open at the end of the month."),
    ),
    Indicator(
        "cases_closed",
        "count",
        _("Closed cases"),
        _("Cases closed in the month."),
    ),
    Indicator(
        "first_meetings",
        "count",
        _("First network meetings"),
        _("Cases whose first held network meeting was in the month."),
    ),
    Indicator(
        "days_to_first_meeting",
        "median_days",
        _("Days to the first network meeting (median)"),
        _(
            "Of the cases counted in first network meetings: days from the family's contact "
            "request (when the case came through the front door) or else from the case's "
            "opening to the start of its first held network meeting."
        ),
    ),
    Indicator(
        "network_size",
        "median_days",
        _("Network size (median)"),
        _("Of the cases open at the end of the month: network members in force then."),
    ),
    *(_network_kind(kind, label) for kind, label in Organisation.Kind.choices),
    Indicator(
        "referrals_accepted",
        "count",
        _("Referrals accepted"),
        _("Referrals made in the month that the receiving organisation has accepted."),
        breakdown="service",
    ),
    Indicator(
        "referrals_not_accepted",
        "count",
        _("Referrals not accepted"),
        _("Referrals made in the month that are waiting, declined or withdrawn."),
        breakdown="service",
    ),
    Indicator(
        "referral_acceptance_rate",
        "share",
        _("Referral acceptance rate"),
        _(
            "Accepted / (accepted + not accepted) of the referrals made in the month; shown "
            "only when both counts are shown."
        ),
        of=("referrals_accepted", "referrals_not_accepted"),
    ),
    Indicator(
        "days_to_referral_acceptance",
        "median_days",
        _("Days to referral acceptance (median)"),
        _("Of the accepted referrals made in the month: days from sending to acceptance."),
    ),
    Indicator(
        "handovers_accepted",
        "count",
        _("Handovers accepted"),
        _("Handovers of responsibility accepted in the month."),
    ),
    Indicator(
        "reassignments_completed",
        "count",
        _("Reassignments completed"),
        _(
            "Handovers accepted in the month that a coordinator proposed for a case whose "
            "responsible worker had left."
        ),
    ),
    Indicator(
        "days_in_reassignment_queue",
        "median_days",
        _("Days in the reassignment queue (median)"),
        _(
            "Of the reassignments completed in the month: days from the end of the departed "
            "worker's membership (or the coordinator's proposal, when the account was "
            "deactivated instead) to the new worker's acceptance."
        ),
    ),
    Indicator(
        "consents_requested",
        "count",
        _("Consents requested"),
        _("Consent requests made in the month."),
    ),
    Indicator(
        "consents_granted",
        "count",
        _("Consents granted"),
        _("Consents the family granted in the month."),
    ),
    Indicator(
        "consents_refused",
        "count",
        _("Consents refused"),
        _("Consents the family refused in the month."),
    ),
    Indicator(
        "consents_withdrawn",
        "count",
        _("Consents withdrawn"),
        _("Consents the family withdrew in the month."),
    ),
    Indicator(
        "days_to_consent_answer",
        "median_days",
        _("Days to the family's answer to a consent request (median)"),
        _("Of the consents granted or refused in the month: days from the request."),
    ),
    Indicator(
        "emergency_accesses",
        "count",
        _("Emergency accesses"),
        _("Emergency accesses (break the glass) opened in the month."),
    ),
    Indicator(
        "contact_requests",
        "count",
        _("Contact requests"),
        _("Contact requests sent from the public guide in the month."),
    ),
    Indicator(
        "contact_requests_taken",
        "count",
        _("Contact requests taken"),
        _("Contact requests an intake worker took in the month."),
    ),
    Indicator(
        "days_to_first_contact",
        "median_days",
        _("Days to first contact (median)"),
        _("Of the contact requests taken in the month: days from sending to being taken."),
    ),
    Indicator(
        "organisation_participants",
        "sum",
        _("Organisations' figures: participants"),
        _("Participants the organisations reported for their services for the month."),
    ),
    Indicator(
        "organisation_sessions",
        "sum",
        _("Organisations' figures: sessions"),
        _("Sessions the organisations reported for their services for the month."),
    ),
    Indicator(
        "organisation_new_families",
        "sum",
        _("Organisations' figures: new families"),
        _("New families the organisations reported for their services for the month."),
    ),
    Indicator(
        "feedback_answers",
        "count",
        _("Feedback answers"),
        _(
            "Families' anonymous answers given in the month (after a network meeting or when "
            "the case closed); counted by area only."
        ),
    ),
    *(
        item
        for question, label in (
            ("told_story_more_than_once", _("Had to tell their story more than once")),
            ("knows_responsible_worker", _("Knows who their responsible worker is")),
            ("help_at_right_time", _("Got help at the right time")),
        )
        for item in (
            Indicator(
                f"feedback_{question}",
                "count",
                label,
                _("Answers to the question, by reply (yes, no, no answer); by area only."),
                breakdown="reply",
            ),
            Indicator(
                f"feedback_{question}_share",
                "share",
                _formatted(_("%(question)s: share of yes"), question=label),
                _("Yes / (yes + no) of the answers in the month; shown when both are shown."),
                of=(f"feedback_{question}", "yes", "no"),
            ),
        )
    ),
)
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}
REPLY_LABELS = {"yes": _("Yes"), "no": _("No"), "": _("No answer")}


@dataclass
class Filters:
    area: Any  # the Area
    municipality: Any  # a Municipality of the area, or None
    kind: str | None
    months: list[str]


@dataclass
class Tally:
    """Counts and durations of one request's months, for every area at once: a municipality
    shared by two areas is suppressed the same in both."""

    municipality_areas: dict
    months: set
    cells: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    durations: dict = field(default_factory=lambda: defaultdict(list))
    parts: dict = field(default_factory=lambda: defaultdict(set))

    def add(
        self,
        key: str,
        when,
        *,
        municipality,
        kind,
        area_only=False,
        areas: Iterable | None = None,
        value: int = 1,
        part=None,
    ) -> None:
        month = when if isinstance(when, str) else _month(when)
        if month not in self.months:
            return
        areas = tuple(areas) if areas is not None else self.municipality_areas.get(municipality, ())
        if not areas:
            return
        for area in areas:
            self.cells[(key, month)][("a", area)] += value
            if part is not None:
                self.parts[key].add(part)
                self.cells[(key, month)][("b", area, part)] += value
        if area_only or municipality is None:
            for area in areas:
                self.cells[(key, month)][("nd", area)] += value
        else:
            self.cells[(key, month)][("m", municipality, "*")] += value
            self.cells[(key, month)][("m", municipality, kind if kind in KINDS else None)] += value

    def duration(self, key, when, days: float, *, municipality, kind, area_only=False) -> None:
        month = _month(when)
        if month in self.months:
            self.durations[(key, month)].append(
                (self.municipality_areas.get(municipality, ()), municipality, kind, area_only, days)
            )


def _month(moment) -> str:
    if isinstance(moment, datetime.datetime):
        return timezone.localtime(moment).strftime("%Y-%m")
    return moment.strftime("%Y-%m")


def _month_start(month: str) -> datetime.datetime:
    year, number = (int(part) for part in month.split("-"))
    return timezone.make_aware(datetime.datetime(year, number, 1))  # noqa: DTZ001


def _next_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def months_between(start: str, end: str) -> list[str]:
    """Every month from `start` to `end` (YYYY-MM), both included, at most the first MAX_MONTHS
    of them (the report says which it answers, as a page does); a range given backwards is read
    forwards. ValidationError when either is not a month."""
    for name, value in (("from", start), ("to", end)):
        try:
            datetime.datetime.strptime(value, "%Y-%m")  # noqa: DTZ007
        except (TypeError, ValueError):
            raise ValidationError({name: _("Give a month as YYYY-MM.")}) from None
        if len(value) != 7:
            raise ValidationError({name: _("Give a month as YYYY-MM.")})
    start, end = min(start, end), max(start, end)
    months = [start]
    while months[-1] != end and len(months) < MAX_MONTHS:
        months.append(_next_month(months[-1]))
    return months


def _days(later, earlier) -> float:
    return round((later - earlier).total_seconds() / 86400, 1)


def report_filters(*, user, area: str | None, municipality, kind, start, end) -> Filters:
    """The checked filters of an indicator request: PermissionDenied for anyone but a
    coordinator, 404 for an area outside their scope (or a municipality outside the area),
    ValidationError for bad input."""
    areas = policy.indicator_areas(user)
    if not area:
        raise ValidationError({"area": _("Choose an area by its code.")})
    found = areas.filter(code=area).first()
    if found is None:
        raise Http404(_("No such area among the areas you coordinate."))
    chosen_municipality = None
    if municipality:
        chosen_municipality = found.municipalities.filter(code=municipality).first()
        if chosen_municipality is None:
            raise Http404(_("No such municipality in this area."))
    if kind and kind not in KINDS:
        raise ValidationError({"organisation_kind": _("No such organisation kind.")})
    today = _month(timezone.now())
    return Filters(
        area=found,
        municipality=chosen_municipality,
        kind=kind or None,
        months=months_between(start or today, end or start or today),
    )


def _tally(months: list[str]) -> tuple[Tally, dict]:
    """Every figure of these months, for every area: the queries are the same for any filter."""
    start, end = _month_start(months[0]), _month_start(_next_month(months[-1]))
    # The rows of many querysets' values() pass through these two names.
    row: Any
    case: Any
    municipality_areas: dict = defaultdict(tuple)
    municipalities = {}
    for row in Municipality.objects.values("id", "code", "name", "areas"):
        municipalities[row["id"]] = row
        if row["areas"] is not None:
            municipality_areas[row["id"]] += (row["areas"],)
    tally = Tally(municipality_areas=dict(municipality_areas), months=set(months))
    every_area = tuple(
        {area for member_areas in municipality_areas.values() for area in member_areas}
    )

    in_force_nd = NonDisclosure.objects.filter(
        member__family=OuterRef("family_id"), lifted_at__isnull=True
    )
    cases = {
        row["id"]: row
        for row in Case.objects.filter(opened_at__lt=end)
        .annotate(nd=Exists(in_force_nd))
        .values(
            "id",
            "opened_at",
            "closed_at",
            "family__municipality_id",
            "responsible_organisation__kind",
            "nd",
        )
        .order_by()
    }

    def where(case):
        return {
            "municipality": case["family__municipality_id"],
            "kind": case["responsible_organisation__kind"],
            "area_only": case["nd"],
        }

    case_request = {}
    for row in (
        ContactRequest.objects.filter(created_at__lt=end)
        .values("case_id", "created_at", "taken_at", "municipality_id", "organisation__kind")
        .order_by()
    ):
        if row["case_id"]:
            case_request[row["case_id"]] = row["created_at"]
        request_where = {"municipality": row["municipality_id"], "kind": row["organisation__kind"]}
        tally.add("contact_requests", row["created_at"], **request_where)
        if row["taken_at"]:
            tally.add("contact_requests_taken", row["taken_at"], **request_where)
            tally.duration(
                "days_to_first_contact",
                row["taken_at"],
                _days(row["taken_at"], row["created_at"]),
                **request_where,
            )

    month_ends = [(month, _month_start(_next_month(month))) for month in months]
    open_at: dict[str, list] = defaultdict(list)
    for case in cases.values():
        tally.add("cases_new", case["opened_at"], **where(case))
        if case["closed_at"]:
            tally.add("cases_closed", case["closed_at"], **where(case))
        for month, month_end in month_ends:
            if case["opened_at"] < month_end and (
                case["closed_at"] is None or case["closed_at"] >= month_end
            ):
                tally.add("cases_open", month, **where(case))
                open_at[month].append(case["id"])

    for row in (
        Meeting.objects.filter(status=Meeting.Status.HELD)
        .values("case_id")
        .annotate(first=Min("starts_at"))
        .order_by()
    ):
        case = cases.get(row["case_id"])
        if case is None:
            continue
        tally.add("first_meetings", row["first"], **where(case))
        began = case_request.get(case["id"], case["opened_at"])
        tally.duration(
            "days_to_first_meeting", row["first"], _days(row["first"], began), **where(case)
        )

    network: dict = defaultdict(list)
    for row in (
        NetworkMember.objects.filter(added_at__lt=end)
        .exclude(removed_at__lt=start)
        .values("case_id", "organisation__kind", "added_at", "removed_at")
        .order_by()
    ):
        network[row["case_id"]].append(row)
    for month, month_end in month_ends:
        for case_id in open_at[month]:
            case = cases[case_id]
            members = [
                row
                for row in network.get(case_id, ())
                if row["added_at"] < month_end
                and (row["removed_at"] is None or row["removed_at"] >= month_end)
            ]
            tally.duration(
                "network_size",
                month_end - datetime.timedelta(seconds=1),
                len(members),
                **where(case),
            )
            for kind in {row["organisation__kind"] for row in members} & set(KINDS):
                tally.add(f"network_includes_{kind}", month, **where(case))

    # Every service ever referred to, whatever the months: the breakdown's parts must not
    # depend on the range asked, or its suppression would differ between overlapping ranges.
    services = {
        row["id"]: row
        for row in Service.objects.filter(Exists(Referral.objects.filter(service=OuterRef("pk"))))
        .values("id", "name_fi", "name_sv", "name_en")
        .order_by()
    }
    tally.parts["referrals_accepted"] = set(services)
    tally.parts["referrals_not_accepted"] = set(services)
    for row in (
        Referral.objects.filter(created_at__gte=start, created_at__lt=end)
        .values(
            "case_id",
            "service_id",
            "status",
            "created_at",
            "decided_at",
        )
        .order_by()
    ):
        case = cases.get(row["case_id"])
        if case is None:
            continue
        accepted = row["status"] == Referral.Status.ACCEPTED
        key = "referrals_accepted" if accepted else "referrals_not_accepted"
        tally.add(key, row["created_at"], part=row["service_id"], **where(case))
        if accepted and row["decided_at"]:
            tally.duration(
                "days_to_referral_acceptance",
                row["created_at"],
                _days(row["decided_at"], row["created_at"]),
                **where(case),
            )

    left_at = (
        OrganisationMembership.objects.filter(
            user=OuterRef("from_worker_id"), ended_at__lte=OuterRef("proposed_at")
        )
        .values("user")
        .annotate(last=Max("ended_at"))
        .values("last")
    )
    for row in (
        Handover.objects.filter(
            status=Handover.Status.ACCEPTED, decided_at__gte=start, decided_at__lt=end
        )
        .annotate(
            reassigned=Exists(Reassignment.objects.filter(handover=OuterRef("pk"))),
            left_at=Subquery(left_at[:1]),
        )
        .values("case_id", "proposed_at", "decided_at", "reassigned", "left_at")
        .order_by()
    ):
        case = cases.get(row["case_id"])
        if case is None:
            continue
        tally.add("handovers_accepted", row["decided_at"], **where(case))
        if row["reassigned"]:
            tally.add("reassignments_completed", row["decided_at"], **where(case))
            since = row["left_at"] or row["proposed_at"]
            tally.duration(
                "days_in_reassignment_queue",
                row["decided_at"],
                _days(row["decided_at"], since),
                **where(case),
            )

    event_keys = {
        ConsentEvent.Kind.REQUESTED: "consents_requested",
        ConsentEvent.Kind.GRANTED: "consents_granted",
        ConsentEvent.Kind.REFUSED: "consents_refused",
        ConsentEvent.Kind.REVOKED: "consents_withdrawn",
    }
    for row in (
        ConsentEvent.objects.filter(
            kind__in=list(event_keys), created_at__gte=start, created_at__lt=end
        )
        .values("consent__case_id", "kind", "created_at", "consent__requested_at")
        .order_by()
    ):
        case = cases.get(row["consent__case_id"])
        if case is None:
            continue
        tally.add(event_keys[row["kind"]], row["created_at"], **where(case))
        if row["kind"] in (ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.REFUSED):
            tally.duration(
                "days_to_consent_answer",
                row["created_at"],
                _days(row["created_at"], row["consent__requested_at"]),
                **where(case),
            )

    for row in (
        EmergencyAccess.objects.filter(started_at__gte=start, started_at__lt=end)
        .values("case_id", "started_at")
        .order_by()
    ):
        case = cases.get(row["case_id"])
        if case is not None:
            tally.add("emergency_accesses", row["started_at"], **where(case))

    for row in (
        OrganisationFigure.objects.filter(month__gte=start.date(), month__lt=end.date())
        .values(
            "month",
            "participants",
            "sessions",
            "new_families",
            "organisation__municipality_id",
            "organisation__area_id",
            "organisation__kind",
        )
        .order_by()
    ):
        municipality = row["organisation__municipality_id"]
        areas = None
        if municipality is None:
            # An organisation of no one area (a region-wide NGO) shows in every area.
            areas = (row["organisation__area_id"],) if row["organisation__area_id"] else every_area
        for name in ("participants", "sessions", "new_families"):
            tally.add(
                f"organisation_{name}",
                row["month"],
                municipality=municipality,
                kind=row["organisation__kind"],
                areas=areas,
                value=row[name],
            )

    for row in (
        FeedbackAnswer.objects.filter(month__gte=start.date(), month__lt=end.date())
        .values("area_id", "month", *QUESTIONS)
        .order_by()
    ):
        only_area: dict[str, Any] = {
            "municipality": None,
            "kind": None,
            "area_only": True,
            "areas": (row["area_id"],),
        }
        tally.add("feedback_answers", row["month"], **only_area)
        for question in QUESTIONS:
            tally.add(f"feedback_{question}", row["month"], part=row[question], **only_area)

    return tally, {"municipalities": municipalities, "services": services}


def _relations(cells: dict, areas: dict, parts: Iterable) -> tuple[list, set]:
    """The relations between one indicator-month's cells, over every area, and its hidden
    cells; every cell of a relation is put in `cells` (zero where nothing was counted)."""
    relations: list[suppression.Relation] = []
    hidden: set = set()
    municipalities = {m for members in areas.values() for m in members}
    for municipality in municipalities:
        interior = tuple(("m", municipality, kind) for kind in KINDS)
        unknown_kind = ("m", municipality, None)
        hidden.add(unknown_kind)
        relations.append(suppression.Relation(("m", municipality, "*"), (*interior, unknown_kind)))
    for area, members in areas.items():
        nd, rest = ("nd", area), ("x", area)
        hidden |= {nd, rest}
        by_kind = tuple(("k", area, kind) for kind in KINDS)
        for kind in KINDS:
            cells[("k", area, kind)] = sum(cells.get(("m", m, kind), 0) for m in members)
            relations.append(
                suppression.Relation(("k", area, kind), tuple(("m", m, kind) for m in members))
            )
        cells[rest] = cells.get(nd, 0) + sum(cells.get(("m", m, None), 0) for m in members)
        relations.append(suppression.Relation(("a", area), (*(("m", m, "*") for m in members), nd)))
        relations.append(suppression.Relation(("a", area), (*by_kind, rest)))
        relations.append(suppression.Relation(rest, (nd, *(("m", m, None) for m in members))))
        breakdown = tuple(("b", area, part) for part in parts)
        if breakdown:
            relations.append(suppression.Relation(("a", area), breakdown))
    for relation in relations:
        for key in (relation.total, *relation.parts):
            cells.setdefault(key, 0)
    return relations, hidden


def indicators_get(*, user, area, municipality=None, kind=None, start=None, end=None) -> dict:
    """The suppressed indicators of one area (or one of its municipalities, or one kind of
    organisation) month by month, for a coordinator."""
    filters = report_filters(
        user=user, area=area, municipality=municipality, kind=kind, start=start, end=end
    )
    return indicators_for(filters)


def indicators_for(filters: Filters) -> dict:
    threshold = settings.REPORTS_SUPPRESSION_THRESHOLD
    tally, names = _tally(filters.months)
    areas: dict = defaultdict(list)
    for municipality, member_areas in tally.municipality_areas.items():
        for area in member_areas:
            areas[area].append(municipality)
    area_id = filters.area.pk
    municipality_id = filters.municipality.pk if filters.municipality else None
    kind = filters.kind
    target: tuple
    if municipality_id and kind:
        target = ("m", municipality_id, kind)
    elif municipality_id:
        target = ("m", municipality_id, "*")
    elif kind:
        target = ("k", area_id, kind)
    else:
        target = ("a", area_id)
    breakdowns = municipality_id is None and kind is None

    published: dict = {}
    withheld_parts: dict = {}
    for indicator in INDICATORS:
        if indicator.kind not in ("count", "sum"):
            continue
        parts = sorted(tally.parts.get(indicator.key, ()), key=str)
        if indicator.breakdown == "reply":
            parts = ["yes", "no", ""]
        for month in filters.months:
            cells = dict(tally.cells.get((indicator.key, month), {}))
            if indicator.breakdown == "reply":
                for reply in parts:
                    cells.setdefault(("b", area_id, reply), 0)
            relations, hidden = _relations(cells, dict(areas), parts)
            withheld = suppression.suppress(cells, relations, threshold, hidden)
            published[(indicator.key, month)] = None if target in withheld else cells.get(target, 0)
            if breakdowns and indicator.breakdown:
                withheld_parts[(indicator.key, month)] = {
                    part: (
                        None if ("b", area_id, part) in withheld else cells[("b", area_id, part)]
                    )
                    for part in parts
                }

    def in_filter(entry) -> bool:
        entry_areas, entry_municipality, entry_kind, area_only, _days = entry
        if area_id not in entry_areas:
            return False
        if municipality_id is None and kind is None:
            return True
        if area_only:
            return False
        if municipality_id and entry_municipality != municipality_id:
            return False
        return not (kind and entry_kind != kind)

    language = (get_language() or "fi")[:2]
    result = []
    for indicator in INDICATORS:
        values = []
        parts_out = None
        for month in filters.months:
            if indicator.kind in ("count", "sum"):
                value = published[(indicator.key, month)]
            elif indicator.kind == "median_days":
                group = [
                    e[4] for e in tally.durations.get((indicator.key, month), ()) if in_filter(e)
                ]
                value = suppression.median(group, threshold)
            else:
                if len(indicator.of) == 2:
                    value = suppression.share(
                        published[(indicator.of[0], month)], published[(indicator.of[1], month)]
                    )
                else:
                    replies = withheld_parts.get((indicator.of[0], month), {})
                    value = (
                        suppression.share(replies.get("yes"), replies.get("no"))
                        if breakdowns
                        else None
                    )
            values.append({"month": month, "value": value, "suppressed": value is None})
        if indicator.breakdown and breakdowns:
            parts_out = []
            for part in sorted(
                tally.parts.get(indicator.key, ())
                if indicator.breakdown == "service"
                else ["yes", "no", ""],
                key=str,
            ):
                if indicator.breakdown == "service":
                    row = names["services"].get(part)
                    label = (row and (row.get(f"name_{language}") or row["name_fi"])) or str(part)
                else:
                    label = str(REPLY_LABELS[part])
                part_values = []
                for month in filters.months:
                    value = withheld_parts[(indicator.key, month)].get(part)
                    part_values.append(
                        {"month": month, "value": value, "suppressed": value is None}
                    )
                parts_out.append(
                    {
                        "key": str(part) if part != "" else "none",
                        "label": label,
                        "values": part_values,
                    }
                )
        result.append(
            {
                "key": indicator.key,
                "kind": indicator.kind,
                "label": str(indicator.label),
                "definition": str(indicator.definition),
                "values": values,
                "parts": parts_out,
            }
        )
    return {
        "area": filters.area.code,
        "municipality": filters.municipality.code if filters.municipality else None,
        "organisation_kind": kind,
        "from": filters.months[0],
        "to": filters.months[-1],
        "months": filters.months,
        "threshold": threshold,
        "indicators": result,
    }


def open_feedback_prompt(*, user, case: Case) -> FeedbackPrompt | None:
    """The oldest question the user, a guardian of the case's family, has not answered yet."""
    if policy.feedback_guardian(user, case) is None:
        return None
    return FeedbackPrompt.objects.filter(guardian=user, case=case, answered=False).first()


def organisation_figures_for(*, user):
    """The monthly figures of the organisations where the user is a worker."""
    return OrganisationFigure.objects.filter(
        organisation_id__in=policy.figure_organisations(user)
    ).select_related("service", "organisation")


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def indicators_csv_rows(report: dict) -> list[list[str]]:
    """The same suppressed figures as the JSON, one row per indicator (and part) and month;
    a withheld figure reads "< threshold"."""
    withheld = f"< {report['threshold']}"
    rows = [["area", "municipality", "organisation_kind", "indicator", "part", "month", "value"]]
    base = [report["area"], report["municipality"] or "", report["organisation_kind"] or ""]

    def cell(value) -> str:
        return withheld if value is None else str(value)

    def text(value: str) -> str:
        return "'" + value if value.startswith(CSV_FORMULA_START) else value

    for indicator in report["indicators"]:
        for entry in indicator["values"]:
            rows.append([*base, indicator["key"], "", entry["month"], cell(entry["value"])])
        for part in indicator["parts"] or ():
            for entry in part["values"]:
                rows.append(
                    [
                        *base,
                        indicator["key"],
                        text(part["label"]),
                        entry["month"],
                        cell(entry["value"]),
                    ]
                )
    return rows


def feedback_texts(*, user, area) -> list[str]:
    """The families' free text of an area, for its coordinator's report page only: the whole
    history at once (no month, so no range can isolate one answer), sorted, and nothing until
    there are at least the threshold's number of them. Never exported."""
    policy.indicator_areas(user)
    texts = sorted(
        FeedbackAnswer.objects.filter(area=area)
        .exclude(free_text="")
        .values_list("free_text", flat=True)
    )
    return texts if len(texts) >= settings.REPORTS_SUPPRESSION_THRESHOLD else []


def report_page(*, user, params) -> dict:
    """What the coordinators' report page shows: the areas to choose from, the chosen filters'
    suppressed indicators (the same as the API's), and the area's free text."""
    areas = list(policy.indicator_areas(user).prefetch_related("municipalities"))
    today = timezone.localdate()
    default_start = (today.replace(day=1) - datetime.timedelta(days=150)).strftime("%Y-%m")
    area_code = params.get("area") or (areas[0].code if areas else "")
    filters = report_filters(
        user=user,
        area=area_code,
        municipality=params.get("municipality"),
        kind=params.get("organisation_kind"),
        start=params.get("from") or default_start,
        end=params.get("to") or today.strftime("%Y-%m"),
    )
    return {
        "areas": areas,
        "filters": filters,
        "report": indicators_for(filters),
        "texts": feedback_texts(user=user, area=filters.area),
    }
