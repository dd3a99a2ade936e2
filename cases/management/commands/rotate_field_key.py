"""`manage.py rotate_field_key`: re-encrypt every identity code under the first field key."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cases import key_rotation


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored identity code under the first key of FIELD_ENCRYPTION_KEYS, "
        "a batch at a time while the service runs. Put the new key first and keep the old ones "
        "after it (in every process) before running; rows already under the first key are "
        "skipped, so a rerun or a run after a crash finishes the rest. Remove an old key only "
        "when --dry-run reports nothing left to change."
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
            "--dry-run", action="store_true", help="Only count the rows still to re-encrypt."
        )

    def handle(self, *args, **options):
        if len(set(settings.FIELD_ENCRYPTION_KEYS)) < 2:
            raise CommandError(
                "FIELD_ENCRYPTION_KEYS has only one key, so there is nothing to rotate from: "
                "put the new key first, followed by the old one."
            )
        dry_run = options["dry_run"]
        try:
            progress = key_rotation.rotate_field_key(
                batch_size=options["batch_size"],
                limit=options["limit"],
                dry_run=dry_run,
                report=lambda progress: self.stdout.write(f"Batch {progress.batches}: {progress}"),
            )
        except key_rotation.UndecryptableRow as exc:
            raise CommandError(str(exc)) from None
        if dry_run:
            self.stdout.write(
                f"Dry run: {progress.changed} identity code(s) to re-encrypt, "
                f"{progress.current} already under the first key."
            )
        elif progress.complete:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: {progress.changed} identity code(s) re-encrypted under the first "
                    f"key; {progress.current} already were."
                )
            )
        else:
            self.stdout.write(
                f"Stopped at --limit: {progress.changed} identity code(s) re-encrypted. "
                "Run again to continue."
            )
