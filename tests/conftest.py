"""Fixtures shared by every test tier.

- Hypothesis profile ``ci`` (loaded under ``CI=true``): no deadline, reproduction blobs.
- ``postgres_url``: the PostgreSQL URL for tests marked ``postgres``; skipped when the server
  is unreachable, a failure under ``CI=true``.
- ``dashboard_support``: tests/integration/dashboard_support.py registered as a module, so
  the dashboard, API and browser tests ``import dashboard_support as support`` (tests/ is
  not a package: pytest's importlib mode).
- ``network_guard`` (autouse): any connection to an address other than loopback or a unix
  socket, and any DNS lookup, fails the test (STYLE.md 7). Tests talk to real servers on
  127.0.0.1 / ::1 only.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 2

# Prefect's server reports usage to its vendor unless told not to; tests never reach out.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# python-telegram-bot 22 warns (an error here) unless durations are timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "true")


def _register_dashboard_support() -> None:
    name = "dashboard_support"
    if name in sys.modules:
        return
    path = os.path.join(os.path.dirname(__file__), "integration", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_register_dashboard_support()


def running_in_ci() -> bool:
    return os.environ.get("CI") == "true"


# CI runs on 2 shared cores: no per-example deadline there, so property tests cannot flake
# on timing; a failure prints the blob that reproduces it.
settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
if running_in_ci():
    settings.load_profile("ci")


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the test database (GONGKAI_TEST_POSTGRES_URL).

    Skips the test when the server does not answer within 2 s; under CI=true that is a
    failure instead, so the PostgreSQL tests cannot silently disappear from CI.
    """
    url = os.environ.get("GONGKAI_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    problem = postgres_problem(url)
    if problem is None:
        return url
    message = f"PostgreSQL not reachable at {url}: {problem}"
    if running_in_ci():
        pytest.fail(message + " (CI=true: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message)


def postgres_problem(url: str) -> str | None:
    """None when a connection succeeds, else the reason it did not."""
    import psycopg  # imported here so that collecting the unit tests stays fast

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(conninfo, connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS):
            return None
    except psycopg.Error as error:
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__


# --- no network beyond loopback ----------------------------------------------------------

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class NetworkAccessError(RuntimeError):
    """A test tried to reach an address other than loopback."""


def _host_text(host: object) -> str | None:
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode(errors="replace")
    if not isinstance(host, str):
        return None
    return host.strip("[]").split("%", 1)[0]  # bracketed IPv6, zone index


def is_local_address(address: object) -> bool:
    """Whether a socket address stays on this machine (loopback or a unix socket path).

    Host names other than ``localhost`` count as remote: resolving them would already
    send a DNS query.
    """
    if isinstance(address, str | bytes | bytearray | os.PathLike):
        return True  # AF_UNIX path (or abstract socket name)
    if not isinstance(address, tuple) or not address:
        return False
    host = _host_text(address[0])
    if host is None:
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def resolves_without_dns(host: object) -> bool:
    """Whether getaddrinfo(host) answers without a DNS query: a wildcard, a number, localhost."""
    if host in (None, "", b""):
        return True
    name = _host_text(host)
    if name is None:
        return False
    if name.lower() in _LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class NetworkGuard:
    """Wraps socket connect and name resolution so that only loopback can be reached.

    A refusal raises NetworkAccessError (not an OSError, so retry loops do not swallow it
    as a network hiccup) and is recorded in ``attempts``; the fixture fails the test at
    teardown when any attempt was recorded, even if library code caught the exception.
    ``real_*`` hold the wrapped functions, so a test of the guard can replace them.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.real_connect = socket.socket.connect
        self.real_connect_ex = socket.socket.connect_ex
        self.real_create_connection = socket.create_connection
        self.real_getaddrinfo = socket.getaddrinfo

    def refuse(self, address: object) -> NoReturn:
        self.attempts.append(repr(address))
        raise NetworkAccessError(f"test tried to reach {address!r}; only loopback is allowed")

    def check_socket(self, sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local_address(address):
            self.refuse(address)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        guard = self

        def connect(self: socket.socket, address: Any) -> None:
            guard.check_socket(self, address)
            guard.real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            guard.check_socket(self, address)
            return guard.real_connect_ex(self, address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            if not is_local_address(address):
                guard.refuse(address)
            return guard.real_create_connection(address, *args, **kwargs)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not resolves_without_dns(host):
                guard.refuse(host)
            return guard.real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Every test: connections beyond loopback fail the test (STYLE.md 7).

    A test that checks a refusal on purpose clears ``network_guard.attempts`` afterwards.
    """
    guard = NetworkGuard()
    guard.install(monkeypatch)
    yield guard
    if guard.attempts:
        pytest.fail(
            "test tried to reach the network beyond loopback: " + ", ".join(guard.attempts),
            pytrace=False,
        )
