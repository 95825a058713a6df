"""The overdue board as CSV (UTF-8 with BOM, so Excel opens the Chinese right) and xlsx.

Cells that a spreadsheet would read as a formula (starting with = + - @ or a tab) get a
leading apostrophe: a task title typed by a user must never run in the office's Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from openpyxl import Workbook

from dashboard.board import BoardRow
from reports.evidence import safe_cell

HEADERS = {
    "zh": [
        "任务编号",
        "机关",
        "科室",
        "公开事项",
        "任务",
        "状态",
        "截止日",
        "截止时间",
        "暂定",
        "已逾期工作日",
        "已逾期自然日",
    ],
    "en": [
        "task",
        "agency",
        "section",
        "obligation",
        "title",
        "status",
        "due date",
        "due at",
        "provisional",
        "working days overdue",
        "calendar days overdue",
    ],
}


def _cells(row: BoardRow, tz: dt.tzinfo, lang: str) -> list[str | int]:
    yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
    return [
        row.id,
        safe_cell(row.agency_code),
        safe_cell(row.section_name),
        safe_cell(row.obligation_title),
        safe_cell(row.title),
        row.status,
        row.due_date.isoformat() if row.due_date else "",
        row.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if row.due_at else "",
        yes if row.provisional else no,
        row.days_overdue,
        row.calendar_days_overdue,
    ]


def to_csv(rows: Sequence[BoardRow], *, tz: dt.tzinfo, lang: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS.get(lang, HEADERS["zh"]))
    for row in rows:
        writer.writerow(_cells(row, tz, lang))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[BoardRow], *, tz: dt.tzinfo, lang: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("逾期任务" if lang == "zh" else "overdue")
    sheet.append(HEADERS.get(lang, HEADERS["zh"]))
    for row in rows:
        sheet.append(_cells(row, tz, lang))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
