"""HTML for the dashboard page: the report's outline as tables, charts inlined as PNG.

``fragment=True`` returns the body only (the dashboard wraps it in its own page).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from reports.grid import Grid
from reports.outline import Block, Heading, Image, Paragraph, TableBlock

STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #222; }
table.gk { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 13px; }
table.gk th, table.gk td { border: 1px solid #666; padding: 3px 6px; }
table.gk th { background: #eef2f7; font-weight: 600; }
td.left { text-align: left; } td.center { text-align: center; } td.right { text-align: right; }
p.note { color: #555; font-size: 12px; }
figure img { max-width: 100%; }
""".strip()


def grid_html(grid: Grid) -> str:
    lines = [
        f'<table class="gk" id="{escape(grid.key)}">',
        f"<caption>{escape(grid.title)}</caption>",
    ]
    for index, row in enumerate(grid.rows):
        cells = []
        for cell in row:
            tag = "th" if cell.head else "td"
            spans = ""
            if cell.colspan > 1:
                spans += f' colspan="{cell.colspan}"'
            if cell.rowspan > 1:
                spans += f' rowspan="{cell.rowspan}"'
            css = "" if cell.head else f' class="{cell.align}"'
            cells.append(f"<{tag}{spans}{css}>{escape(cell.text)}</{tag}>")
        section = "thead" if index < grid.header_rows else "tbody"
        lines.append(f'<tr data-part="{section}">{"".join(cells)}</tr>')
    lines.append("</table>")
    lines += [f'<p class="note">{escape(note)}</p>' for note in grid.notes]
    return "\n".join(lines)


def blocks_html(blocks: Sequence[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(block.level + 1, 6)
            parts.append(f"<h{level}>{escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            css = ' class="note"' if block.note else ""
            parts.append(f"<p{css}>{escape(block.text)}</p>")
        elif isinstance(block, TableBlock):
            parts.append(grid_html(block.grid))
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{escape(block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>"
            )
    return "\n".join(parts)


def render_html(blocks: Sequence[Block], *, title: str, fragment: bool = False) -> str:
    body = blocks_html(blocks)
    if fragment:
        return f'<section class="gongkai-report">\n{body}\n</section>\n'
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
