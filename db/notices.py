"""Calendar notices in the ledger: stored texts, the calendar built from them, and loading
a new notice — which recomputes every open task whose dates it can move."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, col, or_, select

from db.audit import AuditWriter
from db.context import Actor, Domain
from db.models import CalendarNotice, Task, TaskStatus
from db.tasks import recompute, task_state
from obligations.workdays import (
    CROSS_YEAR_DAYS,
    HolidayNotice,
    WorkdayCalendar,
    parse_notice,
    shipped_notices,
)


@dataclass
class MovedTask:
    task_id: int
    agency_id: int
    section_id: int
    title: str
    due_before: dt.date | None
    due_after: dt.date | None


@dataclass
class NoticeResult:
    notice: HolidayNotice
    checked: int = 0
    moved: list[MovedTask] = field(default_factory=list)


def stored_notices(session: Session) -> list[HolidayNotice]:
    """The notices loaded into this database, latest per year."""
    rows = session.exec(
        select(CalendarNotice).order_by(col(CalendarNotice.year), col(CalendarNotice.id))
    ).all()
    latest: dict[int, CalendarNotice] = {}
    for row in rows:
        latest[row.year] = row
    return [parse_notice(row.text, source=f"calendar_notice#{row.id}") for row in latest.values()]


def calendar_from_db(session: Session) -> WorkdayCalendar:
    return WorkdayCalendar.build([*shipped_notices(), *stored_notices(session)])


def load_notice(
    session: Session, domain: Domain, *, text: str, source: str, actor: Actor, at: dt.datetime
) -> tuple[NoticeResult, Domain]:
    """Store a notice, rebuild the calendar and recompute the open tasks it can affect.

    Returns the result (tasks whose due date moved) and the domain with the new calendar.
    Office or government-office only; every moved task gets an audit entry.
    """
    if actor.role not in ("system", "office", "gov_office"):
        from db.context import PermissionDenied

        raise PermissionDenied(f"{actor.name} may not load calendar notices")
    notice = parse_notice(text, source=source)
    row = CalendarNotice(
        year=notice.year,
        title=notice.title,
        source=notice.source,
        text=text,
        loaded_at=at,
        loaded_by=actor.name,
    )
    session.add(row)
    session.flush()
    audit = AuditWriter(session)
    audit.write(
        at=at,
        actor=actor.name,
        action="load_notice",
        entity="calendar_notice",
        entity_id=str(row.id),
        after={"year": notice.year, "title": notice.title, "source": notice.source},
    )
    calendar = calendar_from_db(session)
    new_domain = domain.with_calendar(calendar)
    window_start = dt.date(notice.year - 1, 12, 31 - CROSS_YEAR_DAYS + 1)
    window_end = dt.date(notice.year, 12, 31)
    open_tasks = session.exec(
        select(Task)
        .where(
            col(Task.status).in_([TaskStatus.OPEN.value, TaskStatus.PAUSED.value]),
            col(Task.start_date) <= window_end,
            or_(col(Task.due_date).is_(None), col(Task.due_date) >= window_start),
        )
        .order_by(col(Task.id))
    ).all()
    result = NoticeResult(notice=notice, checked=len(open_tasks))
    for task in open_tasks:
        before = task_state(task)
        due_before = task.due_date
        recompute(session, task, new_domain, at=at)
        if task.due_date != due_before or before["provisional"] != task.provisional:
            task.version += 1
            session.add(task)
            audit.write(
                at=at,
                actor=actor.name,
                action="recalculate",
                entity="task",
                entity_id=str(task.id),
                agency_id=task.agency_id,
                before=before,
                after={**task_state(task), "notice": notice.source},
            )
            if task.due_date != due_before:
                assert task.id is not None
                result.moved.append(
                    MovedTask(
                        task.id,
                        task.agency_id,
                        task.section_id,
                        task.title,
                        due_before,
                        task.due_date,
                    )
                )
    session.flush()
    return result, new_domain
