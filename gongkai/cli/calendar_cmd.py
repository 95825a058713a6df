"""``gongkai calendar …``: working days, due dates, coverage, loading a notice."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gongkai.cli._common import (
    JSON_OPTION,
    LANG_OPTION,
    console,
    emit,
    new_app,
    parse_date,
    parse_datetime,
)
from gongkai.notices import current_calendar, install_notice
from gongkai.settings import get_settings
from obligations.clocks import Deadline, compute_due, start
from obligations.explain import day_label
from obligations.rules import DeadlineRule, Unit
from obligations.workdays import WorkdayCalendar

app = new_app("工作日日历 Working-day calendar")


class UnitChoice(StrEnum):
    working_day = "working-day"
    day = "day"
    month = "month"
    hour = "hour"


_UNITS = {
    UnitChoice.working_day: Unit.WORKING_DAY,
    UnitChoice.day: Unit.DAY,
    UnitChoice.month: Unit.MONTH,
    UnitChoice.hour: Unit.HOUR,
}


def deadline_json(deadline: Deadline, lang: str) -> dict[str, Any]:
    return {
        "rule": deadline.rule.describe(lang),
        "start_date": deadline.start_date,
        "due_date": deadline.due_date,
        "due_at": deadline.due_at,
        "paused": deadline.paused,
        "provisional": deadline.provisional,
        "provisional_years": list(deadline.provisional_years),
        "extended_by": deadline.extended_by,
        "explanation": deadline.explain(lang),
    }


def print_deadline(deadline: Deadline, lang: str, tz: dt.tzinfo) -> None:
    zh = lang == "zh"
    if deadline.due_at is None:
        console.print(
            "[bold yellow]中止计时中，暂无截止时刻[/]"
            if zh
            else "[bold yellow]Paused: no due moment yet[/]"
        )
    else:
        local = deadline.due_at.astimezone(tz)
        if deadline.rule.unit is Unit.HOUR:
            moment = local.strftime("%Y-%m-%d %H:%M %z")
        else:
            assert deadline.due_date is not None
            moment = f"{day_label(deadline.due_date, lang)} 24:00"
        label = "截止时刻" if zh else "Due"
        console.print(f"[bold]{label}:[/] {moment}")
    if deadline.provisional:
        years = ", ".join(str(year) for year in deadline.provisional_years)
        console.print(f"[bold yellow]暂定 PROVISIONAL[/] ({years})")
    for line in deadline.explain(lang):
        console.print(f"  {line}")


@app.command("is-workday")
def is_workday(
    date: str = typer.Argument(..., help="YYYY-MM-DD"),
    as_json: bool = JSON_OPTION,
    lang: str | None = LANG_OPTION,
) -> None:
    """是否工作日 Is DATE a working day? Prints the kind, holiday and source."""
    settings = get_settings()
    language = lang or settings.language
    day = parse_date(date, name="DATE")
    info = current_calendar(settings).day(day)
    data = {
        "date": info.date,
        "workday": info.is_workday,
        "kind": info.kind,
        "holiday": info.holiday,
        "source": info.source,
        "provisional": info.provisional,
    }

    def human() -> None:
        verdict = (
            ("工作日" if info.is_workday else "非工作日")
            if language == "zh"
            else ("working day" if info.is_workday else "not a working day")
        )
        holiday = f"（{info.holiday}）" if info.holiday else ""
        flag = " [yellow]暂定 provisional[/]" if info.provisional else ""
        console.print(
            f"{day_label(day, language)} {info.kind.label(language)}{holiday} → [bold]{verdict}[/]"
            f"  [dim]{info.source}[/]{flag}"
        )

    emit(data, as_json=as_json, human=human)


@app.command("add")
def add(
    date: str = typer.Argument(..., help="Start date (or date-time for hours)"),
    n: int = typer.Argument(..., min=0, help="How many units"),
    unit: UnitChoice = typer.Option(
        UnitChoice.working_day, "--unit", help="working-day | day | month | hour"
    ),
    no_roll: bool = typer.Option(False, "--no-roll-forward", help="Keep a rest-day end as it is"),
    as_json: bool = JSON_OPTION,
    lang: str | None = LANG_OPTION,
) -> None:
    """推算截止日 The due moment N units after DATE, with the explanation."""
    settings = get_settings()
    language = lang or settings.language
    tz = settings.tz
    at = parse_datetime(date, name="DATE", tz=tz)
    rule = DeadlineRule(unit=_UNITS[unit], amount=n, roll_forward=not no_roll)
    deadline = compute_due(
        rule, [start(at)], calendar=current_calendar(settings), tz=tz, explain=True
    )
    emit(
        deadline_json(deadline, language),
        as_json=as_json,
        human=lambda: print_deadline(deadline, language, tz),
    )


@app.command("coverage")
def coverage(
    first: int | None = typer.Option(None, "--from", help="First year to show"),
    last: int | None = typer.Option(None, "--to", help="Last year to show"),
    as_json: bool = JSON_OPTION,
) -> None:
    """各年日历状态 Status per year: official (source) or provisional."""
    calendar = current_calendar(get_settings())
    official = [row.year for row in calendar.coverage() if row.status.value == "official"]
    first_year = first if first is not None else calendar.first_year
    last_year = last if last is not None else max(official) + 2
    rows = calendar.coverage(list(range(first_year, last_year + 1)))

    def human() -> None:
        table = Table(
            "年份 year",
            "状态 status",
            "来源 source",
            "放假 holidays",
            "调休上班 make-up",
            "工作日 workdays",
        )
        for row in rows:
            style = "yellow" if row.status.value == "provisional" else ""
            status = "正式 official" if row.status.value == "official" else "暂定 provisional"
            table.add_row(
                str(row.year),
                status,
                row.source,
                str(row.holidays),
                str(row.makeup_workdays),
                str(row.workdays),
                style=style,
            )
        console.print(table)

    emit([asdict(row) for row in rows], as_json=as_json, human=human)


def _changed_days(
    before: WorkdayCalendar, after: WorkdayCalendar, year: int
) -> list[dict[str, Any]]:
    changes = []
    day = dt.date(year - 1, 12, 24)
    while day <= dt.date(year, 12, 31):
        old, new = before.day(day), after.day(day)
        if (old.kind, old.holiday) != (new.kind, new.holiday):
            changes.append(
                {"date": day, "before": old.kind, "after": new.kind, "holiday": new.holiday}
            )
        day += dt.timedelta(days=1)
    return changes


@app.command("load")
def load(
    file: Path = typer.Argument(..., help="A notice YAML file (see obligations/notices/2026.yaml)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """载入国务院放假通知 Validate and install a year's holiday notice."""
    settings = get_settings()
    before = current_calendar(settings)
    result = install_notice(file, settings)
    notice = result.notice
    changes = _changed_days(before, current_calendar(settings), notice.year)
    moved = [
        {
            "task_id": item.task_id,
            "title": item.title,
            "due_before": item.due_before,
            "due_after": item.due_after,
        }
        for item in result.moved
    ]
    data = {
        "year": notice.year,
        "title": notice.title,
        "source": notice.source,
        "holidays": len(notice.holidays),
        "makeup_workdays": len(notice.makeup_workdays),
        "changed_days": changes,
        "tasks_checked": result.checked,
        "tasks_moved": moved,
    }

    def human() -> None:
        console.print(f"已载入 Loaded {notice.year}: {notice.title} [dim]({notice.source})[/]")
        console.print(
            f"  {len(notice.holidays)} 个假期 holiday blocks, {len(notice.makeup_workdays)} 个调休上班日 make-up days"
        )
        console.print(f"  {len(changes)} 天状态变化 days changed")
        for change in changes:
            console.print(
                f"    {change['date']}: {change['before'].value} → {change['after'].value} {change['holiday'] or ''}"
            )
        console.print(
            f"  {result.checked} 个未办结任务已重算 open tasks rechecked, {len(moved)} 个截止日变化 moved"
        )
        for item in moved:
            console.print(
                f"    task {item['task_id']} {item['title']}: {item['due_before']} → {item['due_after']}"
            )

    emit(data, as_json=as_json, human=human)
