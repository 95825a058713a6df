"""``gongkai task …``: list, show and the lifecycle operations (all through db.tasks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table
from sqlmodel import Session

from db import tasks as ledger_tasks
from db.engine import session_scope
from db.models import Section, Task
from db.queries import list_tasks, task_history
from gongkai.cli._common import (
    JSON_OPTION,
    LANG_OPTION,
    console,
    emit,
    new_app,
    parse_date,
    parse_datetime,
)
from gongkai.cli._ledger import Ledger, open_ledger
from gongkai.runtime import now

app = new_app("任务 Tasks")


def _task_dict(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "obligation": task.obligation_code,
        "title": task.title,
        "status": task.status,
        "section_id": task.section_id,
        "agency_id": task.agency_id,
        "period": task.period_key,
        "start_date": task.start_date,
        "due_date": task.due_date,
        "due_at": task.due_at,
        "provisional": task.provisional,
        "extended_by": task.extended_by,
        "next_action_at": task.next_action_at,
        "evidence_url": task.evidence_url,
        "outcome_code": task.outcome_code,
        "service_date": task.service_date,
        "done_at": task.done_at,
        "timeliness": task.timeliness,
        "working_days_margin": task.working_days_margin,
        "extended": task.extended,
        "cancel_reason": task.cancel_reason,
    }


@app.command("list")
def list_command(
    agency: str | None = typer.Option(None, "--agency"),
    section: str | None = typer.Option(None, "--section", help="Section code"),
    status: str = typer.Option(
        "open", "--status", help="open | overdue | paused | done | cancelled | all"
    ),
    obligation: str | None = typer.Option(None, "--obligation"),
    limit: int = typer.Option(500, "--limit", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """任务列表 Tasks, most urgent first."""
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        rows = list_tasks(
            session,
            ledger.actor,
            at=at,
            agency_code=agency,
            section_code=section,
            status=status,
            obligation_code=obligation,
            limit=limit,
        )

    def human() -> None:
        table = Table(
            "ID", "科室 section", "事项 obligation", "任务 title", "状态 status", "截止 due"
        )
        for row in rows:
            due = (
                ""
                if row.due_date is None
                else row.due_date.isoformat() + (" 暂定" if row.provisional else "")
            )
            style = "red" if row.overdue else ""
            table.add_row(
                str(row.id),
                row.section_name,
                row.obligation,
                row.title,
                row.status,
                due,
                style=style,
            )
        console.print(table)
        console.print(f"{len(rows)} 条 tasks")

    emit([row.as_dict() for row in rows], as_json=as_json, human=human)


@app.command("show")
def show(task_id: int, as_json: bool = JSON_OPTION, lang: str | None = LANG_OPTION) -> None:
    """任务详情 One task: rule, due moment with explanation, clock events, audit history."""
    ledger = open_ledger()
    language = lang or ledger.settings.language
    with session_scope(ledger.engine) as session:
        task = ledger_tasks.get_task(session, task_id, ledger.actor, for_write=False)
        section = session.get(Section, task.section_id)
        deadline = ledger_tasks.explain_task(session, task, ledger.domain)
        events, audit = task_history(session, task_id)
        data = {
            **_task_dict(task),
            "section": section.code if section else None,
            "explanation": deadline.explain(language),
            "clock_events": [
                {
                    "kind": e.kind,
                    "at": e.at,
                    "amount": e.amount,
                    "approver": e.approver,
                    "note": e.note,
                }
                for e in events
            ],
            "audit": [
                {"seq": a.seq, "at": a.at, "actor": a.actor, "action": a.action, "after": a.after}
                for a in audit
            ],
        }

    def human() -> None:
        console.print(f"[bold]任务 {task.id}[/] {task.title}  [dim]{task.obligation_code}[/]")
        console.print(
            f"  科室 section: {section.name if section else task.section_id}   状态 status: {task.status}"
        )
        for line in data["explanation"]:
            console.print(f"  {line}")
        if task.evidence_url:
            console.print(f"  佐证 evidence: {task.evidence_url}")
        if task.timeliness:
            console.print(
                f"  结果 timeliness: {task.timeliness} ({task.working_days_margin:+d} 工作日)"
            )
        console.print("  计时事件 clock events:")
        for event in data["clock_events"]:
            console.print(
                f"    {event['at'].astimezone(ledger.settings.tz):%Y-%m-%d %H:%M} {event['kind']} "
                f"{event['amount'] or ''} {event['approver'] or ''} {event['note'] or ''}"
            )
        console.print("  审计 audit:")
        for entry in data["audit"]:
            console.print(
                f"    #{entry['seq']} {entry['at'].astimezone(ledger.settings.tz):%Y-%m-%d %H:%M} "
                f"{entry['actor']} {entry['action']}"
            )

    emit(data, as_json=as_json, human=human)


def _operate(
    task_id: int, as_json: bool, operation: Callable[[Session, Ledger, dt.datetime], Task]
) -> None:
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        task = operation(session, ledger, at)
        data = _task_dict(task)

    def human() -> None:
        due = f" 截止 due {task.due_date}" if task.due_date else ""
        facts = f" {task.timeliness} ({task.working_days_margin:+d})" if task.timeliness else ""
        console.print(f"任务 task {task.id}: {task.status}{due}{facts}")

    emit(data, as_json=as_json, human=human)


@app.command("done")
def done(
    task_id: int,
    evidence: str = typer.Option(
        ..., "--evidence", help="http(s) link to the published information"
    ),
    done_at: str | None = typer.Option(None, "--at", help="When it was done (default: now)"),
    outcome: str | None = typer.Option(
        None, "--outcome", help="Requests: outcome code of table 三"
    ),
    service_date: str | None = typer.Option(
        None, "--service-date", help="Requests: date served (送达)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """办结 Mark done with its evidence link."""

    def operation(session: Session, ledger: Ledger, at: dt.datetime) -> Task:
        finished = parse_datetime(done_at, name="--at", tz=ledger.settings.tz) if done_at else None
        served = parse_date(service_date, name="--service-date") if service_date else None
        return ledger_tasks.complete(
            session,
            task_id,
            ledger.domain,
            actor=ledger.actor,
            at=at,
            evidence=evidence,
            done_at=finished,
            outcome_code=outcome,
            service_date=served,
        )

    _operate(task_id, as_json, operation)


@app.command("extend")
def extend(
    task_id: int,
    amount: int = typer.Argument(..., help="Units of the rule (working days for requests)"),
    approver: str = typer.Option(
        ..., "--approver", help="Who approved (政府信息公开工作机构负责人)"
    ),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = JSON_OPTION,
) -> None:
    """延期 Extend a task's deadline (office; capped by the rule)."""
    _operate(
        task_id,
        as_json,
        lambda session, ledger, at: ledger_tasks.extend(
            session,
            task_id,
            ledger.domain,
            actor=ledger.actor,
            at=at,
            amount=amount,
            approver=approver,
            reason=reason,
        ),
    )


