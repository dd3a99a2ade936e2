"""Small-count suppression (issue 18): the plain functions of reports/suppression.py, then an
attack on the API. Data are built so that many cells are small; then every filter the API offers
(every area, each of its municipalities, each organisation kind, both together), every month
range of a window (single months and overlapping ranges whose difference would isolate a month),
as JSON and as CSV, is asked for; no published count may be under the threshold, and none may be
computed by subtracting published parts from a published total, or one range from another."""

import csv
import datetime
import io
import itertools
import random
from collections import defaultdict

import pytest
from django.utils import timezone

from cases.models import (
    Area,
    Case,
    ContactRequest,
    Family,
    FamilyMember,
    Municipality,
    NonDisclosure,
    Organisation,
    OrganisationMembership,
    Referral,
    Service,
)
from reports import suppression
from reports.models import FeedbackAnswer
from reports.selectors import BY_KEY, KINDS
from tests.conftest import KAISA, TIINA
from tests.factories import UserFactory

T = 5


# --- The plain functions -------------------------------------------------------------------


def test_cells_under_the_threshold_and_zeros_are_withheld():
    cells = {"a": 0, "b": 4, "c": 5, "d": 12}
    assert suppression.primary(cells, T) == {"a", "b"}


def test_a_lone_withheld_part_takes_the_next_smallest_with_it():
    cells = {"total": 30, "x": 2, "y": 6, "z": 22}
    relation = suppression.Relation("total", ("x", "y", "z"))
    assert suppression.suppress(cells, [relation], T) == {"x", "y"}


def test_withheld_parts_must_add_up_to_the_threshold():
    # x and y are both withheld, but together they are 3: the total would give that away.
    cells = {"total": 40, "x": 1, "y": 2, "z": 7, "w": 30}
    relation = suppression.Relation("total", ("x", "y", "z", "w"))
    withheld = suppression.suppress(cells, [relation], T)
    assert withheld == {"x", "y", "z"}
    assert sum(cells[key] for key in withheld) >= T


def test_a_total_goes_when_all_its_parts_are_withheld_and_small():
    cells = {"total": 6, "x": 2, "y": 4}
    relation = suppression.Relation("total", ("x", "y"))
    # x + y = 6 >= 5: both withheld, the total may stay.
    assert suppression.suppress(cells, [relation], T) == {"x", "y"}
    cells = {"total": 3, "x": 1, "y": 2}
    assert suppression.suppress(cells, [relation], T) == {"total", "x", "y"}


def test_a_withheld_total_needs_a_withheld_part():
    cells = {"total": 3, "x": 0, "y": 3}
    # The parts are small too: all go.
    assert suppression.suppress(cells, [suppression.Relation("total", ("x", "y"))], T) == {
        "total",
        "x",
        "y",
    }


def test_hidden_cells_count_as_withheld():
    # The non-disclosure families (hidden) are 1: one municipality must go with them.
    cells = {"area": 20, "m1": 9, "m2": 10, "nd": 1}
    relation = suppression.Relation("area", ("m1", "m2", "nd"))
    assert suppression.suppress(cells, [relation], T, hidden={"nd"}) == {"nd", "m1"}


def test_a_two_way_table_reaches_a_fixed_point_where_no_row_or_column_gives_a_cell_away():
    rows, columns = ["r1", "r2", "r3"], ["c1", "c2", "c3"]
    values = [[1, 8, 9], [7, 6, 12], [10, 11, 2]]
    cells = {(r, c): values[i][j] for i, r in enumerate(rows) for j, c in enumerate(columns)}
    for i, r in enumerate(rows):
        cells[(r, None)] = sum(values[i])
    for j, c in enumerate(columns):
        cells[(None, c)] = sum(values[i][j] for i in range(3))
    cells[(None, None)] = sum(map(sum, values))
    relations = suppression.grid_relations(rows, columns)
    withheld = suppression.suppress(cells, relations, T)
    assert {("r1", "c1"), ("r3", "c3")} <= withheld
    for relation in relations:
        if relation.total in withheld:
            assert any(part in withheld for part in relation.parts)
            continue
        hidden = [part for part in relation.parts if part in withheld]
        assert not hidden or sum(cells[part] for part in hidden) >= T


def test_medians_and_shares_of_small_groups_are_withheld():
    assert suppression.median([1, 2, 3, 4], T) is None
    assert suppression.median([1, 2, 3, 4, 10], T) == 3
    assert suppression.median([1, 2, 3, 4, 10, 20], T) == 3.5
    assert suppression.share(None, 7) is None
    assert suppression.share(6, None) is None
    assert suppression.share(6, 6) == 0.5


# --- The attack on the API -----------------------------------------------------------------

