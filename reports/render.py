"""One entry point per report kind: the report (or bulletin) in a format, as bytes.

Formats: ``json`` (the models as data, for integrators and for locks), ``html`` (the
dashboard page), ``xlsx`` (the official tables), ``docx`` (the draft annual report / bulletin).
"""

from __future__ import annotations

from reports.errors import ReportsError
from reports.grid import Grid
from reports.layout import (
    bulletin_grid,
    channels_grid,
    comparison_grid,
    overdue_grid,
    request_summary_grid,
    table2_grid,
    table3_grid,
    table4_grid,
    timeliness_grid,
)
from reports.model import Bulletin, YearReport
from reports.outline import Image, month_outline, year_outline
from reports.table3 import CHECK_NOTE

FORMATS = ("json", "html", "xlsx", "docx")
SUFFIX = {"json": ".json", "html": ".html", "xlsx": ".xlsx", "docx": ".docx"}


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise ReportsError(f"--format {name!r} is not one of {', '.join(FORMATS)}")
    return name


def render_year(
    report: YearReport, fmt: str, *, charts: bool = True, fragment: bool = False
) -> bytes:
    """The year's report in ``fmt``; ``fragment`` gives html without the page around it
    (for the dashboard)."""
    check_format(fmt)
    if fmt == "json":
        return (report.model_dump_json(indent=2) + "\n").encode("utf-8")
    if fmt == "xlsx":
        return _year_xlsx(report, charts=charts)
    blocks = year_outline(report, charts=charts)
    if fmt == "html":
        from reports.render_html import render_html

        return render_html(blocks, title=report.title, fragment=fragment).encode("utf-8")
    from reports.render_docx import render_docx

    return render_docx(blocks)


def render_month(
    bulletin: Bulletin, fmt: str, *, charts: bool = True, fragment: bool = False
) -> bytes:
    """The bulletin in ``fmt`` (see :func:`render_year`); the chat text is
    :func:`reports.bulletin.bulletin_message`."""
    check_format(fmt)
    if fmt == "json":
        return (bulletin.model_dump_json(indent=2) + "\n").encode("utf-8")
    blocks = month_outline(bulletin, charts=charts)
    if fmt == "xlsx":
        from reports.render_xlsx import render_xlsx

        grids = [bulletin_grid(bulletin), overdue_grid(bulletin)]
        images = [block for block in blocks if isinstance(block, Image)]
        return render_xlsx(
            [("月度通报", grids)],
            cover=[bulletin.title, f"数据截至 {bulletin.as_of.isoformat()}", *bulletin.sentences],
            images=images,
        )
    if fmt == "html":
        from reports.render_html import render_html

        return render_html(blocks, title=bulletin.title, fragment=fragment).encode("utf-8")
    from reports.render_docx import render_docx

    return render_docx(blocks)


def _year_xlsx(report: YearReport, *, charts: bool) -> bytes:
    from reports.render_xlsx import render_xlsx

    figures = report.figures
    timeliness = figures.timeliness
    sheets: list[tuple[str, list[Grid]]] = [
        ("表二 主动公开", [table2_grid(figures.table2), channels_grid(figures.channels)]),
        ("表三 依申请公开", [table3_grid(figures.table3), request_summary_grid(figures.requests)]),
        ("表四 复议诉讼", [table4_grid(figures.table4)]),
        (
            "办结时效",
            [
                timeliness_grid(
                    "t1",
                    "办理时效（按事项）",
                    timeliness.by_obligation,
                    timeliness.total,
                    by="obligation",
                ),
                timeliness_grid(
                    "t2",
                    "办理时效（按科室）",
                    timeliness.by_section,
                    timeliness.total,
                    by="section",
                ),
                timeliness_grid(
                    "t3", "办理时效（按月份）", timeliness.by_month, timeliness.total, by="month"
                ),
            ],
        ),
        (
            "时效明细",
            [
                timeliness_grid(
                    "t4",
                    "办理时效（事项×科室）",
                    timeliness.by_obligation_section,
                    None,
                    by="pair",
                ),
                timeliness_grid(
                    "t5", "办理时效（事项×科室×月份）", timeliness.detail, None, by="detail"
                ),
            ],
        ),
    ]
    if report.government:
        sheets.append(("各单位对比", [comparison_grid(report.comparison)]))
        for agency in report.agencies:
            sheets.append(
                (f"表三 {agency.agency}", [table3_grid(agency.table3), table4_grid(agency.table4)])
            )
    cover = [
        report.title,
        f"统计期间 {report.year}-01-01 至 {report.year}-12-31；数据截至 {report.as_of.isoformat()}",
        f"表格格式：{'国办公开办函〔2021〕30号' if report.layout == '2021' else '国办公开办函〔2019〕60号（试行）'}",
        f"表三勾稽关系：{CHECK_NOTE}，已逐列校验",
        *figures.sentences,
        *figures.notes,
    ]
    if figures.locked is not None:
        cover.insert(
            2,
            f"已锁定：{figures.locked.locked_at.isoformat()} {figures.locked.locked_by}，校验码 {figures.locked.digest}",
        )
    images: list[Image] = []
    if charts:
        images = [block for block in year_outline(report, charts=True) if isinstance(block, Image)]
    return render_xlsx(sheets, cover=cover, images=images)
