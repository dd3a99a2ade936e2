"""Small-count suppression of the indicators' tables (issue 18): plain functions over cells and
the linear relations (a total and its parts) that tie them together.

A cell is published only when its value is at least the threshold (zeros too are withheld: a zero
tells as much as a one). Complementary suppression then makes sure no withheld cell, nor any sum
of withheld cells under the threshold, can be recovered by subtracting the published parts of a
relation from its published total: in every relation whose total is published, the withheld parts
must add up to the threshold or more; otherwise the smallest published part is withheld too, and
when every part is withheld the total goes as well. This repeats until nothing changes. Hidden
cells (counts that exist but are never published, such as families under non-disclosure below
area level) take part in the relations as withheld cells.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Key = Hashable


@dataclass(frozen=True)
class Relation:
    """total = sum(parts)."""

    total: Key
    parts: tuple[Key, ...]


def primary(cells: Mapping[Key, int], threshold: int, hidden: Iterable[Key] = ()) -> set[Key]:
    """Keys of the cells withheld on their own: under the threshold (zero included) or hidden."""
    withheld = {key for key, value in cells.items() if value < threshold}
    return withheld | set(hidden)


def complementary(
    cells: Mapping[Key, int],
    relations: Sequence[Relation],
    withheld: set[Key],
    threshold: int,
) -> set[Key]:
    """The withheld keys grown to a fixed point where no relation gives a withheld sum under
    the threshold away."""
    withheld = set(withheld)
    changed = True
    while changed:
        changed = False
        for relation in relations:
            if relation.total in withheld:
                # The total unknown: the parts reveal it unless one of them is withheld too.
                if relation.parts and not any(part in withheld for part in relation.parts):
                    smallest = min(relation.parts, key=lambda part: (cells[part], repr(part)))
                    withheld.add(smallest)
                    changed = True
                continue
            hidden_parts = [part for part in relation.parts if part in withheld]
            if not hidden_parts:
                continue
            if sum(cells[part] for part in hidden_parts) >= threshold:
                continue
            shown = [part for part in relation.parts if part not in withheld]
            if shown:
                withheld.add(min(shown, key=lambda part: (cells[part], repr(part))))
            else:
                withheld.add(relation.total)
            changed = True
    return withheld


def suppress(
    cells: Mapping[Key, int],
    relations: Sequence[Relation],
    threshold: int,
    hidden: Iterable[Key] = (),
) -> set[Key]:
    """Every key to withhold: primary suppression, then complementary to a fixed point."""
    return complementary(cells, relations, primary(cells, threshold, hidden), threshold)


def grid_relations(
    rows: Sequence[Key], columns: Sequence[Key], *, key=lambda row, column: (row, column)
) -> list[Relation]:
    """The relations of a two-way table with margins: key(row, None) is a row's total,
    key(None, column) a column's, key(None, None) the grand total."""
    relations = [Relation(key(row, None), tuple(key(row, c) for c in columns)) for row in rows]
    relations += [Relation(key(None, c), tuple(key(row, c) for row in rows)) for c in columns]
    relations.append(Relation(key(None, None), tuple(key(row, None) for row in rows)))
    relations.append(Relation(key(None, None), tuple(key(None, c) for c in columns)))
    return relations


def median(values: Sequence[float], threshold: int) -> float | None:
    """The median of a group, or None when the group is smaller than the threshold."""
    if len(values) < threshold or not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def share(part: int | None, whole_rest: int | None) -> float | None:
    """part / (part + rest) when both counts are published (each at least the threshold, or the
    share would give a small count away), else None."""
    if part is None or whole_rest is None:
        return None
    return round(part / (part + whole_rest), 3)
