"""The Telegram channel against the fake Bot API on 127.0.0.1 (python-telegram-bot for real)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import pytest

from notifier.base import (
    DeliveryError,
    DigestItem,
    Message,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from notifier.channels.telegram import TelegramChannel, chat_id_of, make_bot
from notifier.ratelimit import RateLimiter
from notifier.testing import FakeTelegramAPI

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on every RetryAfter unless opted in to its timedelta durations; warnings
    # are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def item(
    task_id: int = 7, title: str = "依申请公开答复：外贸统计", **changes: object
) -> DigestItem:
    values: dict[str, object] = {
        "task_id": task_id,
        "title": title,
        "section": "外贸科",
        "obligation": "request-reply",
        "due_at": dt.datetime(2026, 12, 18, 23, 59, 59, tzinfo=TZ),
        "due_date": dt.date(2026, 12, 18),
        "state": "due_soon",
        "days": 3,
        "link": f"http://127.0.0.1:8000/tasks/{task_id}",
    }
    values.update(changes)
    return DigestItem(**values)  # type: ignore[arg-type]


def digest(*items: DigestItem, actions: tuple[tuple[str, str], ...] = ()) -> Message:
    return Message(
        recipient="丁示例",
        title="政务公开事项提醒 2026-12-15（周二）",
        items=items or (item(),),
        link="http://127.0.0.1:8000",
        actions=actions,
    )


Scenario = Callable[[FakeTelegramAPI, TelegramChannel], Awaitable[None]]


def run(scenario: Scenario, *, rate: float = 30.0, **channel_kwargs: object) -> None:
    async def main() -> None:
        async with FakeTelegramAPI() as api:
            channel = TelegramChannel(
                make_bot(api.token, base_url=api.base_url),
                limiter=RateLimiter(rate),
                **channel_kwargs,  # type: ignore[arg-type]
            )
            try:
                await scenario(api, channel)
            finally:
                await channel.aclose()

    asyncio.run(main())


def test_it_sends_html_with_buttons() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        message = digest(
            item(title="《关于<调整>收费 & 公示》"),
            actions=(("已完成 #7", "done:7"), ("申请延期 #7", "ext:7")),
        )
        delivery = await channel.send("1001", message)
        [sent] = api.messages_to(1001)
        assert sent.parse_mode == "HTML"
        assert "&lt;调整&gt;" in sent.text
        assert sent.buttons() == [("已完成 #7", "done:7"), ("申请延期 #7", "ext:7")]
        assert delivery.external_id == str(sent.message_id)
        call = api.calls_of("sendMessage")[0]
        assert "is_disabled" in call.params["link_preview_options"]  # no previews of the dashboard
        assert api.calls_of("getMe")  # the bot initialised itself once

    run(scenario)


@pytest.mark.slow
def test_it_splits_a_long_digest_and_keeps_one_second_per_chat() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        many = tuple(item(task_id=i, title="关于做好政务公开工作的通知" * 4) for i in range(120))
        delivery = await channel.send("1001", digest(*many, actions=(("已完成 #1", "done:1"),)))
        sent = api.messages_to(1001)
        assert len(sent) > 1
        assert delivery.detail == f"{len(sent)} parts"
        assert all(m.reply_markup is None for m in sent[:-1])
        assert sent[-1].buttons() == [("已完成 #1", "done:1")]
        assert api.per_chat_violations(1.0) == []

    run(scenario)


def test_a_blocked_bot_is_permanent() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        api.block(1002)
        with pytest.raises(PermanentDeliveryError, match="blocked"):
            await channel.send("1002", digest())

    run(scenario)


def test_a_chat_that_no_longer_exists_is_permanent() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        api.forget(1003)
        with pytest.raises(PermanentDeliveryError, match=r"(?i)chat not found"):
            await channel.send("1003", digest())

    run(scenario)


def test_a_migrated_group_gives_its_new_id() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        api.migrate(-4001, -1004001)
        with pytest.raises(DeliveryError) as caught:
            await channel.send("-4001", digest())
        assert caught.value.new_address == "-1004001"
        assert not caught.value.permanent
        await channel.send("-1004001", digest())
        assert len(api.messages_to(-1004001)) == 1

    run(scenario)


@pytest.mark.slow
def test_flood_control_is_transient_and_pauses_every_send() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        api.flood(2)
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send("1005", digest())
        assert caught.value.retry_after == 2
        assert channel.limiter.paused_for > 1.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        await channel.send("1006", digest())  # another chat: still waits for the pause
        assert loop.time() - started >= 1.5
        assert len(api.messages_to(1006)) == 1

    run(scenario)


def test_a_long_pause_fails_fast_with_retry_after() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        api.flood(90)
        with pytest.raises(TransientDeliveryError):
            await channel.send("1007", digest())
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send("1008", digest())  # no request: the limiter answers
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 60
        assert api.messages_to(1008) == []

    run(scenario, max_wait=5.0)


def test_a_wrong_token_never_disables_addresses() -> None:
    async def main() -> None:
        async with FakeTelegramAPI() as api:
            channel = TelegramChannel(make_bot("999:wrong", base_url=api.base_url))
            with pytest.raises(TransientDeliveryError, match="token"):
                await channel.send("1001", digest())
            await channel.aclose()

    asyncio.run(main())


def test_an_unreachable_api_is_transient() -> None:
    async def main() -> None:
        api = FakeTelegramAPI()
        await api.start()
        base_url = api.base_url
        await api.stop()  # nothing listens there any more
        channel = TelegramChannel(make_bot(api.token, base_url=base_url, timeout=2))
        with pytest.raises(TransientDeliveryError):
            await channel.send("1001", digest())
        await channel.aclose()

    asyncio.run(main())


def test_refused_html_is_sent_again_as_plain_text() -> None:
    async def scenario(api: FakeTelegramAPI, channel: TelegramChannel) -> None:
        # A tiny limit cuts a line inside its <a> tag: the fake refuses the HTML.
        long_item = item(title="很长的标题" * 20)
        await channel.send("1009", digest(long_item))
        refused = [c for c in api.calls_of("sendMessage") if c.status == 400]
        assert len(refused) == 1
        plain = [m for m in api.messages_to(1009) if m.parse_mode is None]
        assert plain  # the whole digest again, as plain text
        assert "很长的标题" in "".join(m.text for m in plain)
        assert "<a href" not in "".join(m.text for m in plain)

    run(scenario, limit=120)


@pytest.mark.parametrize("address", ["", "abc", "@", "12.5"])
def test_addresses_that_are_not_chats_are_permanent(address: str) -> None:
    with pytest.raises(PermanentDeliveryError):
        chat_id_of(address)


def test_channel_usernames_are_accepted() -> None:
    assert chat_id_of("@gongkai_notices") == "@gongkai_notices"
    assert chat_id_of(" -1001234 ") == -1001234
