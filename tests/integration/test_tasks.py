"""Lifecycle operations: the one write path for task state (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db import tasks as ops
from db.audit import verify_chain
from db.context import Actor, PermissionDenied
from db.engine import session_scope
from db.errors import LedgerError, NotFoundError, TransitionError
from db.models import AuditEntry, ClockEventRow, Task
from db.spawn import record_event
from obligations.errors import ExtensionCapError, ObligationsError

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


def request(
    engine: Engine, domain: Any, system: Actor, *, received: dt.datetime, external_id: str = "R-1"
) -> int:
    """A disclosure request handed in person to 外贸科; returns its request-reply task id."""
    with session_scope(engine) as session:
        result = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=received,
            actor=system,
            at=received + dt.timedelta(hours=1),
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            external_id=external_id,
            section_code="foreign-trade",
            title="申请公开2025年外贸统计",
        )
        reply = session.exec(
            select(Task).where(
                Task.event_id == result.event.id, Task.obligation_code == "request-reply"
            )
        ).one()
        assert reply.id is not None
        return reply.id


def snapshot(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Task)).one(),
            session.exec(select(func.count()).select_from(ClockEventRow)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one(),
        )


def task(engine: Engine, task_id: int) -> Task:
    with Session(engine) as session:
        found = session.get(Task, task_id)
        assert found is not None
        return found


def test_request_due_and_on_time_completion(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    assert task(engine, task_id).due_date == dt.date(2026, 3, 30)
    with session_scope(engine) as session:
        done = ops.complete(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 3, 21, 9),
            evidence="https://www.example.gov.cn/zwgk/1.html",
            outcome_code="disclosed",
            service_date=dt.date(2026, 3, 20),
        )
    assert done.status == "done"
    assert done.timeliness == "on_time"
    assert done.working_days_margin == 6  # 03-23..27 and 03-30 were still ahead
    assert done.next_action_at is None


def test_pause_resume_extend_then_extended_on_time(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 11, 20, 10))
    with session_scope(engine) as session:
        ops.pause(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 11, 25, 9),
            reason="征求第三方意见",
        )
    assert task(engine, task_id).status == "paused"
    assert task(engine, task_id).due_at is None
    assert task(engine, task_id).next_action_at is None
    with session_scope(engine) as session:
        ops.resume(session, task_id, domain, actor=system, at=local(2026, 12, 1, 9))
    assert task(engine, task_id).due_date == dt.date(2026, 12, 24)  # 4 working days paused
    with session_scope(engine) as session:
        extended = ops.extend(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 12, 2, 9),
            amount=10,
            approver="王主任",
            reason="材料较多",
        )
    assert extended.due_date == dt.date(2027, 1, 8)
    assert extended.provisional  # 2027 has no notice yet
    with session_scope(engine) as session:
        done = ops.complete(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2027, 1, 5, 9),
            evidence="https://www.example.gov.cn/ysq/2.html",
            outcome_code="partial",
            service_date=dt.date(2027, 1, 4),
        )
    assert done.timeliness == "extended_on_time"
    assert done.extended


def test_late_completion(engine: Engine, bureau: Any, domain: Any, system: Actor) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    with session_scope(engine) as session:
        done = ops.complete(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 4, 3, 9),
            evidence="https://www.example.gov.cn/ysq/3.html",
            outcome_code="disclosed",
            service_date=dt.date(2026, 4, 2),
        )
    assert done.timeliness == "late"
    assert done.working_days_margin == -3  # 03-31, 04-01, 04-02


def test_restart_after_correction_starts_over(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    with session_scope(engine) as session:
        restarted = ops.restart(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 3, 10, 9),
            received=local(2026, 3, 9, 15),
        )
    assert restarted.due_date == dt.date(2026, 4, 7)  # 20 WD from 03-09 (清明 04-04..06)


def test_cancel_and_reopen(engine: Engine, bureau: Any, domain: Any, system: Actor) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    with session_scope(engine) as session:
        ops.cancel(
            session, task_id, domain, actor=system, at=local(2026, 3, 3, 9), reason="重复登记"
        )
    assert task(engine, task_id).status == "cancelled"
    with session_scope(engine) as session:
        reopened = ops.reopen(
            session, task_id, domain, actor=system, at=local(2026, 3, 4, 9), reason="误撤销"
        )
    assert reopened.status == "open"
    assert reopened.cancel_reason is None
    assert reopened.next_action_at is not None


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda s, d, a, t: ops.complete(
                s,
                t,
                d,
                actor=a,
                at=local(2026, 3, 5, 9),
                evidence="ftp://x/y",
                outcome_code="disclosed",
                service_date=dt.date(2026, 3, 5),
            ),
            LedgerError,
            r"not an http\(s\) URL",
        ),
        (
            lambda s, d, a, t: ops.complete(
                s,
                t,
                d,
                actor=a,
                at=local(2026, 3, 5, 9),
                evidence="https://x.cn/1",
                outcome_code="nonsense",
                service_date=dt.date(2026, 3, 5),
            ),
            ObligationsError,
            "unknown outcome code 'nonsense'",
        ),
        (
            lambda s, d, a, t: ops.complete(
                s, t, d, actor=a, at=local(2026, 3, 5, 9), evidence="https://x.cn/1"
            ),
            LedgerError,
            "--outcome",
        ),
        (
            lambda s, d, a, t: ops.extend(
                s, t, d, actor=a, at=local(2026, 3, 5, 9), amount=21, approver="王主任"
            ),
            ExtensionCapError,
            "the cap is 20 working days",
        ),
        (
            lambda s, d, a, t: ops.resume(s, t, d, actor=a, at=local(2026, 3, 5, 9)),
            TransitionError,
            "must be paused",
        ),
        (
            lambda s, d, a, t: ops.reopen(s, t, d, actor=a, at=local(2026, 3, 5, 9), reason="x"),
            TransitionError,
            "cannot reopen",
        ),
        (
            lambda s, d, a, t: ops.cancel(s, t, d, actor=a, at=local(2026, 3, 5, 9), reason=" "),
            LedgerError,
            "needs a reason",
        ),
        (
            lambda s, d, a, t: ops.complete(
                s, 999_999, d, actor=a, at=local(2026, 3, 5, 9), evidence="https://x.cn/1"
            ),
            NotFoundError,
            "task 999999 does not exist",
        ),
        (
            lambda s, d, a, t: ops.cancel(
                s, t, d, actor=a, at=local(2026, 3, 5, 9), reason="误\x00登记"
            ),
            LedgerError,
            "control character U\\+0000",
        ),
    ],
    ids=[
        "bad-url",
        "bad-outcome",
        "missing-outcome",
        "over-cap",
        "resume-open",
        "reopen-open",
        "blank-reason",
        "unknown-task",
        "nul-byte",
    ],
)
def test_bad_operations_are_refused_and_change_nothing(
    engine: Engine,
    bureau: Any,
    domain: Any,
    system: Actor,
    call: Any,
    error: type[Exception],
    message: str,
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    before = snapshot(engine)
    with pytest.raises(error, match=message), session_scope(engine) as session:
        call(session, domain, system, task_id)
    assert snapshot(engine) == before


def test_second_extension_is_refused(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    with session_scope(engine) as session:
        ops.extend(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 3, 20, 9),
            amount=5,
            approver="王主任",
        )
    with (
        pytest.raises(ExtensionCapError, match="at most 1 allowed"),
        session_scope(engine) as session,
    ):
        ops.extend(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 3, 21, 9),
            amount=5,
            approver="王主任",
        )


def test_permissions(engine: Engine, bureau: Any, domain: Any, system: Actor) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    agency_id = bureau["agency"].id
    sections = bureau["sections"]
    trade_chief = Actor(
        "王外贸", role="chief", agency_id=agency_id, section_id=sections["foreign-trade"].id
    )
    other_chief = Actor(
        "钱外资", role="chief", agency_id=agency_id, section_id=sections["foreign-investment"].id
    )
    leader = Actor("赵局长", role="leader", agency_id=agency_id)
    stranger = Actor("孙他局", role="office", agency_id=agency_id + 1000)
    evidence = "https://www.example.gov.cn/ysq/9.html"
    for actor, pattern in [
        (other_chief, "own section"),
        (leader, "read-only"),
        (stranger, "another agency"),
    ]:
        with pytest.raises(PermissionDenied, match=pattern), session_scope(engine) as session:
            ops.complete(
                session,
                task_id,
                domain,
                actor=actor,
                at=local(2026, 3, 5, 9),
                evidence=evidence,
                outcome_code="disclosed",
                service_date=dt.date(2026, 3, 5),
            )
    with pytest.raises(PermissionDenied, match="only the office"), session_scope(engine) as session:
        ops.extend(
            session,
            task_id,
            domain,
            actor=trade_chief,
            at=local(2026, 3, 5, 9),
            amount=5,
            approver="王外贸",
        )
    with session_scope(engine) as session:
        done = ops.complete(
            session,
            task_id,
            domain,
            actor=trade_chief,
            at=local(2026, 3, 5, 9),
            evidence=evidence,
            outcome_code="disclosed",
            service_date=dt.date(2026, 3, 5),
        )
    assert done.status == "done"


def test_every_operation_is_audited_in_an_intact_chain(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    with session_scope(engine) as session:
        ops.pause(
            session, task_id, domain, actor=system, at=local(2026, 3, 3, 9), reason="征求第三方意见"
        )
    with session_scope(engine) as session:
        ops.resume(session, task_id, domain, actor=system, at=local(2026, 3, 6, 9))
    with session_scope(engine) as session:
        ops.complete(
            session,
            task_id,
            domain,
            actor=system,
            at=local(2026, 3, 9, 9),
            evidence="https://www.example.gov.cn/ysq/5.html",
            outcome_code="disclosed",
            service_date=dt.date(2026, 3, 9),
        )
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "task", AuditEntry.entity_id == str(task_id))
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        ).all()
        assert actions == ["create", "pause", "resume", "complete"]
        checked, problems = verify_chain(session)
    assert problems == []
    assert checked >= 5


def test_rule_snapshot_survives_catalog_change(
    engine: Engine, bureau: Any, domain: Any, system: Actor, tmp_path: Any
) -> None:
    task_id = request(engine, domain, system, received=local(2026, 3, 2, 10))
    (tmp_path / "local.yaml").write_text(
        "code: request-reply\ndeadline: {amount: 10}\n", encoding="utf-8"
    )
    changed = domain.__class__(
        catalog=domain.catalog.with_overrides(tmp_path), calendar=domain.calendar, tz=domain.tz
    )
    with session_scope(engine) as session:
        ops.pause(
            session, task_id, changed, actor=system, at=local(2026, 3, 3, 9), reason="征求意见"
        )
    with session_scope(engine) as session:
        resumed = ops.resume(session, task_id, changed, actor=system, at=local(2026, 3, 4, 9))
    assert resumed.rule["deadline"]["amount"] == 20
    assert resumed.due_date == dt.date(2026, 3, 31)  # 20 WD + 1 paused, not the new 10
    fresh = request(engine, changed, system, received=local(2026, 3, 2, 10), external_id="R-2")
    assert task(engine, fresh).due_date == dt.date(2026, 3, 16)
