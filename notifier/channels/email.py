"""E-mail over SMTP: the digest as text and HTML (``multipart/alternative``).

smtplib is synchronous; each message is sent in a worker thread so the event loop keeps
serving the bot and the dashboard. One connection per message: digests go out once a day,
so a pooled connection would mostly sit idle and time out.

How failures are sorted (by SMTP reply code):

- the recipient refused with 5xx (550 no such mailbox, 553 bad address …), or an address
  that is not an address at all → permanent: the address is disabled, the office told;
- 4xx (greylisting, mailbox full, try later), timeouts, refused connections → transient;
- authentication or sender refusals → transient *and* logged as an error: they are our
  configuration, never a reason to disable a recipient.
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from notifier.base import (
    Delivery,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from notifier.render import render_email

log = logging.getLogger("gongkai.email")

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def build_email(
    message: Message, *, sender: str, recipient: str, when: float | None = None
) -> EmailMessage:
    """The MIME message for ``message`` (pure apart from the Message-ID's randomness)."""
    subject, text, html = render_email(message)
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = recipient
    mail["Date"] = formatdate(when, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "gongkai.local")
    if message.urgent:
        mail["X-Priority"] = "1"
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


def classify(exc: Exception) -> DeliveryError:
    """Map an smtplib / socket error to a delivery error."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values()
        )
        if codes and all(code >= 500 for code in codes):
            return PermanentDeliveryError(f"recipient refused: {detail}")
        return TransientDeliveryError(f"recipient deferred: {detail}")
    if isinstance(exc, smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused):
        log.error("the SMTP server refused our login or sender: %s", exc)
        return TransientDeliveryError(f"SMTP refused our login or sender: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        if 500 <= exc.smtp_code < 600 and isinstance(exc, smtplib.SMTPDataError):
            # The message itself was refused (content policy, size): not the address's fault.
            return TransientDeliveryError(f"SMTP refused the message: {exc.smtp_code} {reply}")
        return TransientDeliveryError(f"SMTP error {exc.smtp_code} {reply}")
    if isinstance(exc, TimeoutError | smtplib.SMTPServerDisconnected | ConnectionError | OSError):
        return TransientDeliveryError(f"SMTP server unreachable: {type(exc).__name__}: {exc}")
    return TransientDeliveryError(f"SMTP error: {type(exc).__name__}: {exc}")


class EmailChannel:
    """Sends digests by SMTP (plain, STARTTLS or implicit TLS, optional login)."""

    kind = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str = "gongkai@localhost",
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 15.0,
        local_hostname: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout
        #: The EHLO name; None lets smtplib use this machine's FQDN (a DNS lookup).
        self.local_hostname = local_hostname
        #: For the Date header only (a transport detail, like a signature's timestamp).
        self.clock = clock

    async def send(self, address: str, message: Message) -> Delivery:
        recipient = address.strip()
        if not _ADDRESS.match(recipient):
            raise PermanentDeliveryError(f"not an e-mail address: {address!r}")
        mail = build_email(message, sender=self.sender, recipient=recipient, when=self.clock())
        try:
            await asyncio.to_thread(self._send_sync, mail, recipient)
        except DeliveryError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return Delivery(channel=self.kind, address=address, external_id=str(mail["Message-ID"]))

    def _send_sync(self, mail: EmailMessage, recipient: str) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=context,
            )
        else:
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        with smtp:
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.user and self.password:
                smtp.login(self.user, self.password)
            smtp.send_message(mail, from_addr=self.sender, to_addrs=[recipient])
