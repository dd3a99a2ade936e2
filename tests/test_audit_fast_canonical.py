"""verify_audit's fast path (audit.hashing.row_renderer, code generated from the hashing
definition) against the reference (audit.hashing.canonical_value): for every column, edge values
included, the fast path renders exactly the reference's canonical JSON, or stands aside (None)
and leaves the row to the reference. It never renders a value the reference refuses.

The honest rows are appended through the app (audit.chain.append), read back from the real
database both ways: the fast query as verify reads it, and the raw values the reference judges.
On SQLite, whose columns take any type and spelling, the stored values are then changed by hand
to other spellings and types, and the fast path must refuse every one the reference refuses.
"""

import datetime
import json
import os
import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from audit import hashing, verify
from audit.chain import append, canonical_json
from audit.hashing import EVENT_FIELDS
from audit.models import OPTIONAL_HASHED_FIELDS, AccessEvent
from tests.test_audit_tamper import committed_log, disable_triggers, new_event, sql

CHAIN = "paijat-hame"
__all__ = ["committed_log"]  # the fixture, as the tamper suite makes it
VENDOR = connection.vendor
UTC = datetime.UTC

TEXTS = [
    "",
    "tiina.vastuu",
    "ä Ö å 😀 日本",
    'a "quoted" word',
    "back\\slash",
    "tab\tnew\nline\rreturn",
    "\x01\x1f\x7f",
    "\u2028\u2029",
    ", ",
    '", "',
    "x" * 150,
]
LISTS = [
    [],
    ["basic"],
    ["basic", "plan", "health"],
    [", "],
    ['", "'],
    ['a", "b'],
    ["", ""],
    ["ä", "😀"],
    ["back\\slash"],
    ["new\nline"],
    [str(uuid.uuid4()), str(uuid.uuid4())],
    [1, 2.5, None, True],
    [{"b": 1, "a": [2, "x"]}],
    [["nested", ["deeper"]]],
]
TIMES = [
    datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime.datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC),
    datetime.datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC),
    datetime.datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
    datetime.datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(2026, 6, 1, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=3))),
]
UUIDS = [
    None,
    uuid.UUID(int=0),
    uuid.UUID(int=1),
    uuid.UUID(int=2**128 - 1),
    uuid.UUID("12345678-1234-1234-1234-123456789012"),
    uuid.uuid4(),
]
BASES = [str(uuid.uuid4()) for _ in range(3)]
# legal_bases (an optional column: left out of the hash when empty): empty, one id, several,
# and the odd lists besides (the reference decides; the fast path renders it or stands aside).
LEGAL_BASES = [[], [BASES[0]], BASES, list(reversed(BASES)), *LISTS]
ADDRESSES = [
    None,
    "10.0.0.7",
    "0.0.0.0",  # noqa: S104 - a value, not a binding
    "255.255.255.255",
    "::1",
    "2001:db8::1",
    "fe80::1",
]

# One edge value a row, column by column.
EDGES: dict[str, list] = {
    "user_id": UUIDS,
    "organisation_id": UUIDS,
    "case_id": UUIDS,
    "family_id": UUIDS,
    "controller_id": UUIDS,
    "username": TEXTS,
    "purpose": TEXTS,
    "request_id": [text for text in TEXTS if len(text) <= 64],
    "role": [AccessEvent.Role.EMERGENCY, AccessEvent.Role.NONE],
    "resource": ["case", "family", "ä"],
    "action": list(AccessEvent.Action.values),
    "outcome": list(AccessEvent.Outcome.values),
    "categories": LISTS,
    "disclosed_from": LISTS,
    "consents": LISTS,
    "emergency": [True, False],
    "created_at": TIMES,
    "client_address": ADDRESSES,
    "legal_bases": LEGAL_BASES,
}
# Set by append itself: id, chain, seq.
assert set(EDGES) | {"id", "chain", "seq"} == set(EVENT_FIELDS)


def fast_rows() -> dict[int, tuple]:
    """seq -> the row as verify's fast query reads it."""
    query, _render = verify.fast_reader(VENDOR)
    with connection.cursor() as cursor:
        cursor.execute(query, [CHAIN, 0, 2**62, 100_000])
        return {row[0]: row for row in cursor.fetchall()}


