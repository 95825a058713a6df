"""The send pacer, driven by a fake clock: no test waits on the real one."""

from __future__ import annotations

import asyncio

import pytest

from notifier.ratelimit import PER_CHAT_SECONDS, PER_GROUP_SECONDS, RateLimited, RateLimiter


class FakeClock:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def limiter(rate: float = 10.0) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, clock=clock, sleep=clock.sleep), clock


def grants(lim: RateLimiter, clock: FakeClock, chats: list[int | str | None]) -> list[float]:
    async def run() -> list[float]:
        times = []
        for chat in chats:
            await lim.acquire(chat)
            times.append(round(clock.now - 100.0, 6))
        return times

    return asyncio.run(run())


def test_sends_are_spaced_by_the_overall_rate() -> None:
    lim, clock = limiter(10)
    assert grants(lim, clock, [1, 2, 3, 4, 5]) == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_one_private_chat_gets_one_message_per_second() -> None:
    lim, clock = limiter(30)
    times = grants(lim, clock, [1, 1, 1])
    assert times[1] - times[0] >= PER_CHAT_SECONDS - 1e-9
    assert times[2] - times[1] >= PER_CHAT_SECONDS - 1e-9


def test_group_chats_get_twenty_messages_a_minute() -> None:
    lim, clock = limiter(30)
    times = grants(lim, clock, [-100123, -100123])
    assert times[1] - times[0] >= PER_GROUP_SECONDS - 1e-9
    assert PER_GROUP_SECONDS * 20 >= 60


def test_a_waiting_chat_does_not_hold_up_the_others() -> None:
    async def run() -> list[str]:
        lim = RateLimiter(100.0, per_chat=0.2)
        order: list[str] = []

        async def send(name: str, chat: int) -> None:
            await lim.acquire(chat)
            order.append(name)

        # The second message to chat 1 must wait 0.2 s; chat 2 asked later but goes first.
        await asyncio.gather(send("1a", 1), send("1b", 1), send("2", 2))
        return order

    assert asyncio.run(run()) == ["1a", "2", "1b"]


def test_no_second_holds_more_than_the_rate() -> None:
    lim, clock = limiter(30)
    times = grants(lim, clock, list(range(300)))
    for index in range(len(times) - 30):
        assert times[index + 30] - times[index] >= 1.0 - 1e-9


def test_a_flood_pause_stops_every_send() -> None:
    lim, clock = limiter(30)
    grants(lim, clock, [1])
    lim.pause(7)
    assert lim.paused_for == pytest.approx(7)
    before = clock.now
    grants(lim, clock, [2])
    assert clock.now - before >= 7


def test_max_wait_refuses_instead_of_waiting() -> None:
    lim, _ = limiter(30)
    lim.pause(120)

    async def run() -> None:
        await lim.acquire(1, max_wait=60)

    with pytest.raises(RateLimited) as caught:
        asyncio.run(run())
    assert caught.value.wait == pytest.approx(120)


def test_concurrent_senders_are_granted_in_call_order() -> None:
    async def run() -> list[int]:
        lim = RateLimiter(1000.0)
        order: list[int] = []

        async def send(chat: int) -> None:
            await lim.acquire(chat)
            order.append(chat)

        await asyncio.gather(*(send(chat) for chat in range(1, 21)))
        return order

    assert asyncio.run(run()) == list(range(1, 21))


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
