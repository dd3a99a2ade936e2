"""WSGI entry point (gunicorn koordinointi.wsgi).

Every app server process also starts the access log's sequencer thread when sequencing is in
the background (audit/sequencer.py): an advisory lock lets only one of them work at a time.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koordinointi.settings")
application = get_wsgi_application()

from audit import sequencer  # noqa: E402 - needs the settings that the line above sets up

sequencer.start_in_background()
