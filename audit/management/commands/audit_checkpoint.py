"""`manage.py audit_checkpoint`: sign the current head of the access-log chains now.

Checkpoints are also written automatically every AUDIT_CHECKPOINT_EVERY events; run this from
cron (e.g. hourly) so that a quiet chain's latest events are covered too.
"""

from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import create_checkpoint
from audit.models import Chain


class Command(BaseCommand):
    help = "Store a signed checkpoint of each chain's head, in the database and outside it."

    def add_arguments(self, parser):
        parser.add_argument("--chain", metavar="NAME", help="Only this chain (default: all).")

    def handle(self, *args, **options):
        if options["chain"]:
            names = [options["chain"]]
            if not Chain.objects.filter(name=options["chain"]).exists():
                raise CommandError(f"There is no chain {options['chain']!r}.")
        else:
            names = list(Chain.objects.order_by("name").values_list("name", flat=True))
        for name in names:
            checkpoint = create_checkpoint(chain=name)
            if checkpoint is None:
                self.stdout.write(f"chain {name}: no events, no checkpoint")
            else:
                self.stdout.write(
                    f"chain {name}: checkpoint at sequence {checkpoint.seq} "
                    f"(key {checkpoint.key_id})"
                )