def reference_texts() -> dict[int, str | hashing.NotCanonical]:
    """seq -> the canonical JSON text the reference gives for the stored values (or why not)."""
    return {
        seq: values if isinstance(values, hashing.NotCanonical) else canonical(values)
        for seq, (values, _prev, _hash) in verify._exact_rows(CHAIN, 0, 2**62).items()
    }


def canonical(values: dict) -> str:
    return hashing.canonical_values(values).decode()


def render(row: tuple) -> str | None:
    _query, renderer = verify.fast_reader(VENDOR)
    return renderer(row)


@pytest.fixture
def edge_log(db, settings):
    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    events = []
    for column, values in EDGES.items():
        for value in values:
            events += append([new_event(**{column: value})], chain=CHAIN)
    return events


def test_the_renderer_is_generated_from_the_hashing_definition():
    """The keys, their order and the separators are what canonical_values encodes; every
    column is rendered."""
    for vendor in ("sqlite", "postgresql"):
        source = hashing.render_source(vendor, 0)
        compile(source, "<render>", "exec")
        for i, name in enumerate(EVENT_FIELDS):
            assert f"s{i} = " in source, name
        for name in OPTIONAL_HASHED_FIELDS:  # its key goes with its value, not the skeleton
            assert f"',{json.dumps(name)}:' + " in source, name
    skeleton = hashing._skeleton()
    assert "".join(skeleton[0::2]).startswith('{"action":')
    assert [EVENT_FIELDS[int(i)] for i in skeleton[1::2]] == sorted(EVENT_FIELDS)


def test_every_honest_edge_value_renders_as_the_reference_and_as_the_app_hashed_it(edge_log):
    rows = fast_rows()
    reference = reference_texts()
    by_seq = {event.seq: event for event in edge_log}
    assert set(rows) == set(reference) == set(by_seq)
    stood_aside = []
    for seq, row in rows.items():
        expected = reference[seq]
        assert not isinstance(expected, hashing.NotCanonical), (seq, expected.column, row)
        text = render(row)
        if text is None:
            stood_aside.append(seq)
            continue
        assert text == expected, seq
        assert text == canonical_json(by_seq[seq]).decode(), seq
    # The fast path renders the plain values itself: only the odd ones are left to the
    # reference (strings with quotes or escapes in a list, lists of other values, IPv6).
    plain = sum(1 for values in EDGES.values() for _ in values) - len(stood_aside)
    assert plain > len(stood_aside), stood_aside


def test_a_chain_of_edge_values_verifies(edge_log):
    """What the app appended verifies (through the fast path, and the reference for the rest)."""
    result = verify.verify_chain(CHAIN, without_external=True)
    assert result.ok and result.events == len(edge_log), result


def test_legal_bases_are_hashed_only_when_not_empty_and_the_fast_path_renders_them(db, settings):
    """An empty legal_bases is left out of the canonical JSON (events written before the column
    hash as they did), any other is in it at its key's place; the fast path renders the empty
    one and lists of ids itself, equal to the reference and to the app's own hashing."""
    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    values = [[], [BASES[0]], BASES, list(reversed(BASES))]
    events = append([new_event(legal_bases=value) for value in values], chain=CHAIN)
    rows, reference = fast_rows(), reference_texts()
    for event, value in zip(events, values, strict=True):
        text = render(rows[event.seq])
        assert text is not None, value
        assert text == reference[event.seq] == canonical_json(event).decode()
        if value:
            assert f',"legal_bases":{json.dumps(value, separators=(",", ":"))},' in text
        else:
            assert "legal_bases" not in text
    # Several ids in another order are another value (the app writes them sorted).
    assert len({render(rows[event.seq]) for event in events[2:]}) == 2


