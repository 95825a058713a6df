"""The WeCom group robot channel against the local receiver (keys checked, codes answered)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import httpx
import pytest

from notifier.base import DigestItem, Message, PermanentDeliveryError, TransientDeliveryError
from notifier.channels.wecom import WeComChannel
from notifier.testing import WeComReceiver

TZ = ZoneInfo("Asia/Shanghai")
KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def digest(count: int = 1) -> Message:
    items = tuple(
        DigestItem(
            task_id=i,
            title=f"第 {i} 项：关于做好政务公开工作的通知",
            section="外贸科",
            obligation="proactive-disclosure",
            due_at=dt.datetime(2026, 12, 18, 23, 59, tzinfo=TZ),
            due_date=dt.date(2026, 12, 18),
            state="overdue",
            days=2,
            link=f"http://127.0.0.1:8000/tasks/{i}",
        )
        for i in range(count)
    )
    return Message(
        recipient="乙示例", title="政务公开事项提醒", items=items, link="http://127.0.0.1:8000"
    )


def run(scenario: Callable[[WeComReceiver, WeComChannel], Awaitable[None]]) -> None:
    async def main() -> None:
        async with WeComReceiver() as robot, httpx.AsyncClient(timeout=5) as client:
            robot.add_robot(KEY)
            await scenario(robot, WeComChannel(client, base_url=robot.url))

    asyncio.run(main())


def test_it_posts_markdown_with_the_key() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        await channel.send(KEY, digest())
        [message] = robot.messages
        assert message.payload["msgtype"] == "markdown"
        assert message.text.startswith("### 政务公开事项提醒")
        assert "已逾期 2 个工作日" in message.text
        assert message.query == {"key": KEY}

    run(scenario)


def test_a_pasted_webhook_url_works_too() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
        await channel.send(url, digest())
        assert robot.texts_to(KEY)

    run(scenario)


def test_long_digests_are_split_by_bytes() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        delivery = await channel.send(KEY, digest(60))
        assert len(robot.messages) > 1
        assert robot.refused == []  # every part within 4,096 bytes
        assert delivery.detail == f"{len(robot.messages)} parts"
        assert robot.messages[1].text.startswith(f"**政务公开事项提醒（2/{len(robot.messages)}）**")

    run(scenario)


def test_an_unknown_key_is_permanent() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        with pytest.raises(PermanentDeliveryError, match="93000"):
            await channel.send("no-such-key", digest())

    run(scenario)


def test_throttling_is_transient_with_retry_after() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        robot.fail_next({"errcode": 45009, "errmsg": "api freq out of limit"})
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(KEY, digest())
        assert caught.value.retry_after == 60

    run(scenario)


def test_more_than_twenty_a_minute_is_refused_by_the_robot() -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        for _ in range(20):
            await channel.send(KEY, digest())
        with pytest.raises(TransientDeliveryError, match="45009"):
            await channel.send(KEY, digest())

    run(scenario)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status: int) -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        robot.fail_next({"errcode": -1, "errmsg": "system busy"}, status=status)
        with pytest.raises(TransientDeliveryError):
            await channel.send(KEY, digest())

    run(scenario)


def test_an_unreachable_service_is_transient_and_hides_the_key() -> None:
    async def main() -> None:
        async with WeComReceiver() as robot:
            url = robot.url
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(TransientDeliveryError) as caught:
                await WeComChannel(client, base_url=url).send(KEY, digest())
        assert KEY not in str(caught.value)

    asyncio.run(main())


@pytest.mark.parametrize("address", ["", "a b", "../../admin", "k/../x"])
def test_addresses_that_are_not_keys_are_permanent(address: str) -> None:
    async def scenario(robot: WeComReceiver, channel: WeComChannel) -> None:
        with pytest.raises(PermanentDeliveryError):
            await channel.send(address, digest())
        assert robot.messages == robot.refused == []

    run(scenario)
