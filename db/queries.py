"""Read-side queries of the ledger, always scoped by the actor's agency (and section)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from db.context import Actor
from db.errors import LedgerError
from db.models import Agency, AuditEntry, ClockEventRow, Section, Task, TaskStatus

STATUS_FILTERS = ("open", "overdue", "paused", "done", "cancelled", "all")


@dataclass(frozen=True)
class TaskRow:
    id: int
    agency: str
    section: str
    section_name: str
    obligation: str
    title: str
    status: str
    due_at: dt.datetime | None
    due_date: dt.date | None
    provisional: bool
    overdue: bool
    timeliness: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_tasks(
    session: Session,
    actor: Actor,
    *,
    at: dt.datetime,
    agency_code: str | None = None,
    section_code: str | None = None,
    status: str = "open",
    obligation_code: str | None = None,
    limit: int = 500,
) -> list[TaskRow]:
    """Tasks the actor may see, most urgent first. ``overdue``: open and past the due moment."""
    if status not in STATUS_FILTERS:
        raise LedgerError(f"--status {status!r} is not one of {', '.join(STATUS_FILTERS)}")
    statement = (
        select(Task, Section, Agency)
        .join(Section, col(Section.id) == col(Task.section_id))
        .join(Agency, col(Agency.id) == col(Task.agency_id))
    )
    if not actor.all_agencies:
        statement = statement.where(col(Task.agency_id) == actor.agency_id)
        if actor.role in ("chief", "staff"):
            statement = statement.where(col(Task.section_id) == actor.section_id)
    if agency_code:
        statement = statement.where(col(Agency.code) == agency_code)
    if section_code:
        statement = statement.where(col(Section.code) == section_code)
    if obligation_code:
        statement = statement.where(col(Task.obligation_code) == obligation_code)
    if status == "overdue":
        statement = statement.where(
            col(Task.status) == TaskStatus.OPEN.value, col(Task.due_at) <= at
        )
    elif status != "all":
        statement = statement.where(col(Task.status) == status)
    statement = statement.order_by(col(Task.due_at).nulls_last(), col(Task.id)).limit(limit)
    rows = []
    for task, section, agency in session.exec(statement).all():
        assert task.id is not None
        overdue = (
            task.status == TaskStatus.OPEN.value and task.due_at is not None and task.due_at <= at
        )
        rows.append(
            TaskRow(
                id=task.id,
                agency=agency.code,
                section=section.code,
                section_name=section.name,
                obligation=task.obligation_code,
                title=task.title,
                status=task.status,
                due_at=task.due_at,
                due_date=task.due_date,
                provisional=task.provisional,
                overdue=overdue,
                timeliness=task.timeliness,
            )
        )
    return rows


def task_history(session: Session, task_id: int) -> tuple[list[ClockEventRow], list[AuditEntry]]:
    """The clock events and audit entries of one task, oldest first."""
    events = list(
        session.exec(
            select(ClockEventRow)
            .where(ClockEventRow.task_id == task_id)
            .order_by(col(ClockEventRow.at), col(ClockEventRow.id))
        ).all()
    )
    audit = list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.entity == "task", AuditEntry.entity_id == str(task_id))
            .order_by(col(AuditEntry.seq))
        ).all()
    )
    return events, audit


def single_agency_code(session: Session) -> str:
    """The only agency's code (the embedded case), or a clear error asking for --agency."""
    codes = list(session.exec(select(Agency.code).order_by(col(Agency.code))).all())
    if len(codes) == 1:
        return codes[0]
    if not codes:
        raise LedgerError(
            "no agency yet: run `gongkai org import FILE` first (see gongkai/examples/demo-org.yaml)"
        )
    raise LedgerError(f"several agencies ({', '.join(codes)}): pass --agency CODE")