MONTHS = ["2026-07", "2026-08", "2026-09"]
RANGES = [(a, b) for a, b in itertools.combinations_with_replacement(MONTHS, 2)]


def _at(month: str, day: int) -> datetime.datetime:
    year, number = map(int, month.split("-"))
    return timezone.make_aware(datetime.datetime(year, number, day, 12))  # noqa: DTZ001


@pytest.fixture(scope="module")
def world(demo_world, django_db_blocker):
    """Small and not so small counts in every municipality of every area, in three kinds of
    responsible organisation, over three months; one family under non-disclosure."""
    rng = random.Random(18)  # noqa: S311
    with django_db_blocker.unblock():
        organisations = {
            kind: Organisation.objects.create(code=f"supp-{kind}", name=f"Supp {kind}", kind=kind)
            for kind in ("wellbeing_area", "municipality", "ngo")
        }
        workers = {}
        for kind, organisation in organisations.items():
            worker = UserFactory(username=f"supp-{kind}")
            OrganisationMembership.objects.create(user=worker, organisation=organisation)
            workers[kind] = worker
        services = [
            Service.objects.create(
                organisation=organisations["ngo"],
                name_fi=f"Supp palvelu {n}",
                category="family_support",
            )
            for n in range(2)
        ]
        tiina = demo_world.users[TIINA]
        municipalities = list(Municipality.objects.all())
        cases = []
        for month in MONTHS:
            for municipality in municipalities:
                for kind in organisations:
                    for n in range(rng.choice([0, 0, 1, 2, 3, 6, 7])):
                        family = Family.objects.create(
                            name=f"Supp {month} {municipality.code} {kind} {n}",
                            municipality=municipality,
                            recorded_by=organisations[kind],
                        )
                        closed = rng.random() < 0.3
                        cases.append(
                            Case(
                                family=family,
                                responsible_worker=workers[kind],
                                responsible_organisation=organisations[kind],
                                opened_at=_at(month, 3),
                                status="closed" if closed else "open",
                                closed_at=_at(month, 20) if closed else None,
                                closing_reason="done" if closed else "",
                            )
                        )
                for n in range(rng.choice([0, 1, 2, 6])):
                    ContactRequest.objects.create(
                        municipality=municipality,
                        first_name="Supp",
                        last_name=f"Request {n}",
                        phone="040 000 0000",
                        created_at=_at(month, 5),
                    )
        Case.objects.bulk_create(cases)
        for case in rng.sample(cases, 60):
            accepted = rng.random() < 0.6
            Referral.objects.create(
                case=case,
                service=rng.choice(services),
                organisation=organisations["ngo"],
                referred_by=workers["wellbeing_area"],
                referred_by_organisation=organisations["wellbeing_area"],
                status="accepted" if accepted else "sent",
                created_at=case.opened_at + datetime.timedelta(days=1),
                decided_at=case.opened_at + datetime.timedelta(days=4) if accepted else None,
            )
        # One family under non-disclosure, in Hartola (north), opened in the middle month.
        hidden_family = Family.objects.create(
            name="Supp hidden",
            municipality=Municipality.objects.get(code="hartola"),
            recorded_by=organisations["wellbeing_area"],
        )
        member = FamilyMember.objects.create(
            family=hidden_family, role="guardian", first_name="Hidden", last_name="Person"
        )
        NonDisclosure.objects.create(member=member, marked_by=tiina)
        Case.objects.create(
            family=hidden_family,
            responsible_worker=workers["wellbeing_area"],
            responsible_organisation=organisations["wellbeing_area"],
            opened_at=_at(MONTHS[1], 9),
        )
        for area in Area.objects.all():
            for month in MONTHS:
                FeedbackAnswer.objects.bulk_create(
                    FeedbackAnswer(
                        area=area,
                        month=_at(month, 1).date(),
                        told_story_more_than_once=rng.choice(["yes", "no", ""]),
                        knows_responsible_worker=rng.choice(["yes", "no"]),
                        help_at_right_time=rng.choice(["yes", "yes", "no"]),
                    )
                    for _ in range(rng.choice([0, 3, 8, 14]))
                )
        yield


def _filters():
    for area in Area.objects.prefetch_related("municipalities"):
        for municipality in [None, *area.municipalities.all()]:
            for kind in [None, *KINDS]:
                yield area.code, municipality.code if municipality else None, kind


def _params(area, municipality, kind, start, end):
    params = {"area": area, "from": start, "to": end}
    if municipality:
        params["municipality"] = municipality
    if kind:
        params["organisation_kind"] = kind
    return params


