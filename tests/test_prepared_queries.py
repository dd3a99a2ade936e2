"""The policy's queries compiled once per shape (koordinointi/prepared.py, issue 19) give the
rows of their querysets, on SQLite and PostgreSQL alike, and a shape the map cannot follow runs
the queryset itself."""

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import Case, Organisation, User
from consent import policy
from koordinointi.prepared import MAX_SHAPES, PreparedQuery

from .conftest import PERSONAS

pytestmark = pytest.mark.django_db


def both_ways(prepared: PreparedQuery, **values):
    """(rows by the prepared shape, rows by the queryset), sorted; the shape must exist."""
    assert prepared.shape_for(**values) is not None, "this shape was not prepared"
    fresh = list(prepared.build(**values))
    return sorted(prepared.rows(**values), key=repr), sorted(fresh, key=repr)


def standing_values(cases, now, **extra):
    return {
        "case_ids": tuple(c.pk for c in cases),
        "family_ids": tuple(dict.fromkeys(c.family_id for c in cases)),
        "now": now,
        **extra,
    }


def test_the_facts_of_every_persona_are_the_querysets_rows(demo_world):
    cases = list(Case.objects.order_by("pk"))
    assert cases
    now = timezone.now()
    seen_kinds = set()
    for username in PERSONAS:
        user = demo_world.users[username]
        prepared, fresh = both_ways(
            policy._STANDING, **standing_values(cases, now, user_id=user.pk)
        )
        assert prepared == fresh, username
        seen_kinds |= {row[0] for row in prepared}
    # All users' rows (guardian's table sync), with the responsible workers' posts.
    responsible = tuple(dict.fromkeys(c.responsible_worker_id for c in cases))
    prepared, fresh = both_ways(
        policy._STANDING, **standing_values(cases, now, responsible_ids=responsible)
    )
    assert prepared == fresh
    seen_kinds |= {row[0] for row in prepared}
    # The demo has members, posts, guardians and a proposed handover or emergency at least:
    # the comparison covered rows of real content, not only empty results.
    assert {"m", "p", "g"} <= seen_kinds
    member_cases = tuple(c.pk for c in cases)
    for prepared_query in (policy._CONSENTS_AND_BASES, policy._CHILD_REFUSALS):
        prepared, fresh = both_ways(prepared_query, case_ids=member_cases, now=now)
        assert prepared == fresh
    prepared, _fresh = both_ways(policy._CONSENTS_AND_BASES, case_ids=member_cases, now=now)
    assert prepared, "the demo has consents in force"
    # Values converted as the ORM converts them: ids as UUIDs, categories as lists.
    kind, consent_id, case_id, categories, organisation_id = prepared[0]
    assert isinstance(consent_id, uuid.UUID) and isinstance(case_id, uuid.UUID)
    assert isinstance(categories, list)


def test_the_access_of_every_persona_is_the_same_either_way(demo_world, monkeypatch):
    """The decisions made from prepared facts equal those made from querysets run afresh."""
    cases = list(Case.objects.order_by("pk"))
    now = timezone.now()
    prepared = {
        name: policy.access_for(user, cases, now=now) for name, user in demo_world.users.items()
    }
    for query in (policy._STANDING, policy._CONSENTS_AND_BASES, policy._CHILD_REFUSALS):
        monkeypatch.setattr(query, "shape_for", lambda **values: None)
    fresh = {
        name: policy.access_for(user, cases, now=now) for name, user in demo_world.users.items()
    }
    assert prepared == fresh
    assert any(a.view for accesses in prepared.values() for a in accesses.values())


def test_the_same_number_of_queries_as_the_queryset(demo_world):
    cases = list(Case.objects.order_by("pk"))
    user = demo_world.users[PERSONAS[1]]
    values = standing_values(cases, timezone.now(), user_id=user.pk)
    policy._STANDING.rows(**values)  # prepared now
    with CaptureQueriesContext(connection) as queries:
        policy._STANDING.rows(**values)
    assert len(queries) == 1
    assert "UNION ALL" in queries[0]["sql"]


def test_a_value_the_map_cannot_follow_runs_the_queryset(demo_world):
    """A parameter derived from a value (here upper-cased) renders no sentinel: the second
    compilation does not match, so the shape is not kept and the queryset runs each time."""
    organisation = Organisation.objects.order_by("code").first()

    def build(*, code):
        return Organisation.objects.filter(code__iexact=code.upper()).values_list("pk", "code")

    query = PreparedQuery(build)
    assert query.shape_for(code=organisation.code) is None
    assert list(query.rows(code=organisation.code)) == [(organisation.pk, organisation.code)]


def test_a_new_length_of_list_is_a_new_shape(demo_world):
    def build(*, ids):
        return User.objects.filter(pk__in=ids).values_list("username", flat=False)

    query = PreparedQuery(build)
    users = list(User.objects.order_by("username")[:3])
    for size in (1, 2, 3, 1):
        ids = tuple(u.pk for u in users[:size])
        assert sorted(query.rows(ids=ids)) == sorted((u.username,) for u in users[:size])
    assert len(query._shapes) == 3


def test_the_kept_shapes_are_bounded_and_still_give_the_rows(demo_world):
    """More shapes than MAX_SHAPES: the kept ones are dropped and prepared again, and every call
    still gives the queryset's rows."""

    def build(*, ids):
        return User.objects.filter(pk__in=ids).values_list("username", flat=False)

    query = PreparedQuery(build)
    user = User.objects.order_by("username").first()
    for size in range(1, MAX_SHAPES + 6):
        assert list(query.rows(ids=(user.pk,) * size)) == [(user.username,)]
        assert 1 <= len(query._shapes) <= MAX_SHAPES
    assert len(query._shapes) < MAX_SHAPES  # cleared once, and filled again since


def test_a_none_among_the_values_runs_the_queryset(demo_world):
    """A case without a responsible worker gives a None among the ids (the guardian-table sync
    of all users): there is no sentinel for None, so that call runs the queryset itself."""
    cases = list(Case.objects.order_by("pk"))
    values = standing_values(
        cases, timezone.now(), responsible_ids=(None, cases[0].responsible_worker_id)
    )
    assert policy._STANDING.shape_for(**values) is None
    assert sorted(policy._STANDING.rows(**values), key=repr) == sorted(
        policy._STANDING.build(**values), key=repr
    )
    # Every user's facts, as the sync reads them: the same members, guardians and consents
    # with the responsible worker gone as with them in place.
    with_worker = policy.load_facts(cases)
    case = next(c for c in cases if with_worker[c.pk].members and with_worker[c.pk].guardians)
    case = Case.objects.get(pk=case.pk)
    case.responsible_worker = None
    without = policy.load_facts([case])[case.pk]
    assert without.members == with_worker[case.pk].members
    assert without.guardians == with_worker[case.pk].guardians
    assert without.consents == with_worker[case.pk].consents


def test_dates_are_rendered_as_the_field_renders_them(demo_world):
    """A datetime compared with a date column is rendered as a date, and still followed."""

    def build(*, now):
        return Case.objects.filter(family__members__birth_date__lte=now).values_list(
            "pk", flat=False
        )

    query = PreparedQuery(build)
    now = timezone.now() - datetime.timedelta(days=365 * 3)
    assert query.shape_for(now=now) is not None
    assert sorted(query.rows(now=now)) == sorted(build(now=now))
