"""The one interface every channel implements, and the errors it may raise.

A channel sends one :class:`Message` to one address and returns a :class:`Delivery`; it
raises :class:`PermanentDeliveryError` when retrying cannot help (blocked bot, chat not
found, bad webhook key — the address gets disabled and the office told) and
:class:`TransientDeliveryError` when it can (timeouts, 429 with ``retry_after``, 5xx).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


class DeliveryError(Exception):
    """A message could not be delivered."""

    permanent: bool = False

    def __init__(
        self, message: str, *, retry_after: float | None = None, new_address: str | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: The address moved (a Telegram group migrated to a supergroup): resend there.
        self.new_address = new_address


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help; the address should be disabled."""

    permanent = True


class TransientDeliveryError(DeliveryError):
    """Try again later (after ``retry_after`` seconds when given)."""


@dataclass(frozen=True)
class DigestItem:
    """One task in a digest, with what the recipient needs to act on it."""

    task_id: int
    title: str
    section: str
    obligation: str
    due_at: dt.datetime
    due_date: dt.date
    #: due_soon | due_today | overdue | escalation
    state: str
    #: working days left (due_soon/due_today) or overdue (overdue/escalation); hours for hour duties
    days: int
    hourly: bool = False
    provisional: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Message:
    """What to tell one person: a digest of tasks, or a plain notice (``items`` empty)."""

    recipient: str
    title: str
    items: tuple[DigestItem, ...] = ()
    notice: str | None = None
    lang: str = "zh"
    urgent: bool = False
    link: str | None = None
    #: Buttons the channel may offer (Telegram inline keyboard): (label, callback data).
    actions: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Delivery:
    """The outcome of a successful send."""

    channel: str
    address: str
    detail: str = ""
    #: The channel's own message id, where it has one.
    external_id: str | None = None


class Channel(Protocol):
    """Sends a message to one address of its kind."""

    kind: str

    async def send(self, address: str, message: Message) -> Delivery: ...
