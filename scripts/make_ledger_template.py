"""Write the ledger templates of ``gongkai import ledger`` into gongkai/examples/.

    .venv/bin/python scripts/make_ledger_template.py [OUTPUT_DIR]

- ``ledger-template.xlsx``: sheets 依申请公开台账 and 公开事项台账 (row 1 Chinese headers with
  the column's help in a comment, row 2 the English keys, data from row 3, drop-down lists
  for applicant type, channel, outcome, 是/否 and the obligation codes), a 填写说明 sheet and a
  hidden 选项 sheet holding the lists;
- ``ledger-template.csv`` (requests) and ``duties-template.csv`` (duties): the same two header
  rows, UTF-8 with a byte-order mark so spreadsheet programs show the Chinese.

The columns come from ``db.ledger_import`` (REQUEST_COLUMNS, DUTY_COLUMNS), so the templates
and the importer cannot drift apart; a test checks the shipped files are current.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from db.ledger_import import (
    DUTY_COLUMNS,
    DUTY_SHEET,
    REQUEST_COLUMNS,
    REQUEST_SHEET,
    Column,
)
from obligations.catalog import builtin_catalog

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "gongkai" / "examples"
#: Rows the drop-down lists and date formats cover.
LAST_ROW = 2000
LISTS_SHEET = "选项"

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
KEY_FONT = Font(color="808080", italic=True, size=9)


def _obligation_codes() -> tuple[str, ...]:
    catalog = builtin_catalog()
    return tuple(
        code
        for code, obligation in catalog.items()
        if obligation.trigger.event is None or obligation.trigger.event.value != "request_received"
    )


def _lists(
    columns: tuple[Column, ...], obligation_codes: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    lists = {column.key: column.choices for column in columns if column.choices}
    if any(column.key == "obligation" for column in columns):
        lists["obligation"] = obligation_codes
    return lists


def _write_sheet(
    sheet: Worksheet, columns: tuple[Column, ...], lists: dict[str, str], strict: set[str]
) -> None:
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index, value=column.zh)
        header.font = Font(bold=True)
        header.fill = REQUIRED_FILL if column.required else HEADER_FILL
        header.alignment = Alignment(horizontal="center")
        note = f"{column.key}{'（必填）' if column.required else ''}\n{column.help}".strip()
        header.comment = Comment(note, "gongkai", width=260, height=110)
        key = sheet.cell(row=2, column=index, value=column.key)
        key.font = KEY_FONT
        sheet.column_dimensions[letter].width = max(12, min(36, len(column.zh) * 2 + 6))
        cells = f"{letter}3:{letter}{LAST_ROW}"
        if column.kind in ("date", "datetime"):
            for row in range(3, 203):
                sheet.cell(row=row, column=index).number_format = (
                    "yyyy-mm-dd hh:mm" if column.kind == "datetime" else "yyyy-mm-dd"
                )
        elif column.kind != "int":
            for row in range(3, 203):
                sheet.cell(
                    row=row, column=index
                ).number_format = "@"  # text: "2026-03" stays a period
        if column.key in lists:
            validation = DataValidation(
                type="list",
                formula1=lists[column.key],
                allow_blank=True,
                showErrorMessage=column.key in strict,
                errorTitle=column.zh,
                error=f"请从列表中选择 {column.zh}",
            )
            validation.add(cells)
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A3"


def _write_lists(workbook: Workbook, lists: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Put each list in a column of the hidden 选项 sheet; returns key → range formula."""
    sheet = workbook.create_sheet(LISTS_SHEET)
    formulas: dict[str, str] = {}
    for index, (key, values) in enumerate(sorted(lists.items()), start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index, value=key)
        for row, value in enumerate(values, start=2):
            sheet.cell(row=row, column=index, value=value)
        formulas[key] = f"'{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
    sheet.sheet_state = "hidden"
    return formulas


def _write_help(workbook: Workbook) -> None:
    sheet = workbook.create_sheet("填写说明")
    sheet.append(["表", "列", "key", "必填", "说明"])
    for name, columns in ((REQUEST_SHEET, REQUEST_COLUMNS), (DUTY_SHEET, DUTY_COLUMNS)):
        for column in columns:
            sheet.append(
                [name, column.zh, column.key, "是" if column.required else "", column.help]
            )
    sheet.append([])
    for line in (
        "导入：gongkai import ledger 台账.xlsx [--agency 机关代码] [--dry-run]",
        "从第3行起填写；第1行中文表头、第2行英文key请勿修改。日期写作 2026-03-02。",
        "全部行校验通过才写入；有问题的行会逐一列出（文件:表:行:列:问题），修改后重新导入即可，已导入的记录不会重复。",
        "依申请公开：未答复的申请不填答复送达日期，导入后按实际期限继续提醒；佐证链接可不填。",
        "公开事项：已完成的须填佐证链接；应完成日期与规则不一致时，填以台账为准方可保留台账日期。",
    ):
        sheet.append([line])
    for letter, width in zip("ABCDE", (16, 16, 22, 6, 80), strict=True):
        sheet.column_dimensions[letter].width = width


def make_workbook() -> Workbook:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    requests = workbook.create_sheet(REQUEST_SHEET)
    duties = workbook.create_sheet(DUTY_SHEET)
    codes = _obligation_codes()
    lists = {**_lists(REQUEST_COLUMNS, codes), **_lists(DUTY_COLUMNS, codes)}
    _write_help(workbook)
    formulas = _write_lists(workbook, lists)
    # Obligation codes and the override word may be typed freely (an agency adds its own
    # obligations); the other lists are the only accepted values.
    strict = {"channel", "applicant_type", "outcome", "extended"}
    _write_sheet(requests, REQUEST_COLUMNS, formulas, strict)
    _write_sheet(duties, DUTY_COLUMNS, formulas, strict)
    workbook.properties.creator = "gongkai"
    return workbook


def csv_text(columns: tuple[Column, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.zh for column in columns])
    writer.writerow([column.key for column in columns])
    return "\ufeff" + buffer.getvalue()


def write_templates(output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    xlsx = output / "ledger-template.xlsx"
    make_workbook().save(xlsx)
    requests = output / "ledger-template.csv"
    requests.write_text(csv_text(REQUEST_COLUMNS), encoding="utf-8", newline="")
    duties = output / "duties-template.csv"
    duties.write_text(csv_text(DUTY_COLUMNS), encoding="utf-8", newline="")
    return [xlsx, requests, duties]


def main(argv: list[str]) -> None:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    for path in write_templates(output):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
