"""Task lifecycle: the one write path for task state.

Every operation loads the task, checks the actor and the transition, appends a clock event
where the clock changes, recomputes the due moment from *all* clock events with
:func:`obligations.clocks.compute_due`, stores the closing facts when the task closes, and
appends one audit entry with the state before and after. Nothing else writes tasks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor, Domain
from db.errors import LedgerError, NotFoundError, TransitionError
from db.locks import check_not_locked
from db.models import ClockEventRow, Task, TaskStatus
from db.validation import clean_text
from obligations.clocks import ClockEvent, ClockEventKind, Deadline, compute_due
from obligations.errors import ExtensionCapError
from obligations.outcomes import check_outcome
from obligations.rules import DeadlineRule, Unit
from obligations.schedule import Stage, next_stage, plan_stages
from obligations.timeliness import classify

UTC = dt.UTC

#: Fields shown in the audit trail's before/after of a task.
AUDITED_FIELDS = (
    "status",
    "due_date",
    "due_at",
    "provisional",
    "extended_by",
    "next_action_at",
    "evidence_url",
    "outcome_code",
    "service_date",
    "done_at",
    "timeliness",
    "working_days_margin",
    "extended",
    "cancel_reason",
)


def task_state(task: Task) -> dict[str, Any]:
    return {name: getattr(task, name) for name in AUDITED_FIELDS}


def rule_of(task: Task) -> DeadlineRule:
    return DeadlineRule.model_validate(task.rule["deadline"])


def clock_events(session: Session, task_id: int) -> list[ClockEvent]:
    rows = session.exec(
        select(ClockEventRow)
        .where(ClockEventRow.task_id == task_id)
        .order_by(col(ClockEventRow.at), col(ClockEventRow.id))
    ).all()
    return [
        ClockEvent(
            ClockEventKind(row.kind),
            row.at,
            amount=row.amount,
            approver=row.approver,
            note=row.note,
        )
        for row in rows
    ]


def stages_of(task: Task, domain: Domain) -> list[Stage]:
    """The reminder / overdue / escalation stages of a task with a due moment."""
    if task.due_date is None or task.due_at is None:
        return []
    snapshot = task.rule
    hourly = snapshot["deadline"]["unit"] == Unit.HOUR.value
    reminders = [int(stage["before"]) for stage in snapshot.get("reminders", [])]
    escalations = [(int(step["after"]), str(step["to"])) for step in snapshot.get("escalation", [])]
    return plan_stages(
        due_date=task.due_date,
        due_at=task.due_at,
        hourly=hourly,
        reminders=reminders,
        escalations=escalations,
        calendar=domain.calendar,
        tz=domain.tz,
        delivery_time=domain.delivery_time,
    )


def apply_deadline(task: Task, deadline: Deadline, domain: Domain) -> None:
    """Copy a computed deadline onto the task and move its next action."""
    task.due_date = deadline.due_date
    task.due_at = deadline.due_at
    task.provisional = deadline.provisional
    task.extended_by = deadline.extended_by
    task.start_date = deadline.start_date
    refresh_next_action(task, domain)


def refresh_next_action(task: Task, domain: Domain) -> None:
    if task.status != TaskStatus.OPEN.value or task.due_at is None:
        task.next_action_at = None
        return
    upcoming = next_stage(stages_of(task, domain), task.stage_done)
    task.next_action_at = upcoming.at if upcoming else None


def recompute(
    session: Session,
    task: Task,
    domain: Domain,
    *,
    at: dt.datetime,
    extra: Sequence[ClockEvent] = (),
) -> Deadline:
    """Replay the task's clock and store the result.

    When the due moment moves (extension, restart, pause, a new notice) the stage plan is a
    new one: ``stage_done`` counts stages by position, so it is set to the last stage of
    the new plan that is already past at ``at`` — the new plan's reminders are not lost, and
    stages already behind us are not sent again.
    """
    assert task.id is not None
    events = [*clock_events(session, task.id), *extra]
    events.sort(key=lambda event: (event.kind is not ClockEventKind.START, event.at))
    deadline = compute_due(rule_of(task), events, calendar=domain.calendar, tz=domain.tz)
    due_before = task.due_at
    apply_deadline(task, deadline, domain)
    if task.due_at != due_before and task.due_at is not None:
        past = [stage.index for stage in stages_of(task, domain) if stage.at <= at]
        task.stage_done = max(past, default=-1)
        refresh_next_action(task, domain)
    return deadline


def get_task(session: Session, task_id: int, actor: Actor, *, for_write: bool = True) -> Task:
    statement = select(Task).where(Task.id == task_id)
    task = session.exec(statement.with_for_update() if for_write else statement).first()
    if task is None:
        raise NotFoundError(f"task {task_id} does not exist")
    if for_write:
        actor.check_write(task.agency_id, task.section_id)
    else:
        actor.check_read(task.agency_id, task.section_id)
    return task


def _require(task: Task, allowed: tuple[TaskStatus, ...], operation: str) -> None:
    if task.status not in {status.value for status in allowed}:
        names = "/".join(status.value for status in allowed)
        raise TransitionError(
            f"cannot {operation} task {task.id}: it is {task.status}, must be {names}"
        )


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise LedgerError(f"{name} must carry a time zone, got {value.isoformat()}")
    return value.astimezone(UTC)


def check_evidence(url: str) -> str:
    """Evidence is an http(s) link to where the information was published."""
    value = clean_text(url, field="evidence", max_length=2000)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise LedgerError(
            f"evidence {url!r} is not an http(s) URL (e.g. https://www.example.gov.cn/zwgk/123.html)"
        )
    return value


def _record(
    session: Session,
    task: Task,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    action: str,
    before: dict[str, Any],
    event: ClockEvent | None = None,
    detail: dict[str, Any] | None = None,
) -> Task:
    if event is not None:
        assert task.id is not None
        session.add(
            ClockEventRow(
                task_id=task.id,
                kind=event.kind.value,
                at=event.at,
                amount=event.amount,
                approver=event.approver,
                note=event.note,
                recorded_at=at,
                recorded_by=actor.name,
            )
        )
    task.version += 1
    session.add(task)
    after = task_state(task)
    if detail:
        after = {**after, **detail}
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action=action,
        entity="task",
        entity_id=str(task.id),
        agency_id=task.agency_id,
        before=before,
        after=after,
    )
    session.flush()
    return task


def _clock_change(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    action: str,
    event: ClockEvent,
    allowed: tuple[TaskStatus, ...],
    new_status: TaskStatus | None,
    office_only: bool = False,
) -> Task:
    task = get_task(session, task_id, actor)
    check_not_locked(session, task, at, action=action, moments=(event.at,))
    actor.check_write(task.agency_id, task.section_id, office_only=office_only)
    _require(task, allowed, action)
    before = task_state(task)
    if new_status is not None:
        task.status = new_status.value
    recompute(session, task, domain, at=at, extra=[event])
    return _record(
        session,
        task,
        domain,
        actor=actor,
        at=at,
        action=action,
        before=before,
        event=event,
        detail={"note": event.note} if event.note else None,
    )


def pause(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    since: dt.datetime | None = None,
    reason: str,
) -> Task:
    """中止计时: e.g. a third party is consulted (条例 Art.33 ¶2)."""
    reason = clean_text(reason, field="reason")
    if not reason:
        raise LedgerError("pause needs a reason (e.g. 征求第三方意见)")
    event = ClockEvent(ClockEventKind.PAUSE, _aware(since or at, "since"), note=reason.strip())
    return _clock_change(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        action="pause",
        event=event,
        allowed=(TaskStatus.OPEN,),
        new_status=TaskStatus.PAUSED,
    )


def resume(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    since: dt.datetime | None = None,
) -> Task:
    event = ClockEvent(ClockEventKind.RESUME, _aware(since or at, "since"))
    return _clock_change(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        action="resume",
        event=event,
        allowed=(TaskStatus.PAUSED,),
        new_status=TaskStatus.OPEN,
    )


def restart(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    received: dt.datetime | None = None,
) -> Task:
    """重新计时: the corrected request arrived (条例 Art.30); the clock starts over."""
    task = get_task(session, task_id, actor)
    if task.period_key is not None:
        raise TransitionError(f"task {task_id} is a recurring duty; only event clocks can restart")
    event = ClockEvent(ClockEventKind.RESTART, _aware(received or at, "received"), note="补正")
    return _clock_change(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        action="restart",
        event=event,
        allowed=(TaskStatus.OPEN,),
        new_status=TaskStatus.OPEN,
    )


def extend(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    amount: int,
    approver: str,
    reason: str = "",
) -> Task:
    """延期 by ``amount`` units of the rule, approved by ``approver`` (office only)."""
    if amount <= 0:
        raise ExtensionCapError(f"an extension must add at least 1 unit, got {amount}")
    approver = clean_text(approver, field="approver", max_length=100)
    reason = clean_text(reason, field="reason", max_length=1000)
    if not approver:
        raise LedgerError("an extension needs the approver's name")
    event = ClockEvent(
        ClockEventKind.EXTEND, at, amount=amount, approver=approver.strip(), note=reason or None
    )
    # An extension keeps the task as it is: open stays open, a paused clock stays paused.
    return _clock_change(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        action="extend",
        event=event,
        allowed=(TaskStatus.OPEN, TaskStatus.PAUSED),
        new_status=None,
        office_only=True,
    )


def complete(
    session: Session,
    task_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    evidence: str | None,
    done_at: dt.datetime | None = None,
    outcome_code: str | None = None,
    service_date: dt.date | None = None,
) -> Task:
    """Mark done with its evidence link and store the closing facts.

    Requests (tasks feeding table 三) also need the outcome code and the service date; the
    service date is the moment that counts (国办公开办函〔2016〕235号: signed for, or handed
    to the post office), so such a task is on time iff it was served by the due day.
    """
    task = get_task(session, task_id, actor)
    check_not_locked(session, task, at, action="complete", moments=(done_at, service_date))
    _require(task, (TaskStatus.OPEN, TaskStatus.PAUSED), "complete")
    url = check_evidence(evidence) if evidence is not None else None
    finished = _aware(done_at or at, "done_at")
    if finished > at:
        raise LedgerError(f"done_at {finished.isoformat()} is in the future")
    feeds = task.rule.get("feeds", [])
    if "table3" in feeds:
        if outcome_code is None:
            raise LedgerError(
                "a request reply needs --outcome (the row of table 三), e.g. disclosed"
            )
        if service_date is None:
            raise LedgerError(
                "a request reply needs --service-date (送达日期: signed for / posted)"
            )
    if outcome_code is not None:
        check_outcome(outcome_code)
    before = task_state(task)
    extra: list[ClockEvent] = []
    if task.status == TaskStatus.PAUSED.value:
        extra.append(ClockEvent(ClockEventKind.RESUME, finished))
    if service_date is not None:
        finished = dt.datetime.combine(service_date, dt.time(), domain.tz).astimezone(UTC)
    deadline = recompute(session, task, domain, at=at, extra=extra)
    assert deadline.due_at is not None
    without_extension = None
    if deadline.extended_by:
        events = [
            event
            for event in clock_events(session, task_id)
            if event.kind is not ClockEventKind.EXTEND
        ]
        base = compute_due(rule_of(task), [*events, *extra], calendar=domain.calendar, tz=domain.tz)
        without_extension = base.due_at
    facts = classify(
        done_at=finished,
        due_at=deadline.due_at,
        due_without_extension_at=without_extension,
        calendar=domain.calendar,
        tz=domain.tz,
    )
    task.status = TaskStatus.DONE.value
    task.done_at = finished
    task.closed_at = at
    task.evidence_url = url
    task.outcome_code = outcome_code
    task.service_date = service_date
    task.timeliness = facts.timeliness.value
    task.working_days_margin = facts.working_days_margin
    task.extended = facts.extended
    task.next_action_at = None
    for event in extra:
        session.add(
            ClockEventRow(
                task_id=task_id,
                kind=event.kind.value,
                at=event.at,
                recorded_at=at,
                recorded_by=actor.name,
            )
        )
    return _record(session, task, domain, actor=actor, at=at, action="complete", before=before)


def cancel(
    session: Session, task_id: int, domain: Domain, *, actor: Actor, at: dt.datetime, reason: str
) -> Task:
    """Cancel (e.g. spawned by mistake); needs a reason, office only. Not counted in statistics."""
    reason = clean_text(reason, field="reason")
    if not reason:
        raise LedgerError("cancel needs a reason")
    task = get_task(session, task_id, actor)
    check_not_locked(session, task, at, action="cancel")
    actor.check_write(task.agency_id, task.section_id, office_only=True)
    _require(task, (TaskStatus.OPEN, TaskStatus.PAUSED), "cancel")
    before = task_state(task)
    task.status = TaskStatus.CANCELLED.value
    task.cancel_reason = reason.strip()
    task.closed_at = at
    task.next_action_at = None
    return _record(session, task, domain, actor=actor, at=at, action="cancel", before=before)


def reopen(
    session: Session, task_id: int, domain: Domain, *, actor: Actor, at: dt.datetime, reason: str
) -> Task:
    """Reopen a done or cancelled task (office only); its closing facts are cleared."""
    reason = clean_text(reason, field="reason")
    if not reason:
        raise LedgerError("reopen needs a reason")
    task = get_task(session, task_id, actor)
    check_not_locked(session, task, at, action="reopen")
    actor.check_write(task.agency_id, task.section_id, office_only=True)
    _require(task, (TaskStatus.DONE, TaskStatus.CANCELLED), "reopen")
    before = task_state(task)
    events = clock_events(session, task_id)
    task.status = TaskStatus.PAUSED.value if _open_pause(events) else TaskStatus.OPEN.value
    for name in (
        "done_at",
        "closed_at",
        "evidence_url",
        "outcome_code",
        "service_date",
        "timeliness",
        "working_days_margin",
        "cancel_reason",
    ):
        setattr(task, name, None)
    task.extended = False
    recompute(session, task, domain, at=at)
    return _record(
        session,
        task,
        domain,
        actor=actor,
        at=at,
        action="reopen",
        before=before,
        detail={"reason": reason.strip()},
    )


def _open_pause(events: list[ClockEvent]) -> bool:
    open_pause = False
    for event in events:
        if event.kind is ClockEventKind.PAUSE:
            open_pause = True
        elif event.kind in (ClockEventKind.RESUME, ClockEventKind.RESTART):
            open_pause = False
    return open_pause


def explain_task(session: Session, task: Task, domain: Domain) -> Deadline:
    """The task's deadline with its step-by-step explanation (read only)."""
    assert task.id is not None
    events = clock_events(session, task.id)
    return compute_due(rule_of(task), events, calendar=domain.calendar, tz=domain.tz, explain=True)
