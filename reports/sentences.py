"""Sentences stating the figures, for the office to edit into the report's text.

e.g. "全年共受理依申请公开126件，按时办结率100%". Pure functions of the compiled figures.
"""

from __future__ import annotations

from reports.channels import channel_labels
from reports.model import Channels, Rate, RequestSummary, Table2, Table4, Timeliness


def _rate(rate: Rate) -> str:
    return rate.percent() if rate.value is not None else "无（没有已到期的事项）"


def timeliness_sentence(year_label: str, timeliness: Timeliness) -> str:
    total = timeliness.total
    if total.due == 0:
        return f"{year_label}没有到期的政务公开事项。"
    closed = total.on_time + total.extended_on_time + total.late
    text = (
        f"{year_label}应办结政务公开事项{total.due}项，已办结{closed}项，其中按时办结"
        f"{total.on_time}项、在批准延期内办结{total.extended_on_time}项、逾期办结{total.late}项，"
        f"按时办结率{_rate(total.on_time_rate)}"
    )
    if total.on_time_rate.value is not None:
        text += f"（{total.on_time_rate.numerator}/{total.on_time_rate.denominator}）"
    if total.open_overdue:
        text += f"；逾期未办结{total.open_overdue}项"
    return text + "。"


def request_sentence(summary: RequestSummary) -> str:
    if summary.received == 0 and summary.carried_in == 0:
        return "全年未收到政府信息公开申请。"
    text = f"全年共受理依申请公开{summary.received}件"
    if summary.carried_in:
        text += f"（另有上年结转{summary.carried_in}件）"
    text += f"，办结{summary.closed}件"
    if summary.closed:
        text += f"，按时办结率{summary.on_time_rate.percent()}"
        if summary.extended_on_time:
            text += f"（含依法延期办结{summary.extended_on_time}件）"
        if summary.late:
            text += f"，逾期办结{summary.late}件"
    if summary.carried_out:
        text += f"，结转下年度继续办理{summary.carried_out}件"
    return text + "。"


def channel_sentence(channels: Channels) -> str | None:
    labels = channel_labels()
    parts = []
    for row in channels.rows:
        if row.key not in ("documents", "information") or not row.total:
            continue
        detail = "、".join(f"{labels[key]}{count}条" for key, count in row.values.items() if count)
        parts.append(f"{row.label}{row.total}条（{detail}）")
    if not parts:
        return None
    return "本年度" + "，".join(parts) + "。"


def table2_sentence(table: Table2) -> str:
    return (
        f"本年制发规章{table.regulation.made}件、行政规范性文件{table.normative.made}件；"
        f"作出行政许可决定{table.licensing}件、行政处罚决定{table.penalty}件、"
        f"行政强制决定{table.enforcement}件。"
    )


def table4_sentence(table: Table4) -> str:
    reviews = table.total("review")
    lawsuits = table.total("litigation_direct") + table.total("litigation_after_review")
    if reviews == 0 and lawsuits == 0:
        return "本年度未发生因政府信息公开申请行政复议、提起行政诉讼的情况。"
    return f"本年度因政府信息公开申请行政复议{reviews}件、提起行政诉讼{lawsuits}件。"


def interpretation_sentence(channels: Channels) -> str | None:
    rows = {row.key: row for row in channels.rows}
    interpretations, responses = rows["interpretations"].total, rows["responses"].total
    if not interpretations and not responses:
        return None
    return f"全年发布政策解读{interpretations}次，回应社会关切{responses}次。"
