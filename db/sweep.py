"""The sweep: hand due reminder / overdue / escalation stages to the outbox.

It claims tasks whose ``next_action_at`` has come (:mod:`db.claims`), computes their due
stages with pure functions (:mod:`obligations.schedule`), writes one outbox row per stage
and recipient, and moves ``stage_done`` and ``next_action_at`` — all in one transaction.
The outbox row's unique key ``task|stage|person|window`` makes a second sweep, a retry or
a concurrent worker harmless: the insert is ``ON CONFLICT DO NOTHING``.

Delivery windows: digests go out at the agency's delivery time (09:00) on working days.
A stage that comes due at 00:00 (the overdue moment) waits for that morning's digest; a
stage that fell due while the service was down joins the current window, so after a
weekend off each person gets one digest, not a flood. Hour-level duties and escalations
are immediate.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from db.claims import claim_due_tasks
from db.context import Domain
from db.engine import read_connection
from db.models import Agency, OutboxMessage, Person, Role, Section, Task
from db.tasks import stages_of
from obligations.schedule import Stage, StageKind, due_stages, next_stage
from obligations.workdays import WorkdayCalendar

UTC = dt.UTC


@dataclass
class SweepReport:
    """What one sweep did; ``per_section`` counts stages by kind for the Prefect artifact."""

    claimed: int = 0
    stages: int = 0
    outbox_rows: int = 0
    per_section: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "section": key,
                "reminders": c["reminder"],
                "overdue": c["overdue"],
                "escalations": c["escalation"],
            }
            for key, c in sorted(self.per_section.items())
        ]


def window_for(
    at: dt.datetime, calendar: WorkdayCalendar, tz: dt.tzinfo, delivery_time: dt.time
) -> dt.datetime:
    """The digest window a message created at ``at`` belongs to (UTC).

    Today's window if today is a working day and its delivery time has come or passes
    later today; otherwise the next working day's. Sending happens at
    ``max(window, at)``.
    """
    local = at.astimezone(tz)
    today = local.date()
    day = today if calendar.is_workday(today) else calendar.add_workdays(today, 1)
    return dt.datetime.combine(day, delivery_time, tz).astimezone(UTC)


def next_window(
    window: dt.datetime, calendar: WorkdayCalendar, tz: dt.tzinfo, delivery_time: dt.time
) -> dt.datetime:
    """The window after ``window`` (the next working day's delivery time)."""
    day = calendar.add_workdays(window.astimezone(tz).date(), 1)
    return dt.datetime.combine(day, delivery_time, tz).astimezone(UTC)


def window_key(window: dt.datetime | None) -> str:
    return "immediate" if window is None else window.strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class _Audiences:
    """People to tell, by section and by agency role (loaded once per sweep)."""

    section: dict[int, list[Person]]
    office: dict[int, list[Person]]
    leader: dict[int, list[Person]]

    def people(self, task: Task, audience: str) -> list[Person]:
        if audience == "leader":
            return self.leader.get(task.agency_id) or self.office.get(task.agency_id, [])
        if audience == "office":
            return self.office.get(task.agency_id, [])
        # The section's chief and staff; with nobody there the office hears of it instead.
        return self.section.get(task.section_id) or self.office.get(task.agency_id, [])


def _audiences(session: Session, agency_ids: set[int]) -> _Audiences:
    people = session.exec(
        select(Person).where(col(Person.agency_id).in_(agency_ids), col(Person.active))
    ).all()
    section: dict[int, list[Person]] = defaultdict(list)
    office: dict[int, list[Person]] = defaultdict(list)
    leader: dict[int, list[Person]] = defaultdict(list)
    for person in people:
        if person.role in (Role.CHIEF.value, Role.STAFF.value) and person.section_id is not None:
            section[person.section_id].append(person)
        elif person.role == Role.OFFICE.value:
            office[person.agency_id].append(person)
        elif person.role == Role.LEADER.value:
            leader[person.agency_id].append(person)
    return _Audiences(section, office, leader)


def insert_outbox(session: Session, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        factory(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(OutboxMessage.id))
    )
    inserted = 0
    for offset in range(0, len(rows), 1000):
        # RETURNING counts the rows really inserted (executemany rowcounts differ by driver).
        result = session.connection().execute(statement, rows[offset : offset + 1000])
        inserted += len(result.all())
    return inserted


def payload_of(task: Task, section: Section, agency: Agency, stage: Stage) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "title": task.title,
        "obligation": task.obligation_code,
        "section": section.name,
        "agency": agency.code,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "hourly": task.rule["deadline"]["unit"] == "hour",
        "provisional": task.provisional,
        "stage": stage.name,
        "kind": stage.kind.value,
        "audience": stage.audience,
        "offset": stage.offset,
    }


