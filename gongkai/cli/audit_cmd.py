"""``gongkai audit verify | log``: the hash-chained audit trail."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from sqlmodel import col, select

from db.audit import verify_chain
from db.engine import session_scope
from db.models import AuditEntry
from gongkai.cli._common import JSON_OPTION, UserError, console, emit, new_app
from gongkai.cli._ledger import open_ledger

app = new_app("审计 Audit trail")


@app.command("verify")
def verify(as_json: bool = JSON_OPTION) -> None:
    """校验审计链 Check that no audit entry was edited, deleted or reordered."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        checked, problems = verify_chain(session)
    data = {"checked": checked, "ok": not problems, "problems": problems}
    emit(
        data,
        as_json=as_json,
        human=lambda: console.print(
            f"[green]OK[/] {checked} 条审计记录完整 entries intact" if not problems else ""
        ),
    )
    if problems:
        raise UserError("\n".join([f"audit chain broken ({len(problems)} problems):", *problems]))


@app.command("log")
def log(
    entity: str | None = typer.Option(None, "--entity", help="task, event, calendar_notice, …"),
    entity_id: str | None = typer.Option(None, "--id"),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """审计记录 The newest audit entries."""
    ledger = open_ledger()
    statement = select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(limit)
    if entity:
        statement = statement.where(AuditEntry.entity == entity)
    if entity_id:
        statement = statement.where(AuditEntry.entity_id == entity_id)
    with session_scope(ledger.engine) as session:
        entries = list(session.exec(statement).all())
    rows: list[dict[str, Any]] = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "entity": e.entity,
            "id": e.entity_id,
            "before": e.before,
            "after": e.after,
        }
        for e in entries
    ]

    def human() -> None:
        table = Table("#", "时间 at", "操作人 actor", "操作 action", "对象 entity")
        for row in rows:
            table.add_row(
                str(row["seq"]),
                f"{row['at']:%Y-%m-%d %H:%M}",
                row["actor"],
                row["action"],
                f"{row['entity']} {row['id']}",
            )
        console.print(table)

    emit(rows, as_json=as_json, human=human)
