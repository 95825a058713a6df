"""考核佐证 The assessment evidence workbook: a year's timeliness with every task behind it.

政务公开 assessments (考核) ask an agency, or one of its sections, to prove its on-time rate.
The evidence is the rate and the tasks it was counted from: each one's due day, when and
how it was closed, the published page (佐证链接) and the clock's history (pauses, the
restart after a correction, approved extensions). One xlsx file, four sheets:

1. 说明 — agency, section, year, when it was drawn up, and how the rate is counted;
2. 各科室 — per section: due, on time, within an extension, late, overdue and open, not due
   yet, the on-time rate and the median margin (the bulletin's own figures, ``reports.stats``);
3. 任务明细 — every task due in the year that feeds the timeliness statistics;
4. 计时记录 — the clock events of those tasks.

User text (titles, names, notes) that a spreadsheet would read as a formula gets a leading
apostrophe (:func:`safe_cell`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from db.models import Agency, ClockEventRow, Section, Task, TaskStatus
from obligations.timeliness import Timeliness
from reports.errors import ScopeError
from reports.feeds import FeedMap, resolve_feeds
from reports.model import ON_TIME_BASIS, TimelinessRow
from reports.scope import year_window
from reports.stats import build_timeliness, section_names, timeliness_buckets

#: Cells starting with one of these would be read as a formula by a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Tasks read per query while the detail sheet is written.
CHUNK = 2_000


def safe_cell(value: str) -> str:
    """``value`` as text a spreadsheet shows and never evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


@dataclass(frozen=True)
class EvidenceScope:
    agency: Agency
    section: Section | None
    year: int


def evidence_scope(
    session: Session, *, agency_id: int, year: int, section_id: int | None = None
) -> EvidenceScope:
    """The agency (and section) of a workbook; a section of another agency is refused."""
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise ScopeError(f"unknown agency {agency_id}")
    if not 2004 <= year <= 2100:
        raise ScopeError(f"year {year}: give a year from 2004 on")
    section = None
    if section_id is not None:
        section = session.get(Section, section_id)
        if section is None or section.agency_id != agency.id:
            raise ScopeError(f"section {section_id} is not one of {agency.code}'s")
    return EvidenceScope(agency, section, year)


_LABELS = {
    "zh": {
        "about": "说明",
        "sections": "各科室",
        "tasks": "任务明细",
        "clock": "计时记录",
        "open_overdue": "逾期未办结",
        "open_not_due": "未到期",
        "paused": "中止计时中",
        "unknown": "未判定",
    },
    "en": {
        "about": "about",
        "sections": "sections",
        "tasks": "tasks",
        "clock": "clock events",
        "open_overdue": "overdue, open",
        "open_not_due": "not due yet",
        "paused": "paused",
        "unknown": "unclassified",
    },
}

_HEADERS = {
    "zh": {
        "sections": [
            "科室",
            "到期事项",
            "按时办结",
            "延期内办结",
            "逾期办结",
            "逾期未办结",
            "未到期",
            "按时率",
            "余量中位数（工作日）",
        ],
        "tasks": [
            "任务编号",
            "科室",
            "公开事项",
            "任务",
            "起算日",
            "截止日",
            "延期",
            "状态",
            "完成时间",
            "时效",
            "余量（工作日）",
            "佐证链接",
        ],
        "clock": ["任务编号", "类型", "时间", "数量", "批准人", "说明", "记录人"],
    },
    "en": {
        "sections": [
            "section",
            "due",
            "on time",
            "within extension",
            "late",
            "overdue, open",
            "not due yet",
            "on-time rate",
            "median margin (working days)",
        ],
        "tasks": [
            "task",
            "section",
            "obligation",
            "title",
            "start",
            "due",
            "extended by",
            "status",
            "done at",
            "timeliness",
            "margin (working days)",
            "evidence",
        ],
        "clock": ["task", "kind", "at", "amount", "approver", "note", "recorded by"],
    },
}


def _class_label(status: str, timeliness: str | None, overdue: bool, lang: str) -> str:
    labels = _LABELS[lang]
    if status == TaskStatus.DONE.value:
        try:
            return Timeliness(timeliness or "").label(lang)
        except ValueError:
            return labels["unknown"]
    if status == TaskStatus.PAUSED.value:
        return labels["paused"]
    return labels["open_overdue"] if overdue else labels["open_not_due"]


_TASK_COLUMNS = (
    col(Task.id),
    col(Task.section_id),
    col(Task.obligation_code),
    col(Task.title),
    col(Task.start_date),
    col(Task.due_date),
    col(Task.due_at),
    col(Task.extended_by),
    col(Task.status),
    col(Task.done_at),
    col(Task.timeliness),
    col(Task.working_days_margin),
    col(Task.evidence_url),
)


