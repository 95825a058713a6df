"""``gongkai report …``: the annual statistics, the monthly bulletin, year locks, and the
figures and cases the annual report needs beyond tasks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlmodel import col, select

from db.cases import CASE_KINDS, CASE_RESULTS, FIGURES, decide_case, list_cases, list_figures
from db.cases import record_case as record_review_case
from db.cases import set_figure as set_year_figure
from db.engine import session_scope
from db.models import Section
from db.queries import single_agency_code
from gongkai.cli._common import (
    JSON_OPTION,
    UserError,
    console,
    emit,
    new_app,
    parse_date,
    progress_bar,
    register_user_errors,
)
from gongkai.cli._ledger import open_ledger
from gongkai.runtime import now
from reports.bulletin import bulletin_message, compile_month
from reports.compile import compile_year
from reports.errors import ReportsError
from reports.lock import lock_year, unlock_year
from reports.render import FORMATS, SUFFIX, check_format, render_month, render_year
from reports.scope import parse_month, resolve_scope

register_user_errors(ReportsError)

app = new_app("年度报告与月度通报 Annual report statistics and the monthly bulletin")
case_app = new_app("行政复议、行政诉讼（表四） Review and litigation cases (table 四)")
figure_app = new_app("年度填报数字（表二等） Year figures entered by the office")
app.add_typer(case_app, name="case")
app.add_typer(figure_app, name="figure")

FORMAT_OPTION = typer.Option("json", "--format", "-f", help=" | ".join(FORMATS))
OUT_OPTION = typer.Option(None, "--out", "-o", help="File to write (default: stdout for json/html)")
AGENCY_OPTION = typer.Option(None, "--agency", help="Agency code (needed with several agencies)")
ALL_OPTION = typer.Option(
    False, "--all", help="The whole 本级政府: every agency, summed and compared"
)
CHARTS_OPTION = typer.Option(True, "--charts/--no-charts", help="Draw charts (html, xlsx, docx)")


def _write(data: bytes, fmt: str, out: Path | None, default_name: str) -> None:
    if out is None and fmt in ("json", "html"):
        sys.stdout.write(data.decode("utf-8"))
        return
    target = out or Path(default_name + SUFFIX[fmt])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    console.print(f"已写入 wrote {target} ({len(data):,} bytes)")


@app.command("year")
def year_command(
    year: int = typer.Argument(..., help="Year, e.g. 2026"),
    fmt: str = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
    agency: str | None = AGENCY_OPTION,
    everyone: bool = ALL_OPTION,
    charts: bool = CHARTS_OPTION,
    live: bool = typer.Option(
        False, "--live", help="Compile from the ledger even where the year is locked"
    ),
) -> None:
    """年度报告统计表 The year's tables and statistics (locked years: as filed)."""
    check_format(fmt)
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        scope = resolve_scope(session, ledger.actor, agency_code=agency, everyone=everyone)
        report = compile_year(
            session, year=year, at=at, tz=ledger.settings.tz, scope=scope, use_locks=not live
        )
    name = "all" if scope.government else scope.agencies[0].code
    _write(render_year(report, fmt, charts=charts), fmt, out, f"report-{name}-{year}")


@app.command("month")
def month_command(
    month: str = typer.Argument(..., metavar="YYYY-MM", help="Month, e.g. 2026-11"),
    fmt: str = FORMAT_OPTION,
    out: Path | None = OUT_OPTION,
    agency: str | None = AGENCY_OPTION,
    everyone: bool = ALL_OPTION,
    charts: bool = CHARTS_OPTION,
    message: bool = typer.Option(
        False, "--message", help="Print the bulletin as the chat message text instead"
    ),
) -> None:
    """月度通报 The monthly bulletin: sections ranked by timeliness."""
    check_format(fmt)
    year, number = parse_month(month)
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        scope = resolve_scope(session, ledger.actor, agency_code=agency, everyone=everyone)
        bulletin = compile_month(
            session, year=year, month=number, at=at, tz=ledger.settings.tz, scope=scope
        )
    if message:
        sys.stdout.write(bulletin_message(bulletin) + "\n")
        return
    name = "all" if scope.government else scope.agencies[0].code
    _write(
        render_month(bulletin, fmt, charts=charts), fmt, out, f"bulletin-{name}-{year}-{number:02d}"
    )


