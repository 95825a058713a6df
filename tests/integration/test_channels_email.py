"""The e-mail channel against a local aiosmtpd server."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import pytest

from notifier.base import DigestItem, Message, PermanentDeliveryError, TransientDeliveryError
from notifier.channels.email import EmailChannel
from notifier.testing import SmtpSink

TZ = ZoneInfo("Asia/Shanghai")


def digest(*, urgent: bool = False) -> Message:
    item = DigestItem(
        task_id=12,
        title="2026年政府信息公开工作年度报告 <草稿>",
        section="办公室",
        obligation="annual-report",
        due_at=dt.datetime(2027, 1, 31, 23, 59, tzinfo=TZ),
        due_date=dt.date(2027, 1, 31),
        state="escalation",
        days=4,
        link="http://127.0.0.1:8000/tasks/12",
    )
    return Message(
        recipient="丑示例",
        title="政务公开事项提醒 2027-02-05（周五）",
        items=(item,),
        link="http://127.0.0.1:8000",
        urgent=urgent,
    )


def run(scenario: Callable[[SmtpSink, EmailChannel], Awaitable[None]]) -> None:
    async def main() -> None:
        async with SmtpSink() as smtp:
            channel = EmailChannel(
                host=smtp.host,
                port=smtp.port,
                sender="gongkai@demo-commerce.example",
                local_hostname="localhost",
                timeout=5,
            )
            await scenario(smtp, channel)

    asyncio.run(main())


def test_it_sends_text_and_html() -> None:
    async def scenario(smtp: SmtpSink, channel: EmailChannel) -> None:
        delivery = await channel.send("fenguan@demo-commerce.example", digest(urgent=True))
        [mail] = smtp.to("fenguan@demo-commerce.example")
        assert mail.subject == "政务公开事项提醒 2027-02-05（周五）"
        assert mail.sender == "gongkai@demo-commerce.example"
        assert "【升级督办】" in mail.part("plain")
        assert "<草稿>" in mail.part("plain")
        assert "&lt;草稿&gt;" in mail.part("html")
        assert mail.message["X-Priority"] == "1"
        assert delivery.external_id == mail.message["Message-ID"]

    run(scenario)


def test_a_refused_mailbox_is_permanent() -> None:
    async def scenario(smtp: SmtpSink, channel: EmailChannel) -> None:
        smtp.refuse.add("left@demo-commerce.example")
        with pytest.raises(PermanentDeliveryError, match="550"):
            await channel.send("left@demo-commerce.example", digest())

    run(scenario)


def test_a_deferred_mailbox_is_transient() -> None:
    async def scenario(smtp: SmtpSink, channel: EmailChannel) -> None:
        smtp.defer.add("busy@demo-commerce.example")
        with pytest.raises(TransientDeliveryError, match="450"):
            await channel.send("busy@demo-commerce.example", digest())

    run(scenario)


@pytest.mark.parametrize("address", ["", "not-an-address", "a@b", "x y@z.cn"])
def test_something_that_is_not_an_address_is_permanent(address: str) -> None:
    async def scenario(smtp: SmtpSink, channel: EmailChannel) -> None:
        with pytest.raises(PermanentDeliveryError):
            await channel.send(address, digest())
        assert smtp.mails == []

    run(scenario)


def test_no_server_is_transient() -> None:
    async def main() -> None:
        async with SmtpSink() as smtp:
            port = smtp.port
        channel = EmailChannel(host="127.0.0.1", port=port, local_hostname="localhost", timeout=2)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await channel.send("a@demo-commerce.example", digest())

    asyncio.run(main())
