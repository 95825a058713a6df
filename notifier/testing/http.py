"""A small HTTP/1.1 server on loopback for the fake services (no web framework needed).

It speaks just enough HTTP for httpx and python-telegram-bot: request line, headers, a body
of ``Content-Length`` bytes, keep-alive, JSON or form-encoded bodies (PTB posts
``application/x-www-form-urlencoded``; reference/prefect-telegram-scheduler.md §4). It runs
on the caller's event loop, so a test starts it, talks to it and stops it inside one
``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("gongkai.testing.http")

MAX_BODY = 10 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""

    def json(self) -> Any:
        return json.loads(self.body.decode() or "null")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def params(self) -> dict[str, Any]:
        """Query, form or JSON parameters merged (the Bot API accepts all three)."""
        merged: dict[str, Any] = dict(self.query)
        kind = self.headers.get("content-type", "")
        if "json" in kind and self.body:
            data = self.json()
            if isinstance(data, dict):
                merged.update(data)
        elif self.body:
            merged.update(self.form())
        return merged


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status=status,
            body=json.dumps(data, ensure_ascii=False).encode(),
            headers={"content-type": "application/json; charset=utf-8", **(headers or {})},
        )


Handler = Callable[[Request], Awaitable[Response]]


class LoopbackServer:
    """Serves ``handler`` on 127.0.0.1 (port 0: any free port) until stopped."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Closing the sockets ends each connection's loop on its own; cancelling the tasks
        # instead would make asyncio's stream callback log the CancelledError as an error.
        for writer in self._connections.values():
            writer.close()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        await asyncio.sleep(0)  # let the closed transports run their connection_lost
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        self._server = None

    async def __aenter__(self) -> LoopbackServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    break
                try:
                    response = await self._handler(request)
                except Exception:  # a bug in a fake must show up as a 500, not a hang
                    log.exception("fake server handler failed for %s", request.path)
                    response = Response.json({"ok": False, "description": "fake server error"}, 500)
                await self._write(writer, response)
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._connections.pop(task, None)
            # No wait_closed(): a stopping server must not wait for a client to hang up.
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        line = await reader.readline()
        if not line:
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(min(length, MAX_BODY)) if length else b""
        parts = urlsplit(target)
        return Request(
            method=method.upper(),
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            raw_query=parts.query,
        )

    async def _write(self, writer: asyncio.StreamWriter, response: Response) -> None:
        reason = _REASONS.get(response.status, "Unknown")
        head = [f"HTTP/1.1 {response.status} {reason}", f"content-length: {len(response.body)}"]
        head.extend(f"{name}: {value}" for name, value in response.headers.items())
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
        await writer.drain()
