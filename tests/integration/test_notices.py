"""Loading a State Council notice recomputes the open tasks whose dates it moves."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db.context import Actor, PermissionDenied
from db.engine import session_scope
from db.models import AuditEntry, CalendarNotice, Task
from db.notices import calendar_from_db, load_notice
from db.spawn import record_event
from obligations.errors import NoticeError

TZ = ZoneInfo("Asia/Shanghai")

# A made-up 2027 notice for the test: 元旦 Fri 01-01..Sun 01-03, make-up working day Sat 01-09,
# 春节 02-05..02-11 with make-up Sat 02-13.
NOTICE_2027 = """\
year: 2027
title: 国务院办公厅关于2027年部分节假日安排的通知（测试用）
number: 国办发明电〔2026〕99号
published: 2026-11-10
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-05, to: 2027-02-11}
makeup_workdays:
  - {date: 2027-01-09, for: 元旦}
  - {date: 2027-02-13, for: 春节}
"""


def request(
    engine: Engine, domain: Any, system: Actor, received: dt.datetime, external_id: str
) -> int:
    with session_scope(engine) as session:
        result = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=received,
            actor=system,
            at=received,
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            external_id=external_id,
            section_code="foreign-trade",
        )
        return session.exec(
            select(Task.id).where(
                Task.event_id == result.event.id, Task.obligation_code == "request-reply"
            )
        ).one()  # type: ignore[return-value]


def test_loading_a_notice_moves_affected_tasks(
    engine: Engine, bureau: Any, domain: Any, system: Actor
) -> None:
    into_2027 = request(engine, domain, system, dt.datetime(2026, 12, 14, 10, tzinfo=TZ), "R-2027")
    within_2026 = request(engine, domain, system, dt.datetime(2026, 3, 2, 10, tzinfo=TZ), "R-2026")
    with Session(engine) as session:
        before = session.get(Task, into_2027)
        assert before is not None
        assert before.provisional
        assert before.due_date == dt.date(2027, 1, 12)  # estimate: 01-01 off, no make-up day
    with session_scope(engine) as session:
        result, new_domain = load_notice(
            session,
            domain,
            text=NOTICE_2027,
            source="2027.yaml",
            actor=system,
            at=dt.datetime(2026, 12, 15, 9, tzinfo=TZ),
        )
    assert [moved.task_id for moved in result.moved] == [into_2027]
    assert result.moved[0].due_after == dt.date(2027, 1, 11)  # Sat 01-09 now counts
    with Session(engine) as session:
        after = session.get(Task, into_2027)
        untouched = session.get(Task, within_2026)
        assert after is not None
        assert untouched is not None
        assert after.due_date == dt.date(2027, 1, 11)
        assert not after.provisional
        assert untouched.due_date == dt.date(2026, 3, 30)
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "recalculate")).all()
        assert [entry.entity_id for entry in audit] == [str(into_2027)]
        assert calendar_from_db(session).year_status(2027).value == "official"
    assert new_domain.calendar.is_workday(dt.date(2027, 1, 9))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (NOTICE_2027.replace("2027-01-09", "2027-01-08"), "2027-01-08 is a weekday"),
        (NOTICE_2027.replace("number: 国办发明电〔2026〕99号\n", ""), "cite its document"),
        ("year: [", "YAML syntax error"),
    ],
)
def test_bad_notice_is_refused_and_nothing_stored(
    engine: Engine, bureau: Any, domain: Any, system: Actor, text: str, message: str
) -> None:
    with pytest.raises(NoticeError, match=message), session_scope(engine) as session:
        load_notice(
            session,
            domain,
            text=text,
            source="bad.yaml",
            actor=system,
            at=dt.datetime(2026, 12, 15, 9, tzinfo=TZ),
        )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(CalendarNotice)).one() == 0


def test_only_the_office_loads_notices(engine: Engine, bureau: Any, domain: Any) -> None:
    chief = Actor("王外贸", role="chief", agency_id=bureau["agency"].id)
    with pytest.raises(PermissionDenied), session_scope(engine) as session:
        load_notice(
            session,
            domain,
            text=NOTICE_2027,
            source="2027.yaml",
            actor=chief,
            at=dt.datetime(2026, 12, 15, 9, tzinfo=TZ),
        )
