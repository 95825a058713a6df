"""``gongkai import ledger FILE``: past records (历史台账) from an Excel or CSV ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from db.engine import session_scope
from db.errors import ImportRowsError
from db.ledger_import import REQUEST_SHEET, LedgerImportResult, import_ledger, read_ledger
from db.queries import single_agency_code
from gongkai import runtime
from gongkai.cli._common import JSON_OPTION, console, emit, new_app, to_jsonable
from gongkai.settings import get_settings

app = new_app("导入 Import past records")


def _print_result(result: LedgerImportResult, *, dry_run: bool) -> None:
    title = "试导入（未写入）Dry run, nothing written" if dry_run else "已导入 Imported"
    console.print(f"[bold]{title}[/]: {escape(result.source)} → {result.agency}")
    # 新增 created, 办结 closed an open task, 已有 already present; 未办结/按时/延期/逾期: how the
    # tasks this import wrote stand. Chinese heads fit 80 columns; --json has the English keys.
    table = Table(box=box.SIMPLE)
    table.add_column("表", no_wrap=True, min_width=len(REQUEST_SHEET) * 2)
    for head in ("行", "新增", "办结", "已有", "未办结", "按时", "延期", "逾期"):
        table.add_column(head, justify="right")
    for sheet in result.sheets:
        counts = (
            sheet.rows,
            sheet.created,
            sheet.closed,
            sheet.present,
            sheet.open,
            sheet.on_time,
            sheet.extended_on_time,
            sheet.late,
        )
        table.add_row(sheet.sheet, *(str(count) for count in counts))
    console.print(table)
    late = [row for row in result.rows if row.action != "present" and row.timeliness == "late"]
    if late:
        console.print("逾期 Late:")
        for row in late:
            console.print(
                f"  {row.sheet} row {row.row} {escape(row.key)}: task {row.task_id}, "
                f"due {row.due_date}, {row.working_days_margin} working days"
            )
    for warning in result.warnings:
        console.print(f"[yellow]注意 Note:[/] {escape(warning)}")


@app.command("ledger")
def ledger(
    path: Path = typer.Argument(
        ..., metavar="FILE", help="ledger.xlsx (依申请公开台账, 公开事项台账) or .csv"
    ),
    agency: str | None = typer.Option(
        None, "--agency", help="Agency code (needed with several agencies)"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check and count, write nothing 只检查不写入"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """导入历史台账 Import past requests and duties (all rows or none; re-importing adds nothing).

    Templates: gongkai/examples/ledger-template.xlsx, ledger-template.csv (requests),
    duties-template.csv (duties).
    """
    settings = get_settings()
    try:
        ledger_file = read_ledger(path)
        engine = runtime.engine_for(settings)
        domain = runtime.domain_for(settings, engine)
        at = runtime.now()
        with session_scope(engine) as session:
            code = agency or single_agency_code(session)
            result = import_ledger(
                session, domain, ledger_file, agency_code=code, actor=runtime.cli_actor(), at=at
            )
            if dry_run:
                session.rollback()
    except ImportRowsError as exc:
        if not as_json:
            raise
        data = {"file": path.name, "imported": False, "problems": exc.problems}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        raise typer.Exit(1) from None
    emit(
        {**to_jsonable(result.as_dict()), "imported": not dry_run, "dry_run": dry_run},
        as_json=as_json,
        human=lambda: _print_result(result, dry_run=dry_run),
    )
