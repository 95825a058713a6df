"""Telegram: digests as HTML messages through python-telegram-bot 22's ``Bot``.

The channel receives its ``Bot`` (built by :func:`make_bot` with the token and, in tests, the
``base_url`` of a fake Bot API); it never reads settings. Long digests are split at 4,096
characters between lines (:func:`notifier.render.render_telegram`); the buttons go on the
last part. Every request waits for a slot of the shared :class:`~notifier.ratelimit.RateLimiter`.

How failures are sorted (healthchecks' ``PERMANENT_ERRORS``, PTB's error classes):

============================================  ==============================================
``ChatMigrated`` (group became a supergroup)  :class:`DeliveryError` with ``new_address``
``Forbidden`` (blocked, kicked, deactivated)  permanent: the address is disabled
``BadRequest`` "chat not found" and kin       permanent
``BadRequest`` "can't parse entities"         sent again once as plain text
``RetryAfter``                                transient, ``retry_after`` honoured; the
                                              limiter pauses every send of this bot
``TimedOut``, ``NetworkError``, other 4xx     transient
``InvalidToken`` / ``EndPointNotFound``       transient *and* logged as an error: a wrong
                                              token is our configuration, never a reason
                                              to disable every chief's address
============================================  ==============================================
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from notifier.base import (
    Delivery,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from notifier.ratelimit import RateLimited, RateLimiter, retry_after_seconds
from notifier.render import TELEGRAM_LIMIT, render_plain, render_telegram, split_lines

log = logging.getLogger("gongkai.telegram")

#: BadRequest descriptions that mean the chat is gone for good (lower-case fragments).
GONE_CHAT = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "group chat was deactivated",
    "chat_write_forbidden",
    "not enough rights to send",
    "have no rights to send",
    "need administrator rights",
    "bot is not a member",
)
#: Buttons per keyboard row (label lengths suit two per row on a phone).
BUTTONS_PER_ROW = 2


def make_bot(
    token: str,
    *,
    base_url: str | None = None,
    timeout: float = 10.0,
    pool_size: int = 64,
) -> Bot:
    """A ``Bot`` for ``token``; ``base_url`` points at another Bot API server (tests, a proxy).

    ``base_url`` follows PTB: ``"http://127.0.0.1:8081/bot"`` gets the token appended.
    """
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
    )
    if base_url:
        return Bot(token, base_url=base_url, request=request)
    return Bot(token, request=request)


def chat_id_of(address: str) -> int | str:
    """A chat address as the Bot API wants it: an integer id, or ``@channelname``."""
    text = address.strip()
    try:
        return int(text)
    except ValueError:
        if text.startswith("@") and len(text) > 1:
            return text
    raise PermanentDeliveryError(f"not a Telegram chat id: {address!r}")


def keyboard(message: Message) -> InlineKeyboardMarkup | None:
    """The message's actions as an inline keyboard (callback data ≤ 64 bytes each)."""
    buttons = [
        InlineKeyboardButton(label, callback_data=data)
        for label, data in message.actions
        if len(data.encode()) <= 64
    ]
    if not buttons:
        return None
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def classify(exc: TelegramError) -> DeliveryError:
    """Map a PTB error to a delivery error (see the module docstring's table)."""
    if isinstance(exc, ChatMigrated):
        return DeliveryError(
            f"group migrated to supergroup {exc.new_chat_id}", new_address=str(exc.new_chat_id)
        )
    if isinstance(exc, RetryAfter):
        seconds = retry_after_seconds(exc)
        return TransientDeliveryError(
            f"Telegram flood control: retry in {seconds:g} s", retry_after=seconds
        )
    if isinstance(exc, InvalidToken | EndPointNotFound | Conflict):
        log.error("Telegram refused the bot itself (%s): check the bot token", exc.message)
        return TransientDeliveryError(f"Telegram refused the bot token: {exc.message}")
    if isinstance(exc, Forbidden):
        return PermanentDeliveryError(exc.message)
    if isinstance(exc, BadRequest):
        text = exc.message.lower()
        if any(fragment in text for fragment in GONE_CHAT):
            return PermanentDeliveryError(exc.message)
        return TransientDeliveryError(f"Telegram rejected the message: {exc.message}")
    if isinstance(exc, TimedOut):
        return TransientDeliveryError(f"Telegram timed out: {exc.message}")
    if isinstance(exc, NetworkError):
        return TransientDeliveryError(f"network error talking to Telegram: {exc.message}")
    return TransientDeliveryError(f"Telegram error: {exc.message}")


