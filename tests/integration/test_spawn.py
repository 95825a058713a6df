"""Spawning tasks: recurring periods and recorded events (SQLite and PostgreSQL).

One task per (recurring obligation, section, period) or (obligation, section, event), each
with its START clock event and an audit 'create' entry; re-running creates nothing; a task
keeps the rule it was created under when the catalog changes; bad input is refused with a
readable message before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from db import tasks as ops
from db.audit import verify_chain
from db.context import Actor, Domain
from db.engine import session_scope
from db.errors import LedgerError, NotFoundError
from db.models import Agency, AuditEntry, ClockEventRow, Event, Section, Task
from db.spawn import EventResult, SpawnResult, record_event, spawn_recurring
from obligations.catalog import ResponsibleMode
from obligations.clocks import ClockEvent, ClockEventKind, compute_due
from obligations.errors import CatalogError, ObligationsError, OutOfRangeError
from obligations.periods import parse_period, periods_between
from obligations.rules import DeadlineRule

TZ = ZoneInfo("Asia/Shanghai")
AGENCY = "xm-commerce"
IN_PERSON = {"applicant_type": "natural_person", "channel": "in_person"}


def local(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=TZ)


def ident(row: Task | Section | Agency) -> int:
    assert row.id is not None
    return row.id


def spawn(
    engine: Engine, domain: Domain, system: Actor, at: dt.datetime, **kwargs: Any
) -> SpawnResult:
    kwargs.setdefault("through", at.date())
    with session_scope(engine) as session:
        return spawn_recurring(session, domain, actor=system, at=at, **kwargs)


def request(
    engine: Engine,
    domain: Domain,
    system: Actor,
    *,
    received: dt.datetime,
    external_id: str | None = "YSQ-2026-001",
    attributes: dict[str, str] | None = None,
    section: str = "foreign-trade",
) -> EventResult:
    """A disclosure request for ``section``, recorded an hour after it arrived."""
    with session_scope(engine) as session:
        return record_event(
            session, domain, agency_code=AGENCY, event_type_name="request_received",
            occurred_at=received, actor=system, at=received + dt.timedelta(hours=1),
            attributes=attributes or IN_PERSON, external_id=external_id, section_code=section,
            title="申请公开2025年外贸统计",
        )  # fmt: skip


def counts(session: Session) -> dict[str, int]:
    tables: list[type[SQLModel]] = [Event, Task, ClockEventRow, AuditEntry]
    return {
        table.__name__: session.exec(select(func.count()).select_from(table)).one()
        for table in tables
    }


def row_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return counts(session)


def all_tasks(engine: Engine) -> list[Task]:
    with Session(engine) as session:
        return list(session.exec(select(Task).order_by(col(Task.id))).all())


def expected_recurring(
    domain: Domain, bureau: Any, since: dt.date, through: dt.date
) -> set[tuple[str, int, str]]:
    """(obligation, section id, period key) for every recurring obligation of the catalog."""
    sections = bureau["sections"]
    wanted: set[tuple[str, int, str]] = set()
    for obligation in domain.catalog.recurring():
        assert obligation.trigger.every is not None
        if obligation.responsible.mode is ResponsibleMode.ALL:
            targets = [ident(section) for section in sections.values()]
        else:
            targets = [ident(sections[code]) for code in obligation.responsible.sections]
        for period in periods_between(obligation.trigger.every, since, through):
            wanted.update((obligation.code, section_id, period.key) for section_id in targets)
    return wanted


def assert_started_and_audited(engine: Engine, tasks: list[Task]) -> None:
    """Each task has exactly one clock event, a START, and one audit 'create' entry."""
    ids = {task.id for task in tasks}
    with Session(engine) as session:
        events = session.exec(
            select(ClockEventRow).where(col(ClockEventRow.task_id).in_(ids))
        ).all()
        created = session.exec(
            select(AuditEntry.entity_id).where(
                AuditEntry.action == "create", AuditEntry.entity == "task"
            )
        ).all()
        checked, problems = verify_chain(session)
    assert Counter(event.task_id for event in events) == Counter(ids)
    assert {event.kind for event in events} == {ClockEventKind.START.value}
    assert Counter(int(entity_id) for entity_id in created if int(entity_id) in ids) == Counter(ids)
    assert problems == []
    assert checked >= len(ids)


# --- recurring ---------------------------------------------------------------------------


def test_spawn_creates_one_task_per_obligation_section_and_period(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime
) -> None:
    result = spawn(engine, domain, system, at)

    since = dt.date(2026, 1, 1)  # the bureau's creation day
    wanted = expected_recurring(domain, bureau, since, at.date())
    tasks = all_tasks(engine)
    assert {(task.obligation_code, task.section_id, task.period_key) for task in tasks} == wanted
    assert result.created == len(tasks) == len(wanted)
    assert result.existing == 0
    # 2026-01-01..11-27: 11 months x 5 sections of monthly-info-report, 11 self-inspections,
    # 4 quarters, 2 annual reports, 48 weeks (2026-W01 begins Mon 2025-12-29); all but the
    # monthly reports fall to the office.
    assert Counter(task.obligation_code for task in tasks) == {
        "monthly-info-report": 55, "monthly-self-inspection": 11, "spending-quarterly": 4,
        "annual-report": 1, "website-annual-report": 1, "wechat-weekly": 48,
    }  # fmt: skip
    assert dict(result.per_section) == {
        f"{AGENCY}/office": 76, f"{AGENCY}/general": 11, f"{AGENCY}/foreign-trade": 11,
        f"{AGENCY}/foreign-investment": 11, f"{AGENCY}/finance": 11,
    }  # fmt: skip

    for task in tasks:
        obligation = domain.catalog[task.obligation_code]
        assert task.rule == obligation.model_dump(mode="json")
        assert task.status == "open"
        assert task.agency_id == bureau["agency"].id
        assert task.dedupe_key == f"{task.obligation_code}|{task.section_id}|{task.period_key}"
        assert task.created_at == at
    assert_started_and_audited(engine, tasks)
    with Session(engine) as session:
        starts = {row.task_id: row.at for row in session.exec(select(ClockEventRow)).all()}
    for task in tasks:  # the clock of a recurring task starts on its period's last day
        assert task.period_key is not None
        assert starts[ident(task)] == dt.datetime.combine(
            parse_period(task.period_key).last, dt.time(), TZ
        )

    october = [
        task
        for task in tasks
        if task.obligation_code == "monthly-info-report" and task.period_key == "2026-10"
    ]
    assert len(october) == 5
    november_5th_working_day = dt.date(2026, 11, 6)
    assert {task.due_date for task in october} == {november_5th_working_day}


def test_spawn_again_creates_nothing(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime
) -> None:
    first = spawn(engine, domain, system, at)
    before = row_counts(engine)
    again = spawn(engine, domain, system, at)
    assert (again.created, again.existing) == (0, first.created)
    assert dict(again.per_section) == {}
    assert row_counts(engine) == before


def test_spawn_later_adds_only_the_new_periods(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime
) -> None:
    first = spawn(engine, domain, system, at)
    later = spawn(engine, domain, system, at + dt.timedelta(days=7), through=dt.date(2026, 12, 4))
    # December: 5 monthly reports + 1 self-inspection; week 2026-W49 (Mon 11-30)
    assert (later.created, later.existing) == (7, first.created)
    new = [task for task in all_tasks(engine) if task.created_at == at + dt.timedelta(days=7)]
    assert sorted({task.period_key or "" for task in new}) == ["2026-12", "2026-W49"]
    assert_started_and_audited(engine, new)


def test_spawn_only_the_named_obligations(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime
) -> None:
    result = spawn(
        engine,
        domain,
        system,
        at,
        since=dt.date(2026, 11, 1),
        obligation_codes=["monthly-info-report"],
    )
    assert result.created == 5
    assert {task.period_key for task in all_tasks(engine)} == {"2026-11"}


# --- events ------------------------------------------------------------------------------


def test_request_spawns_reply_and_correction_notice(
    engine: Engine, bureau: Any, domain: Domain, system: Actor
) -> None:
    received = local(2026, 11, 20, 10)
    result = request(engine, domain, system, received=received)
    assert result.created
    tasks = {task.obligation_code: task for task in all_tasks(engine)}
    assert set(tasks) == {"request-reply", "request-correction-notice"}
    assert sorted(result.task_ids) == sorted(ident(task) for task in tasks.values())
    trade = bureau["sections"]["foreign-trade"].id
    for task in tasks.values():
        assert task.section_id == trade
        assert task.event_id == result.event.id
        assert task.dedupe_key == f"{task.obligation_code}|{trade}|event:{result.event.id}"
        assert task.start_date == dt.date(2026, 11, 20)
        assert task.rule == domain.catalog[task.obligation_code].model_dump(mode="json")
    assert tasks["request-reply"].due_date == dt.date(2026, 12, 18)  # 20 working days
    assert tasks["request-reply"].due_at == local(2026, 12, 19, 0)  # the end of the due day
    assert tasks["request-correction-notice"].due_date == dt.date(2026, 12, 1)  # 7 working days
    assert_started_and_audited(engine, list(tasks.values()))
    with Session(engine) as session:
        assert {row.at for row in session.exec(select(ClockEventRow)).all()} == {received}
        event = session.exec(select(Event)).one()
    assert (event.type, event.external_id, event.attributes) == (
        "request_received",
        "YSQ-2026-001",
        IN_PERSON,
    )
    assert event.occurred_at == received


def test_online_request_starts_on_the_confirmed_day(
    engine: Engine, bureau: Any, domain: Domain, system: Actor
) -> None:
    attributes = {
        "applicant_type": "commercial_enterprise",
        "channel": "online",
        "confirmed_on": "2026-11-23",
    }
    request(engine, domain, system, received=local(2026, 11, 20, 22), attributes=attributes)
    reply = next(task for task in all_tasks(engine) if task.obligation_code == "request-reply")
    assert reply.start_date == dt.date(2026, 11, 23)
    assert (
        reply.due_date
        == domain.calendar.add_workdays(dt.date(2026, 11, 23), 20)
        == dt.date(2026, 12, 21)
    )


def test_same_external_id_records_one_event(
    engine: Engine, bureau: Any, domain: Domain, system: Actor
) -> None:
    first = request(engine, domain, system, received=local(2026, 11, 20, 10))
    before = row_counts(engine)
    # the event's 'record' entry and one 'create' per task
    assert before == {"Event": 1, "Task": 2, "ClockEventRow": 2, "AuditEntry": 3}
    again = request(engine, domain, system, received=local(2026, 11, 20, 10))
    padded = request(
        engine, domain, system, received=local(2026, 11, 21, 9), external_id="  YSQ-2026-001 "
    )
    for repeat in (again, padded):
        assert not repeat.created
        assert repeat.event.id == first.event.id
        assert sorted(repeat.task_ids) == sorted(first.task_ids)
    assert row_counts(engine) == before
    other = request(
        engine, domain, system, received=local(2026, 11, 20, 11), external_id="YSQ-2026-002"
    )
    assert other.created
    assert row_counts(engine)["Task"] == 4


# --- the rule snapshot -------------------------------------------------------------------


def changed_domain(domain: Domain, folder: Path, *overrides: str) -> Domain:
    folder.mkdir()
    for number, text in enumerate(overrides):
        (folder / f"{number:02d}.yaml").write_text(text, encoding="utf-8")
    return Domain(
        catalog=domain.catalog.with_overrides(folder), calendar=domain.calendar, tz=domain.tz
    )


def test_existing_task_keeps_its_rule_when_the_catalog_changes(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, tmp_path: Path
) -> None:
    received = local(2026, 11, 20, 10)
    old = request(engine, domain, system, received=received)
    reply_id = next(
        task.id
        for task in all_tasks(engine)
        if task.id in old.task_ids and task.obligation_code == "request-reply"
    )
    assert reply_id is not None
    old_rule = domain.catalog["request-reply"].model_dump(mode="json")
    changed = changed_domain(
        domain, tmp_path / "overrides", "code: request-reply\ndeadline: {amount: 10}\n"
    )
    assert changed.catalog["request-reply"].deadline.amount == 10

    # lifecycle operations under the changed catalog recompute from the task's own snapshot
    pause_at = local(2026, 11, 24, 9)
    resume_at = local(2026, 11, 26, 9)
    extend_at = local(2026, 11, 27, 10)
    with session_scope(engine) as session:
        ops.pause(session, reply_id, changed, actor=system, at=pause_at, reason="征求第三方意见")
    with session_scope(engine) as session:
        ops.resume(session, reply_id, changed, actor=system, at=resume_at)
    with session_scope(engine) as session:
        ops.extend(
            session, reply_id, changed, actor=system, at=extend_at, amount=5, approver="李办公"
        )

    events = [
        ClockEvent(ClockEventKind.START, received),
        ClockEvent(ClockEventKind.PAUSE, pause_at, note="征求第三方意见"),
        ClockEvent(ClockEventKind.RESUME, resume_at),
        ClockEvent(ClockEventKind.EXTEND, extend_at, amount=5, approver="李办公"),
    ]

    def due_under(rule: dict[str, Any]) -> dt.date | None:
        return compute_due(
            DeadlineRule.model_validate(rule["deadline"]), events, calendar=domain.calendar, tz=TZ
        ).due_date

    reply = next(task for task in all_tasks(engine) if task.id == reply_id)
    assert reply.rule == old_rule
    # 20 + 5 working days, and 11-25..26 paused: 12-18 → 12-25 → 12-29
    assert reply.due_date == due_under(old_rule) == dt.date(2026, 12, 29)
    assert due_under(changed.catalog["request-reply"].model_dump(mode="json")) != reply.due_date

    # a request recorded now gets the changed rule
    new = request(engine, changed, system, received=received, external_id="YSQ-2026-002")
    fresh = next(
        task
        for task in all_tasks(engine)
        if task.id in new.task_ids and task.obligation_code == "request-reply"
    )
    assert fresh.rule["deadline"]["amount"] == 10
    assert fresh.due_date == dt.date(2026, 12, 4)  # 10 working days after 11-20
    untouched = next(
        task for task in all_tasks(engine) if task.id in old.task_ids and task.id != reply_id
    )
    assert untouched.rule == domain.catalog["request-correction-notice"].model_dump(mode="json")


def test_spawn_under_a_changed_catalog_leaves_existing_periods_alone(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime, tmp_path: Path
) -> None:
    first = spawn(engine, domain, system, at)
    changed = changed_domain(
        domain, tmp_path / "overrides", "code: monthly-info-report\ndeadline: {amount: 3}\n"
    )
    again = spawn(engine, changed, system, at)
    assert (again.created, again.existing) == (0, first.created)
    reports = [task for task in all_tasks(engine) if task.obligation_code == "monthly-info-report"]
    assert {task.rule["deadline"]["amount"] for task in reports} == {5}
    december = spawn(
        engine,
        changed,
        system,
        at,
        through=dt.date(2026, 12, 1),
        obligation_codes=["monthly-info-report"],
    )
    assert december.created == 5
    new = [task for task in all_tasks(engine) if task.period_key == "2026-12"]
    assert {task.rule["deadline"]["amount"] for task in new} == {3}
    january_3rd_working_day = dt.date(2027, 1, 6)  # 1 January is a holiday
    assert {task.due_date for task in new} == {january_3rd_working_day}


# --- refusals ----------------------------------------------------------------------------

Call = Callable[[Session, Domain, Actor, dt.datetime], object]


def _record(**overrides: Any) -> Call:
    def call(session: Session, domain: Domain, system: Actor, at: dt.datetime) -> object:
        arguments: dict[str, Any] = {
            "agency_code": AGENCY, "event_type_name": "request_received", "occurred_at": local(2026, 11, 20, 10),
            "actor": system, "at": at, "attributes": IN_PERSON, "external_id": "YSQ-9", "section_code": "foreign-trade",
        }  # fmt: skip
        arguments.update(overrides)
        return record_event(session, domain, **arguments)

    return call


def _spawn(**overrides: Any) -> Call:
    def call(session: Session, domain: Domain, system: Actor, at: dt.datetime) -> object:
        arguments: dict[str, Any] = {"through": at.date(), "actor": system, "at": at, **overrides}
        return spawn_recurring(session, domain, **arguments)

    return call


ONLINE_UNCONFIRMED = {"applicant_type": "natural_person", "channel": "online"}
#: (id, the call, the error, its message)
REFUSALS: list[tuple[str, Call, type[Exception], str]] = [
    ("spawn-unknown-obligation", _spawn(obligation_codes=["nope"]), CatalogError,
     r"unknown obligation 'nope'; known: .*monthly-info-report"),
    ("spawn-unknown-agency", _spawn(agency_codes=["nope"]), NotFoundError,
     r"unknown agency 'nope'; known: xm-commerce"),
    ("spawn-2050", _spawn(since=dt.date(2050, 1, 1), through=dt.date(2050, 1, 31)), OutOfRangeError,
     r"date 2051-01-31 is outside the calendar's range 2004-01-01\.\.2040-12-31"),  # the 2050 annual report's due day
    ("event-unknown-agency", _record(agency_code="nope"), NotFoundError,
     r"unknown agency 'nope'; known: xm-commerce"),
    ("event-unknown-section", _record(section_code="nope"), NotFoundError,
     r"unknown section 'nope' in agency xm-commerce; known: .*foreign-trade"),
    ("event-without-section", _record(section_code=None), LedgerError,
     r"request-reply needs the event's section"),
    ("event-2050", _record(occurred_at=local(2050, 3, 1, 10), at=local(2050, 3, 2, 10)), OutOfRangeError,
     r"date 2050-03-01 is outside the calendar's range 2004-01-01\.\.2040-12-31"),
    ("online-without-confirmed-on", _record(attributes=ONLINE_UNCONFIRMED), ObligationsError,
     r"request_received via online: give confirmed_on"),
    ("unknown-channel", _record(attributes={**IN_PERSON, "channel": "pigeon"}), ObligationsError,
     r"channel='pigeon' is not one of in_person, "),
    ("unknown-event-type", _record(event_type_name="nope"), ObligationsError,
     r"unknown event type 'nope'; known: document_published"),
    ("event-in-the-future", _record(occurred_at=local(2026, 11, 28, 10)), LedgerError,
     r"event time 2026-11-28T10:00:00\+08:00 is in the future"),
    ("naive-event-time", _record(occurred_at=dt.datetime(2026, 11, 20, 10)), LedgerError,  # noqa: DTZ001
     r"occurred_at 2026-11-20T10:00:00 has no time zone"),
]  # fmt: skip

#: Refusals that used to happen only after the event was added (fixed: sections are
#: resolved before anything is written). Kept empty so a regression can be marked here.
ADDED_BEFORE_REFUSAL: set[str] = set()


def refusals(*, pending: bool) -> list[Any]:
    marks = pytest.mark.xfail(
        reason="record_event adds the event before it finds no section", strict=True
    )
    return [
        pytest.param(
            call,
            error,
            message,
            id=name,
            marks=marks if pending and name in ADDED_BEFORE_REFUSAL else (),
        )
        for name, call, error, message in REFUSALS
    ]


@pytest.fixture
def kept(engine: Engine, bureau: Any, domain: Domain, system: Actor) -> dict[str, int]:
    """A request already recorded (something a refusal must leave alone); the row counts."""
    request(engine, domain, system, received=local(2026, 11, 19, 10), external_id="YSQ-1")
    return row_counts(engine)


@pytest.mark.parametrize(("call", "error", "message"), refusals(pending=False))
def test_bad_input_is_refused_and_nothing_is_written(
    engine: Engine, kept: dict[str, int], domain: Domain, system: Actor, at: dt.datetime,
    call: Call, error: type[Exception], message: str,
) -> None:  # fmt: skip
    with pytest.raises(error, match=message), session_scope(engine) as session:
        call(session, domain, system, at)
    assert row_counts(engine) == kept


@pytest.mark.parametrize(("call", "error", "message"), refusals(pending=True))
def test_bad_input_is_refused_before_anything_is_added(
    engine: Engine, kept: dict[str, int], domain: Domain, system: Actor, at: dt.datetime,
    call: Call, error: type[Exception], message: str,
) -> None:  # fmt: skip
    """The refusal comes first: a caller that catches it and commits commits nothing."""
    with Session(engine) as session:
        with pytest.raises(error, match=message):
            call(session, domain, system, at)
        assert counts(session) == kept  # counting flushes anything the call added
        session.commit()
    assert row_counts(engine) == kept


def test_listed_section_missing_refuses_the_whole_spawn(
    engine: Engine, bureau: Any, domain: Domain, system: Actor, at: dt.datetime
) -> None:
    with session_scope(engine) as session:
        agency = Agency(code="xm-tourism", name="厦门市文化和旅游局", created_at=local(2026, 1, 1))
        session.add(agency)
        session.flush()
        session.add(Section(agency_id=ident(agency), code="general", name="综合科"))
    before = row_counts(engine)
    with pytest.raises(
        NotFoundError, match=r"unknown section 'office' in agency xm-tourism; known: general"
    ):
        spawn(engine, domain, system, at)  # xm-commerce would have been fine
    assert row_counts(engine) == before
    assert spawn(engine, domain, system, at, agency_codes=[AGENCY]).created == 120