@app.command("lock")
def lock_command(
    year: int = typer.Argument(..., help="The published year to freeze"),
    agency: str | None = AGENCY_OPTION,
    everyone: bool = typer.Option(False, "--all", help="Lock the year for every agency"),
    as_json: bool = JSON_OPTION,
) -> None:
    """锁定年度数据 Freeze a published year: its figures as filed, later edits refused."""
    ledger = open_ledger()
    at = now()
    results: list[dict[str, Any]] = []
    with session_scope(ledger.engine) as session:
        if everyone:
            scope = resolve_scope(session, ledger.actor, everyone=True)
            codes = [item.code for item in scope.agencies]
        else:
            codes = [agency or single_agency_code(session)]
        for code in codes:
            result = lock_year(
                session,
                year=year,
                at=at,
                tz=ledger.settings.tz,
                actor=ledger.actor,
                agency_code=code,
            )
            results.append(
                {
                    "agency": code,
                    "year": year,
                    "created": result.created,
                    "locked_at": result.lock.locked_at,
                    "locked_by": result.lock.locked_by,
                    "digest": result.lock.digest,
                }
            )

    def human() -> None:
        for item in results:
            state = "已锁定 locked" if item["created"] else "此前已锁定 already locked"
            console.print(
                f"{item['agency']} {year}: {state} {item['locked_at']:%Y-%m-%d %H:%M} "
                f"by {item['locked_by']}, digest {item['digest'][:16]}…"
            )

    emit(results, as_json=as_json, human=human)