def sweep(
    session: Session,
    domain: Domain,
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 1_000,
) -> SweepReport:
    """Claim due tasks and write their stages to the outbox (the caller commits)."""
    report = SweepReport()
    ids = claim_due_tasks(session, at=at, worker=worker, limit=limit)
    report.claimed = len(ids)
    if not ids:
        return report
    tasks = session.exec(select(Task).where(col(Task.id).in_(ids))).all()
    sections = {
        s.id: s
        for s in session.exec(
            select(Section).where(col(Section.id).in_({t.section_id for t in tasks}))
        )
    }
    agencies = {
        a.id: a
        for a in session.exec(
            select(Agency).where(col(Agency.id).in_({t.agency_id for t in tasks}))
        )
    }
    audiences = _audiences(session, {t.agency_id for t in tasks})
    digest_window = window_for(at, domain.calendar, domain.tz, domain.delivery_time)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        stages = stages_of(task, domain)
        due = due_stages(stages, task.stage_done, at=at)
        section = sections[task.section_id]
        agency = agencies[task.agency_id]
        immediate_duty = bool(task.rule.get("immediate"))
        for stage in due:
            report.stages += 1
            report.per_section[f"{agency.code}/{section.code}"][stage.kind.value] += 1
            immediate = immediate_duty or stage.kind is StageKind.ESCALATION
            key_window = (
                None
                if immediate
                else window_for(stage.at, domain.calendar, domain.tz, domain.delivery_time)
            )
            send_window = None if immediate else max(digest_window, key_window or digest_window)
            payload = payload_of(task, section, agency, stage)
            for person in audiences.people(task, stage.audience):
                rows.append(
                    {
                        "agency_id": task.agency_id,
                        # Immediate stages are keyed by their moment: a stage of a moved
                        # deadline is a new message, not a repeat of the old one.
                        "dedupe_key": f"{task.id}|{stage.name}|{person.id}|"
                        + window_key(key_window or stage.at),
                        "task_id": task.id,
                        "person_id": person.id,
                        "stage": stage.name,
                        "window": window_key(send_window),
                        "immediate": immediate,
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": at if send_window is None else max(send_window, at),
                        "created_at": at,
                    }
                )
        if due:
            task.stage_done = due[-1].index
        upcoming = next_stage(stages, task.stage_done)
        task.next_action_at = upcoming.at if upcoming else None
        task.claimed_by = None
        task.claim_expires_at = None
        session.add(task)
    session.flush()
    report.outbox_rows = insert_outbox(session, rows)
    return report


def has_due_tasks(engine: Engine, *, at: dt.datetime) -> bool:
    """The cheap check run before starting a sweep flow (no flow run when nothing is due).

    It runs every minute, so it only reads (:func:`db.engine.read_connection`): it never
    takes SQLite's write lock, nor waits for a writer that holds it.
    """
    with read_connection(engine) as connection:
        found = connection.execute(
            select(col(Task.id))
            .where(col(Task.next_action_at).is_not(None), col(Task.next_action_at) <= at)
            .limit(1)
        ).first()
    return found is not None


def queue_notices(
    session: Session,
    *,
    text: str,
    key: str,
    at: dt.datetime,
    roles: tuple[str, ...] = (Role.OFFICE.value,),
    agency_code: str | None = None,
) -> int:
    """Queue one immediate notice (e.g. the monthly bulletin) to everyone with ``roles``.

    ``agency_code`` None addresses those roles in every agency. ``key`` makes it idempotent:
    queuing the same bulletin twice sends it once.
    """
    statement = select(Person).where(col(Person.active), col(Person.role).in_(roles))
    if agency_code is not None:
        agency = session.exec(select(Agency).where(Agency.code == agency_code)).first()
        if agency is None:
            return 0
        statement = statement.where(Person.agency_id == agency.id)
    rows = [
        {
            "agency_id": person.agency_id,
            "dedupe_key": f"{key}|{person.id}",
            "task_id": None,
            "person_id": person.id,
            "stage": key.split("|", 1)[0][:40],
            "window": window_key(None),
            "immediate": True,
            "payload": {"notice": text},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for person in session.exec(statement).all()
    ]
    return insert_outbox(session, rows)
