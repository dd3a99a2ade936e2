"""`manage.py purge_closed_cases [--dry-run]`: delete closed cases past `CASE_RETENTION_DAYS`.

Each case goes in its own transaction (cases/retention.py): a failure stops at that case and
leaves it, and those after it, whole. Output names cases by id only, never by family.
"""

import getpass

from django.conf import settings
from django.core.management.base import BaseCommand

from cases.retention import case_purge, cases_due_for_purge, retention_cutoff


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


class Command(BaseCommand):
    help = (
        "Retention: delete closed cases whose closing is older than CASE_RETENTION_DAYS, with "
        "their family data; the purge is recorded in the access log and checkpointed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List the cases that would be purged; change nothing.",
        )

    def handle(self, *args, **options):
        cutoff = retention_cutoff()
        due = list(cases_due_for_purge().values_list("pk", "closed_at"))
        self.stdout.write(
            f"{len(due)} closed case(s) closed before {cutoff:%Y-%m-%d} "
            f"(retention {settings.CASE_RETENTION_DAYS} days)"
        )
        if options["dry_run"]:
            for pk, closed_at in due:
                self.stdout.write(f"would purge case {pk} (closed {closed_at:%Y-%m-%d})")
            return
        operator = f"{_operator()} (purge_closed_cases)"
        purged = 0
        for pk, _closed_at in due:
            result = case_purge(case_id=pk, operator=operator)
            if result is None:
                self.stdout.write(f"case {pk}: no longer due, left as it is")
                continue
            assert result.event is not None  # every purge is recorded
            purged += 1
            rows = sum(result.deleted.values())
            family = "and its family " if result.family_deleted else ""
            self.stdout.write(
                f"case {pk} {family}purged ({rows} rows); recorded as access event "
                f"{result.event.seq}"
            )
        self.stdout.write(f"purged {purged} case(s)")