@app.command("pause")
def pause(
    task_id: int,
    reason: str = typer.Option(..., "--reason", help="e.g. 征求第三方意见"),
    since: str | None = typer.Option(None, "--since"),
    as_json: bool = JSON_OPTION,
) -> None:
    """中止计时 Pause the clock."""

    def operation(session: Session, ledger: Ledger, at: dt.datetime) -> Task:
        start = parse_datetime(since, name="--since", tz=ledger.settings.tz) if since else None
        return ledger_tasks.pause(
            session, task_id, ledger.domain, actor=ledger.actor, at=at, since=start, reason=reason
        )

    _operate(task_id, as_json, operation)


@app.command("resume")
def resume(
    task_id: int, since: str | None = typer.Option(None, "--since"), as_json: bool = JSON_OPTION
) -> None:
    """恢复计时 Resume a paused clock."""

    def operation(session: Session, ledger: Ledger, at: dt.datetime) -> Task:
        start = parse_datetime(since, name="--since", tz=ledger.settings.tz) if since else None
        return ledger_tasks.resume(
            session, task_id, ledger.domain, actor=ledger.actor, at=at, since=start
        )

    _operate(task_id, as_json, operation)


@app.command("restart")
def restart(
    task_id: int,
    received: str | None = typer.Option(None, "--received", help="Corrected request received"),
    as_json: bool = JSON_OPTION,
) -> None:
    """重新计时 Restart the clock after a correction (补正)."""

    def operation(session: Session, ledger: Ledger, at: dt.datetime) -> Task:
        when = (
            parse_datetime(received, name="--received", tz=ledger.settings.tz) if received else None
        )
        return ledger_tasks.restart(
            session, task_id, ledger.domain, actor=ledger.actor, at=at, received=when
        )

    _operate(task_id, as_json, operation)


@app.command("cancel")
def cancel(
    task_id: int, reason: str = typer.Option(..., "--reason"), as_json: bool = JSON_OPTION
) -> None:
    """撤销 Cancel a task (office)."""
    _operate(
        task_id,
        as_json,
        lambda session, ledger, at: ledger_tasks.cancel(
            session, task_id, ledger.domain, actor=ledger.actor, at=at, reason=reason
        ),
    )


@app.command("reopen")
def reopen(
    task_id: int, reason: str = typer.Option(..., "--reason"), as_json: bool = JSON_OPTION
) -> None:
    """重新打开 Reopen a done or cancelled task (office)."""
    _operate(
        task_id,
        as_json,
        lambda session, ledger, at: ledger_tasks.reopen(
            session, task_id, ledger.domain, actor=ledger.actor, at=at, reason=reason
        ),
    )
