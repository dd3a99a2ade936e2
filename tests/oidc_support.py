"""Real OpenID Providers for the tests, on loopback, and a user agent that goes through them.

- `start_provider`: panva's oidc-provider (tests/oidc/provider.mjs), the certified one.
- `start_rogue`: a misbehaving provider (tests/oidc/rogue.mjs) that sends what the test tells it
  to get wrong next.
- `through_provider`: what a browser does between our start view and our callback (follows the
  provider's redirects, fills its development sign-in form), with real HTTP, so the test
  client's requests to us and our server's requests to the provider are all real.

Both need Node and `npm ci --prefix tests/oidc` (.ci/run does it). Without them these tests
are skipped with the reason, unless REQUIRE_BROWSER=1 (CI), where they fail.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from cases.seeding import demo
from tests.browser import required

ROOT = Path(__file__).resolve().parent.parent
OIDC_DIR = ROOT / "tests" / "oidc"
# Ports of their own for each pytest-xdist worker (gw0, gw1, ...), so that two test modules
# running at once never start a provider on the same port; OIDC_TEST_PORT_BASE moves the whole
# range, for two checkouts testing on one machine.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_BASE = int(os.environ.get("OIDC_TEST_PORT_BASE", "9400")) + 10 * _WORKER
BROKER_PORT = _BASE
ROGUE_PORT = _BASE + 1
WORKER_IDP_PORT = _BASE + 2
CLIENT_ID = "portal"
CLIENT_SECRET = "a-client-secret-for-the-tests-only-0123456789"
IDENTITY_CLAIM = "personal_identity_code"


def unavailable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (OIDC_DIR / "node_modules" / "oidc-provider").exists():
        return "oidc-provider is not installed: npm ci --prefix tests/oidc"
    return None


def skip_or_fail_without_node() -> None:
    reason = unavailable()
    if reason is None:
        return
    if required():
        pytest.fail(f"REQUIRE_BROWSER is set, but the OpenID Provider cannot run: {reason}")
    pytest.skip(f"provider test skipped: {reason}")


def private_jwk(kid: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    data.pop("key_ops", None)  # PyJWT says "sign"; the provider verifies its ID token hints too
    return {**data, "kid": kid, "alg": "RS256", "use": "sig"}


def hanna_code() -> str:
    return demo.identity_code(demo.GUARDIAN["birth_date"], demo.GUARDIAN["individual"])


def child_code(today: datetime.date | None = None) -> str:
    first_name, age, individual = demo.CHILDREN[0]
    birth = demo.birth_date_for_age(
        age, today=today or datetime.datetime.now(tz=datetime.UTC).date()
    )
    return demo.identity_code(birth, individual)


def stranger_code(n: int = 0) -> str:
    return demo.identity_code(datetime.date(1979, 3, 1 + n % 28), 300 + n)


class RunningProvider:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process = process
        self.issuer = f"http://127.0.0.1:{port}"
        self.log = log  # what the provider wrote: its errors, for a failing test's report

    def post(self, path: str, data: dict | None = None) -> None:
        response = requests.post(self.issuer + path, json=data or {}, timeout=10)
        assert response.status_code == 200, response.text


@contextmanager
def _node(script: str, port: int, env: dict):
    skip_or_fail_without_node()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finally
        mode="w+", prefix=f"oidc-{port}-", suffix=".log", delete=False
    )
    process = subprocess.Popen(  # noqa: S603 - our own script
        ["node", str(OIDC_DIR / script)],  # noqa: S607 - node from PATH, as CI installs it
        cwd=OIDC_DIR,
        env={**os.environ, "OP_PORT": str(port), "NODE_ENV": "test", **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "listening " not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the provider did not start:\n" + Path(log.name).read_text())
            time.sleep(0.05)
        yield RunningProvider(process, port, Path(log.name))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        os.unlink(log.name)


def client_metadata(client_id: str, secret: str, bases: list[str], callback: str, logged_out: str):
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [base + callback for base in bases],
        "post_logout_redirect_uris": [base + logged_out for base in bases],
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


@contextmanager
def start_provider(
    *,
    port: int,
    clients: list[dict],
    accounts: dict,
    claims: dict,
    api: str = "",
    token_claims: list[str] | None = None,
    keys: list[dict] | None = None,
):
    env = {
        "OP_CLIENTS": json.dumps(clients),
        "OP_ACCOUNTS": json.dumps(accounts),
        "OP_CLAIMS": json.dumps(claims),
        "OP_API": api,
        "OP_TOKEN_CLAIMS": json.dumps(token_claims or []),
        "OP_KEYS": json.dumps(keys or [private_jwk("broker-1")]),
    }
    with _node("provider.mjs", port, env) as provider:
        yield provider


@contextmanager
def start_rogue(*, port: int = ROGUE_PORT):
    keys = [private_jwk("rogue-1"), private_jwk("rogue-2"), private_jwk("never-published")]
    with _node("rogue.mjs", port, {"OP_KEYS": json.dumps(keys)}) as provider:
        yield provider


def broker_accounts() -> dict:
    accounts = {
        "hanna": {IDENTITY_CLAIM: hanna_code()},
        "aino": {IDENTITY_CLAIM: child_code()},
    }
    for n in range(30):
        accounts[f"stranger-{n}"] = {IDENTITY_CLAIM: stranger_code(n)}
    return accounts


def through_provider(location: str, *, login: str | None = "hanna", cancel: bool = False) -> str:
    """Follows the provider from the authorization request to the redirect back to us
    (http://testserver/...), signing in at its development form as `login`: that URL."""
    session = requests.Session()
    url = location
    for _ in range(12):
        if url.startswith("http://testserver"):
            return url
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urllib.parse.urljoin(url, response.headers["Location"])
            continue
        assert response.status_code == 200, (response.status_code, response.text[:500])
        if cancel:
            abort = re.search(r'href="([^"]*/abort)"', response.text)
            assert abort, response.text[:500]
            url = urllib.parse.urljoin(url, abort.group(1))
            continue
        form = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert form and 'name="login"' in response.text, response.text[:500]
        posted = session.post(
            urllib.parse.urljoin(url, form.group(1)),
            data={"prompt": "login", "login": login, "password": "any"},
            allow_redirects=False,
            timeout=10,
        )
        assert posted.is_redirect, (posted.status_code, posted.text[:500])
        url = urllib.parse.urljoin(url, posted.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back: {url}")
