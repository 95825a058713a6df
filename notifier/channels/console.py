"""The console channel: logs the message. The outbox and delivery tables keep the record
the dashboard shows, so this channel is enough to run gongkai without any chat tool."""

from __future__ import annotations

import logging
from collections import deque

from notifier.base import Delivery, Message
from notifier.render import render_plain

log = logging.getLogger("gongkai.console")


class ConsoleChannel:
    kind = "console"

    def __init__(self) -> None:
        #: The latest messages, for tests and the demo (bounded: serve runs for months).
        self.sent: deque[tuple[str, Message]] = deque(maxlen=1000)

    async def send(self, address: str, message: Message) -> Delivery:
        log.info("to %s:\n%s", address, render_plain(message))
        self.sent.append((address, message))
        return Delivery(channel=self.kind, address=address)
