"""The official tables and the statistics tables laid out as :class:`~reports.grid.Grid`.

Table layouts follow legal-deadlines.md §3.3–3.5: table 二 in the 2021 (国办公开办函〔2021〕30号)
or the 2019 trial layout; table 三 with its three-column label block holding the 勾稽关系
note and 申请人情况 over 自然人 / 法人或其他组织 (five columns) / 总计; table 四 with 行政复议
and 行政诉讼 (未经复议直接起诉 / 复议后起诉), five result columns each.
"""

from __future__ import annotations

from collections.abc import Sequence

from db.cases import CASE_RESULTS
from obligations.events import RECEIPT_CHANNELS
from reports.channels import channel_labels
from reports.grid import Cell, Grid, head, label, num
from reports.model import (
    Bulletin,
    Channels,
    ComparisonRow,
    Rate,
    RequestSummary,
    Table2,
    Table3,
    Table4,
    TimelinessRow,
)
from reports.table3 import CHECK_NOTE, LEGAL_PERSONS


def rate_cell(rate: Rate) -> Cell:
    return Cell(rate.percent(), align="right", value=rate.value)


# --------------------------------------------------------------------------- table 二


def table2_grid(table: Table2) -> Grid:
    if table.layout == "2019":
        return _table2_2019(table)
    rows: list[list[Cell]] = [
        [
            head("第二十条第（一）项"),
            head("本年制发件数"),
            head("本年废止件数"),
            head("现行有效件数"),
        ],
        [
            label("规章"),
            num(table.regulation.made),
            num(table.regulation.repealed),
            num(table.regulation.in_force),
        ],
        [
            label("行政规范性文件"),
            num(table.normative.made),
            num(table.normative.repealed),
            num(table.normative.in_force),
        ],
        [head("第二十条第（五）项"), head("本年处理决定数量", colspan=3)],
        [label("行政许可"), num(table.licensing, colspan=3)],
        [head("第二十条第（六）项"), head("本年处理决定数量", colspan=3)],
        [label("行政处罚"), num(table.penalty, colspan=3)],
        [label("行政强制"), num(table.enforcement, colspan=3)],
        [head("第二十条第（八）项"), head("本年收费金额（单位：万元）", colspan=3)],
        [label("行政事业性收费"), num(table.fees_amount, digits=4, colspan=3)],
    ]
    return Grid("table2", "二、主动公开政府信息情况", rows)


def _table2_2019(table: Table2) -> Grid:
    items = table.items

    def item(key: str) -> Cell:
        value = items.get(key)
        return num(None if value is None else value)

    rows: list[list[Cell]] = [
        [head("第二十条第（一）项", colspan=4)],
        [head("信息内容"), head("本年新制作数量"), head("本年新公开数量"), head("对外公开总数量")],
        [
            label("规章"),
            num(table.regulation.made),
            num(table.regulation.made),
            num(table.regulation.public_total),
        ],
        [
            label("规范性文件"),
            num(table.normative.made),
            num(table.normative.made),
            num(table.normative.public_total),
        ],
        [head("第二十条第（五）项", colspan=4)],
        [head("信息内容"), head("上一年项目数量"), head("本年增/减"), head("处理决定数量")],
        [
            label("行政许可"),
            item("table2.licensing.items_prev"),
            item("table2.licensing.items_change"),
            num(table.licensing),
        ],
        [
            label("其他对外管理服务事项"),
            item("table2.other_services.items_prev"),
            item("table2.other_services.items_change"),
            item("table2.other_services.decisions"),
        ],
        [head("第二十条第（六）项", colspan=4)],
        [head("信息内容"), head("上一年项目数量"), head("本年增/减"), head("处理决定数量")],
        [
            label("行政处罚"),
            item("table2.penalty.items_prev"),
            item("table2.penalty.items_change"),
            num(table.penalty),
        ],
        [
            label("行政强制"),
            item("table2.enforcement.items_prev"),
            item("table2.enforcement.items_change"),
            num(table.enforcement),
        ],
        [head("第二十条第（八）项", colspan=4)],
        [head("信息内容"), head("上一年项目数量"), head("本年增/减", colspan=2)],
        [
            label("行政事业性收费"),
            item("table2.fees.items_prev"),
            Cell(
                item("table2.fees.items_change").text,
                colspan=2,
                align="right",
                value=items.get("table2.fees.items_change"),
            ),
        ],
        [head("第二十条第（九）项", colspan=4)],
        [head("信息内容"), head("采购项目数量"), head("采购总金额", colspan=2)],
        [
            label("政府集中采购"),
            item("table2.procurement.items"),
            Cell(
                item("table2.procurement.amount").text,
                colspan=2,
                align="right",
                value=items.get("table2.procurement.amount"),
            ),
        ],
    ]
    return Grid("table2", "二、主动公开政府信息情况（2019年试行格式）", rows, header_rows=0)


