"""A scan of the whole test suite's log output for personal data (issue 8).

`tests/conftest.py` puts one `LogScanner` handler on the root logger for the whole session, at
level DEBUG, and fails the run at its end if any record named a person of the demo or of the
test fixtures, or held anything shaped like a valid identity code. Records are checked as they
arrive (message and exception text, as a handler would write them) and only the leaking ones are
kept, so the scan costs no memory for a clean run.

Left out, on purpose:
- `django.db.backends`: the SQL a query-count test captures, with its parameters. That is the
  data on its way into the database, not an application log, and production never emits it
  (the `django` logger stays at INFO and DEBUG is off).
- `factory`: factory_boy's DEBUG notes of what a test factory builds, test-only by nature.
"""

import contextlib
import datetime
import logging
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone

EXCLUDED_LOGGERS = ("django.db.backends", "factory")

# People of the demo (cases/seeding/demo.py) and of the test fixtures (tests/conftest.py and the
# authorization matrix's extra families). Staff names are not in it: workers act in their role.
FAMILY_NAMES = (
    "Virtanen",
    "Hanna",
    "Aino",
    "Eeli",
    "Korhonen",
    "Kalle",
    "Kaapo",
    "Kerttu",
    "Nieminen",
    "Niina",
    "Laine",
    "Liisa",
)
_CODE_SHAPE = re.compile(r"(?<![0-9A-Za-z])\d{6}[-+A-FU-Y]\d{3}[0-9A-Y](?![0-9A-Za-z])", re.I)


def demo_identity_codes(today: datetime.date | None = None) -> list[str]:
    from cases.seeding import demo

    today = today or timezone.localdate()  # the day seed_demo seeds by
    codes = [demo.identity_code(demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"])]
    for _name, age, individual in demo.CHILDREN:
        codes.append(demo.identity_code(demo.birth_date_for_age(age, today=today), individual))
    return codes


def demo_secrets() -> list[str]:
    return [*FAMILY_NAMES, *demo_identity_codes()]


def _valid_identity_codes(text: str) -> list[str]:
    from cases.identity_code import validate_identity_code

    found = []
    for match in _CODE_SHAPE.finditer(text):
        try:
            validate_identity_code(match.group(), allow_temporary=True)
        except ValidationError:
            continue
        found.append(match.group().upper())
    return found


@dataclass(frozen=True)
class Leak:
    logger: str
    level: str
    text: str
    secrets: tuple[str, ...]
    test: str


class LogScanner:
    def __init__(self, secrets):
        self.secrets = list(secrets)
        # Names as whole words and case as written ("Hanna", not the username "hanna.huoltaja");
        # identity codes in any case.
        self._names = re.compile(
            r"\b("
            + "|".join(re.escape(s) for s in self.secrets if not _CODE_SHAPE.match(s))
            + r")\b"
        )
        self._leaks: list[Leak] = []
        self._suspended = 0
        self.current_test = ""
        self.records_seen = 0

    def handler(self) -> logging.Handler:
        return _ScanHandler(self)

    def check(self, record: logging.LogRecord) -> None:
        self.records_seen += 1
        if self._suspended or record.name.startswith(EXCLUDED_LOGGERS):
            return
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        found = {*self._names.findall(text), *_valid_identity_codes(text)}
        found |= {s for s in self.secrets if _CODE_SHAPE.match(s) and s.lower() in text.lower()}
        if found:
            self._leaks.append(
                Leak(record.name, record.levelname, text, tuple(sorted(found)), self.current_test)
            )

    def leaks(self) -> list[Leak]:
        return list(self._leaks)

    def report(self) -> str:
        lines = [f"{len(self._leaks)} log records carried personal data:"]
        for leak in self._leaks:
            first = leak.text.splitlines()[0][:300] if leak.text else ""
            lines.append(
                f"- {leak.level} {leak.logger} in {leak.test or '(outside a test)'}: "
                f"{', '.join(leak.secrets)} in {first!r}"
            )
        return "\n".join(lines)

    @contextlib.contextmanager
    def suspended(self):
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1


class _ScanHandler(logging.Handler):
    def __init__(self, scanner: LogScanner):
        super().__init__(level=logging.DEBUG)
        self.scanner = scanner

    def emit(self, record: logging.LogRecord) -> None:
        self.scanner.check(record)


_session: LogScanner | None = None
_handler: logging.Handler | None = None


def install(scanner: LogScanner) -> None:
    """Watch every logger: the root, and those that do not propagate to it."""
    global _session, _handler
    _session = scanner
    _handler = scanner.handler()
    attach()


def attach() -> None:
    """(Again) put the session's handler first on the root logger and on every logger that does
    not propagate. `django.setup()` (say, a test module importing `koordinointi.wsgi`) applies
    settings.LOGGING with `dictConfig`, which replaces the root's handlers: so this runs before
    every test, not only at the start of the session."""
    if _handler is None:
        return
    root = logging.getLogger()
    # The configured handlers keep writing what they wrote before (the level of settings.LOGGING)
    # while the root lets DEBUG records through to the scanner.
    for existing in root.handlers:
        if existing.level == logging.NOTSET and existing is not _handler:
            existing.setLevel(root.level)
    # First, so that it sees each record before any handler's filter masks it: a masked code is
    # still a code that the application tried to log.
    if _handler in root.handlers:
        root.handlers.remove(_handler)
    root.handlers.insert(0, _handler)
    root.setLevel(logging.DEBUG)
    for logger in list(logging.root.manager.loggerDict.values()):
        if (
            isinstance(logger, logging.Logger)
            and not logger.propagate
            and _handler not in logger.handlers
        ):
            logger.addHandler(_handler)


def session_scanner() -> LogScanner | None:
    return _session


@contextlib.contextmanager
def expected_leak():
    """For a test that logs personal data on purpose, to prove that a filter masks it."""
    if _session is None:
        yield
        return
    with _session.suspended():
        yield
