"""The README's curl walk, run as written (issue 15, acceptance 5).

The `sh` blocks of the README's "A walk with curl" section are run in order, in one bash
session, against a live demo: `manage.py runserver` in a subprocess on a fresh SQLite database
seeded with `seed_demo`. Nothing is filled in by the test but the server's address (`API`, which
the README defaults to the address of `python3 dev.py serve`): the blocks capture every id they
need. `curl` is wrapped only to report each answer's status on stderr, so that a refused or
failed step fails the walk.

Marked `sqlite_only`: the walk needs no PostgreSQL, so tests/conftest.py deselects it (it is
not skipped) when DATABASE_URL is set, and CI runs it once, in its SQLite pass.
"""

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(9600, 9700)

pytestmark = pytest.mark.sqlite_only


def walk_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## A walk with curl\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.M | re.S)


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("No free port in 9600-9699")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """A fresh demo served by runserver; yields (base URL, environment, working folder)."""
    folder = tmp_path_factory.mktemp("walk")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
        "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}",
        "AUDIT_CHECKPOINT_DIR": str(folder / "audit-checkpoints"),
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "SITE_URL": base,
        "DEBUG": "true",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--no-input", "-v0"], ["seed_demo"]):
        subprocess.run(  # noqa: S603 - our own fixed commands
            [*manage, *command], env=env, cwd=folder, check=True, capture_output=True
        )
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own fixed command
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):  # waiting for the server to listen, not timing anything
            try:
                with urllib.request.urlopen(f"{base}/healthz") as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(
                "The demo server did not start: " + (folder / "server.log").read_text()
            )
        # The walk is pasted in this folder: `.venv/bin/python manage.py ...` must work there.
        (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)
        (folder / "manage.py").symlink_to(ROOT / "manage.py")
        yield base, env, folder
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_readme_names_every_step_of_the_walk():
    walk = "\n".join(walk_blocks())
    assert len(walk_blocks()) >= 4
    for step in (
        "/handovers/$HANDOVER/accept/",
        "/api/v1/cases/$CASE/notes/",
        "Accept: application/jose",
        ".venv/bin/python manage.py verify_receipt receipt.jws",
        "/revoke/",
    ):
        assert step in walk
    assert "<" not in walk.replace("<<", "")  # no placeholder like <case id> left to fill


def test_the_readme_walk_runs_as_written_against_a_live_demo(demo_server):
    base, env, folder = demo_server
    script = folder / "walk.sh"
    script.write_text("\n\n".join(walk_blocks()), encoding="utf-8")
    wrapper = (
        "set -euo pipefail\n"
        'curl() { command curl --write-out "%{stderr}HTTP %{http_code}\\n" "$@"; }\n'
        "source walk.sh\n"
    )
    walk = subprocess.run(  # noqa: S603
        ["/bin/bash", "-c", wrapper],  # noqa: S607
        env={**env, "API": base},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert walk.returncode == 0, walk.stderr[-2000:]
    statuses = [int(code) for code in re.findall(r"HTTP (\d{3})$", walk.stderr, flags=re.M)]
    # Every request answered; the one refusal is Ulla's, the outsider's, 404.
    assert len(statuses) >= 20
    assert sorted(code for code in statuses if code >= 400) == [404]
    assert set(statuses) <= {200, 201, 404}
    out = walk.stdout
    assert "HTTP/1.1 404" in out
    # In order: Olli sees one note, Hanna grants, he sees two, the receipt verifies, Hanna
    # withdraws, he sees one again; the handover is accepted and Anna is responsible.
    steps = [
        '"count":0,',  # Ulla's empty case list
        '"count":1,',  # Olli: his own note
        '"state":"active"',  # the grant
        '"count":2,',  # Olli, after the grant
        '"decision": "granted"',  # the receipt, verified
        "Receipt valid",
        '"state":"withdrawn"',  # the revocation
        '"count":1,',  # Olli, after it
        '"status":"accepted"',  # Anna accepts the handover
    ]
    position = 0
    for step in steps:
        found = out.find(step, position)
        assert found >= 0, f"{step!r} missing after position {position}"
        position = found + len(step)
    assert out.rstrip().endswith("}Anna Neuvola")  # the last answer: the new responsible worker
    receipt = (folder / "receipt.jws").read_text()
    assert receipt.count(".") == 2 and not receipt.startswith("{")


def test_dev_py_reset_forgets_the_demo_database_and_its_checkpoints(tmp_path):
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    assert spec and spec.loader
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    (tmp_path / "db.sqlite3").write_text("old demo")
    (tmp_path / "audit-checkpoints").mkdir(exist_ok=True)  # the autouse fixture may have made it
    (tmp_path / "audit-checkpoints" / "paijat-hame.jsonl").write_text("{}\n")
    (tmp_path / "README.md").write_text("kept")
    dev.reset(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    dev.reset(tmp_path)  # and again, with nothing to forget
