"""The Feishu bot channel against the local receiver, which verifies 签名校验 signatures."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import httpx
import pytest

from notifier.base import DigestItem, Message, PermanentDeliveryError, TransientDeliveryError
from notifier.channels.feishu import FeishuChannel, sign
from notifier.testing import FeishuReceiver

TZ = ZoneInfo("Asia/Shanghai")
HOOK = "b43e7bea-88fd-436e-9a0b-1c2d3e4f5a6b"
SECRET = "zs0TQ9bC3kPq7Ld2Xy"


def digest(*, urgent: bool = False) -> Message:
    item = DigestItem(
        task_id=9,
        title="舆情回应：某商场火灾",
        section="电子商务科",
        obligation="sentiment-response",
        due_at=dt.datetime(2026, 12, 15, 17, 0, tzinfo=TZ),
        due_date=dt.date(2026, 12, 15),
        state="due_soon",
        days=3,
        hourly=True,
    )
    return Message(recipient="辛示例", title="政务公开紧急提醒", items=(item,), urgent=urgent)


def run(scenario: Callable[[FeishuReceiver, httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with FeishuReceiver() as robot, httpx.AsyncClient(timeout=5) as client:
            robot.add_robot(HOOK, SECRET)
            robot.add_robot("ou_demo_xin")
            await scenario(robot, client)

    asyncio.run(main())


def test_the_signature_is_hmac_keyed_by_timestamp_and_secret_over_nothing() -> None:
    stamp = 1_700_000_000
    expected = base64.b64encode(
        hmac.new(f"{stamp}\n{SECRET}".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert sign(SECRET, stamp) == expected


def test_a_signed_card_is_accepted() -> None:
    async def scenario(robot: FeishuReceiver, client: httpx.AsyncClient) -> None:
        channel = FeishuChannel(client, base_url=robot.url, secrets={HOOK: SECRET})
        await channel.send(HOOK, digest(urgent=True))
        [message] = robot.messages
        assert message.payload["msg_type"] == "interactive"
        card = message.payload["card"]
        assert card["header"]["title"]["content"] == "政务公开紧急提醒"
        assert card["header"]["template"] == "red"
        assert "还剩 3 小时" in card["elements"][0]["content"]
        assert "###" not in card["elements"][0]["content"]  # the title is in the header
        assert {"timestamp", "sign"} <= set(message.payload)

    run(scenario)


def test_a_wrong_or_missing_signature_is_permanent() -> None:
    async def scenario(robot: FeishuReceiver, client: httpx.AsyncClient) -> None:
        with pytest.raises(PermanentDeliveryError, match="19021"):
            await FeishuChannel(client, base_url=robot.url).send(HOOK, digest())
        wrong = FeishuChannel(client, base_url=robot.url, secrets={HOOK: "nope"})
        with pytest.raises(PermanentDeliveryError, match="19021"):
            await wrong.send(HOOK, digest())

    run(scenario)


def test_an_unknown_hook_is_permanent() -> None:
    async def scenario(robot: FeishuReceiver, client: httpx.AsyncClient) -> None:
        url = "https://open.feishu.cn/open-apis/bot/v2/hook/deleted-bot"
        with pytest.raises(PermanentDeliveryError, match="19001"):
            await FeishuChannel(client, base_url=robot.url).send(url, digest())

    run(scenario)


def test_an_unsigned_bot_takes_the_hook_from_a_pasted_url() -> None:
    async def scenario(robot: FeishuReceiver, client: httpx.AsyncClient) -> None:
        url = "https://open.feishu.cn/open-apis/bot/v2/hook/ou_demo_xin"
        await FeishuChannel(client, base_url=robot.url).send(url, digest())
        assert robot.texts_to("ou_demo_xin")
        assert "sign" not in robot.messages[0].payload

    run(scenario)


def test_too_many_requests_is_transient() -> None:
    async def scenario(robot: FeishuReceiver, client: httpx.AsyncClient) -> None:
        robot.fail_next({"code": 9499, "msg": "too many request", "data": {}}, status=400)
        channel = FeishuChannel(client, base_url=robot.url, secrets={HOOK: SECRET})
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(HOOK, digest())
        assert caught.value.retry_after == 60

    run(scenario)
