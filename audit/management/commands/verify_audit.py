"""`manage.py verify_audit`: recompute every access-log chain and check its signed checkpoints,
and the change history against its seals."""

from django.core.management.base import BaseCommand, CommandError

from audit import sequencer
from audit.verify import verify_all, verify_chain, verify_changes


class Command(BaseCommand):
    help = (
        "Verify the access log: recompute every hash chain, check each checkpoint's signature "
        "and compare the database with the external copy of the checkpoints; verify the change "
        "history against its signed digests. Exits 0 when all is whole; otherwise names the "
        "first bad sequence number (or row) of each broken chain and exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chain", metavar="NAME", help="Verify only this chain.")
        parser.add_argument(
            "--external-dir",
            metavar="DIR",
            help="Where the external checkpoint copies are (default: AUDIT_CHECKPOINT_DIR).",
        )
        parser.add_argument(
            "--without-external",
            action="store_true",
            help="Verify without the external checkpoint copy (says what that leaves unchecked).",
        )

    def handle(self, *args, **options):
        external_dir = options["external_dir"]
        without = options["without_external"]
        if options["chain"]:
            results = [
                verify_chain(options["chain"], external_dir=external_dir, without_external=without)
            ]
        else:
            results = verify_all(external_dir=external_dir, without_external=without)
            changes = verify_changes()
            if changes.checkpoints or not changes.ok:
                results.append(changes)
            else:  # nothing sealed yet: only the warning of what is not
                for warning in changes.warnings:
                    self.stderr.write(f"WARNING: {warning}")
        if not results:
            self.stdout.write("No audit chains.")
        broken = [result for result in results if not result.ok]
        for result in results:
            if result.ok:
                self.stdout.write(str(result))
            else:
                self.stderr.write(str(result))
            for warning in result.warnings:
                self.stderr.write(f"WARNING: {warning}")
        if without:
            self.stderr.write(
                "WARNING: verified WITHOUT the external checkpoint copy: a log rewritten or cut "
                "short together with its checkpoint rows would pass. This is not a full "
                "verification."
            )
        for name, waiting in sequencer.unsequenced_counts().items():
            self.stdout.write(f"chain {name}: {waiting} events not yet sequenced (not verified)")
        if broken:
            raise CommandError(f"The access log is broken in {len(broken)} chain(s).")
