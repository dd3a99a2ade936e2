"""`manage.py seed_scale`: a deterministic data set at wellbeing-area size (cases.seeding.scale)."""

import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cases.seeding import scale


class Command(BaseCommand):
    help = (
        "Fill an empty, freshly migrated database with a deterministic data set for benchmarks: "
        "organisations, N families with their cases, networks, consents in every state, notes, "
        "plans, guardian's permission rows and N x 10 access events, with bulk inserts. The "
        "access log is append-only, so to seed again create a new database (and an empty "
        f"AUDIT_CHECKPOINT_DIR). Worker accounts get the published password {scale.SCALE_PASSWORD}"
        ": refused with DEBUG off unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--families", type=int, default=1000, help="Families (and cases).")
        parser.add_argument(
            "--workers", type=int, default=None, help="Workers (default: families / 20, min 50)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Seed of the random generator.")
        parser.add_argument(
            "--events-per-family", type=int, default=10, help="Access events per family."
        )
        parser.add_argument(
            "--now",
            type=datetime.date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="The day the data set is made as of (default: today, UTC). With the same "
            "day and arguments, the data set is the same.",
        )
        parser.add_argument(
            "--digest", action="store_true", help="Print a SHA-256 digest of the data set."
        )
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off.")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like a production installation: seed_scale would "
                f"create accounts whose password ({scale.SCALE_PASSWORD}) is published. Use "
                "--force if this is a benchmark installation."
            )
        families = options["families"]
        workers = options["workers"] or max(50, families // 20)
        now = None
        if options["now"] is not None:
            now = datetime.datetime.combine(options["now"], datetime.time(0), tzinfo=datetime.UTC)
        self.stdout.write(
            f"Seeding {families} families, {workers} workers, seed {options['seed']} "
            f"({options['events_per_family']} access events per family)…"
        )
        try:
            result = scale.generate(
                families=families,
                workers=workers,
                seed=options["seed"],
                events_per_family=options["events_per_family"],
                now=now,
                log=self.stdout.write,
            )
        except (scale.NotEmpty, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS("Done."))
        self.stdout.write(result.summary())
        self.stdout.write(
            f"Network member of {len(result.probe_case_ids)} cases: {result.member_username} "
            f"(password {scale.SCALE_PASSWORD}); workers worker00001…, auditor "
            f"{scale.AUDITOR_USERNAME}, coordinator {scale.COORDINATOR_USERNAME}."
        )
        if options["digest"]:
            self.stdout.write(f"digest {scale.digest()}")