# --------------------------------------------------------------------------- table 三


def table3_grid(table: Table3) -> Grid:
    keys = [column.key for column in table.columns]
    legal = [column for column in table.columns if column.parent == LEGAL_PERSONS]
    rows: list[list[Cell]] = [
        [head(CHECK_NOTE, colspan=3, rowspan=3), head("申请人情况", colspan=len(keys))],
        [
            head(table.columns[0].label, rowspan=2),
            head(LEGAL_PERSONS, colspan=len(legal)),
            head(table.columns[-1].label, rowspan=2),
        ],
        [head(column.label) for column in legal],
    ]

    def values(row_key: str) -> list[Cell]:
        return [num(table.value(row_key, key)) for key in keys]

    results = [row for row in table.rows if row.part is not None]
    for row in table.rows:
        if row.part is None:
            rows.append([label(row.label, colspan=3), *values(row.key)])
            continue
        cells: list[Cell] = []
        if row is results[0]:
            cells.append(label(row.part, rowspan=len(results)))
        if row.group is None:
            cells.append(label(row.label, colspan=2))
        else:
            members = [item for item in results if item.group == row.group]
            if row is members[0]:
                cells.append(label(row.group, rowspan=len(members)))
            cells.append(label(row.label))
        rows.append([*cells, *values(row.key)])
    title = "三、收到和处理政府信息公开申请情况"
    if table.layout == "2019":
        title += "（2019年试行格式）"
    checks = "；".join(
        f"{check.label}：{check.new}+{check.carried_in}={check.total}+{check.carried_out}"
        + ("" if check.ok else "（不成立）")
        for check in table.checks
    )
    notes = [f"勾稽关系校验 一+二=总计+四：{checks}", *table.notes]
    return Grid("table3", title, rows, notes=notes, header_rows=3)


def request_summary_grid(summary: RequestSummary) -> Grid:
    channels = [key for key in RECEIPT_CHANNELS if key in summary.received_by_channel]
    rows: list[list[Cell]] = [
        [
            head("本年收到申请", colspan=len(channels) + 1),
            head("上年结转", rowspan=2),
            head("本年办结", colspan=4),
            head("按时办结率", rowspan=2),
            head("结转下年度", rowspan=2),
        ],
        [
            *(head(RECEIPT_CHANNELS[key][0]) for key in channels),
            head("合计"),
            head("合计"),
            head("按时办结"),
            head("延期办结"),
            head("逾期办结"),
        ],
        [
            *(num(summary.received_by_channel.get(key, 0)) for key in channels),
            num(summary.received),
            num(summary.carried_in),
            num(summary.closed),
            num(summary.on_time),
            num(summary.extended_on_time),
            num(summary.late),
            rate_cell(summary.on_time_rate),
            num(summary.carried_out),
        ],
    ]
    notes = [f"按时办结率：{summary.on_time_rate.basis}；延期办结指在依法延长的答复期限内办结"]
    return Grid("requests", "依申请公开办理情况", rows, notes=notes, header_rows=2)


# --------------------------------------------------------------------------- table 四


def table4_grid(table: Table4) -> Grid:
    results = list(CASE_RESULTS)
    labels = [*CASE_RESULTS.values(), "总计"]
    rows: list[list[Cell]] = [
        [head("行政复议", colspan=5), head("行政诉讼", colspan=10)],
        [
            *(head(text, rowspan=2) for text in labels),
            head("未经复议直接起诉", colspan=5),
            head("复议后起诉", colspan=5),
        ],
        [head(text) for text in labels * 2],
        [
            num(table.values[kind][result])
            for kind in ("review", "litigation_direct", "litigation_after_review")
            for result in (*results, "total")
        ],
    ]
    return Grid("table4", "四、政府信息公开行政复议、行政诉讼情况", rows, header_rows=3)


# --------------------------------------------------------------------------- statistics

TIMELINESS_HEADS = (
    "到期",
    "按时办结",
    "延期内办结",
    "逾期办结",
    "逾期未办结",
    "未到期",
    "按时办结率",
    "提前(+)/超期(−)工作日中位数",
    "最差(工作日)",
)


def _timeliness_values(row: TimelinessRow) -> list[Cell]:
    return [
        num(row.due),
        num(row.on_time),
        num(row.extended_on_time),
        num(row.late),
        num(row.open_overdue),
        num(row.open_not_due),
        rate_cell(row.on_time_rate),
        num(row.median_margin),
        num(row.worst_margin),
    ]