@pytest.mark.sqlite_only  # SQLite's columns hold any spelling
@pytest.mark.parametrize("written", [[], [BASES[0]], BASES[:2]], ids=["empty", "one", "two"])
def test_legal_bases_respelled_are_rendered_as_the_reference_or_left_to_it(db, settings, written):
    """Other spellings of an empty or a non-empty legal_bases: the fast path renders exactly
    what the reference gives (an empty list, however spelt, left out) or stands aside, and
    verify's verdict is the reference's."""
    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    (event,) = append([new_event(legal_bases=written)], chain=CHAIN)
    a, b = BASES[0], BASES[1]
    spellings = [
        "[]",
        "[ ]",
        " []",
        "[]\n",
        "[\n]",
        f'["{a}"]',
        f'[ "{a}" ]',
        f'["{a}","{b}"]',
        f'["{a}", "{b}"]',
        f'["{a}",  "{b}"]',
        f'["{b}", "{a}"]',
        f'["{a.upper()}"]',
        f'["\\u0061{a[1:]}"]',
        '[""]',
        "[null]",
        "[1]",
        '""',
        "null",
        "{}",
        '{"a": 1}',
        "[",
        "",
        0,
        b"[]",
    ]
    disable_triggers()
    checked = 0
    for value in spellings:
        try:
            with transaction.atomic():
                sql(
                    "UPDATE audit_accessevent SET legal_bases = %s WHERE chain = %s",
                    [value, CHAIN],
                )
        except IntegrityError:  # the column's JSON_VALID check refuses it
            continue
        checked += 1
        (row,) = fast_rows().values()
        (expected,) = reference_texts().values()
        text = render(row)
        if isinstance(expected, hashing.NotCanonical):
            assert text is None, (value, text)
        else:
            assert text in (None, expected), (value, text, expected)
            if text is None:  # only the exact "[]" and json.dumps's own spelling are rendered
                assert value not in ("[]", f'["{a}"]', f'["{a}", "{b}"]'), value
        # Verify's verdict: whole exactly when the reference's text is what the app hashed.
        whole = expected == canonical_json(event).decode()
        result = verify.verify_chain(CHAIN, without_external=True)
        assert result.ok == whole, (value, result)
    assert checked >= 18, checked


# --- on SQLite: other spellings and types, stored by hand ---------------------------------------


def sqlite_variants(column: str, stored) -> list:
    """Values of other spellings and types than the app's, for a column holding `stored`."""
    kind = hashing.KINDS[column]
    others: list = [None, 0, 1, 1.0, -7, 2.5, b"\x00", "", " ", "null"]
    if isinstance(stored, str):
        others += [
            stored.upper(),
            stored + " ",
            " " + stored,
            stored + "\x00",
            stored.encode(),
            stored[:-1],
            stored.replace("a", "A"),
        ]
    if kind == "uuid" and isinstance(stored, str):
        others += [
            str(uuid.UUID(stored)),
            stored[:31] + "g",
            stored[:31] + "G",
            stored[:31] + "٣",
            "+" + stored[1:],
            stored[:8] + " " + stored[9:],
            stored + "00",
        ]
    if kind == "time" and isinstance(stored, str):
        others += [
            stored.replace(" ", "T"),
            stored + "+00:00",
            stored + "Z",
            stored[:19],
            stored[:19] + ".000000",
            stored[:19] + ".00000",
            stored[:19] + ".0000001",
            stored[:19] + ".٣٣٣٣٣٣",
            "2026-02-30 00:00:00.000001",
            "2026-13-01 00:00:00.000001",
            "2026-01-01 24:00:00.000001",
            "2026-01-01 00:60:00.000001",
            "2026-01-01 00:00:60.000001",
            "2026-01-01 00:00:61",
            "2026-1-01 00:00:00.000001",
            "0000-01-01 00:00:00.000001",
            "2026-01-01  0:00:00.000001",
            "+2026-01-01 00:00:00.00001",
        ]
    if kind == "bool":
        others += [True, False, 2, -1, "1", "0", "true", "false", 0.0]
    if kind == "list" and isinstance(stored, str):
        others += [
            "[]",
            "[ ]",
            '["basic","plan"]',
            '["basic", "plan"] ',
            '["basic",  "plan"]',
            '["basic", "plan",]',
            '["basic" , "plan"]',
            '["ba\\u0073ic", "plan"]',
            '[", "]',
            '["a", "b", "c"]',
            '{"a": 1}',
            '"basic"',
            "1",
            '["\\u00e4"]',
            '["\x01"]',
            '["a\\"b"]',
        ]
    if kind == "ip":
        others += ["10.0.0.8", "::1", "010.0.0.7", "10.0.0.7/32"]
    if kind == "int":
        others += ["7", 7.0, True]
    return others


def sqlite_stored(column: str, seq: int):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT +{column} FROM audit_accessevent WHERE chain = %s AND seq = %s",  # noqa: S608
            [CHAIN, seq],
        )
        return cursor.fetchone()[0]


