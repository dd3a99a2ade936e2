"""`manage.py retry_mail`: send the outbox's e-mail that could not be sent yet (from cron)."""

from django.core.management.base import BaseCommand

from cases import notifications
from cases.models import OutboundMail


class Command(BaseCommand):
    help = (
        "Send the outbox's e-mail whose earlier attempt failed and whose next attempt is due "
        "(attempts back off: 1, 2, 4 … minutes). A mail that fails "
        f"{notifications.MAX_ATTEMPTS} times is given up; --all tries those too, and every "
        "unsent mail now."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            help="Try every unsent mail now, also those not due yet and those given up.",
        )
        parser.add_argument("--limit", type=int, default=500, help="At most this many mails.")

    def handle(self, *args, **options):
        sent, failed = notifications.retry(everything=options["all"], limit=options["limit"])
        waiting = OutboundMail.objects.filter(status=OutboundMail.Status.PENDING).count()
        given_up = OutboundMail.objects.filter(status=OutboundMail.Status.FAILED).count()
        self.stdout.write(f"Sent {sent}, failed {failed}; {waiting} waiting, {given_up} given up.")
