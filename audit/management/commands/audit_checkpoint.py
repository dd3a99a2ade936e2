"""`manage.py audit_checkpoint`: sign the current head of the access-log chains now, and seal
the change history.

Checkpoints are also written automatically every AUDIT_CHECKPOINT_EVERY events and on a timer;
run `audit_checkpoint --if-due` every minute (cron or a systemd timer) so that the unsigned
window is at most AUDIT_CHECKPOINT_INTERVAL seconds even on a quiet chain, and plain
`audit_checkpoint` daily. A head is signed only after every event since the last checkpoint has
been checked: over a gap, a changed event or a purge without its signed record it refuses
(exit status 1) and says why.
"""

from django.core.management.base import BaseCommand, CommandError

from audit import history
from audit.checkpoints import CheckpointRefused, checkpoint_if_due, create_checkpoint
from audit.models import Chain


class Command(BaseCommand):
    help = "Store a signed checkpoint of each chain's head, in the database and outside it."

    def add_arguments(self, parser):
        parser.add_argument("--chain", metavar="NAME", help="Only this chain (default: all).")
        parser.add_argument(
            "--if-due",
            action="store_true",
            help="Only chains whose head moved and whose last checkpoint is older than "
            "AUDIT_CHECKPOINT_INTERVAL seconds (for a job every minute).",
        )

    def handle(self, *args, **options):
        if options["chain"]:
            names = [options["chain"]]
            if not Chain.objects.filter(name=options["chain"]).exists():
                raise CommandError(f"There is no chain {options['chain']!r}.")
        else:
            names = list(Chain.objects.order_by("name").values_list("name", flat=True))
        refused = []
        for name in names:
            try:
                if options["if_due"]:
                    checkpoint = checkpoint_if_due(name)
                else:
                    checkpoint = create_checkpoint(chain=name)
            except CheckpointRefused as refusal:
                self.stderr.write(str(refusal))
                refused.append(name)
                continue
            if checkpoint is None:
                self.stdout.write(f"chain {name}: no new events, no checkpoint")
            else:
                self.stdout.write(
                    f"chain {name}: checkpoint at sequence {checkpoint.seq} "
                    f"(key {checkpoint.key_id})"
                )
        digest = history.seal()
        if digest is not None:
            self.stdout.write(
                f"change history: {digest.rows} rows sealed by digest {digest.seq} "
                f"(key {digest.key_id})"
            )
        if refused:
            raise CommandError(f"Refused to sign {len(refused)} chain(s): {', '.join(refused)}.")
