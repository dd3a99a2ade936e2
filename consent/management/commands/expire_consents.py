"""Record an `expired` event for every consent past its end date, and resync permissions.

Reads never wait for this (expiry is enforced at read time); it keeps the event history and
django-guardian's table in step. Run it daily, e.g. from cron.
"""

from django.core.management.base import BaseCommand

from consent.services import consent_expire_due


class Command(BaseCommand):
    help = "Record expiry of consents past their end date."

    def handle(self, *args, **options):
        count = consent_expire_due()
        self.stdout.write(f"Expired {count} consent(s).")
