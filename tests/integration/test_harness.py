"""The test harness itself: the loopback-only network guard, tier markers, PostgreSQL URL.

The refusal tests replace the guard's ``real_*`` functions with ones that fail the test, so
even a broken guard never lets a packet leave the machine.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]

# Documentation addresses (RFC 5737 / RFC 3849) and a name that needs DNS.
REMOTE_ADDRESSES = [
    ("192.0.2.1", 80),
    ("198.51.100.7", 5432),
    ("2001:db8::1", 443),
    ("::ffff:192.0.2.1", 80),
    ("0.0.0.0", 80),
    ("example.invalid", 443),
]


@pytest.fixture
def unreachable_real_socket(network_guard: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The guard with its wrapped socket functions replaced by ones that fail the test."""

    def never(*args: object, **kwargs: object) -> Any:
        pytest.fail(f"the guard let a call through to the real socket: {args!r}")

    for name in ("real_connect", "real_connect_ex", "real_create_connection", "real_getaddrinfo"):
        monkeypatch.setattr(network_guard, name, never)
    return network_guard


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, int]]:
    """A TCP server on 127.0.0.1 that answers every connection with b"ok"."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"ok")

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.server_address[:2]
        yield str(host), int(port)
        server.shutdown()
        thread.join(timeout=5)


def _connect_create_connection(address: tuple[str, int]) -> None:
    socket.create_connection(address, timeout=1)


def _connect_socket(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect(address)


def _connect_ex_socket(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect_ex(address)


CONNECTORS: list[Callable[[tuple[str, int]], None]] = [
    _connect_create_connection,
    _connect_socket,
    _connect_ex_socket,
]


@pytest.mark.parametrize("connect", CONNECTORS, ids=lambda f: f.__name__.removeprefix("_"))
@pytest.mark.parametrize("address", REMOTE_ADDRESSES, ids=lambda a: a[0])
def test_guard_refuses_non_loopback(
    unreachable_real_socket: Any,
    connect: Callable[[tuple[str, int]], None],
    address: tuple[str, int],
) -> None:
    with pytest.raises(RuntimeError, match="only loopback is allowed"):
        connect(address)
    assert unreachable_real_socket.attempts
    unreachable_real_socket.attempts.clear()  # refused on purpose


def test_guard_refuses_dns_lookups(unreachable_real_socket: Any) -> None:
    with pytest.raises(RuntimeError, match="only loopback is allowed"):
        socket.getaddrinfo("example.invalid", 443)
    unreachable_real_socket.attempts.clear()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_guard_allows_loopback(loopback_server: tuple[str, int], host: str) -> None:
    with socket.create_connection((host, loopback_server[1]), timeout=5) as sock:
        assert sock.recv(2) == b"ok"


def test_guard_allows_unix_sockets(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)


def test_guard_fails_a_test_that_swallows_the_refusal(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((TESTS_DIR / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        """
        import socket

        def test_swallows():
            try:
                socket.create_connection(("192.0.2.1", 80), timeout=1)
            except Exception:
                pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*tried to reach the network beyond loopback*192.0.2.1*"])


def test_tier_marker_is_applied(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("integration") is not None
    assert request.node.get_closest_marker("unit") is None


@pytest.mark.postgres
def test_postgres_url_works_with_sqlalchemy(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()
