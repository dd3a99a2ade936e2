"""Static files storage of production: whitenoise's compressed manifest, forgiving a missing
`collectstatic`.

Without `collectstatic` Django's manifest storage raises ValueError for every `{% static %}`,
and every page answers 500 (the portal's sign-in page first). Here the page is rendered with
the file's plain URL instead, and the error is logged once per name: the page stays usable (the
sign-in works, unstyled until collectstatic is run), and the log says what to do.
"""

import logging

from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger("koordinointi.storage")


class ManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    _missing_logged: set[str] = set()

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            if name not in self._missing_logged:
                self._missing_logged.add(name)
                logger.error(
                    "Static file %r is not in the manifest: run `manage.py collectstatic`.", name
                )
            return name
