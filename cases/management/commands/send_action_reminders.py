"""`manage.py send_action_reminders`: e-mail whoever does a plan action that is due (run daily)."""

from django.core.management.base import BaseCommand

from cases import notifications


class Command(BaseCommand):
    help = (
        "Remind by e-mail of open plan actions due within --days days or overdue, once per due "
        "date: the worker who does the action, or the responsible worker for someone close to "
        "the family."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=3)

    def handle(self, *args, **options):
        count = notifications.send_action_reminders(days=options["days"])
        self.stdout.write(f"Reminded of {count} plan action(s).")
