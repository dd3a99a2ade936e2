"""`manage.py responsibility_report`: every open case has its responsible worker; those whose
worker has left wait for reassignment. Exits with status 1 if an open case has none."""

from django.core.management.base import BaseCommand, CommandError

from cases import selectors


class Command(BaseCommand):
    help = (
        "Count open cases, those without a responsible worker (there must be none), and those "
        "waiting in the coordinators' reassignment queue."
    )

    def handle(self, *args, **options):
        report = selectors.responsibility_report()
        for key in (
            "open_cases",
            "without_responsible_worker",
            "waiting_for_reassignment",
            "reassignment_proposed",
        ):
            self.stdout.write(f"{key}: {report[key]}")
        if report["without_responsible_worker"]:
            raise CommandError("Open cases without a responsible worker exist.")