def timeliness_grid(
    key: str, title: str, rows: Sequence[TimelinessRow], total: TimelinessRow | None, by: str
) -> Grid:
    """Timeliness per obligation (``by="obligation"``), section, obligation × section or month."""
    first = {
        "obligation": ["公开事项"],
        "section": ["科室"],
        "pair": ["公开事项", "科室"],
        "month": ["月份"],
        "detail": ["公开事项", "科室", "月份"],
    }[by]
    grid_rows: list[list[Cell]] = [[*(head(text) for text in first), *map(head, TIMELINESS_HEADS)]]
    several = len({row.agency for row in rows}) > 1
    for row in rows:
        labels: list[Cell] = []
        if by in ("obligation", "pair", "detail"):
            labels.append(label(row.obligation_title or row.obligation or ""))
        if by in ("section", "pair", "detail"):
            section = row.section_name or row.section or ""
            labels.append(label(f"{row.agency}/{section}" if several else section))
        if by in ("month", "detail"):
            labels.append(label(f"{row.month}月"))
        grid_rows.append([*labels, *_timeliness_values(row)])
    if total is not None:
        grid_rows.append([label("合计", colspan=len(first)), *_timeliness_values(total)])
    notes = [f"按时办结率：{(total or (rows[0] if rows else None) or _EMPTY).on_time_rate.basis}"]
    return Grid(key, title, grid_rows, notes=notes)


_EMPTY = TimelinessRow(on_time_rate=Rate.of(0, 0, "分母：已办结的事项与逾期未办结的事项之和"))


def channels_grid(channels: Channels) -> Grid:
    labels = channel_labels()
    rows: list[list[Cell]] = [
        [head("类别"), *(head(text) for text in labels.values()), head("合计")]
    ]
    for row in channels.rows:
        rows.append([label(row.label), *(num(row.values[key]) for key in labels), num(row.total)])
    notes = [
        f"{row.label}中{row.unrecorded}条未登记渠道，计入“其他”"
        for row in channels.rows
        if row.unrecorded
    ]
    return Grid("channels", "主动公开和解读回应情况（按渠道）", rows, notes=notes)


def comparison_grid(rows: Sequence[ComparisonRow]) -> Grid:
    grid_rows: list[list[Cell]] = [
        [
            head("单位"),
            head("到期事项"),
            head("按时办结率"),
            head("逾期未办结"),
            head("收到申请"),
            head("办结申请"),
            head("申请按时办结率"),
            head("制发规章和规范性文件"),
            head("许可处罚强制决定"),
            head("行政复议"),
            head("行政诉讼"),
            head("已锁定"),
        ]
    ]
    for row in rows:
        grid_rows.append(
            [
                label(row.agency_name),
                num(row.due),
                rate_cell(row.on_time_rate),
                num(row.open_overdue),
                num(row.requests_received),
                num(row.requests_closed),
                rate_cell(row.requests_on_time_rate),
                num(row.documents_made),
                num(row.decisions),
                num(row.reviews),
                num(row.lawsuits),
                Cell("是" if row.locked else "否"),
            ]
        )
    return Grid("comparison", "各单位情况对比", grid_rows)


def bulletin_grid(bulletin: Bulletin) -> Grid:
    several = len({row.agency for row in bulletin.ranking}) > 1
    rows: list[list[Cell]] = [
        [
            head("排名"),
            head("科室"),
            head("到期"),
            head("按时办结"),
            head("延期内办结"),
            head("逾期办结"),
            head("逾期未办结"),
            head("未到期"),
            head("按时办结率"),
        ]
    ]
    for row in bulletin.ranking:
        name = f"{row.agency}/{row.section_name}" if several else row.section_name
        rows.append(
            [
                num(row.rank),
                label(name),
                num(row.due),
                num(row.on_time),
                num(row.extended_on_time),
                num(row.late),
                num(row.open_overdue),
                num(row.open_not_due),
                rate_cell(row.on_time_rate),
            ]
        )
    notes = [f"按时办结率：{bulletin.total.on_time_rate.basis}；排名依次按按时办结率、逾期未办结数"]
    return Grid("ranking", "科室排名", rows, notes=notes)


def overdue_grid(bulletin: Bulletin) -> Grid:
    rows: list[list[Cell]] = [
        [head("任务"), head("科室"), head("事项"), head("截止日期"), head("已逾期(日)")]
    ]
    for item in bulletin.overdue:
        rows.append(
            [
                num(item.task_id),
                label(item.section_name),
                label(item.title),
                Cell(item.due_date.isoformat()),
                num(item.days_overdue),
            ]
        )
    notes = [f"另有{bulletin.overdue_more}项未列出"] if bulletin.overdue_more else []
    return Grid("overdue", "逾期未办结事项", rows, notes=notes)
