"""A table as the renderers see it: rows of cells with row and column spans.

The official tables have merged headers and label blocks (表三's 「三、本年度办理结果」 spans
all result rows); a :class:`Grid` states them once, like an HTML table, and
:func:`positions` places every cell on the row × column lattice for the xlsx and docx
writers, which merge ranges instead of spanning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    head: bool = False
    align: Align = "center"
    #: The number behind ``text`` (None for labels), so spreadsheets store numbers.
    value: int | float | None = None


def num(value: int | float | None, *, digits: int | None = None, colspan: int = 1) -> Cell:
    """A number cell; None (a figure not entered) shows as a dash."""
    if value is None:
        return Cell("—", colspan=colspan, align="right")
    if digits is not None:
        return Cell(f"{value:.{digits}f}", colspan=colspan, align="right", value=value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return Cell(str(value), colspan=colspan, align="right", value=value)


def head(text: str, *, colspan: int = 1, rowspan: int = 1) -> Cell:
    return Cell(text, colspan=colspan, rowspan=rowspan, head=True)


def label(text: str, *, colspan: int = 1, rowspan: int = 1) -> Cell:
    return Cell(text, colspan=colspan, rowspan=rowspan, align="left")


@dataclass
class Grid:
    key: str
    title: str
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    #: Rows at the top that are headers (repeated on each page of a docx).
    header_rows: int = 1


@dataclass(frozen=True)
class Placed:
    row: int
    column: int
    cell: Cell


def positions(grid: Grid) -> tuple[list[Placed], int]:
    """Every cell with its (row, column) position, and the grid's column count."""
    taken: set[tuple[int, int]] = set()
    placed: list[Placed] = []
    width = 0
    for row_index, row in enumerate(grid.rows):
        column = 0
        for cell in row:
            while (row_index, column) in taken:
                column += 1
            placed.append(Placed(row_index, column, cell))
            for r in range(row_index, row_index + cell.rowspan):
                for c in range(column, column + cell.colspan):
                    taken.add((r, c))
            column += cell.colspan
            width = max(width, column)
    width = max([width, *(c + 1 for _, c in taken)]) if taken else width
    return placed, width
