"""`manage.py rebuild_blind_index`: recompute every identity-code index under the first key."""

from django.core.management.base import BaseCommand, CommandError

from cases import key_rotation
from cases.identity_code import blind_index_keys
from cases.management.commands.rotate_field_key import positive_int


class Command(BaseCommand):
    help = (
        "Recompute every family member's identity_code_index under the first key of "
        "BLIND_INDEX_KEYS, a batch at a time while the service runs. Put the new key first and "
        "keep the old ones after it (in every process) before running: lookups match an index "
        "under any listed key, so nothing goes missing meanwhile. Rows already indexed under "
        "the first key are skipped, so a rerun finishes the rest. Remove an old key only when "
        "--dry-run reports nothing left to change."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=key_rotation.DEFAULT_BATCH_SIZE,
            help="Rows per transaction (default %(default)s).",
        )
        parser.add_argument(
            "--limit", type=positive_int, help="Stop after changing this many rows."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the rows still to re-index."
        )

    def handle(self, *args, **options):
        keys = blind_index_keys()
        dry_run = options["dry_run"]
        try:
            progress = key_rotation.rebuild_blind_index(
                batch_size=options["batch_size"],
                limit=options["limit"],
                dry_run=dry_run,
                report=lambda progress: self.stdout.write(f"Batch {progress.batches}: {progress}"),
            )
        except key_rotation.UndecryptableRow as exc:
            raise CommandError(str(exc)) from None
        if dry_run:
            self.stdout.write(
                f"Dry run: {progress.changed} index(es) to rebuild, "
                f"{progress.current} already under the first key."
            )
        elif progress.complete:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: {progress.changed} index(es) rebuilt under the first of "
                    f"{len(keys)} key(s); {progress.current} already were."
                )
            )
        else:
            self.stdout.write(
                f"Stopped at --limit: {progress.changed} index(es) rebuilt. Run again to continue."
            )
