#!/usr/bin/env python3
"""Developer entry point for gongkai: set up, lint, test, serve and benchmark.

Runs with nothing but the standard library of Python 3.11 or newer, so a fresh machine
needs only ``python3``::

    python3 dev.py setup            # .venv + editable install with the dev extras
    python3 dev.py lint             # ruff check, ruff format --check, mypy, lint-imports
    python3 dev.py test [ARGS...]   # setup, lint, then pytest with coverage (ARGS go to pytest)
    python3 dev.py serve [ARGS...]  # setup, then `gongkai serve ARGS`
    python3 dev.py bench            # every benchmarks/bench_*.py with the venv's python
    python3 dev.py fmt              # ruff format + ruff check --fix (rewrites files)

``.ci/run`` calls ``python3 dev.py test`` with ``CI=true``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
STAMP = VENV / ".gongkai-install-stamp"
# Bump when the install recipe below changes, so existing environments are reinstalled.
INSTALL_RECIPE = "1"

# Debian packages beyond Python, installed when apt-get exists and we are root.
# The service: a CJK font so report charts (matplotlib) can draw Chinese labels.
APT_PACKAGES: list[str] = ["fonts-noto-cjk"]
# The tests only: Chromium for the browser tests in tests/e2e (Playwright drives it).
TEST_APT_PACKAGES: list[str] = ["chromium"]

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_WAIT_SECONDS = 30.0
PYTEST_NO_TESTS_COLLECTED = 5
MIN_PYTHON = (3, 11)


class DevError(Exception):
    """A development step failed."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --- output ------------------------------------------------------------------------------


def step(message: str) -> None:
    """Print one progress line."""
    print(f"==> {message}", flush=True)


def note(message: str) -> None:
    """Print a remark that is not a step."""
    print(f"    {message}", flush=True)


# --- processes ---------------------------------------------------------------------------


def venv_env() -> dict[str, str]:
    """The environment with the venv activated (its bin first on PATH)."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return env


def run(cmd: Sequence[str | Path], *, env: dict[str, str] | None = None) -> int:
    """Run a command in the repository root and return its exit code."""
    args = [str(part) for part in cmd]
    return subprocess.call(args, cwd=ROOT, env=env if env is not None else venv_env())


def run_or_fail(label: str, cmd: Sequence[str | Path]) -> None:
    """Run one named step; raise DevError with its exit code when it fails."""
    step(label)
    started = time.monotonic()
    code = run(cmd)
    elapsed = time.monotonic() - started
    if code != 0:
        raise DevError(f"{label} failed (exit code {code}, {elapsed:.1f} s)", code)
    note(f"ok ({elapsed:.1f} s)")


# --- setup -------------------------------------------------------------------------------


def ensure_apt(packages: Sequence[str]) -> None:
    """Install missing Debian packages with apt-get; needs root and apt-get.

    Runs `apt-get update` at most once per call and only when something is missing.
    Does nothing for an empty list, or (with a note) when not root or without apt-get.
    """
    if not packages:
        return
    missing = [name for name in packages if not _dpkg_installed(name)]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        note(f"cannot install {' '.join(missing)}: needs apt-get and root; install them by hand")
        return
    apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    step("apt-get update")
    if run(["apt-get", "update"], env=apt_env) != 0:
        raise DevError("apt-get update failed")
    step(f"apt-get install {' '.join(missing)}")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if run(install, env=apt_env) != 0:
        raise DevError(f"apt-get install {' '.join(missing)} failed")


def _dpkg_installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    # "install ok installed"; "install ok not-installed" or "deinstall ok config-files" are not.
    return result.returncode == 0 and result.stdout.split()[-1:] == ["installed"]


def install_fingerprint() -> str:
    """What the installed environment depends on: pyproject.toml, the recipe, the Python."""
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(f"\0recipe={INSTALL_RECIPE}\0python={sys.version_info[:3]}".encode())
    return digest.hexdigest()


def setup() -> None:
    """Create .venv if missing and (re)install the project when pyproject.toml changed."""
    if sys.version_info < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        raise DevError(f"Python {wanted} or newer is needed, this is {sys.version.split()[0]}")
    ensure_apt(APT_PACKAGES)
    if not VENV_PYTHON.exists():
        step(f"creating virtual environment {VENV.relative_to(ROOT)}/")
        if run([sys.executable, "-m", "venv", VENV], env=dict(os.environ)) != 0:
            raise DevError(
                "python3 -m venv failed; on Debian install the venv module first: "
                "apt-get install python3-venv"
            )
    fingerprint = install_fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        step("environment up to date (pyproject.toml unchanged)")
        return
    pip: list[str | Path] = [VENV_PYTHON, "-m", "pip", "--disable-pip-version-check"]
    step("upgrading pip")
    if run([*pip, "install", "--quiet", "--upgrade", "pip"]) != 0:
        raise DevError("upgrading pip failed")
    step("installing gongkai with the dev extras: pip install -e '.[dev]'")
    if run([*pip, "install", "--quiet", "-e", ".[dev]"]) != 0:
        raise DevError("pip install -e '.[dev]' failed")
    STAMP.write_text(fingerprint + "\n")
    step("environment ready")


# --- lint and test -----------------------------------------------------------------------


def lint() -> None:
    """ruff check, ruff format --check, mypy (config in pyproject.toml), lint-imports."""
    run_or_fail("ruff check", [VENV_BIN / "ruff", "check", "."])
    run_or_fail("ruff format --check", [VENV_BIN / "ruff", "format", "--check", "."])
    run_or_fail("mypy", [VENV_BIN / "mypy"])
    run_or_fail("lint-imports", [VENV_BIN / "lint-imports", "--no-logo"])


def postgres_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_ci_postgres() -> None:
    """Under CI=true make sure the PostgreSQL tests run: set the URL, start the server."""
    url = os.environ.setdefault("GONGKAI_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    step(f"CI: PostgreSQL tests use {host}:{port}")
    if postgres_reachable(host, port):
        note("PostgreSQL is reachable")
        return
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise DevError(f"PostgreSQL at {host}:{port} is not reachable")
    start_local_postgres()
    deadline = time.monotonic() + POSTGRES_WAIT_SECONDS
    while time.monotonic() < deadline:
        if postgres_reachable(host, port):
            note("PostgreSQL is reachable")
            return
        time.sleep(0.5)
    raise DevError(
        f"PostgreSQL at {host}:{port} is still not reachable after {POSTGRES_WAIT_SECONDS:.0f} s"
    )


def start_local_postgres() -> None:
    """Start the local Debian cluster(s) named 'main' with pg_ctlcluster."""
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not clusters.is_dir():
        raise DevError("PostgreSQL is not reachable and pg_ctlcluster is not available")
    for version in sorted(path.name for path in clusters.iterdir() if path.is_dir()):
        step(f"starting PostgreSQL {version}/main")
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
        code = run(cmd, env=dict(os.environ))
        if code != 0:
            note(f"pg_ctlcluster exited with {code}; waiting for the server anyway")


def pytest(args: Sequence[str]) -> None:
    """Run pytest with coverage; exit code 5 (no tests collected) counts as a failure."""
    cmd: list[str | Path] = [VENV_PYTHON, "-m", "pytest", "--cov", "--cov-report=term-missing"]
    if args:
        # A subset of the suite cannot meet the coverage floor; only the full run enforces it.
        cmd.append("--cov-fail-under=0")
    cmd.extend(args)
    step("pytest " + " ".join(args))
    code = run(cmd)
    if code == PYTEST_NO_TESTS_COLLECTED:
        raise DevError("pytest ran no tests (exit code 5); that is a failure here", code)
    if code != 0:
        raise DevError(f"pytest failed (exit code {code})", code)


def test(args: Sequence[str]) -> None:
    """setup, lint, then pytest; stop at the first failure."""
    ensure_apt(TEST_APT_PACKAGES)
    setup()
    if os.environ.get("CI") == "true":
        ensure_ci_postgres()
    lint()
    pytest(args)
    step("all checks passed")


# --- serve and bench ---------------------------------------------------------------------


def serve(args: Sequence[str]) -> int:
    """setup, then `gongkai serve ARGS` (replacing this process, so Ctrl-C reaches it).

    `python3 dev.py serve --demo` is the README's first command: on the first start it
    simulates this year for the demo organisation, then serves the dashboard on it.
    """
    setup()
    gongkai = VENV_BIN / "gongkai"
    if not gongkai.exists():
        raise DevError(f"{gongkai.relative_to(ROOT)} is missing; run `python3 dev.py setup`")
    step("gongkai serve " + " ".join(args))
    os.chdir(ROOT)
    os.execve(gongkai, [str(gongkai), "serve", *args], venv_env())


def bench() -> int:
    """Run every benchmarks/bench_*.py with the venv's python; non-zero if any failed."""
    setup()
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if not scripts:
        note("no benchmarks/bench_*.py found")
        return 0
    failed: list[str] = []
    for script in scripts:
        name = str(script.relative_to(ROOT))
        step(name)
        if run([VENV_PYTHON, script]) != 0:
            failed.append(name)
    if failed:
        raise DevError("failed: " + ", ".join(failed))
    return 0


