"""The interactive bot: python-telegram-bot polling the fake Bot API, acting on the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db import bindings
from db.audit import verify_chain
from db.context import Actor
from db.engine import session_scope
from db.models import (
    AuditEntry,
    ChatAddress,
    ExtensionRequest,
    OutboxMessage,
    Person,
    Task,
)
from db.spawn import record_event
from notifier.bot import TelegramBot
from notifier.ratelimit import RateLimiter
from notifier.testing import FakeTelegramAPI, SentMessage

TZ = ZoneInfo("Asia/Shanghai")
CHIEF, OFFICE, LEADER, FINANCE, STRANGER = 5001, 5002, 5003, 5004, 9999
EVIDENCE = "https://www.xm-commerce.example.gov.cn/zwgk/2026/1127.html"


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


@pytest.fixture
def ledger(engine: Engine, bureau: Any, domain: Any, at: dt.datetime) -> dict[str, Any]:
    """The bureau with a finance chief, bound chats and two requests (trade, finance)."""
    system = Actor.system("test")
    people = dict(bureau["people"])
    with session_scope(engine) as session:
        finance = Person(
            agency_id=bureau["agency"].id,
            section_id=bureau["sections"]["finance"].id,
            name="钱财务",
            role="chief",
        )
        session.add(finance)
        session.flush()
        people["finance_chief"] = finance
        tasks: dict[str, int] = {}
        for section, title in (("foreign-trade", "申请公开外贸统计"), ("finance", "申请公开预算")):
            record_event(
                session,
                domain,
                agency_code="xm-commerce",
                event_type_name="request_received",
                occurred_at=local(2026, 11, 20, 10),
                actor=system,
                at=at,
                attributes={"applicant_type": "natural_person", "channel": "in_person"},
                section_code=section,
                title=title,
            )
        for task in session.exec(select(Task)).all():
            prefix = "trade" if "外贸" in task.title else "finance"
            kind = "reply" if task.obligation_code == "request-reply" else "notice"
            tasks[f"{prefix}_{kind}"] = task.id or 0
        for key, chat in (
            ("trade_chief", CHIEF),
            ("office", OFFICE),
            ("leader", LEADER),
            ("finance_chief", FINANCE),
        ):
            issued = bindings.issue_bind_code(session, people[key].id, actor=system, at=at)
            bindings.bind_chat(session, issued.code, str(chat), at=at)
    return {"people": people, "tasks": tasks, **bureau}


@asynccontextmanager
async def running_bot(
    engine: Engine, domain: Any, at: dt.datetime, **kwargs: Any
) -> AsyncIterator[tuple[FakeTelegramAPI, TelegramBot]]:
    async with FakeTelegramAPI() as api:
        bot = TelegramBot(
            token=api.token,
            base_url=api.base_url,
            engine=engine,
            domain=domain,
            clock=lambda: at,
            dashboard_url="http://127.0.0.1:8000",
            poll_timeout=1,
            # Telegram's one message a second per chat would make every exchange here wait;
            # the pacing itself is tested with the limiter and the channel.
            limiter=RateLimiter(30, per_chat=0.01, per_group=0.01),
            **kwargs,
        )
        await bot.start()
        try:
            yield api, bot
        finally:
            await bot.stop()


async def answer(
    api: FakeTelegramAPI, chat: int, act: Callable[[], Any], *, count: int = 1
) -> list[SentMessage]:
    """Do ``act`` (a user's message or button) and wait for the bot's ``count`` replies."""
    before = len(api.messages_to(chat))
    act()
    await api.wait_for(lambda a: len(a.messages_to(chat)) >= before + count)
    return api.messages_to(chat)[before:]


def task(engine: Engine, task_id: int) -> Task:
    with Session(engine) as session:
        found = session.get(Task, task_id)
        assert found is not None
        return found


def audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEntry)).one())


# --------------------------------------------------------------------------- unbound chats


def test_an_unbound_chat_gets_a_polite_refusal_and_nothing_else(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    entries = audit_count(engine)
    done_id = ledger["tasks"]["trade_notice"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            for act in (
                lambda: api.command(STRANGER, "start"),
                lambda: api.command(STRANGER, "tasks"),
                lambda: api.command(STRANGER, "done", str(done_id)),
                lambda: api.say(STRANGER, EVIDENCE),
            ):
                [reply] = await answer(api, STRANGER, act)
                assert "请向办公室索取绑定码" in reply.text
                assert reply.buttons() == []
            api.press(STRANGER, f"done:{done_id}")
            await api.wait_for(lambda a: len(a.callback_answers) == 1)
            assert api.callback_answers[0]["show_alert"] in ("true", True)
            assert "绑定码" in api.callback_answers[0]["text"]
            await api.wait_idle()
            assert len(api.messages_to(STRANGER)) == 4

    asyncio.run(scenario())
    assert audit_count(engine) == entries
    assert task(engine, done_id).status == "open"


def test_start_with_a_code_binds_the_chat(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    with session_scope(engine) as session:
        issued = bindings.issue_bind_code(
            session, ledger["people"]["trade_chief"].id, actor=Actor.system("t"), at=at
        )

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [reply] = await answer(api, 6001, lambda: api.command(6001, "start", issued.code))
            assert "绑定成功：王外贸（科长，外贸科）" in reply.text
            [reply] = await answer(api, 6002, lambda: api.command(6002, "start", issued.code))
            assert "已被使用" in reply.text
            for _ in range(5):
                await answer(api, 6003, lambda: api.command(6003, "start", "WRONG-CODE1"))
            [reply] = await answer(api, 6003, lambda: api.command(6003, "start", "WRONG-CODE2"))
            assert "尝试次数过多" in reply.text
            assert api.commands  # the command list was published

    asyncio.run(scenario())
    with Session(engine) as session:
        address = session.exec(
            select(ChatAddress).where(
                ChatAddress.person_id == ledger["people"]["trade_chief"].id,
                ChatAddress.channel == "telegram",
            )
        ).one()
    assert address.address == "6001"


# --------------------------------------------------------------------------- completing


def test_a_chief_completes_a_task_from_the_chat(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    notice_id = ledger["tasks"]["trade_notice"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [listing] = await answer(api, CHIEF, lambda: api.command(CHIEF, "tasks"))
            assert "待办任务（2 项）" in listing.text
            assert "申请公开预算" not in listing.text  # another section's task is not listed
            assert (f"已完成 #{notice_id}", f"done:{notice_id}") in listing.buttons()
            [ask] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"done:{notice_id}"))
            assert "佐证链接" in ask.text
            [bad] = await answer(api, CHIEF, lambda: api.say(CHIEF, "见办公室共享盘"))
            assert "不是有效的网址" in bad.text
            assert task(engine, notice_id).status == "open"
            [done] = await answer(api, CHIEF, lambda: api.say(CHIEF, EVIDENCE))
            assert f"已办结 #{notice_id}" in done.text
            assert "按时" in done.text
            [again] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"done:{notice_id}"))
            assert "已办结或已取消" in again.text

    asyncio.run(scenario())
    closed = task(engine, notice_id)
    assert (closed.status, closed.evidence_url, closed.timeliness) == ("done", EVIDENCE, "on_time")
    with Session(engine) as session:
        entry = session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "complete", AuditEntry.entity_id == str(notice_id)
            )
        ).one()
        assert verify_chain(session)[1] == []
    assert entry.actor == "王外贸"


def test_a_request_reply_asks_for_outcome_and_service_date(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    reply_id = ledger["tasks"]["trade_reply"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            await answer(api, CHIEF, lambda: api.command(CHIEF, "done", f"#{reply_id}"))
            [groups] = await answer(api, CHIEF, lambda: api.say(CHIEF, EVIDENCE))
            assert "表三" in groups.text
            assert ("予以公开", f"og:{reply_id}:disclosed") in groups.buttons()
            [codes] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"og:{reply_id}:refused"))
            assert ("4.保护第三方合法权益", f"oc:{reply_id}:refused.third_party") in codes.buttons()
            [dates] = await answer(
                api, CHIEF, lambda: api.press(CHIEF, f"oc:{reply_id}:refused.third_party")
            )
            assert ("今天 11-27", f"sd:{reply_id}:2026-11-27") in dates.buttons()
            [bad] = await answer(api, CHIEF, lambda: api.say(CHIEF, "2026-12-25"))
            assert "不晚于今天" in bad.text
            [done] = await answer(api, CHIEF, lambda: api.say(CHIEF, "2026-11-26"))
            assert f"已办结 #{reply_id}" in done.text

    asyncio.run(scenario())
    closed = task(engine, reply_id)
    assert closed.status == "done"
    assert closed.outcome_code == "refused.third_party"
    assert closed.service_date == dt.date(2026, 11, 26)


def test_another_sections_task_is_refused(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    theirs = ledger["tasks"]["finance_notice"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "done", str(theirs)))
            assert f"无权办理任务 #{theirs}" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"done:{theirs}"))
            assert "无权办理" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "done", "abc"))
            assert "用法" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "done", "999999"))
            assert "找不到任务 #999999" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.say(CHIEF, EVIDENCE))
            assert "/tasks" in reply.text  # nothing was asked: the link completes nothing

    asyncio.run(scenario())
    assert task(engine, theirs).status == "open"


def test_leaders_read_but_do_not_act(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    notice_id = ledger["tasks"]["trade_notice"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [listing] = await answer(api, LEADER, lambda: api.command(LEADER, "tasks"))
            assert "待办任务（4 项）" in listing.text
            assert listing.buttons() == []
            [reply] = await answer(api, LEADER, lambda: api.command(LEADER, "done", str(notice_id)))
            assert "只读" in reply.text
            [reply] = await answer(api, LEADER, lambda: api.press(LEADER, f"done:{notice_id}"))
            assert "只读" in reply.text

    asyncio.run(scenario())
    assert task(engine, notice_id).status == "open"


def test_actions_in_a_group_chat_are_refused(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    notice_id = ledger["tasks"]["trade_notice"]
    with session_scope(engine) as session:
        issued = bindings.issue_bind_code(
            session, ledger["people"]["trade_chief"].id, actor=Actor.system("t"), at=at
        )
        bindings.bind_chat(session, issued.code, "-4001", at=at)

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [listing] = await answer(api, -4001, lambda: api.command(-4001, "tasks"))
            assert "待办任务" in listing.text
            [reply] = await answer(api, -4001, lambda: api.press(-4001, f"done:{notice_id}"))
            assert "私聊" in reply.text

    asyncio.run(scenario())
    assert task(engine, notice_id).status == "open"


# --------------------------------------------------------------------------- extensions


def test_a_chief_asks_for_an_extension_and_the_office_approves(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    reply_id = ledger["tasks"]["trade_reply"]
    due_before = task(engine, reply_id).due_date

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [amounts] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"ext:{reply_id}"))
            assert "最多还可延期 20个工作日" in amounts.text
            assert ("10个工作日", f"extn:{reply_id}:10") in amounts.buttons()
            [ask] = await answer(api, CHIEF, lambda: api.press(CHIEF, f"extn:{reply_id}:10"))
            assert "理由" in ask.text
            [sent] = await answer(api, CHIEF, lambda: api.say(CHIEF, "需征求第三方意见"))
            assert "等待办公室审批" in sent.text
            [pending] = await answer(api, OFFICE, lambda: api.command(OFFICE, "pending"))
            assert "王外贸 申请任务" in pending.text
            request_button = pending.buttons()[0][1]
            assert request_button.startswith("xa:")
            [refused] = await answer(api, CHIEF, lambda: api.command(CHIEF, "pending"))
            assert "只有办公室" in refused.text
            [approved] = await answer(api, OFFICE, lambda: api.press(OFFICE, request_button))
            assert "已批准" in approved.text

    asyncio.run(scenario())
    extended = task(engine, reply_id)
    assert extended.extended_by == 10
    assert due_before is not None
    assert extended.due_date is not None
    assert extended.due_date > due_before
    with Session(engine) as session:
        request = session.exec(select(ExtensionRequest)).one()
        told = session.exec(
            select(OutboxMessage).where(OutboxMessage.stage == "extension-decision")
        ).one()
    assert (request.status, request.decided_by) == ("approved", "李办公")
    assert told.person_id == ledger["people"]["trade_chief"].id


def test_a_task_that_cannot_be_extended_says_so(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    notice_id = ledger["tasks"]["trade_notice"]

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "extend", str(notice_id)))
            assert "不能（再）延期" in reply.text

    asyncio.run(scenario())


# --------------------------------------------------------------------------- stats, robustness


def test_stats_show_the_rate_with_its_denominator(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    from db import tasks as ops

    with session_scope(engine) as session:
        ops.complete(
            session,
            ledger["tasks"]["trade_notice"],
            domain,
            actor=Actor.system("t"),
            at=at,
            evidence=EVIDENCE,
        )

    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            [chief] = await answer(api, CHIEF, lambda: api.command(CHIEF, "stats"))
            assert "2026 年按时率" in chief.text
            assert "外贸科：100.0%（按时 1 + 延期内办结 0，共 1 项" in chief.text
            assert "财务科" not in chief.text
            assert "分母" in chief.text
            [office] = await answer(api, OFFICE, lambda: api.command(OFFICE, "stats"))
            assert "财务科：—" in office.text
            assert "合计：100.0%" in office.text

    asyncio.run(scenario())


def test_malformed_updates_and_forged_buttons_do_not_stop_the_bot(
    engine: Engine, ledger: Any, domain: Any, at: dt.datetime
) -> None:
    async def scenario() -> None:
        async with running_bot(engine, domain, at) as (api, _):
            api.feed({"message": {"text": "no chat, no date"}})
            api.feed({"callback_query": {"id": "1", "data": "done:1"}})
            api.feed({"edited_message": "not even an object"})
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "help"))
            assert "/tasks" in reply.text
            for data in ("done:abc", "zzz", "og:1:nonsense", "done:1:2", "x" * 64):
                api.press(CHIEF, data)
            await api.wait_for(lambda a: len(a.callback_answers) == 5)
            assert all("失效" in a.get("text", "") for a in api.callback_answers)
            # Well-formed but answering no question the bot asked: a plain "no longer valid".
            [reply] = await answer(api, CHIEF, lambda: api.press(CHIEF, "sd:1:2026-11-27"))
            assert "失效" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "nonsense"))
            assert "不认识这个命令" in reply.text
            [reply] = await answer(api, CHIEF, lambda: api.command(CHIEF, "cancel"))
            assert "没有进行中的操作" in reply.text
            await api.wait_idle()

    asyncio.run(scenario())


def test_english_texts(engine: Engine, ledger: Any, domain: Any, at: dt.datetime) -> None:
    async def scenario() -> None:
        async with running_bot(engine, domain, at, lang="en") as (api, _):
            [reply] = await answer(api, STRANGER, lambda: api.command(STRANGER, "start"))
            assert "ask the office for a binding code" in reply.text
            [listing] = await answer(api, CHIEF, lambda: api.command(CHIEF, "tasks"))
            assert "Open tasks (2)" in listing.text
            assert "working days left" in listing.text

    asyncio.run(scenario())
