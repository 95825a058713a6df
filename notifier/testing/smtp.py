"""A local SMTP server (aiosmtpd) that keeps what it receives, on the caller's event loop.

``refuse`` makes RCPT TO answer ``550`` for an address (no such mailbox: permanent),
``defer`` answers ``450`` (try later: transient). aiosmtpd is a test dependency; it is
imported when a sink is created, so importing :mod:`notifier.testing` does not need it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any


@dataclass
class Mail:
    """One message as the server received it."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        """The ``text/plain`` or ``text/html`` body."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                return str(part.get_content())
        return ""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.sink.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if address in self.sink.defer:
            return f"450 4.2.1 <{address}>: mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.sink.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpSink:
    """``async with SmtpSink() as smtp:`` then send to ``smtp.host``/``smtp.port``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.mails: list[Mail] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()
        self._server: asyncio.Server | None = None

    def to(self, address: str) -> list[Mail]:
        return [mail for mail in self.mails if address in mail.recipients]

    async def start(self) -> SmtpSink:
        from aiosmtpd.smtp import SMTP

        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self._server = await loop.create_server(
            # hostname given: aiosmtpd would otherwise look up this machine's FQDN.
            lambda: SMTP(handler, hostname="localhost", loop=loop),
            host=self.host,
            port=self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmtpSink:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
