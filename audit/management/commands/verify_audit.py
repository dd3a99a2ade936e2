"""`manage.py verify_audit`: recompute every access-log chain and check its signed checkpoints."""

from django.core.management.base import BaseCommand, CommandError

from audit import sequencer
from audit.verify import verify_all, verify_chain


class Command(BaseCommand):
    help = (
        "Verify the access log: recompute every hash chain, check each checkpoint's signature "
        "and compare the database with the external copy of the checkpoints. Exits 0 when "
        "every chain is whole; otherwise names the first bad sequence number of each broken "
        "chain and exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chain", metavar="NAME", help="Verify only this chain.")
        parser.add_argument(
            "--external-dir",
            metavar="DIR",
            help="Where the external checkpoint copies are (default: AUDIT_CHECKPOINT_DIR).",
        )

    def handle(self, *args, **options):
        external_dir = options["external_dir"]
        if options["chain"]:
            results = [verify_chain(options["chain"], external_dir=external_dir)]
        else:
            results = verify_all(external_dir=external_dir)
        if not results:
            self.stdout.write("No audit chains.")
        broken = [result for result in results if not result.ok]
        for result in results:
            if result.ok:
                self.stdout.write(str(result))
            else:
                self.stderr.write(str(result))
        for name, waiting in sequencer.unsequenced_counts().items():
            self.stdout.write(f"chain {name}: {waiting} events not yet sequenced (not verified)")
        if broken:
            raise CommandError(f"The access log is broken in {len(broken)} chain(s).")