def _tasks(
    session: Session, scope: EvidenceScope, tz: dt.tzinfo, feeds: FeedMap
) -> Iterator[Sequence[Any]]:
    """The year's tasks that feed timeliness, by due day, streamed in chunks of rows.

    Plain columns, not ORM objects: the rule snapshot (1–2 KB of JSON a task) is not read,
    and the range on (agency, due_date) is the reports' own index.
    """
    window = year_window(scope.year, tz)
    statement = (
        sa_select(*_TASK_COLUMNS)
        .where(
            col(Task.agency_id) == scope.agency.id,
            col(Task.due_date) >= window.first,
            col(Task.due_date) <= window.last,
            col(Task.status) != TaskStatus.CANCELLED.value,
            feeds.condition("timeliness"),
        )
        .order_by(col(Task.due_date), col(Task.id))
    )
    if scope.section is not None:
        statement = statement.where(col(Task.section_id) == scope.section.id)
    connection = session.connection().execution_options(stream_results=True, yield_per=CHUNK)
    yield from connection.execute(statement).partitions()


def _clock_rows(session: Session, task_ids: list[int], tz: dt.tzinfo) -> list[list[Any]]:
    found = session.exec(
        select(ClockEventRow)
        .where(col(ClockEventRow.task_id).in_(task_ids))
        .order_by(col(ClockEventRow.task_id), col(ClockEventRow.at), col(ClockEventRow.id))
    ).all()
    return [
        [
            event.task_id,
            event.kind,
            event.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            event.amount or "",
            safe_cell(event.approver or ""),
            safe_cell(event.note or ""),
            safe_cell(event.recorded_by),
        ]
        for event in found
    ]


def section_rows(
    session: Session,
    scope: EvidenceScope,
    at: dt.datetime,
    tz: dt.tzinfo,
    feeds: FeedMap,
    sections: dict[int, tuple[str, str]],
) -> list[TimelinessRow]:
    """The bulletin's figures per section of the scope, then the total."""
    agency_ids = [scope.agency.id or 0]
    buckets = timeliness_buckets(session, agency_ids, year_window(scope.year, tz), at, feeds)
    if scope.section is not None:
        buckets = [bucket for bucket in buckets if bucket.section_id == scope.section.id]
    figures = build_timeliness(
        buckets,
        agency_code=scope.agency.code,
        feeds=feeds,
        sections=sections,
    )
    return [*figures.by_section, figures.total]


def evidence_workbook(
    session: Session,
    scope: EvidenceScope,
    *,
    at: dt.datetime,
    tz: dt.tzinfo,
    lang: str = "zh",
    titles: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """The workbook described in the module docstring, as xlsx bytes.

    ``titles`` maps obligation codes to their titles (the catalog's); a code not in it is
    shown as it is. ``progress(done, total)`` is called after each chunk of tasks (a whole
    agency's year is a few hundred thousand rows and takes tens of seconds).
    """
    lang = "en" if lang == "en" else "zh"
    labels, headers = _LABELS[lang], _HEADERS[lang]
    agency_ids = [scope.agency.id or 0]
    feeds = resolve_feeds(session, agency_ids)
    sections = section_names(session, agency_ids)
    names = {key: name for key, (_code, name) in sections.items()}
    rows = section_rows(session, scope, at, tz, feeds, sections)
    book = Workbook(write_only=True)

    about = book.create_sheet(labels["about"])
    local = at.astimezone(tz)
    facts: Sequence[tuple[str, str]] = (
        ("机关 agency", f"{scope.agency.name} ({scope.agency.code})"),
        ("科室 section", scope.section.name if scope.section else "全部 all"),
        ("年度 year", str(scope.year)),
        ("制表时间 drawn up", local.strftime("%Y-%m-%d %H:%M")),
        ("按时率口径 on-time rate", ON_TIME_BASIS),
        ("按时率 on-time rate", rows[-1].on_time_rate.percent()),
        ("到期事项 tasks due", str(rows[-1].due)),
    )
    for key, value in facts:
        about.append([key, safe_cell(value)])

    summary = book.create_sheet(labels["sections"])
    summary.append(headers["sections"])
    for row in rows:
        name = row.section_name if row.section else ("合计" if lang == "zh" else "total")
        summary.append(
            [
                safe_cell(name or ""),
                row.due,
                row.on_time,
                row.extended_on_time,
                row.late,
                row.open_overdue,
                row.open_not_due,
                row.on_time_rate.percent(),
                row.median_margin,
            ]
        )

    detail = book.create_sheet(labels["tasks"])
    detail.append(headers["tasks"])
    clock = book.create_sheet(labels["clock"])
    clock.append(headers["clock"])
    titles = titles or {}
    total, done = rows[-1].due, 0
    for chunk in _tasks(session, scope, tz, feeds):
        for task in chunk:
            detail.append(
                [
                    task.id,
                    safe_cell(names.get(task.section_id, str(task.section_id))),
                    safe_cell(titles.get(task.obligation_code, task.obligation_code)),
                    safe_cell(task.title),
                    task.start_date.isoformat() if task.start_date else "",
                    task.due_date.isoformat() if task.due_date else "",
                    task.extended_by or "",
                    task.status,
                    task.done_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if task.done_at else "",
                    _class_label(
                        task.status,
                        task.timeliness,
                        task.due_at is not None and task.due_at <= at,
                        lang,
                    ),
                    task.working_days_margin if task.working_days_margin is not None else "",
                    safe_cell(task.evidence_url or ""),
                ]
            )
        for line in _clock_rows(session, [task.id for task in chunk], tz):
            clock.append(line)
        done += len(chunk)
        if progress is not None:
            progress(done, max(total, done))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
