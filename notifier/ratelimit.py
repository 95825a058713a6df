"""Pacing of outgoing chat messages: Telegram's ~30 messages/s per bot and 1/s per chat.

:class:`RateLimiter` hands out send slots. Every slot is *reserved* in call order (FIFO) and
the caller sleeps until its slot comes, so thousands of waiting senders cost one timer each
instead of waking up together. Three rules decide a slot:

- overall: slots are spaced ``1 / rate`` seconds apart, and no window of 1.05 seconds holds
  more than ``rate`` slots: the spacing alone is beaten when one request leaves late (a new
  connection, a busy loop) and the next on time, and the server counts arrivals;
- per chat: one slot per ``per_chat`` seconds for a private chat, ``per_group`` seconds for
  a group (negative chat id; Telegram allows ~20 messages a minute there); both carry a 5 %
  margin over Telegram's figures because the server measures arrival, not departure;
- pause: after a 429 ``retry_after`` nothing is sent until the pause ends (flood control is
  per bot token, not per chat).

Limits hold per process and per token: run one sender per bot token (DESIGN.md). Time comes
from an injected monotonic ``clock`` and ``sleep`` so tests and benchmarks can drive it.

:class:`PTBRateLimiter` plugs the same limiter into python-telegram-bot's ``Application``
so that the interactive bot's replies and the digests share one budget.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

#: Telegram Bot FAQ: "avoid sending more than one message per second" to a chat, and
#: "no more than 20 messages per minute" to a group; +5 % for arrival jitter.
PER_CHAT_SECONDS = 1.05
PER_GROUP_SECONDS = 3.15
#: The overall rule's window: 1 s plus the same 5 % for the jitter between slot and arrival.
WINDOW_SECONDS = 1.05

#: Bot API methods that put a message into a chat (the per-chat rule applies to them).
CHAT_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendDocument",
        "sendPhoto",
        "copyMessage",
        "forwardMessage",
    }
)


class RateLimited(Exception):
    """The next free slot is further away than the caller agreed to wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limit: next slot in {wait:.1f} s")
        self.wait = wait


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds, whatever PTB's int/timedelta transition says."""
    with warnings.catch_warnings():
        # PTB 22 warns that the attribute becomes a timedelta; both shapes are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | dt.timedelta = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def is_group(chat: int | str) -> bool:
    """Groups and supergroups have negative ids; ``@name`` addresses are public channels."""
    if isinstance(chat, int):
        return chat < 0
    text = str(chat)
    return text.startswith(("-", "@"))


class RateLimiter:
    """Reserves send slots under an overall rate, a per-chat interval and flood-control pauses."""

    def __init__(
        self,
        rate: float = 25.0,
        *,
        per_chat: float = PER_CHAT_SECONDS,
        per_group: float = PER_GROUP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.per_chat = per_chat
        self.per_group = per_group
        self._clock = clock
        self._sleep = sleep
        self._spacing = 1.0 / rate
        self._window = max(int(rate), 1)
        self._next = 0.0
        self._recent: deque[float] = deque(maxlen=self._window)
        self._chat_next: dict[str, float] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._paused_until = 0.0

    @property
    def paused_for(self) -> float:
        """Seconds left of the current flood-control pause (0 when none)."""
        return max(self._paused_until - self._clock(), 0.0)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (Telegram answered 429 with ``retry_after``)."""
        self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))

    def _interval(self, chat: int | str) -> float:
        return self.per_group if is_group(chat) else self.per_chat

    def _global_slot(self, now: float) -> float:
        slot = max(now, self._next, self._paused_until)
        if len(self._recent) == self._window:
            slot = max(slot, self._recent[0] + WINDOW_SECONDS)
        return slot

    async def acquire(
        self, chat: int | str | None = None, *, max_wait: float | None = None
    ) -> float:
        """Wait for a slot to send to ``chat`` (None: no per-chat rule); returns the wait.

        A chat's own interval is waited out *before* queueing for an overall slot, so a chat
        that must wait never holds up messages to other chats. Raises :class:`RateLimited`
        instead of waiting longer than ``max_wait`` seconds.
        """
        if chat is None:
            return await self._acquire_global(max_wait)
        key = str(chat)
        lock = self._chat_locks.setdefault(key, asyncio.Lock())
        async with lock:  # one waiter per chat at a time: the interval holds between them
            waited = 0.0
            ready = self._chat_next.get(key, 0.0) - self._clock()
            if ready > 0:
                if max_wait is not None and ready > max_wait:
                    raise RateLimited(ready)
                await self._sleep(ready)
                waited += ready
            waited += await self._acquire_global(
                None if max_wait is None else max(max_wait - waited, 0.0)
            )
            self._chat_next[key] = self._clock() + self._interval(chat)
            return waited

    async def _acquire_global(self, max_wait: float | None) -> float:
        waited = 0.0
        while True:
            now = self._clock()
            slot = self._global_slot(now)
            wait = slot - now
            if max_wait is not None and wait > max_wait:
                raise RateLimited(wait)
            # Reserve synchronously (no await in between), so concurrent callers queue up.
            self._next = slot + self._spacing
            self._recent.append(slot)
            if wait > 0:
                await self._sleep(wait)
                waited += wait
            if self._paused_until <= self._clock():
                return waited
            # A 429 arrived while we slept: the reserved slot is void, queue again after it.

    def forget(self, chat: int | str) -> None:
        """Drop a chat's bookkeeping (it migrated or was disabled)."""
        self._chat_next.pop(str(chat), None)
        lock = self._chat_locks.get(str(chat))
        if lock is not None and not lock.locked():
            del self._chat_locks[str(chat)]


class PTBRateLimiter(BaseRateLimiter[int]):
    """python-telegram-bot's rate-limiter hook backed by a shared :class:`RateLimiter`.

    Replies wait for their slot (an interactive answer should not fail); a ``RetryAfter``
    pauses the shared limiter and the request is tried again up to ``max_retries`` times.
    """

    def __init__(self, limiter: RateLimiter, *, max_retries: int = 1) -> None:
        self.limiter = limiter
        self.max_retries = max_retries

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = data.get("chat_id") if endpoint in CHAT_METHODS else None
        attempt = 0
        while True:
            await self.limiter.acquire(chat if isinstance(chat, int | str) else None)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.limiter.pause(retry_after_seconds(exc))
                if attempt >= self.max_retries:
                    raise
                attempt += 1
