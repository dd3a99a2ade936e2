"""Helpers of the browser tests: Debian's chromium driven by Playwright, axe-core, the API.

The browser is Debian's `chromium` package (Playwright's own browser download needs internet
access CI does not have). Without it the browser tests are skipped with the reason, unless
REQUIRE_BROWSER=1 (as in .ci/run), where they fail instead.
"""

import json
import os
import shutil
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import audit_tables

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERIOUS = {"serious", "critical"}


def required() -> bool:
    return os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false", "no")


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed: pip install -e '.[test]'"
    return None


def skip_or_fail_without_browser() -> None:
    reason = unavailable()
    if reason is None:
        return
    if required():
        pytest.fail(f"REQUIRE_BROWSER is set, but the browser tests cannot run: {reason}")
    pytest.skip(f"browser test skipped: {reason}")


@contextmanager
def chromium():
    """A headless chromium. Playwright's sync API keeps an event loop in this thread, so the
    test's own ORM calls need Django's async-safety check off while the browser is open."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                # Django's connections are per context, and Playwright's loop is another
                # context: close what the test opened in it, or it outlives the test database.
                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def new_page(browser, width=1280, height=900):
    """A page in a fresh context (no cookies) at the given viewport, in Finnish."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="fi-FI")
    return context.new_page()


def choose_language(page, base, label):
    """Switch the portal's language with the sign-in page's language buttons."""
    page.goto(f"{base}/portal/login/")
    page.get_by_role("button", name=label).click()
    page.wait_for_load_state()


def axe_problems(page, *, every_impact: bool = False) -> list[str]:
    """Serious and critical axe-core violations on the page (or every violation, whatever its
    impact), one line per element."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    problems = []
    for violation in results.response["violations"]:
        if every_impact or violation.get("impact") in SERIOUS:
            for node in violation["nodes"]:
                problems.append(
                    f"{page.url}: {violation['id']} ({violation['impact']}) "
                    f"{', '.join(map(str, node['target']))}: {violation['help']}"
                )
    return problems


def overflows(page) -> bool:
    """Whether the page scrolls sideways (content wider than the viewport)."""
    return page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
    )


def empty_audit_tables() -> None:
    """After a transactional test, before Django's flush: the audit tables are append-only in
    the database, so they are emptied under purge permits (tests/audit_tables.py)."""
    audit_tables.empty_audit_tables()


class Api:
    """A client of the live server's API, signed in with a token, as another program would be."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        status, body = self.request(
            "POST", "/api/v1/auth/token/", {"username": username, "password": password}
        )
        assert status == 200, body
        self.token = body["token"]

    def request(self, method: str, path: str, data=None):
        headers = {"Accept": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Token {self.token}"
        payload = None
        if data is not None:
            payload = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the test's own live server
            self.base_url + path, data=payload, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, path: str):
        return self.request("GET", path)
