"""Recording events and spawning tasks: one task per (obligation, section, event or period).

Idempotency lives in unique keys, not in care: an event's ``external_id`` is unique per
agency, and a task's ``dedupe_key`` is ``obligation|section|period`` (recurring) or
``obligation|section|event:<id>``. Re-sending an event or re-running a spawn creates nothing.
Spawning inserts in bulk (tasks, their start clock events, their audit entries) so a month
for a thousand sections takes seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor, Domain
from db.errors import LedgerError, NotFoundError
from db.locks import check_day_not_locked
from db.models import Agency, ClockEventRow, Event, Section, Task, TaskStatus
from db.tasks import stages_of
from db.validation import clean_mapping, clean_text
from obligations.catalog import EventType, Obligation, ResponsibleMode
from obligations.clocks import ClockEvent, ClockEventKind, compute_due
from obligations.events import event_type, request_start, validate_attributes
from obligations.periods import Period, periods_between
from obligations.schedule import next_stage

UTC = dt.UTC


@dataclass
class EventResult:
    event: Event
    created: bool
    task_ids: list[int] = field(default_factory=list)


@dataclass
class SpawnResult:
    created: int = 0
    existing: int = 0
    per_section: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def agency_by_code(session: Session, code: str) -> Agency:
    agency = session.exec(select(Agency).where(Agency.code == code)).first()
    if agency is None:
        known = (
            ", ".join(session.exec(select(Agency.code)).all()) or "(none — run gongkai org import)"
        )
        raise NotFoundError(f"unknown agency {code!r}; known: {known}")
    return agency


def section_by_code(session: Session, agency: Agency, code: str) -> Section:
    section = session.exec(
        select(Section).where(Section.agency_id == agency.id, Section.code == code)
    ).first()
    if section is None:
        known = ", ".join(
            session.exec(select(Section.code).where(Section.agency_id == agency.id)).all()
        )
        raise NotFoundError(
            f"unknown section {code!r} in agency {agency.code}; known: {known or '(none)'}"
        )
    return section


def _responsible(
    session: Session, agency: Agency, obligation: Obligation, event_section: Section | None
) -> list[Section]:
    mode = obligation.responsible.mode
    if mode is ResponsibleMode.FROM_EVENT:
        if event_section is None:
            raise LedgerError(
                f"obligation {obligation.code} needs the event's section (--section CODE)"
            )
        return [event_section]
    if mode is ResponsibleMode.LISTED:
        return [section_by_code(session, agency, code) for code in obligation.responsible.sections]
    return list(
        session.exec(
            select(Section)
            .where(Section.agency_id == agency.id, col(Section.active))
            .order_by(col(Section.id))
        ).all()
    )


def rule_snapshot(obligation: Obligation) -> dict[str, Any]:
    snapshot: dict[str, Any] = obligation.model_dump(mode="json")
    return snapshot


def new_task_row(
    *,
    agency: Agency,
    section: Section,
    obligation: Obligation,
    snapshot: dict[str, Any],
    dedupe_key: str,
    title: str,
    start_at: dt.datetime,
    domain: Domain,
    at: dt.datetime,
    event_id: int | None = None,
    period_key: str | None = None,
) -> dict[str, Any]:
    deadline = compute_due(
        obligation.deadline,
        [ClockEvent(ClockEventKind.START, start_at)],
        calendar=domain.calendar,
        tz=domain.tz,
    )
    task = Task(
        agency_id=agency.id or 0,
        section_id=section.id or 0,
        obligation_code=obligation.code,
        dedupe_key=dedupe_key,
        event_id=event_id,
        period_key=period_key,
        title=title[:500],
        rule=snapshot,
        status=TaskStatus.OPEN.value,
        start_date=deadline.start_date,
        due_date=deadline.due_date,
        due_at=deadline.due_at,
        provisional=deadline.provisional,
        created_at=at,
    )
    upcoming = next_stage(stages_of(task, domain), -1)
    task.next_action_at = upcoming.at if upcoming else None
    return task.model_dump(exclude={"id"})


def insert_tasks(
    session: Session,
    rows: list[dict[str, Any]],
    start_at: list[dt.datetime],
    *,
    actor: Actor,
    at: dt.datetime,
    audit: AuditWriter,
) -> list[int]:
    """Insert tasks, their start events and audit entries; returns the new ids in order."""
    if not rows:
        return []
    ids: list[int] = []
    chunk = 2_000
    for offset in range(0, len(rows), chunk):
        batch = rows[offset : offset + chunk]
        # sort_by_parameter_order would make SQLite insert one row per statement; the unique
        # dedupe_key maps the returned ids back to the rows instead.
        result = session.execute(insert(Task).returning(col(Task.id), col(Task.dedupe_key)), batch)
        by_key = {str(key): int(task_id) for task_id, key in result}
        ids.extend(by_key[row["dedupe_key"]] for row in batch)
    session.execute(
        insert(ClockEventRow),
        [
            {
                "task_id": task_id,
                "kind": ClockEventKind.START.value,
                "at": start,
                "amount": 0,
                "approver": None,
                "note": None,
                "recorded_at": at,
                "recorded_by": actor.name,
            }
            for task_id, start in zip(ids, start_at, strict=True)
        ],
    )
    from db.models import AuditEntry

    entries = [
        audit.append(
            at=at,
            actor=actor.name,
            action="create",
            entity="task",
            entity_id=str(task_id),
            agency_id=row["agency_id"],
            before=None,
            after={
                "obligation": row["obligation_code"],
                "section_id": row["section_id"],
                "dedupe_key": row["dedupe_key"],
                "due_at": row["due_at"],
                "status": row["status"],
            },
        )
        for task_id, row in zip(ids, rows, strict=True)
    ]
    for offset in range(0, len(entries), chunk):
        session.execute(insert(AuditEntry), entries[offset : offset + chunk])
    audit.store_head()
    return ids


def record_event(
    session: Session,
    domain: Domain,
    *,
    agency_code: str,
    event_type_name: str,
    occurred_at: dt.datetime,
    actor: Actor,
    at: dt.datetime,
    attributes: Mapping[str, str] | None = None,
    external_id: str | None = None,
    section_code: str | None = None,
    title: str = "",
) -> EventResult:
    """Record an event and spawn its tasks; the same ``external_id`` again creates nothing."""
    if occurred_at.tzinfo is None:
        raise LedgerError(f"occurred_at {occurred_at.isoformat()} has no time zone")
    if occurred_at > at:
        raise LedgerError(f"event time {occurred_at.isoformat()} is in the future")
    kind = event_type(event_type_name)
    agency = agency_by_code(session, agency_code)
    actor.check_write(agency.id or 0, None)
    cleaned = validate_attributes(kind, clean_mapping(attributes or {}, field="attribute"))
    title = clean_text(title, field="title")
    check_day_not_locked(session, agency.id or 0, occurred_at, f"event {kind.value}")
    domain.calendar.kind(occurred_at.astimezone(domain.tz).date())  # range check, clear message
    if external_id is not None:
        external_id = clean_text(external_id, field="external_id", max_length=200) or None
    if external_id is not None:
        existing = session.exec(
            select(Event).where(Event.agency_id == agency.id, Event.external_id == external_id)
        ).first()
        if existing is not None:
            task_ids = session.exec(select(Task.id).where(Task.event_id == existing.id)).all()
            return EventResult(
                existing, created=False, task_ids=[int(i) for i in task_ids if i is not None]
            )
    section = section_by_code(session, agency, section_code) if section_code else None
    obligations = domain.catalog.for_event(kind, cleaned)
    # Who answers for each obligation, before anything is added: a refusal writes nothing.
    targets = [
        (obligation, _responsible(session, agency, obligation, section))
        for obligation in obligations
    ]
    start_at = occurred_at
    if kind is EventType.REQUEST_RECEIVED:
        start_at = request_start(cleaned, occurred_at, domain.tz)
    event = Event(
        agency_id=agency.id or 0,
        type=kind.value,
        external_id=external_id,
        occurred_at=occurred_at.astimezone(UTC),
        section_id=section.id if section else None,
        title=title.strip()[:500],
        attributes=cleaned,
        recorded_at=at,
        recorded_by=actor.name,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    audit = AuditWriter(session)
    audit.write(
        at=at,
        actor=actor.name,
        action="record",
        entity="event",
        entity_id=str(event.id),
        agency_id=agency.id,
        after={
            "type": kind.value,
            "external_id": external_id,
            "occurred_at": occurred_at,
            "attributes": cleaned,
            "title": event.title,
        },
    )
    rows: list[dict[str, Any]] = []
    starts: list[dt.datetime] = []
    for obligation, sections in targets:
        snapshot = rule_snapshot(obligation)
        for target in sections:
            label = f"{obligation.title.zh}：{event.title}" if event.title else obligation.title.zh
            rows.append(
                new_task_row(
                    agency=agency,
                    section=target,
                    obligation=obligation,
                    snapshot=snapshot,
                    dedupe_key=f"{obligation.code}|{target.id}|event:{event.id}",
                    title=label,
                    start_at=start_at,
                    domain=domain,
                    at=at,
                    event_id=event.id,
                )
            )
            starts.append(start_at)
    ids = insert_tasks(session, rows, starts, actor=actor, at=at, audit=audit)
    return EventResult(event, created=True, task_ids=ids)


def spawn_recurring(
    session: Session,
    domain: Domain,
    *,
    through: dt.date,
    actor: Actor,
    at: dt.datetime,
    since: dt.date | None = None,
    agency_codes: Iterable[str] | None = None,
    obligation_codes: Iterable[str] | None = None,
) -> SpawnResult:
    """Create the tasks of every period that begins by ``through`` (and ends on/after ``since``).

    ``since`` defaults to the agency's creation date, so a new agency gets the periods it is
    already in (this month's report, this year's annual report) and nothing older.
    """
    agencies_query = select(Agency).order_by(col(Agency.id))
    if agency_codes is not None:
        codes = list(agency_codes)
        agencies = [agency_by_code(session, code) for code in codes]
    else:
        agencies = list(session.exec(agencies_query).all())
    obligations = domain.catalog.recurring()
    if obligation_codes is not None:
        wanted = set(obligation_codes)
        for code in wanted:
            domain.catalog.get(code)
        obligations = [item for item in obligations if item.code in wanted]
    result = SpawnResult()
    audit = AuditWriter(session)
    rows: list[dict[str, Any]] = []
    starts: list[dt.datetime] = []
    for agency in agencies:
        actor.check_write(agency.id or 0, None)
        first = since or agency.created_at.astimezone(domain.tz).date()
        existing = set(
            session.exec(
                select(Task.dedupe_key).where(
                    Task.agency_id == agency.id, col(Task.period_key).is_not(None)
                )
            ).all()
        )
        sections = {
            section.id: section
            for section in session.exec(select(Section).where(Section.agency_id == agency.id)).all()
        }
        for obligation in obligations:
            assert obligation.trigger.every is not None
            snapshot = rule_snapshot(obligation)
            targets = _responsible(session, agency, obligation, None)
            periods: list[Period] = [
                p
                for p in periods_between(obligation.trigger.every, first, through)
                if p.first <= through
            ]
            for period in periods:
                start_at = dt.datetime.combine(period.last, dt.time(), domain.tz)
                # The sections of one period share the deadline and the next action: build
                # the row once per period, not once per section.
                template: dict[str, Any] | None = None
                for section in targets:
                    key = f"{obligation.code}|{section.id}|{period.key}"
                    if key in existing:
                        result.existing += 1
                        continue
                    existing.add(key)
                    if template is None:
                        template = new_task_row(
                            agency=agency,
                            section=section,
                            obligation=obligation,
                            snapshot=snapshot,
                            dedupe_key=key,
                            title=f"{obligation.title.zh} {period.label()}",
                            start_at=start_at,
                            domain=domain,
                            at=at,
                            period_key=period.key,
                        )
                    rows.append({**template, "section_id": section.id, "dedupe_key": key})
                    starts.append(start_at)
                    result.created += 1
                    result.per_section[f"{agency.code}/{sections[section.id].code}"] += 1
    insert_tasks(session, rows, starts, actor=actor, at=at, audit=audit)
    return result