class _HtmlRefused(Exception):
    """Telegram could not parse the HTML of a part."""


class TelegramChannel:
    """Sends messages to Telegram chats (private chats, groups, ``@channels``)."""

    kind = "telegram"

    def __init__(
        self,
        bot: Bot,
        *,
        limiter: RateLimiter | None = None,
        max_wait: float | None = 60.0,
        limit: int = TELEGRAM_LIMIT,
    ) -> None:
        self.bot = bot
        self.limiter = limiter if limiter is not None else RateLimiter()
        #: Fail with a transient error (and ``retry_after``) instead of waiting longer.
        self.max_wait = max_wait
        self.limit = limit
        self._ready = False
        self._starting = asyncio.Lock()

    async def _ensure_ready(self) -> None:
        if self._ready:
            return
        async with self._starting:  # many sends start at once; one getMe is enough
            if self._ready:
                return
            try:
                await self.bot.initialize()
            except TelegramError as exc:
                raise classify(exc) from exc
            self._ready = True

    async def aclose(self) -> None:
        if self._ready:
            await self.bot.shutdown()
            self._ready = False
        else:
            # A bot whose getMe failed is not "initialised" for PTB, whose shutdown() then
            # does nothing; its HTTP client may still hold a connection.
            await self.bot.request.shutdown()

    async def send(self, address: str, message: Message) -> Delivery:
        chat = chat_id_of(address)
        await self._ensure_ready()
        markup = keyboard(message)
        parts = render_telegram(message, limit=self.limit)
        try:
            last_id = await self._send_parts(chat, parts, markup, html=True)
        except _HtmlRefused as exc:
            # Our HTML was refused (a rendering bug): the reminder matters more than its
            # formatting, so the message goes out once more as plain text.
            log.error("Telegram refused our HTML (%s); sending plain text instead", exc)
            parts = split_lines(render_plain(message).split("\n"), self.limit)
            last_id = await self._send_parts(chat, parts, markup, html=False)
        return Delivery(
            channel=self.kind,
            address=address,
            detail=f"{len(parts)} parts" if len(parts) > 1 else "",
            external_id=str(last_id),
        )

    async def _send_parts(
        self,
        chat: int | str,
        parts: list[str],
        markup: InlineKeyboardMarkup | None,
        *,
        html: bool,
    ) -> int:
        last_id = 0
        for index, part in enumerate(parts):
            await self._slot(chat)
            try:
                sent = await self.bot.send_message(
                    chat_id=chat,
                    text=part,
                    parse_mode=ParseMode.HTML if html else None,
                    reply_markup=markup if index == len(parts) - 1 else None,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as exc:
                if html and "can't parse entities" in exc.message.lower():
                    raise _HtmlRefused(exc.message) from exc
                raise self._failed(exc, chat) from exc
            except TelegramError as exc:
                raise self._failed(exc, chat) from exc
            last_id = sent.message_id
        return last_id

    async def _slot(self, chat: int | str) -> None:
        try:
            await self.limiter.acquire(chat, max_wait=self.max_wait)
        except RateLimited as exc:
            raise TransientDeliveryError(str(exc), retry_after=exc.wait) from exc

    def _failed(self, exc: TelegramError, chat: int | str) -> DeliveryError:
        error = classify(exc)
        if isinstance(exc, RetryAfter) and error.retry_after:
            self.limiter.pause(error.retry_after)
        if error.permanent or error.new_address:
            self.limiter.forget(chat)
        return error
