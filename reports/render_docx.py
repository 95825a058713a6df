"""Word (python-docx): the annual report with headings 一 … 六, the tables, the charts and the
generated sentences, as a draft the office edits.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docx.table import Table

from reports.grid import Grid, positions
from reports.outline import Block, Heading, Image, Paragraph, TableBlock

FONT = "宋体"
_ALIGN = {
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}


def _grid_table(document: DocumentObject, grid: Grid) -> Table:
    placed, width = positions(grid)
    table = document.add_table(rows=len(grid.rows), cols=max(width, 1))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    # The cells once, before any merge: python-docx's table.cell() walks the whole table on
    # every call, which makes a few hundred cells take seconds.
    cells = [row.cells for row in table.rows]
    for item in placed:
        cell = cells[item.row][item.column]
        if item.cell.rowspan > 1 or item.cell.colspan > 1:
            other = cells[item.row + item.cell.rowspan - 1][item.column + item.cell.colspan - 1]
            cell = cell.merge(other)
        cell.text = item.cell.text
        for paragraph in cell.paragraphs:
            paragraph.alignment = _ALIGN["center" if item.cell.head else item.cell.align]
            for run in paragraph.runs:
                run.font.size = Pt(8)
                run.font.bold = item.cell.head
    for index in range(min(grid.header_rows, len(table.rows))):
        properties = table.rows[index]._tr.get_or_add_trPr()
        header = properties.makeelement(qn("w:tblHeader"), {})
        properties.append(header)
    return table


def render_docx(blocks: Sequence[Block]) -> bytes:
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(11)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    for block in blocks:
        if isinstance(block, Heading):
            document.add_heading(block.text, level=block.level)
        elif isinstance(block, Paragraph):
            paragraph = document.add_paragraph(block.text)
            if block.note:
                for run in paragraph.runs:
                    run.font.size = Pt(9)
                    run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)
        elif isinstance(block, TableBlock):
            caption = document.add_paragraph(block.grid.title)
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _grid_table(document, block.grid)
            for note in block.grid.notes:
                paragraph = document.add_paragraph(note)
                for run in paragraph.runs:
                    run.font.size = Pt(8)
        elif isinstance(block, Image):
            document.add_picture(io.BytesIO(block.png), width=Pt(420))
            caption = document.add_paragraph(block.caption)
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