@app.command("unlock")
def unlock_command(
    year: int = typer.Argument(..., help="The locked year to open again"),
    reason: str = typer.Option(..., "--reason", help="Why (e.g. 更正 of the published report)"),
    agency: str | None = AGENCY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """解除年度锁定 Open a locked year again to correct it; audited with the reason."""
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        code = agency or single_agency_code(session)
        lock = unlock_year(
            session, year=year, at=at, actor=ledger.actor, reason=reason, agency_code=code
        )
        result = {"agency": code, "year": year, "unlocked": True, "digest": lock.digest}

    def human() -> None:
        console.print(
            f"{code} {year}: 已解除锁定 unlocked (the lock's digest {lock.digest[:16]}… "
            "stays in the audit log); lock it again once the corrected report is out"
        )

    emit(result, as_json=as_json, human=human)


@app.command("evidence")
def evidence_command(
    year: int = typer.Argument(..., help="The year whose due tasks are shown"),
    agency: str | None = AGENCY_OPTION,
    section: str | None = typer.Option(None, "--section", help="One section (its code)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="xlsx file to write"),
    lang: str = typer.Option("zh", "--lang", help="zh | en"),
) -> None:
    """考核佐证 The year's on-time rates with every task behind them (xlsx)."""
    from reports.evidence import evidence_scope, evidence_workbook

    if lang not in ("zh", "en"):
        raise UserError(f"--lang: {lang!r} is not zh or en")
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        scope = resolve_scope(session, ledger.actor, agency_code=agency)
        agency_ref = scope.agencies[0]
        section_id = None
        if section is not None:
            found = session.exec(
                select(Section).where(
                    col(Section.agency_id) == agency_ref.id, col(Section.code) == section
                )
            ).first()
            if found is None:
                raise UserError(f"--section: unknown section {section!r} in {agency_ref.code}")
            section_id = found.id
        target = evidence_scope(session, agency_id=agency_ref.id, year=year, section_id=section_id)
        with progress_bar("考核佐证 evidence", "tasks") as progress:
            data = evidence_workbook(
                session,
                target,
                at=at,
                tz=ledger.settings.tz,
                lang=lang,
                titles={
                    code: item.title.localized(lang) for code, item in ledger.domain.catalog.items()
                },
                progress=progress,
            )
    name = f"evidence-{agency_ref.code}{'-' + section if section else ''}-{year}"
    _write(data, "xlsx", out, name)


# --------------------------------------------------------------------------- cases


@case_app.command("add")
def case_add(
    kind: str = typer.Option(..., "--kind", help=" | ".join(CASE_KINDS)),
    filed: str = typer.Option(..., "--filed", help="Day the case was filed (YYYY-MM-DD)"),
    result: str = typer.Option("pending", "--result", help=" | ".join(CASE_RESULTS)),
    closed: str | None = typer.Option(None, "--closed", help="Day it was decided"),
    external_id: str | None = typer.Option(None, "--external-id", help="Case number"),
    note: str | None = typer.Option(None, "--note"),
    agency: str | None = AGENCY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """登记复议或诉讼案件 Record a review or lawsuit about a disclosure decision."""
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        outcome = record_review_case(
            session,
            agency_code=agency or single_agency_code(session),
            kind=kind,
            filed_on=parse_date(filed, name="--filed"),
            result=result,
            closed_on=parse_date(closed, name="--closed") if closed else None,
            external_id=external_id,
            note=note,
            actor=ledger.actor,
            at=at,
            tz=ledger.settings.tz,
        )
        data = {"created": outcome.created, **outcome.case.model_dump()}
    emit(
        data,
        as_json=as_json,
        human=lambda: console.print(
            f"{'已登记 recorded' if data['created'] else '已存在 exists'} case {data['id']}: "
            f"{CASE_KINDS[data['kind']]} {data['filed_on']} {CASE_RESULTS[data['result']]}"
        ),
    )


@case_app.command("decide")
def case_decide(
    case_id: int = typer.Argument(...),
    result: str = typer.Option(..., "--result", help=" | ".join(CASE_RESULTS)),
    closed: str | None = typer.Option(None, "--closed", help="Day it was decided"),
    as_json: bool = JSON_OPTION,
) -> None:
    """登记案件结果 Record or correct a case's result."""
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        case = decide_case(
            session,
            case_id,
            result=result,
            closed_on=parse_date(closed, name="--closed") if closed else None,
            actor=ledger.actor,
            at=at,
            tz=ledger.settings.tz,
        )
        data = case.model_dump()
    emit(
        data,
        as_json=as_json,
        human=lambda: console.print(f"case {case_id}: {CASE_RESULTS[data['result']]}"),
    )


@case_app.command("list")
def case_list(agency: str | None = AGENCY_OPTION, as_json: bool = JSON_OPTION) -> None:
    """案件列表 The agency's review and litigation cases."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        cases = [
            case.model_dump()
            for case in list_cases(
                session, ledger.actor, agency_code=agency or single_agency_code(session)
            )
        ]

    def human() -> None:
        table = Table("ID", "类别 kind", "编号", "立案 filed", "结果 result", "审结 closed")
        for case in cases:
            table.add_row(
                str(case["id"]),
                CASE_KINDS.get(case["kind"], case["kind"]),
                case["external_id"] or "",
                str(case["filed_on"]),
                CASE_RESULTS.get(case["result"], case["result"]),
                str(case["closed_on"] or ""),
            )
        console.print(table)

    emit(cases, as_json=as_json, human=human)


# --------------------------------------------------------------------------- figures


@figure_app.command("set")
def figure_set(
    year: int = typer.Argument(...),
    key: str = typer.Argument(..., help="A figure key (see `gongkai report figure keys`)"),
    value: str = typer.Argument(..., help="The number"),
    note: str | None = typer.Option(None, "--note"),
    agency: str | None = AGENCY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """填报年度数字 Set one figure of a year (e.g. 规章 in force, fee amount)."""
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"{value!r} is not a number") from None
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        figure = set_year_figure(
            session,
            agency_code=agency or single_agency_code(session),
            year=year,
            key=key,
            value=number,
            note=note,
            actor=ledger.actor,
            at=at,
        )
        data = figure.model_dump()
    spec = FIGURES[key]
    emit(
        data,
        as_json=as_json,
        human=lambda: console.print(f"{year} {spec.label}: {data['value']:g} {spec.unit}"),
    )


@figure_app.command("list")
def figure_list(
    year: int = typer.Argument(...), agency: str | None = AGENCY_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """年度数字列表 The figures entered for a year."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        figures = [
            figure.model_dump()
            for figure in list_figures(
                session, ledger.actor, agency_code=agency or single_agency_code(session), year=year
            )
        ]

    def human() -> None:
        table = Table("key", "名称 label", "数值 value", "备注 note")
        for figure in figures:
            spec = FIGURES.get(figure["key"])
            table.add_row(
                figure["key"],
                spec.label if spec else "",
                f"{figure['value']:g} {spec.unit if spec else ''}",
                figure["note"] or "",
            )
        console.print(table)

    emit(figures, as_json=as_json, human=human)


@figure_app.command("keys")
def figure_keys(as_json: bool = JSON_OPTION) -> None:
    """可填报的数字 The figure keys the reports read."""
    data = [{"key": key, "label": spec.label, "unit": spec.unit} for key, spec in FIGURES.items()]

    def human() -> None:
        table = Table("key", "名称 label", "单位 unit")
        for item in data:
            table.add_row(item["key"], item["label"], item["unit"])
        console.print(table)

    emit(data, as_json=as_json, human=human)