def _read_csv(body: bytes) -> dict:
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == [
        "area",
        "municipality",
        "organisation_kind",
        "indicator",
        "part",
        "month",
        "value",
    ]
    return {(row[3], row[4], row[5]): row[6] for row in rows[1:]}


@pytest.mark.django_db
def test_no_combination_of_filters_ranges_and_exports_yields_or_reveals_a_small_count(
    api, demo_world, world
):
    client = api.as_user(demo_world.users[KAISA])
    # (area, municipality, kind, indicator, part, month) -> the one value every range shows.
    seen: dict = {}
    withheld = f"< {T}"
    filters = list(_filters())
    for area, municipality, kind in filters:
        # Every range for area-level and municipality-level views; the full window (and each
        # single month) for the rest, to keep the test quick; every view as JSON and CSV.
        ranges = RANGES if kind is None else [(m, m) for m in MONTHS] + [(MONTHS[0], MONTHS[-1])]
        for start, end in ranges:
            params = _params(area, municipality, kind, start, end)
            response = client.get("/api/v1/reports/indicators/", params)
            assert response.status_code == 200, (params, response.content)
            exported = _read_csv(client.get("/api/v1/reports/indicators.csv", params).content)
            _shares_only_of_shown_counts(response.json()["indicators"])
            for indicator in response.json()["indicators"]:
                series = [("", indicator["values"])]
                series += [(part["label"], part["values"]) for part in indicator["parts"] or ()]
                for part, values in series:
                    for entry in values:
                        value = entry["value"]
                        key = (area, municipality, kind, indicator["key"], part, entry["month"])
                        # The same month reads the same in every range: subtracting one range
                        # from an overlapping one leaves only months already shown on their own.
                        assert seen.setdefault(key, value) == value, key
                        assert exported[(indicator["key"], part, entry["month"])] == (
                            withheld if value is None else str(value)
                        )
                        if indicator["kind"] in ("count", "sum") and value is not None:
                            assert value >= T, key
    _no_small_difference(seen, filters)


def _shares_only_of_shown_counts(indicators: list) -> None:
    """A share is shown only when the counts it is made of are shown: otherwise it and a shown
    count would give the withheld one away."""
    by_key = {indicator["key"]: indicator for indicator in indicators}
    for indicator in indicators:
        if indicator["kind"] != "share":
            continue
        of = BY_KEY[indicator["key"]].of
        for index, entry in enumerate(indicator["values"]):
            if entry["value"] is None:
                continue
            if len(of) == 2:
                counts = [by_key[key]["values"][index]["value"] for key in of]
            else:
                parts = {part["key"]: part for part in by_key[of[0]]["parts"]}
                counts = [parts[reply]["values"][index]["value"] for reply in of[1:]]
            assert None not in counts, (indicator["key"], entry)
            assert min(counts) >= T


def _no_small_difference(seen: dict, filters: list) -> None:
    """Subtract the published parts from every published total the API offers: what is left
    must be nothing, when no part is withheld and nothing is hidden, or at least the threshold."""
    municipalities = defaultdict(list)
    for area, municipality, kind in filters:
        if municipality and kind is None:
            municipalities[area].append(municipality)
    counts = [key for key, value in BY_KEY.items() if value.kind in ("count", "sum")]
    checked = 0

    def check(total, parts, hidden_possible):
        nonlocal checked
        if total is None:
            return
        shown = [part for part in parts if part is not None]
        rest = total - sum(shown)
        assert rest >= 0
        if len(shown) == len(parts) and not hidden_possible:
            assert rest == 0
        else:
            assert rest >= T, (total, parts)
        checked += 1

    for area, members in municipalities.items():
        for indicator in counts:
            for month in MONTHS:

                def at(municipality, kind, part="", indicator=indicator, month=month, area=area):
                    return seen[(area, municipality, kind, indicator, part, month)]

                # The area and its municipalities (families under non-disclosure are in the
                # area only), and the area and its kinds (cases without one are in it only).
                check(at(None, None), [at(m, None) for m in members], True)
                check(at(None, None), [at(None, k) for k in KINDS], True)
                for municipality in members:
                    check(at(municipality, None), [at(municipality, k) for k in KINDS], True)
                for kind in KINDS:
                    check(at(None, kind), [at(m, kind) for m in members], False)
                parts = sorted(
                    {key[4] for key in seen if key[0] == area and key[3] == indicator and key[4]}
                )
                if parts:
                    check(at(None, None), [at(None, None, part) for part in parts], False)
    # The data leave enough published for the subtraction to have something to work on.
    assert checked > 150
    published = defaultdict(int)
    for (_area, municipality, kind, *_rest), value in seen.items():
        if value is not None:
            published[(municipality is not None, kind is not None)] += 1
    assert min(published.values()) > 10, published
