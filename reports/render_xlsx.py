"""Excel (openpyxl) laid out like the official tables: merged headers, borders, the 勾稽关系
note, numbers stored as numbers; one sheet per table, charts on their own sheet.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.grid import Grid, positions
from reports.outline import Image

THIN = Side(style="thin", color="666666")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL = PatternFill("solid", fgColor="EEF2F7")
TITLE_FONT = Font(bold=True, size=13)
HEAD_FONT = Font(bold=True, size=10)
BODY_FONT = Font(size=10)
NOTE_FONT = Font(size=9, color="555555")


def write_grid(sheet: Worksheet, grid: Grid, *, top: int = 1, label_width: int = 30) -> int:
    """Write ``grid`` with its title from row ``top``; returns the next free row."""
    placed, width = positions(grid)
    width = max(width, 1)
    sheet.cell(row=top, column=1, value=grid.title).font = TITLE_FONT
    if width > 1:
        sheet.merge_cells(start_row=top, start_column=1, end_row=top, end_column=width)
    first = top + 1
    for item in placed:
        row, column = first + item.row, 1 + item.column
        cell = item.cell
        target = sheet.cell(
            row=row, column=column, value=cell.value if cell.value is not None else cell.text
        )
        target.font = HEAD_FONT if cell.head else BODY_FONT
        target.alignment = Alignment(
            horizontal="center" if cell.head else cell.align, vertical="center", wrap_text=True
        )
        if cell.head:
            target.fill = HEAD_FILL
        if isinstance(cell.value, float) and not cell.value.is_integer():
            target.number_format = "0.0%" if "%" in cell.text else "0.####"
        for r in range(row, row + cell.rowspan):
            for c in range(column, column + cell.colspan):
                sheet.cell(row=r, column=c).border = BORDER
        if cell.rowspan > 1 or cell.colspan > 1:
            sheet.merge_cells(
                start_row=row,
                start_column=column,
                end_row=row + cell.rowspan - 1,
                end_column=column + cell.colspan - 1,
            )
    row = first + len(grid.rows)
    for note in grid.notes:
        sheet.cell(row=row, column=1, value=note).font = NOTE_FONT
        row += 1
    for index in range(1, width + 1):
        letter = get_column_letter(index)
        current = sheet.column_dimensions[letter].width or 0
        wanted = label_width if index == 1 else 12
        sheet.column_dimensions[letter].width = max(current, wanted)
    return row + 1


def render_xlsx(
    sheets: Sequence[tuple[str, Sequence[Grid]]],
    *,
    cover: Sequence[str],
    images: Sequence[Image] = (),
) -> bytes:
    """A workbook: a cover sheet of lines, one sheet per (name, grids), then the charts."""
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "说明"
    for index, line in enumerate(cover, start=1):
        first.cell(row=index, column=1, value=line).font = TITLE_FONT if index == 1 else BODY_FONT
    first.column_dimensions["A"].width = 120
    for name, grids in sheets:
        sheet = book.create_sheet(title=name[:31])
        row = 1
        for grid in grids:
            row = write_grid(sheet, grid, top=row)
    if images:
        _charts_sheet(book, images)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _charts_sheet(book: Workbook, images: Sequence[Image]) -> None:
    try:
        from openpyxl.drawing.image import Image as SheetImage
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return
    sheet = book.create_sheet(title="图表")
    row = 1
    for image in images:
        sheet.cell(row=row, column=1, value=image.caption).font = TITLE_FONT
        picture = SheetImage(io.BytesIO(image.png))
        sheet.add_image(picture, f"A{row + 1}")
        row += int(picture.height / 20) + 3
