#!/usr/bin/env python3
"""Set up and run Koordinointi with nothing but Python 3.11 and pip.

python3 dev.py serve   # venv, install, migrate, demo data, serve on http://127.0.0.1:8000
python3 dev.py test    # venv, install, run the whole test suite (extra args go to pytest)

python3 dev.py serve --reset       # throw the demo database away first: a fresh demo
python3 dev.py serve --port 8001   # another port (links in mails and calendars follow it)
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True)  # noqa: S603 - our own fixed commands


def install(extras: str) -> None:
    """Create the venv and install the project, skipping pip when pyproject.toml is unchanged."""
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", str(VENV))
        run(str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{digest[:16]}"
    if not stamp.exists():
        target = f".[{extras}]" if extras else "."
        run(str(PYTHON), "-m", "pip", "install", "--quiet", "--editable", target)
        stamp.touch()


def reset(root: Path = ROOT) -> None:
    """Forget the demo: its SQLite database and the checkpoint copies that belong to it."""
    (root / "db.sqlite3").unlink(missing_ok=True)
    shutil.rmtree(root / "audit-checkpoints", ignore_errors=True)


def serve(args: list[str]) -> None:
    port = "8000"
    if "--port" in args:
        port = args[args.index("--port") + 1]
    if "--reset" in args:
        reset()
    install("")
    if not (ROOT / "db.sqlite3").exists():
        # Checkpoint copies of an earlier database would (rightly) fail verification.
        shutil.rmtree(ROOT / "audit-checkpoints", ignore_errors=True)
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    # verify_audit fails without the external checkpoint folder: the demo has one from the start.
    (ROOT / "audit-checkpoints").mkdir(exist_ok=True)
    run(str(PYTHON), "manage.py", "migrate", "--no-input")
    run(str(PYTHON), "manage.py", "seed_demo")
    run(str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}")


def test(pytest_args: list[str]) -> None:
    install("test")
    # On every core (pytest-xdist), a test module to a worker: modules share their expensive
    # fixtures (the seeded demo). `-n 0` (or any -n / -p no:xdist given) runs as asked.
    asked = any(
        a.startswith(("-n", "--numprocesses")) or a.endswith("no:xdist") for a in pytest_args
    )
    extra = [] if asked else ["-n", "auto", "--dist", "loadfile"]
    run(str(PYTHON), "-m", "pytest", *extra, *pytest_args)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test"}:
        sys.exit(__doc__)
    try:
        if sys.argv[1] == "serve":
            serve(sys.argv[2:])
        else:
            test(sys.argv[2:])
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
