"""Spawn → sweep → deliver through every real channel, against the local fake services.

The demo organisation (gongkai/examples/demo-org.yaml) is imported; a few people are moved
off Telegram so that every channel carries traffic: 乙示例 (office) on WeCom, 戊示例 (staff)
on DingTalk with a signed robot, 辛示例 (e-commerce chief) on Feishu with a signed bot, 丑示例
(leader) by e-mail, everybody else on Telegram. The channels come from
:func:`notifier.registry.build_channels`, as the composition root builds them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db.context import Actor
from db.engine import session_scope
from db.models import AuditEntry, ChatAddress, Delivery, OutboxMessage, Person, Task
from db.org import import_org, parse_org_yaml
from db.spawn import record_event, spawn_recurring
from db.sweep import sweep
from notifier.bot import TelegramBot
from notifier.deliver import DeliverReport, deliver
from notifier.ratelimit import RateLimiter
from notifier.registry import Channels, build_channels
from notifier.testing import (
    DingTalkReceiver,
    FakeTelegramAPI,
    FeishuReceiver,
    SmtpSink,
    WeComReceiver,
)

TZ = ZoneInfo("Asia/Shanghai")
DEMO = Path(__file__).resolve().parents[2] / "gongkai" / "examples" / "demo-org.yaml"
DAY = dt.date(2026, 12, 3)  # a Thursday, a working day
DASHBOARD = "http://127.0.0.1:8000"
DINGTALK_SECRET = "SECdemo-waimao-wu-secret"
FEISHU_SECRET = "demo-xin-feishu-secret"
CHIEF_CHAT = 100000104  # 丁示例, foreign-trade chief, on Telegram


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def local(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ)


@pytest.fixture
def demo(engine: Engine, domain: Any) -> dict[str, Any]:
    """The demo organisation, its recurring tasks and a request received 2026-11-20."""
    system = Actor.system("test")
    imported = local(dt.date(2026, 11, 2), 9)
    with session_scope(engine) as session:
        import_org(
            session,
            parse_org_yaml(DEMO.read_text(encoding="utf-8"), str(DEMO)),
            actor=system,
            at=imported,
        )
        for name in ("乙示例", "辛示例", "丑示例"):
            person = session.exec(select(Person).where(Person.name == name)).one()
            address = session.exec(
                select(ChatAddress).where(
                    ChatAddress.person_id == person.id, ChatAddress.channel == "telegram"
                )
            ).one()
            address.enabled = False  # reached on their next channel
            session.add(address)
        spawn_recurring(
            session,
            domain,
            through=DAY,
            actor=system,
            at=local(DAY),
            agency_codes=["demo-commerce"],
        )
        request = record_event(
            session,
            domain,
            agency_code="demo-commerce",
            event_type_name="request_received",
            occurred_at=local(dt.date(2026, 11, 20), 10),
            actor=system,
            at=local(dt.date(2026, 11, 20), 10),
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            section_code="foreign-trade",
            title="申请公开外贸统计",
        )
    return {"request_tasks": request.task_ids}


@dataclass
class Services:
    telegram: FakeTelegramAPI
    wecom: WeComReceiver
    dingtalk: DingTalkReceiver
    feishu: FeishuReceiver
    smtp: SmtpSink
    channels: Channels


@asynccontextmanager
async def services(*, max_wait: float | None = 60.0) -> AsyncIterator[Services]:
    async with (
        FakeTelegramAPI() as telegram,
        WeComReceiver() as wecom,
        DingTalkReceiver() as dingtalk,
        FeishuReceiver() as feishu,
        SmtpSink() as smtp,
    ):
        wecom.add_robot("demo-office-yi")
        dingtalk.add_robot("demo-waimao-wu", DINGTALK_SECRET)
        feishu.add_robot("ou_demo_xin", FEISHU_SECRET)
        channels = build_channels(
            telegram_token=telegram.token,
            telegram_base_url=telegram.base_url,
            telegram_limiter=RateLimiter(30),
            wecom_base_url=wecom.url,
            dingtalk_base_url=dingtalk.url,
            dingtalk_secrets={"demo-waimao-wu": DINGTALK_SECRET},
            feishu_base_url=feishu.url,
            feishu_secrets={"ou_demo_xin": FEISHU_SECRET},
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_sender="gongkai@demo-commerce.example",
            smtp_local_hostname="localhost",
        )
        telegram_channel = channels["telegram"]
        telegram_channel.max_wait = max_wait  # type: ignore[attr-defined]
        async with channels:
            yield Services(telegram, wecom, dingtalk, feishu, smtp, channels)


def run_sweep(engine: Engine, domain: Any, at: dt.datetime) -> None:
    with session_scope(engine) as session:
        sweep(session, domain, at=at, worker="test")


async def tick(engine: Engine, domain: Any, channels: Channels, at: dt.datetime) -> DeliverReport:
    run_sweep(engine, domain, at)
    return await deliver(engine, domain, channels, at=at, worker="test", dashboard_url=DASHBOARD)


def record_sentiment(engine: Engine, domain: Any, at: dt.datetime) -> None:
    with session_scope(engine) as session:
        record_event(
            session,
            domain,
            agency_code="demo-commerce",
            event_type_name="sentiment_detected",
            occurred_at=at,
            actor=Actor.system("test"),
            at=at,
            attributes={"severity": "major"},
            section_code="e-commerce",
            title="某网店虚假宣传舆情",
        )


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


# --------------------------------------------------------------------------- a full day


def test_a_full_day_of_digests_for_the_demo_organisation(
    engine: Engine, demo: Any, domain: Any
) -> None:
    title = "政务公开事项提醒 2026-12-03（周四）"

    async def day() -> Services:
        async with services() as found:
            for minutes in range(0, 24 * 60, 30):
                at = local(DAY) + dt.timedelta(minutes=minutes)
                if at == local(DAY, 8):  # a major 舆情 about an online shop, reported at 08:00
                    record_sentiment(engine, domain, at)
                await tick(engine, domain, found.channels, at)
            return found

    found = asyncio.run(day())

    # Every channel carried messages.
    assert found.telegram.sent
    assert found.wecom.texts_to("demo-office-yi")
    assert found.dingtalk.texts_to("demo-waimao-wu")
    assert found.feishu.texts_to("ou_demo_xin")
    assert found.smtp.to("fenguan@demo-commerce.example")
    assert found.wecom.refused == found.dingtalk.refused == found.feishu.refused == []

    # One digest per person and window: the 09:00 digest reached each person at most once.
    digests = Counter(m.chat_id for m in found.telegram.sent if m.text.startswith(f"<b>{title}"))
    assert digests
    assert max(digests.values()) == 1
    assert sum(1 for t in found.dingtalk.texts_to("demo-waimao-wu") if title in t) == 1
    chief_digest = next(m for m in found.telegram.messages_to(CHIEF_CHAT) if title in m.text)
    assert "申请公开外贸统计" in chief_digest.text
    assert "已逾期" in chief_digest.text  # the correction notice was due 12-01
    assert any(data.startswith("done:") for _, data in chief_digest.buttons())

    # The 舆情 duties of 辛示例 went out at once, on Feishu, as urgent cards.
    urgent = [m for m in found.feishu.messages if m.payload["card"]["header"]["template"] == "red"]
    assert urgent

    rows = outbox(engine)
    with Session(engine) as session:
        sent_twice = session.exec(
            select(Delivery.outbox_id)
            .where(Delivery.outcome == "sent")
            .group_by(col(Delivery.outbox_id))
            .having(func.count() > 1)
        ).all()
    assert sent_twice == []  # nobody is messaged twice for the same stage
    assert {row.status for row in rows} <= {"sent", "skipped", "pending"}
    # Digest rows went out in the 09:00 window, not before.
    digest_rows = [r for r in rows if not r.immediate and r.status == "sent"]
    assert digest_rows
    assert all(r.sent_at is not None and r.sent_at >= local(DAY, 9) for r in digest_rows)
    late = [r for r in rows if r.status == "pending" and r.next_attempt_at <= local(DAY, 23, 30)]
    assert late == []


# --------------------------------------------------------------------------- failures


def test_a_blocked_bot_disables_the_address_and_the_office_is_told(
    engine: Engine, demo: Any, domain: Any
) -> None:
    at = local(DAY, 9)

    async def scenario() -> Services:
        async with services() as found:
            found.telegram.block(CHIEF_CHAT)
            report = await tick(engine, domain, found.channels, at)
            assert "丁示例/telegram" in report.disabled_addresses
            await tick(engine, domain, found.channels, at + dt.timedelta(minutes=1))
            return found

    found = asyncio.run(scenario())
    with Session(engine) as session:
        chief = session.exec(select(Person).where(Person.name == "丁示例")).one()
        telegram = session.exec(
            select(ChatAddress).where(
                ChatAddress.person_id == chief.id, ChatAddress.channel == "telegram"
            )
        ).one()
        disabled = session.exec(select(AuditEntry).where(AuditEntry.action == "disable")).all()
    assert not telegram.enabled
    assert "blocked" in (telegram.disabled_reason or "")
    assert disabled
    # The digest went to the chief's next address (e-mail) in the same pass …
    assert found.smtp.to("waimao@demo-commerce.example")
    # … and the office (乙示例 on WeCom) heard of the dead address.
    assert any(
        "丁示例" in text and "停用" in text for text in found.wecom.texts_to("demo-office-yi")
    )


def test_flood_control_retry_after_is_honoured(engine: Engine, demo: Any, domain: Any) -> None:
    at = local(DAY, 9)

    async def scenario() -> None:
        async with services() as found:
            found.telegram.flood(3, chat_id=CHIEF_CHAT)
            first = await tick(engine, domain, found.channels, at)
            assert first.retried_rows >= 1
            assert found.telegram.messages_to(CHIEF_CHAT) == []
            early = await deliver(
                engine, domain, found.channels, at=at + dt.timedelta(seconds=2), worker="test"
            )
            assert early.claimed == 0  # not before retry_after
            later = await deliver(
                engine,
                domain,
                found.channels,
                at=at + dt.timedelta(seconds=4),
                worker="test",
                dashboard_url=DASHBOARD,
            )
            assert later.messages >= 1
            assert len(found.telegram.messages_to(CHIEF_CHAT)) == 1

    asyncio.run(scenario())
    with Session(engine) as session:
        chief = session.exec(select(Person).where(Person.name == "丁示例")).one()
        outcomes = session.exec(
            select(Delivery.outcome)
            .join(OutboxMessage, col(OutboxMessage.id) == col(Delivery.outbox_id))
            .where(OutboxMessage.person_id == chief.id)
            .order_by(col(Delivery.id))
        ).all()
    assert outcomes[0] == "transient"
    assert outcomes[-1] == "sent"


def test_a_migrated_group_is_followed(engine: Engine, demo: Any, domain: Any) -> None:
    at = local(DAY, 9)
    with session_scope(engine) as session:
        chief = session.exec(select(Person).where(Person.name == "丁示例")).one()
        address = session.exec(
            select(ChatAddress).where(
                ChatAddress.person_id == chief.id, ChatAddress.channel == "telegram"
            )
        ).one()
        address.address = "-4001"  # the section's group chat
        session.add(address)

    async def scenario() -> Services:
        async with services() as found:
            found.telegram.migrate(-4001, -1004001)
            await tick(engine, domain, found.channels, at)
            assert found.telegram.messages_to(-4001) == []
            await tick(engine, domain, found.channels, at + dt.timedelta(seconds=5))
            return found

    found = asyncio.run(scenario())
    assert len(found.telegram.messages_to(-1004001)) == 1
    with Session(engine) as session:
        moved = session.get(ChatAddress, address.id)
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "migrate")).one()
    assert moved is not None
    assert (moved.address, moved.enabled) == ("-1004001", True)
    assert entry.after == {"address": "-1004001"}


def test_a_chief_completes_a_task_from_the_digest(engine: Engine, demo: Any, domain: Any) -> None:
    at = local(DAY, 9)

    async def scenario() -> int:
        async with services() as found:
            await tick(engine, domain, found.channels, at)
            [digest] = found.telegram.messages_to(CHIEF_CHAT)
            done = [data for _, data in digest.buttons() if data.startswith("done:")]
            task_id = int(done[0].split(":")[1])
            bot = TelegramBot(
                token=found.telegram.token,
                base_url=found.telegram.base_url,
                engine=engine,
                domain=domain,
                clock=lambda: at + dt.timedelta(minutes=5),
                poll_timeout=1,
                limiter=RateLimiter(30, per_chat=0.01),
            )
            await bot.start()
            try:
                api = found.telegram
                api.press(CHIEF_CHAT, done[0], message_id=digest.message_id)
                await api.wait_for_text(CHIEF_CHAT, "佐证链接")
                api.say(CHIEF_CHAT, "https://www.demo-commerce.example/zwgk/notice.html")
                await api.wait_for_text(CHIEF_CHAT, f"已办结 #{task_id}")
            finally:
                await bot.stop()
            return task_id

    task_id = asyncio.run(scenario())
    with Session(engine) as session:
        task = session.get(Task, task_id)
    assert task is not None
    assert task.status == "done"
    assert task.evidence_url == "https://www.demo-commerce.example/zwgk/notice.html"
