"""What the annual report and the bulletin say, in order, for the docx and html renderers.

The annual report follows the standard section headings (legal-deadlines.md §3.2):
一、总体情况 / 二、主动公开政府信息情况 / 三、收到和处理政府信息公开申请情况 /
四、政府信息公开行政复议、行政诉讼情况 / 五、存在的主要问题及改进情况 / 六、其他需要报告的事项.
The generated sentences state the figures for the office to edit; 五 is left for the office.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.charts import Label, bar_chart
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
from reports.model import AgencyFigures, Bulletin, Table3, TimelinessRow, YearReport
from reports.sentences import (
    channel_sentence,
    interpretation_sentence,
    request_sentence,
    table2_sentence,
    table4_sentence,
)
from reports.table3 import result_rows


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False


@dataclass(frozen=True)
class TableBlock:
    grid: Grid


@dataclass(frozen=True)
class Image:
    png: bytes
    caption: str


Block = Heading | Paragraph | TableBlock | Image


def _rate_chart(rows: list[TimelinessRow], title: str, *, by: str) -> Image | None:
    rated = [row for row in rows if row.on_time_rate.value is not None]
    if not rated:
        return None
    if by == "section":
        labels = [Label(row.section_name or row.section or "", row.section or "") for row in rated]
    else:
        labels = [Label(f"{row.month}月", f"M{row.month}") for row in rated]
    png = bar_chart(
        labels,
        [row.on_time_rate.value or 0.0 for row in rated],
        title=Label(title, "On-time rate"),
        axis=Label("按时办结率(%)", "on-time rate (%)"),
        percent=True,
        horizontal=by == "section",
    )
    return Image(png, title) if png else None


def _outcome_chart(table: Table3) -> Image | None:
    counted = [(key, text) for key, text, _ in result_rows(table.layout) if key != "total"]
    values = [(key, text, table.value(key)) for key, text in counted]
    values = [item for item in values if item[2]]
    if not values:
        return None
    png = bar_chart(
        [Label(text, key) for key, text, _ in values],
        [float(count) for _, _, count in values],
        title=Label("依申请公开办理结果", "Request outcomes"),
        axis=Label("件数", "requests"),
    )
    return Image(png, "依申请公开办理结果") if png else None


def year_outline(report: YearReport, *, charts: bool = True) -> list[Block]:
    figures = report.figures
    blocks: list[Block] = [Heading(report.title, 0)]
    blocks.append(
        Paragraph(
            f"统计期间：{report.year}年1月1日至12月31日；数据截至{report.as_of.date().isoformat()}"
            f"；表格格式：{'国办公开办函〔2021〕30号' if report.layout == '2021' else '国办公开办函〔2019〕60号（试行）'}。",
            note=True,
        )
    )
    if figures.locked is not None:
        blocks.append(
            Paragraph(
                f"本年度数据已于{figures.locked.locked_at.date().isoformat()}锁定（{figures.locked.locked_by}），"
                f"以下为报送时的数据（校验码 {figures.locked.digest[:12]}）。",
                note=True,
            )
        )
    blocks += [Paragraph(note, note=True) for note in figures.notes]
    blocks += _section_one(report, figures, charts=charts)
    blocks += [
        Heading("二、主动公开政府信息情况"),
        *[
            Paragraph(text)
            for text in (
                table2_sentence(figures.table2),
                channel_sentence(figures.channels),
                interpretation_sentence(figures.channels),
            )
            if text
        ],
        TableBlock(table2_grid(figures.table2)),
        TableBlock(channels_grid(figures.channels)),
        Heading("三、收到和处理政府信息公开申请情况"),
        Paragraph(request_sentence(figures.requests)),
        TableBlock(table3_grid(figures.table3)),
        TableBlock(request_summary_grid(figures.requests)),
    ]
    if charts and (image := _outcome_chart(figures.table3)):
        blocks.append(image)
    blocks += [
        Heading("四、政府信息公开行政复议、行政诉讼情况"),
        Paragraph(table4_sentence(figures.table4)),
        TableBlock(table4_grid(figures.table4)),
        Heading("五、存在的主要问题及改进情况"),
        Paragraph("（请办公室根据本年度工作情况填写存在的主要问题及改进措施。）", note=True),
    ]
    if figures.timeliness.total.open_overdue:
        blocks.append(
            Paragraph(
                f"提示：截至统计时仍有{figures.timeliness.total.open_overdue}项政务公开事项逾期未办结。",
                note=True,
            )
        )
    blocks += [Heading("六、其他需要报告的事项")]
    fees = figures.table2.items.get("requests.processing_fees")
    blocks.append(
        Paragraph("本年度未收取信息处理费。" if not fees else f"本年度收取信息处理费{fees:g}万元。")
    )
    if report.government:
        blocks.append(TableBlock(comparison_grid(report.comparison)))
    return blocks


def _section_one(report: YearReport, figures: AgencyFigures, *, charts: bool) -> list[Block]:
    timeliness = figures.timeliness
    blocks: list[Block] = [Heading("一、总体情况")]
    blocks += [Paragraph(text) for text in figures.sentences]
    blocks.append(
        TableBlock(
            timeliness_grid(
                "timeliness_obligation",
                "政务公开事项办理时效（按事项）",
                timeliness.by_obligation,
                timeliness.total,
                by="obligation",
            )
        )
    )
    blocks.append(
        TableBlock(
            timeliness_grid(
                "timeliness_section",
                "政务公开事项办理时效（按科室）",
                timeliness.by_section,
                timeliness.total,
                by="section",
            )
        )
    )
    if charts:
        for image in (
            _rate_chart(timeliness.by_section, "各科室按时办结率", by="section"),
            _rate_chart(timeliness.by_month, "各月按时办结率", by="month"),
        ):
            if image:
                blocks.append(image)
    return blocks


def month_outline(bulletin: Bulletin, *, charts: bool = True) -> list[Block]:
    blocks: list[Block] = [Heading(bulletin.title, 0)]
    blocks.append(Paragraph(f"数据截至{bulletin.as_of.date().isoformat()}。", note=True))
    blocks += [Paragraph(text) for text in bulletin.sentences]
    blocks.append(TableBlock(bulletin_grid(bulletin)))
    if charts:
        rated = [row for row in bulletin.ranking if row.on_time_rate.value is not None]
        if rated:
            png = bar_chart(
                [Label(row.section_name, row.section) for row in rated],
                [row.on_time_rate.value or 0.0 for row in rated],
                title=Label("各科室按时办结率", "On-time rate by section"),
                axis=Label("按时办结率(%)", "on-time rate (%)"),
                percent=True,
            )
            if png:
                blocks.append(Image(png, "各科室按时办结率"))
    if bulletin.overdue:
        blocks.append(TableBlock(overdue_grid(bulletin)))
    return blocks
