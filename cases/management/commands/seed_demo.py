"""`manage.py seed_demo`: the Päijät-Häme demo scenario of DESIGN.md, safe to run again."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import translation

from cases.seeding import demo


class Command(BaseCommand):
    help = (
        "Create the Päijät-Häme demo: areas, municipalities, organisations, services, the demo "
        f"users (password {demo.DEMO_PASSWORD}) and the Virtanen family case. Running it again "
        "changes nothing. Refuses to run with DEBUG off unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though DEBUG is off. The demo accounts have a published password.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this looks like a production installation: seed_demo would "
                f"create accounts whose password ({demo.DEMO_PASSWORD}) is published. "
                "Use --force if this really is a demo installation."
            )
        with transaction.atomic():
            result = demo.seed()
            # The coordinators' report (issue 18): cases of the south area beside the scenario.
            report_cases = demo.seed_report_data()

        if report_cases:
            self.stdout.write(f"Report data: {report_cases} cases in the south area.")
        if result.changed:
            self.stdout.write(self.style.SUCCESS("Seeded the Päijät-Häme demo."))
            for label, counter in (("Created", result.created), ("Updated", result.updated)):
                if counter:
                    self.stdout.write(f"{label}: " + _counts(counter))
        else:
            self.stdout.write("The demo data is already there: nothing changed.")

        self.stdout.write(f"\nSign in with password {demo.DEMO_PASSWORD}:")
        width = max(len(user.username) for user in demo.USERS)
        for user in demo.USERS:
            self.stdout.write(f"  {user.username:<{width}}  {user.who}")
        if result.case is not None:
            self.stdout.write(f"\nThe Virtanen case: /api/v1/cases/{result.case.pk}/")


def _counts(counter) -> str:
    with translation.override("en"):  # the rest of the output is English too
        return ", ".join(
            f"{count} {model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural}"
            for model, count in counter.items()
        )
