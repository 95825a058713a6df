"""``gongkai event add`` and ``gongkai spawn``: events in, tasks out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.table import Table

from db.engine import session_scope
from db.queries import single_agency_code
from db.spawn import record_event, spawn_recurring
from gongkai.cli._common import (
    JSON_OPTION,
    UserError,
    console,
    emit,
    new_app,
    parse_date,
    parse_datetime,
)
from gongkai.cli._ledger import open_ledger
from gongkai.runtime import now

app = new_app("事件登记 Register events")


def _attributes(pairs: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--attr {pair!r} must be KEY=VALUE (e.g. channel=in_person)")
        attributes[key.strip()] = value.strip()
    return attributes


@app.command("add")
def add(
    event_type: str = typer.Argument(
        ..., metavar="TYPE", help="document_published, request_received, …"
    ),
    occurred: str = typer.Option(None, "--at", help="When it happened (default: now)"),
    agency: str | None = typer.Option(
        None, "--agency", help="Agency code (needed with several agencies)"
    ),
    section: str | None = typer.Option(None, "--section", help="Responsible section code"),
    title: str = typer.Option("", "--title", help="What it is about"),
    external_id: str | None = typer.Option(
        None, "--external-id", help="ID in the source system; repeats create nothing"
    ),
    attrs: list[str] = typer.Option(
        [], "--attr", help="KEY=VALUE, repeatable (applicant_type, channel, severity, kind…)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """登记事件并生成任务 Record an event and spawn its tasks."""
    ledger = open_ledger()
    at = now()
    occurred_at = parse_datetime(occurred, name="--at", tz=ledger.settings.tz) if occurred else at
    with session_scope(ledger.engine) as session:
        agency_code = agency or single_agency_code(session)
        result = record_event(
            session,
            ledger.domain,
            agency_code=agency_code,
            event_type_name=event_type,
            occurred_at=occurred_at,
            actor=ledger.actor,
            at=at,
            attributes=_attributes(attrs),
            external_id=external_id,
            section_code=section,
            title=title,
        )
        from db.models import Task

        tasks = [session.get(Task, task_id) for task_id in result.task_ids]
        data: dict[str, Any] = {
            "event_id": result.event.id,
            "created": result.created,
            "tasks": [
                {
                    "id": task.id,
                    "obligation": task.obligation_code,
                    "title": task.title,
                    "due_at": task.due_at,
                    "due_date": task.due_date,
                    "provisional": task.provisional,
                }
                for task in tasks
                if task is not None
            ],
        }

    def human() -> None:
        verb = "已登记 Recorded" if result.created else "已存在 Already recorded (same external id)"
        console.print(f"{verb}: event {result.event.id}")
        for item in data["tasks"]:
            flag = " [yellow]暂定[/]" if item["provisional"] else ""
            console.print(
                f"  task {item['id']} {item['obligation']} → 截止 due {item['due_date']}{flag}"
            )

    emit(data, as_json=as_json, human=human)


def spawn(
    through: str = typer.Option(
        ..., "--through", help="Spawn every period that begins by this date"
    ),
    since: str | None = typer.Option(
        None, "--since", help="Earliest period (default: the agency's start)"
    ),
    agencies: list[str] = typer.Option(
        [], "--agency", help="Agency code, repeatable (default: all)"
    ),
    obligations: list[str] = typer.Option(
        [], "--obligation", help="Obligation code, repeatable (default: all recurring)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """生成周期任务 Spawn recurring tasks per period and section (idempotent)."""
    ledger = open_ledger()
    through_date = parse_date(through, name="--through")
    since_date: dt.date | None = parse_date(since, name="--since") if since else None
    with session_scope(ledger.engine) as session:
        result = spawn_recurring(
            session,
            ledger.domain,
            through=through_date,
            since=since_date,
            actor=ledger.actor,
            at=now(),
            agency_codes=agencies or None,
            obligation_codes=obligations or None,
        )
    data = {
        "created": result.created,
        "existing": result.existing,
        "per_section": dict(result.per_section),
    }

    def human() -> None:
        console.print(f"新建 created {result.created}, 已有 already present {result.existing}")
        if result.per_section:
            table = Table("科室 section", "新建 created")
            for key, count in sorted(result.per_section.items()):
                table.add_row(key, str(count))
            console.print(table)

    emit(data, as_json=as_json, human=human)
