"""Sweep → outbox → deliver: digests per person and window, no double sends, failures handled."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db import tasks as ops
from db.context import Actor
from db.engine import session_scope
from db.models import ChatAddress, Delivery, OutboxMessage, Person, Task
from db.spawn import record_event
from db.sweep import has_due_tasks, sweep
from notifier.base import Delivery as Sent
from notifier.base import Message, PermanentDeliveryError, TransientDeliveryError
from notifier.channels.console import ConsoleChannel
from notifier.deliver import deliver

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


class Recorder:
    """A channel that records what it sends and can be told to fail."""

    def __init__(self, kind: str = "telegram") -> None:
        self.kind = kind
        self.sent: list[tuple[str, Message]] = []
        self.fail: list[Exception] = []

    async def send(self, address: str, message: Message) -> Sent:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((address, message))
        return Sent(channel=self.kind, address=address)


@pytest.fixture
def ledger(engine: Engine, bureau: Any, domain: Any, system: Actor) -> dict[str, Any]:
    """The bureau with chat addresses and a request received Fri 2026-11-20 (due 12-18)."""
    people = bureau["people"]
    with session_scope(engine) as session:
        session.add(
            ChatAddress(person_id=people["trade_chief"].id, channel="telegram", address="1001")
        )
        session.add(ChatAddress(person_id=people["office"].id, channel="telegram", address="2001"))
        session.add(
            ChatAddress(
                person_id=people["leader"].id, channel="email", address="leader@example.gov.cn"
            )
        )
        result = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=local(2026, 11, 20, 10),
            actor=system,
            at=local(2026, 11, 20, 10),
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            section_code="foreign-trade",
            title="申请公开外贸统计",
        )
    return {"task_ids": result.task_ids, **bureau}


def run_sweep(engine: Engine, domain: Any, at: dt.datetime) -> Any:
    with session_scope(engine) as session:
        return sweep(session, domain, at=at, worker="test")


def run_deliver(engine: Engine, domain: Any, channels: dict[str, Any], at: dt.datetime) -> Any:
    return asyncio.run(
        deliver(
            engine, domain, channels, at=at, worker="test", dashboard_url="http://127.0.0.1:8000"
        )
    )


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_reminder_digest_reaches_the_chief_once(engine: Engine, ledger: Any, domain: Any) -> None:
    telegram = Recorder()
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    # 补正告知 (7 WD → due 12-01) reminds 2 WD before: Thu 11-27 09:00.
    at = local(2026, 11, 27, 9, 0)
    report = run_sweep(engine, domain, at)
    assert report.claimed >= 1
    assert report.outbox_rows == 1
    assert run_sweep(engine, domain, at).outbox_rows == 0  # second sweep: nothing new
    delivered = run_deliver(engine, domain, channels, at)
    assert delivered.messages == 1
    address, message = telegram.sent[0]
    assert address == "1001"
    assert message.items[0].state == "due_soon"
    assert message.items[0].days == 2
    assert run_deliver(engine, domain, channels, at).messages == 0  # nothing sent twice
    assert len(telegram.sent) == 1


def test_catch_up_after_downtime_sends_one_digest_and_keeps_every_stage(
    engine: Engine, ledger: Any, domain: Any
) -> None:
    telegram = Recorder()
    email = Recorder("email")
    channels = {"telegram": telegram, "email": email, "console": ConsoleChannel()}
    # Down from 11-26 until Mon 12-21 10:00: both tasks passed every reminder; the correction
    # notice (due 12-01) is 14 WD overdue, past both escalations; the reply (12-18) is 1 WD late.
    at = local(2026, 12, 21, 10, 0)
    report = run_sweep(engine, domain, at)
    assert report.stages >= 8
    delivered = run_deliver(engine, domain, channels, at)
    chief_digests = [m for a, m in telegram.sent if a == "1001"]
    assert len(chief_digests) == 1
    states = {item.task_id: item.state for item in chief_digests[0].items}
    assert sorted(states.values()) == ["overdue", "overdue"]
    # escalations went to the office (immediately) and to the leader by e-mail
    assert any(a == "2001" for a, _ in telegram.sent)
    assert len(email.sent) == 1
    assert delivered.failed_rows == 0
    with Session(engine) as session:
        pending = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        ).one()
        assert pending == 0
        tasks = session.exec(
            select(Task).where(Task.obligation_code == "request-correction-notice")
        ).one()
        assert tasks.next_action_at is None  # every stage handed out


def test_second_digest_in_the_same_window_waits_for_the_next(
    engine: Engine, ledger: Any, domain: Any
) -> None:
    telegram = Recorder()
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    run_sweep(engine, domain, local(2026, 11, 27, 9, 0))
    run_deliver(engine, domain, channels, local(2026, 11, 27, 9, 0))
    # A request received 11-17 is registered late (14:00): its correction notice is already
    # overdue, so the 15:00 sweep has digest rows for the chief in the window already used.
    with session_scope(engine) as session:
        record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=local(2026, 11, 17, 10),
            actor=Actor.system("t"),
            at=local(2026, 11, 27, 14),
            attributes={"applicant_type": "other", "channel": "in_person"},
            section_code="foreign-trade",
        )
    report = run_sweep(engine, domain, local(2026, 11, 27, 15, 0))
    assert report.outbox_rows >= 1
    delivered = run_deliver(engine, domain, channels, local(2026, 11, 27, 15, 0))
    assert delivered.postponed_rows >= 1
    chief = [m for a, m in telegram.sent if a == "1001"]
    assert len(chief) == 1
    assert [a for a, m in telegram.sent if m.urgent] == ["2001"]  # the escalation is immediate
    delivered = run_deliver(engine, domain, channels, local(2026, 11, 30, 9, 0))  # Monday
    assert delivered.messages == 1
    chief = [m for a, m in telegram.sent if a == "1001"]
    assert len(chief) == 2
    assert {item.state for item in chief[1].items} == {"overdue"}


def test_transient_error_is_retried_with_backoff(engine: Engine, ledger: Any, domain: Any) -> None:
    telegram = Recorder()
    telegram.fail.append(TransientDeliveryError("429 Too Many Requests", retry_after=30))
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    at = local(2026, 11, 27, 9, 0)
    run_sweep(engine, domain, at)
    first = run_deliver(engine, domain, channels, at)
    assert first.retried_rows == 1
    assert telegram.sent == []
    assert (
        run_deliver(engine, domain, channels, at + dt.timedelta(seconds=10)).claimed == 0
    )  # not yet
    second = run_deliver(engine, domain, channels, at + dt.timedelta(seconds=31))
    assert second.messages == 1
    with Session(engine) as session:
        outcomes = session.exec(select(Delivery.outcome).order_by(Delivery.id)).all()  # type: ignore[arg-type]
    assert outcomes == ["transient", "sent"]


def test_permanent_error_disables_the_address_and_tells_the_office(
    engine: Engine, ledger: Any, domain: Any
) -> None:
    telegram = Recorder()
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    at = local(2026, 11, 27, 9, 0)
    run_sweep(engine, domain, at)
    telegram.fail.append(PermanentDeliveryError("Forbidden: bot was blocked by the user"))
    report = run_deliver(engine, domain, channels, at)
    assert report.disabled_addresses == ["王外贸/telegram"]
    with Session(engine) as session:
        address = session.exec(select(ChatAddress).where(ChatAddress.address == "1001")).one()
        assert not address.enabled
        assert "blocked" in (address.disabled_reason or "")
    # The digest fell back to the console; the office hears of the failure on the next pass.
    run_deliver(engine, domain, channels, at + dt.timedelta(seconds=1))
    office_messages = [m for a, m in telegram.sent if a == "2001"]
    assert office_messages
    assert "王外贸" in (office_messages[0].notice or "")


def test_task_done_before_delivery_is_not_sent(
    engine: Engine, ledger: Any, domain: Any, system: Actor
) -> None:
    telegram = Recorder()
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    at = local(2026, 11, 27, 9, 0)
    run_sweep(engine, domain, at)
    with Session(engine) as session:
        notice_task = session.exec(
            select(Task).where(Task.obligation_code == "request-correction-notice")
        ).one()
    with session_scope(engine) as session:
        ops.complete(
            session,
            notice_task.id or 0,
            domain,
            actor=system,
            at=at,
            evidence="https://www.example.gov.cn/bz/1.html",
        )
    report = run_deliver(engine, domain, channels, at + dt.timedelta(minutes=1))
    assert report.skipped_rows == 1
    assert telegram.sent == []


def test_a_failing_channel_does_not_stop_others(engine: Engine, ledger: Any, domain: Any) -> None:
    class Broken:
        kind = "email"

        async def send(self, address: str, message: Message) -> Sent:
            raise RuntimeError("smtp library bug")

    telegram = Recorder()
    channels = {"telegram": telegram, "email": Broken(), "console": ConsoleChannel()}
    at = local(2026, 12, 21, 10, 0)
    run_sweep(engine, domain, at)
    report = run_deliver(engine, domain, channels, at)
    assert report.retried_rows >= 1  # the leader's e-mail
    assert any(a == "1001" for a, _ in telegram.sent)
    assert count(engine, Person) == 3


def test_monthly_bulletin_is_pushed_to_the_office_once(
    engine: Engine, ledger: Any, domain: Any
) -> None:
    from flows.jobs import bulletin_job
    from reports.hooks import bulletin

    telegram = Recorder()
    channels = {"telegram": telegram, "console": ConsoleChannel()}
    at = local(2026, 12, 1, 8, 0)
    bulletin_job(engine, domain, at=at, build=bulletin)
    bulletin_job(engine, domain, at=at, build=bulletin)  # a retried run queues nothing new
    run_deliver(engine, domain, channels, at)
    office = [m for a, m in telegram.sent if a == "2001"]
    assert len(office) == 1
    assert "2026年11月" in (office[0].notice or "")
    assert all(a != "1001" for a, _ in telegram.sent)  # chiefs are not sent the bulletin


def test_due_check_finds_due_tasks_and_reads_beside_a_writer(
    engine: Engine, ledger: Any, domain: Any
) -> None:
    with Session(engine) as session:
        first = session.exec(
            select(func.min(Task.next_action_at)).where(Task.next_action_at.is_not(None))  # type: ignore[union-attr]
        ).one()
    assert first is not None
    assert not has_due_tasks(engine, at=first - dt.timedelta(seconds=1))
    assert has_due_tasks(engine, at=first)

    # A writer holds the ledger's write lock (SQLite: BEGIN IMMEDIATE) and has not committed.
    # The minute check must answer from its snapshot rather than wait for the lock.
    answers: list[bool] = []
    with session_scope(engine) as writer:
        task = writer.get(Task, ledger["task_ids"][0])
        assert task is not None
        task.next_action_at = None
        writer.add(task)
        writer.flush()
        checker = threading.Thread(target=lambda: answers.append(has_due_tasks(engine, at=first)))
        checker.start()
        checker.join(timeout=10)  # the busy timeout is 30 s: a waiting check is still waiting
        assert not checker.is_alive(), "the due check waited for the writer's lock"
    assert answers == [True]  # the snapshot before the writer's uncommitted change