@pytest.mark.sqlite_only  # SQLite's columns hold any type and spelling
# (not the chain: verify reads a chain's events by its name, so an event of another spelling
# is not read as one of it; the head row and the checkpoints then find it missing)
@pytest.mark.parametrize("column", [name for name in EVENT_FIELDS if name != "chain"])
def test_no_other_spelling_or_type_is_rendered_unless_the_reference_takes_it(db, settings, column):
    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    (event,) = append([new_event(categories=["basic", "plan"], created_at=TIMES[0])], chain=CHAIN)
    stored = sqlite_stored(column, event.seq)
    disable_triggers()
    checked = 0
    for value in sqlite_variants(column, stored):
        try:
            with transaction.atomic():
                sql(
                    f"UPDATE audit_accessevent SET {column} = %s WHERE chain = %s",  # noqa: S608
                    [value, CHAIN],
                )
        except IntegrityError:  # NOT NULL
            continue
        rows = fast_rows()
        if not rows:  # a seq out of the chain's range is not read as one of its events
            continue
        (row,) = rows.values()
        (expected,) = reference_texts().values()
        text = render(row)
        if isinstance(expected, hashing.NotCanonical):
            assert text is None, (column, value, text)
        else:
            assert text in (None, expected), (column, value, text, expected)
        checked += 1
    # (most spellings of seq take it out of the chain's range, or are stored as the integer)
    assert checked >= (3 if column == "seq" else 10)


@pytest.mark.sqlite_only
def test_a_value_stored_as_the_app_stores_it_is_rendered_by_the_fast_path_on_sqlite(db, settings):
    """The shortcuts are taken (a renderer that always stood aside would pass the tests above)."""
    settings.AUDIT_CHAINS = [CHAIN]
    settings.AUDIT_CHECKPOINT_EVERY = 0
    append(
        [new_event(created_at=time, categories=["basic", "plan"]) for time in TIMES], chain=CHAIN
    )
    calls = []
    original = hashing.careful_text

    def counting(vendor, name, raw):
        calls.append((name, raw))
        return original(vendor, name, raw)

    hashing.careful_text = counting
    try:
        renderer = hashing.row_renderer.__wrapped__("sqlite", len(verify._LEAD))
        for row in fast_rows().values():
            assert renderer(row) is not None
    finally:
        hashing.careful_text = original
    assert calls == []


def test_lists_render_as_json_would():
    """The list shortcut against json itself, on the spellings json.dumps and jsonb give."""
    renderer = hashing._PLAIN_LIST.fullmatch
    for value in LISTS:
        for spelt in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
            if renderer(spelt):
                fast = '["' + spelt[2:-2].replace('", "', '","') + '"]'
                assert fast == hashing._encode(json.loads(spelt)), spelt


# --- the parallel check really runs in parallel ---------------------------------------------


def test_a_long_chain_is_verified_by_the_worker_processes_alone(committed_log, monkeypatch):
    """Both parts of the chain are checked in the workers and link up: this process streams
    nothing itself (before, the first part always failed its check against the chain head,
    which only the last part reaches, and the whole chain was checked again in order)."""
    streamed_here: list[int] = []
    parent = os.getpid()
    stream = verify._ChainVerifier.stream

    def recording(self, expected, prev_hash, limit):
        if os.getpid() == parent:
            streamed_here.append(expected)
        return stream(self, expected, prev_hash, limit)

    monkeypatch.setattr(verify._ChainVerifier, "stream", recording)
    result = verify.verify_chain(CHAIN)

    assert result.ok and result.events == 30, result
    assert streamed_here == []


@pytest.mark.postgresql_only  # PostgreSQL's column types are what its fast path relies on
def test_a_column_of_another_type_sends_every_row_to_the_reference_which_names_it(edge_log):
    """The fast path reads PostgreSQL's text of a uuid, a timestamptz, jsonb and inet: with a
    column changed to another type it stands aside, and the reference judges the value."""
    assert verify.pg_types_problem() is None
    sql("ALTER TABLE audit_accessevent ALTER COLUMN family_id TYPE text")

    assert verify.pg_types_problem() == "column family_id is of type text"
    _query, renderer = verify.fast_reader(VENDOR)
    assert all(renderer(row) is None for row in fast_rows().values())
    result = verify.verify_chain(CHAIN, without_external=True)
    assert not result.ok and result.first_bad_seq == 1, result
    assert "family_id stored as" in result.reason, result
