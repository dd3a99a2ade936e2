"""`manage.py purge_audit --before YYYY-MM-DD`: the retention purge of the access log.

This is the only way events leave the log. The cut is always at a signed point, taken from
signed data only: the newest checkpoint whose signature (which covers its time) verifies and
that was created before the given date. Events up to the cut are deleted; their checkpoints are
kept, so the checkpoint at the cut still vouches for the hash the first remaining event links
to. Everything happens in one transaction holding the chain head's lock:

1. the chain is verified first, with its external copy (a broken chain is not purged: that
   would destroy evidence);
2. a purge record naming the range and the checkpoint it cuts at is signed with the key and
   stored (`audit_purgerecord`, append-only);
3. a row (chain, cut) goes into `audit_purgepermit`, the one thing the append-only triggers let
   through, and only for that chain's events up to the cut; the events are deleted and the
   permit row is removed again (no other session sees it);
4. an event recording the purge is appended (resource "audit-purge", purpose "retention purge
   up to sequence <cut>") for the reader of the log, and a checkpoint signs it.

`verify_audit` accepts a chain starting at cut + 1 only with the signed purge record.
"""

import argparse
import datetime
import getpass

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from audit.chain import append
from audit.checkpoints import checkpoint_problem, create_checkpoint, create_purge_record
from audit.models import AccessEvent, Chain, Checkpoint
from audit.verify import PURGE_RESOURCE, purge_purpose, verify_chain


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date as YYYY-MM-DD") from None


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


def purge_chain(*, chain: str, before: datetime.datetime, operator: str, dry_run: bool = False):
    """Purge `chain` up to its newest checkpoint created before `before`.

    Returns (cut, deleted, purge event) or None when there is nothing to purge.
    """
    result = verify_chain(chain)
    if not result.ok:
        raise CommandError(f"Not purging a broken chain: {result}")
    with transaction.atomic():
        head = Chain.locked_head(chain)
        candidates = Checkpoint.objects.filter(
            chain=chain, seq__lte=head.head_seq, created_at__lt=before
        ).order_by("-seq")
        # Only a checkpoint whose signature verifies: its time is signed with it.
        cut_at = next((c for c in candidates.iterator() if checkpoint_problem(c) is None), None)
        first = AccessEvent.objects.filter(chain=chain).aggregate(first=Min("seq"))["first"]
        if cut_at is None or first is None or first > cut_at.seq:
            return None
        cut = cut_at.seq
        if dry_run:
            count = AccessEvent.objects.filter(chain=chain, seq__lte=cut).count()
            return cut, count, None
        create_purge_record(checkpoint=cut_at, first_seq=first, operator=operator)
        table = AccessEvent._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_purgepermit (chain, up_to_seq) VALUES (%s, %s)", [chain, cut]
            )
            cursor.execute(
                f"DELETE FROM {table} WHERE chain = %s AND seq <= %s",  # noqa: S608 - our table
                [chain, cut],
            )
            deleted = cursor.rowcount
            cursor.execute(
                "DELETE FROM audit_purgepermit WHERE chain = %s AND up_to_seq = %s", [chain, cut]
            )
        (event,) = append(
            [
                AccessEvent(
                    username=operator[:150],
                    resource=PURGE_RESOURCE,
                    action=AccessEvent.Action.WRITE,
                    outcome=AccessEvent.Outcome.ALLOWED,
                    purpose=purge_purpose(cut),
                )
            ],
            chain=chain,
        )
        create_checkpoint(chain=chain)
    return cut, deleted, event


class Command(BaseCommand):
    help = (
        "Retention purge of the access log: delete the events up to the newest signed "
        "checkpoint created before --before, and record the purge as a checkpointed event."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--before",
            required=True,
            type=_date,
            metavar="YYYY-MM-DD",
            help="Purge only events older than this date (local time, start of the day).",
        )
        parser.add_argument("--chain", metavar="NAME", help="Only this chain (default: all).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be purged; change nothing."
        )

    def handle(self, *args, **options):
        day: datetime.date = options["before"]
        if day > timezone.localdate():
            raise CommandError("--before must not be in the future.")
        before = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        if options["chain"]:
            if not Chain.objects.filter(name=options["chain"]).exists():
                raise CommandError(f"There is no chain {options['chain']!r}.")
            names = [options["chain"]]
        else:
            names = list(Chain.objects.order_by("name").values_list("name", flat=True))
        operator = f"{_operator()} (purge_audit)"
        for name in names:
            outcome = purge_chain(
                chain=name, before=before, operator=operator, dry_run=options["dry_run"]
            )
            if outcome is None:
                self.stdout.write(f"chain {name}: nothing to purge before {day}")
                continue
            cut, count, event = outcome
            if event is None:
                self.stdout.write(f"chain {name}: would purge {count} events up to sequence {cut}")
            else:
                self.stdout.write(
                    f"chain {name}: purged {count} events up to sequence {cut}; "
                    f"recorded as event {event.seq}"
                )
