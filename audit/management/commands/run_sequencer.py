"""`manage.py run_sequencer`: chain the access log's intake until stopped (SIGTERM or Ctrl-C).

Any number of app servers may run it: an advisory lock per chain elects one leader, the others
wait and take over when it goes (audit/sequencer.py).
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from audit import sequencer


class Command(BaseCommand):
    help = (
        "Sequence the access log: move events that requests committed to the intake onto the "
        "hash chain, in batches, as the chain's one elected sequencer. Runs until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--chain",
            action="append",
            metavar="NAME",
            help="A chain to sequence (repeatable; default: AUDIT_CHAIN).",
        )
        parser.add_argument(
            "--interval", type=float, help="Seconds between looks at an idle intake."
        )
        parser.add_argument("--batch", type=int, help="Events chained per transaction at most.")
        parser.add_argument(
            "--once", action="store_true", help="Chain what is waiting now, then exit."
        )

    def handle(self, *args, **options):
        chains = options["chain"] or [settings.AUDIT_CHAIN]
        if options["once"]:
            for name in chains:
                done = sequencer.sequence_pending(name, limit=options["batch"])
                self.stdout.write(f"chain {name}: {done} events sequenced")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"sequencing {', '.join(chains)}", ending="\n")
        self.stdout.flush()
        sequencer.run(chains, stop=stop, interval=options["interval"], limit=options["batch"])
