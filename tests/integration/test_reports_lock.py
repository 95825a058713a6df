"""Locking a published year: the filed figures are reproduced, edits that would change them
are refused, and later work on carried-over tasks goes on (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from db import tasks as ledger
from db.cases import decide_case, record_case, set_figure
from db.context import Actor, Domain, PermissionDenied
from db.engine import session_scope
from db.locks import YearLockedError
from db.models import AuditEntry, Task, YearLock
from db.spawn import record_event
from reports.compile import compile_year
from reports.errors import LockError
from reports.lock import lock_year, unlock_year
from reports.render import render_year
from reports.scope import resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
CODE = "xm-commerce"


def moment(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), TZ)


def new_request(
    session: Session, domain: Domain, actor: Actor, at: dt.datetime, received: str
) -> int:
    result = record_event(
        session,
        domain,
        agency_code=CODE,
        event_type_name="request_received",
        occurred_at=moment(received, 9),
        actor=actor,
        at=at,
        attributes={"applicant_type": "natural_person", "channel": "in_person"},
        section_code="foreign-trade",
        title=f"申请 {received}",
    )
    for task_id in result.task_ids:
        task = session.get(Task, task_id)
        assert task is not None
        if task.obligation_code == "request-reply":
            return task_id
    raise AssertionError("no reply task")


def answer(
    session: Session, domain: Domain, actor: Actor, at: dt.datetime, task_id: int, on: str
) -> None:
    ledger.complete(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        evidence=f"https://www.example.gov.cn/ysq/{task_id}",
        done_at=moment(on, 16),
        outcome_code="disclosed",
        service_date=dt.date.fromisoformat(on),
    )


@pytest.fixture
def locked_2025(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> dict[str, Any]:
    """2025 with an answered request, one still open (overdue) at the year end, then locked."""
    jan = moment("2026-01-20")
    with session_scope(engine) as session:
        answered = new_request(session, domain, system, jan, "2025-03-03")
        answer(session, domain, system, jan, answered, "2025-03-20")
        overdue = new_request(session, domain, system, jan, "2025-11-03")
        result = lock_year(session, year=2025, at=jan, tz=TZ, actor=system, agency_code=CODE)
    assert result.created
    return {"answered": answered, "overdue": overdue, "result": result}


def test_lock_stores_the_figures_and_refuses_edits_to_the_locked_year(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, locked_2025: dict[str, Any]
) -> None:
    answered, overdue = locked_2025["answered"], locked_2025["overdue"]
    figures = locked_2025["result"].figures
    assert figures.table3.value("new") == 2
    assert figures.table3.value("carried_out") == 1
    with (
        session_scope(engine) as session,
        pytest.raises(YearLockedError, match="year 2025 is locked"),
    ):
        ledger.reopen(session, answered, domain, actor=system, at=at, reason="更正")
    with session_scope(engine) as session, pytest.raises(YearLockedError, match="inside 2025"):
        answer(session, domain, system, at, overdue, "2025-12-30")
    with (
        session_scope(engine) as session,
        pytest.raises(YearLockedError, match="deadline can no longer change"),
    ):
        ledger.extend(session, overdue, domain, actor=system, at=at, amount=5, approver="李办公")
    with session_scope(engine) as session, pytest.raises(YearLockedError):
        ledger.cancel(session, overdue, domain, actor=system, at=at, reason="误登")
    with session_scope(engine) as session, pytest.raises(YearLockedError):
        set_figure(
            session,
            agency_code=CODE,
            year=2025,
            key="table2.fees.amount",
            value=1,
            actor=system,
            at=at,
        )
    with session_scope(engine) as session, pytest.raises(YearLockedError):
        record_case(
            session,
            agency_code=CODE,
            kind="review",
            filed_on=dt.date(2025, 6, 1),
            actor=system,
            at=at,
            tz=TZ,
        )
    # Work on the carried-over request goes on: answered late, in 2026.
    with session_scope(engine) as session:
        answer(session, domain, system, at, overdue, "2026-02-10")
        case = record_case(
            session,
            agency_code=CODE,
            kind="review",
            filed_on=dt.date(2026, 3, 1),
            actor=system,
            at=at,
            tz=TZ,
        ).case
        decide_case(
            session,
            case.id or 0,
            result="upheld",
            closed_on=dt.date(2026, 5, 1),
            actor=system,
            at=at,
            tz=TZ,
        )
    with session_scope(engine) as session:
        scope = resolve_scope(session, system)
        filed = compile_year(session, year=2025, at=at, tz=TZ, scope=scope)
        live = compile_year(session, year=2025, at=at, tz=TZ, scope=scope, use_locks=False)
        following = compile_year(session, year=2026, at=at, tz=TZ, scope=scope)
    assert filed.figures.locked is not None
    assert filed.figures.model_dump(exclude={"locked"}) == figures.model_dump(exclude={"locked"})
    assert filed.figures.table3.value("carried_out") == 1
    assert live.figures.locked is None
    assert following.figures.table3.value("carried_in") == 1
    assert following.figures.table3.value("total") == 1
    assert all(check.ok for check in following.figures.table3.checks)
    assert "锁定" in render_year(filed, "html").decode("utf-8")


def test_lock_is_audited_idempotent_and_detects_tampering(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, locked_2025: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        entries = session.exec(
            select(AuditEntry).where(col(AuditEntry.entity) == "year_lock")
        ).all()
        assert [entry.entity_id for entry in entries] == [f"{CODE}/2025"]
        again = lock_year(session, year=2025, at=at, tz=TZ, actor=system, agency_code=CODE)
        assert not again.created
        assert again.lock.digest == locked_2025["result"].lock.digest
    with session_scope(engine) as session:
        lock = session.exec(select(YearLock)).one()
        changed = dict(lock.figures)
        changed["figures"] = {**changed["figures"], "sentences": ["篡改"]}
        session.connection().execute(
            text("UPDATE year_lock SET figures = :figures WHERE id = :id").bindparams(),
            {"figures": __import__("json").dumps(changed, ensure_ascii=False), "id": lock.id},
        )
    with session_scope(engine) as session:
        scope = resolve_scope(session, system)
        with pytest.raises(LockError, match="do not match their digest"):
            compile_year(session, year=2025, at=at, tz=TZ, scope=scope)


def test_a_year_that_is_not_over_cannot_be_locked(
    engine: Engine, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session, pytest.raises(LockError, match="not over"):
        lock_year(session, year=2026, at=at, tz=TZ, actor=system, agency_code=CODE)


def test_an_event_back_dated_into_a_locked_year_is_refused(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, locked_2025: dict[str, Any]
) -> None:
    with Session(engine) as session:
        events_before = len(session.exec(text("SELECT id FROM event")).all())  # type: ignore[call-overload]
    with (
        session_scope(engine) as session,
        pytest.raises(YearLockedError, match="inside 2025"),
    ):
        record_event(
            session,
            domain,
            agency_code=CODE,
            event_type_name="request_received",
            occurred_at=moment("2025-12-30"),
            actor=system,
            at=at,
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            section_code="foreign-trade",
        )
    with Session(engine) as session:
        assert len(session.exec(text("SELECT id FROM event")).all()) == events_before  # type: ignore[call-overload]


def test_unlock_is_for_the_office_audited_and_lets_the_year_change(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, locked_2025: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        agency_id = session.exec(select(YearLock)).one().agency_id
    chief = Actor(name="王外贸", role="chief", agency_id=agency_id, section_id=None)
    leader = Actor(name="赵局长", role="leader", agency_id=agency_id)
    for who in (chief, leader):
        with session_scope(engine) as session, pytest.raises(PermissionDenied):
            unlock_year(session, year=2025, at=at, actor=who, reason="更正", agency_code=CODE)
    with session_scope(engine) as session, pytest.raises(LockError, match="give the reason"):
        unlock_year(session, year=2025, at=at, actor=system, reason=" ", agency_code=CODE)
    with session_scope(engine) as session:
        assert session.exec(select(YearLock)).one().year == 2025  # still locked
        removed = unlock_year(
            session, year=2025, at=at, actor=system, reason="更正已公开年报", agency_code=CODE
        )
    assert removed.digest == locked_2025["result"].lock.digest
    with session_scope(engine) as session:
        assert session.exec(select(YearLock)).all() == []
        ledger.reopen(session, locked_2025["answered"], domain, actor=system, at=at, reason="更正")
        entry = session.exec(select(AuditEntry).where(col(AuditEntry.action) == "unlock")).one()
        assert entry.before is not None
        assert entry.before["digest"] == removed.digest
        assert entry.after == {"reason": "更正已公开年报"}
    with session_scope(engine) as session, pytest.raises(LockError, match="not locked"):
        unlock_year(session, year=2025, at=at, actor=system, reason="again", agency_code=CODE)
    with session_scope(engine) as session:
        again = lock_year(session, year=2025, at=at, tz=TZ, actor=system, agency_code=CODE)
    assert again.created
    assert again.lock.digest != removed.digest  # the reopened request changed the figures