def fmt() -> int:
    """Rewrite files: ruff format, then ruff check --fix."""
    setup()
    run_or_fail("ruff format", [VENV_BIN / "ruff", "format", "."])
    run_or_fail("ruff check --fix", [VENV_BIN / "ruff", "check", "--fix", "."])
    return 0


# --- command line ------------------------------------------------------------------------


# Commands whose remaining arguments go unchanged to another program (pytest, gongkai serve);
# argparse would try to read options such as `-k` or `--demo` itself.
PASS_THROUGH = ("test", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dev.py",
        description="gongkai developer tasks (stdlib only; creates and uses .venv).",
        epilog="Arguments after `test` go to pytest, arguments after `serve` to gongkai serve.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("setup", help="create .venv and install gongkai[dev] when needed")
    commands.add_parser("lint", help="ruff check, ruff format --check, mypy, lint-imports")
    commands.add_parser("test", help="setup, lint, then pytest with coverage [pytest args]")
    commands.add_parser("serve", help="setup, then gongkai serve [args]")
    commands.add_parser("bench", help="run benchmarks/bench_*.py")
    commands.add_parser("fmt", help="ruff format and ruff check --fix (rewrites files)")
    return parser


def parse(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The command and the arguments passed through to it."""
    if argv and argv[0] in PASS_THROUGH:
        return argv[0], list(argv[1:])
    command: str = build_parser().parse_args(argv).command
    return command, []


def main(argv: Sequence[str] | None = None) -> int:
    command, extra = parse(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(command, extra)
    except DevError as error:
        print(f"dev.py: {error}", file=sys.stderr, flush=True)
        return error.code
    except KeyboardInterrupt:
        return 130


def dispatch(command: str, extra: list[str]) -> int:
    if command == "setup":
        setup()
        return 0
    if command == "lint":
        setup()
        lint()
        return 0
    if command == "test":
        test(extra)
        return 0
    if command == "serve":
        return serve(extra)
    if command == "bench":
        return bench()
    if command == "fmt":
        return fmt()
    raise DevError(f"unknown command {command!r}", 2)


if __name__ == "__main__":
    sys.exit(main())
