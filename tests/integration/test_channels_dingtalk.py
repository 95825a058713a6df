"""The DingTalk robot channel against the local receiver, which verifies 加签 signatures."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import httpx
import pytest

from notifier.base import DigestItem, Message, PermanentDeliveryError, TransientDeliveryError
from notifier.channels.dingtalk import DingTalkChannel, sign
from notifier.testing import DingTalkReceiver
from notifier.testing.robots import dingtalk_sign

TZ = ZoneInfo("Asia/Shanghai")
TOKEN = "b955a1c0f3d94e7c8a6b2e1d0c9f8e7d6c5b4a3928171605f4e3d2c1b0a9f8e7"
SECRET = "SEC0f3d94e7c8a6b2e1d0c9f8e7d6c5b4a3928171605f4e3d2c1b0a9f8e7d6c5b4a3"


def digest() -> Message:
    item = DigestItem(
        task_id=3,
        title="月度政务信息报送",
        section="外贸科",
        obligation="monthly-info-report",
        due_at=dt.datetime(2026, 12, 4, 23, 59, tzinfo=TZ),
        due_date=dt.date(2026, 12, 4),
        state="due_today",
        days=0,
    )
    return Message(recipient="戊示例", title="政务公开事项提醒", items=(item,))


def run(
    scenario: Callable[[DingTalkReceiver, httpx.AsyncClient], Awaitable[None]],
) -> None:
    async def main() -> None:
        async with DingTalkReceiver() as robot, httpx.AsyncClient(timeout=5) as client:
            robot.add_robot(TOKEN, SECRET)
            robot.add_robot("open-robot")  # secured by IP or keyword, not by signature
            await scenario(robot, client)

    asyncio.run(main())


def test_the_signature_matches_dingtalks_documented_example() -> None:
    # The algorithm of the DingTalk docs' Python sample, computed independently here.
    import base64
    import hashlib
    import hmac
    import urllib.parse

    stamp = 1_700_000_000_000
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign(SECRET, stamp) == expected == dingtalk_sign(SECRET, str(stamp))
    assert "%2B" in urllib.parse.quote_plus("a+b")
    assert "+" not in urllib.parse.quote_plus("a+b")


def test_signed_markdown_is_accepted() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        channel = DingTalkChannel(client, base_url=robot.url, secrets={TOKEN: SECRET})
        await channel.send(TOKEN, digest())
        [message] = robot.messages
        assert message.payload["msgtype"] == "markdown"
        assert message.payload["markdown"]["title"] == "政务公开事项提醒"
        assert "今日截止" in message.text
        assert set(message.query) == {"access_token", "timestamp", "sign"}

    run(scenario)


def test_a_wrong_secret_is_permanent() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        channel = DingTalkChannel(client, base_url=robot.url, secrets={TOKEN: "SECwrong"})
        with pytest.raises(PermanentDeliveryError, match="sign not match"):
            await channel.send(TOKEN, digest())

    run(scenario)


def test_a_missing_signature_is_permanent() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        with pytest.raises(PermanentDeliveryError, match="310000"):
            await DingTalkChannel(client, base_url=robot.url).send(TOKEN, digest())

    run(scenario)


def test_a_clock_off_by_hours_is_transient() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        skewed = DingTalkChannel(
            client,
            base_url=robot.url,
            secrets={TOKEN: SECRET},
            clock=lambda: time.time() - 2 * 3600,
        )
        with pytest.raises(TransientDeliveryError, match="timestamp"):
            await skewed.send(TOKEN, digest())

    run(scenario)


def test_a_robot_without_secret_needs_no_signature() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        url = "https://oapi.dingtalk.com/robot/send?access_token=open-robot"
        await DingTalkChannel(client, base_url=robot.url).send(url, digest())
        assert robot.texts_to("open-robot")

    run(scenario)


def test_an_unknown_token_is_permanent() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        with pytest.raises(PermanentDeliveryError, match="token is not exist"):
            await DingTalkChannel(client, base_url=robot.url).send("gone", digest())

    run(scenario)


def test_sending_too_fast_is_transient_with_retry_after() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        channel = DingTalkChannel(client, base_url=robot.url, secrets={TOKEN: SECRET})
        for _ in range(20):
            await channel.send(TOKEN, digest())
        with pytest.raises(TransientDeliveryError, match="130101") as caught:
            await channel.send(TOKEN, digest())
        assert caught.value.retry_after == 60

    run(scenario)


def test_a_page_that_is_not_json_is_transient() -> None:
    async def scenario(robot: DingTalkReceiver, client: httpx.AsyncClient) -> None:
        robot.fail_next({}, status=502)
        with pytest.raises(TransientDeliveryError, match="HTTP 502"):
            await DingTalkChannel(client, base_url=robot.url).send(TOKEN, digest())

    run(scenario)
