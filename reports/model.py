"""The report as data: what ``--format json`` prints and what a year lock stores.

Every renderer (xlsx, docx, html) works from these models only, so a locked year's stored
JSON renders to the same tables as on the day it was filed. Counts are integers; every rate
carries its numerator, denominator and what the denominator counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Version of this document's shape; a lock stores it with the figures.
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rate(_Model):
    """``numerator / denominator``; ``value`` is None when nothing can be divided."""

    numerator: int
    denominator: int
    value: float | None
    basis: str

    @classmethod
    def of(cls, numerator: int, denominator: int, basis: str) -> Rate:
        value = round(numerator / denominator, 6) if denominator else None
        return cls(numerator=numerator, denominator=denominator, value=value, basis=basis)

    def percent(self) -> str:
        if self.value is None:
            return "—"
        text = f"{self.value * 100:.1f}"
        return (text[:-2] if text.endswith(".0") else text) + "%"


ON_TIME_BASIS = "分母：已办结的事项与逾期未办结的事项之和；分子：按时办结及在批准延期内办结的事项"


class TimelinessRow(_Model):
    """Timeliness of the tasks due in a period, for one obligation / section / month or a total."""

    agency: str | None = None
    obligation: str | None = None
    obligation_title: str | None = None
    section: str | None = None
    section_name: str | None = None
    month: int | None = None
    due: int = 0
    on_time: int = 0
    extended_on_time: int = 0
    late: int = 0
    open_overdue: int = 0
    open_not_due: int = 0
    on_time_rate: Rate
    #: Working days finished before (+) or after (−) the due day, over the closed tasks.
    median_margin: float | None = None
    worst_margin: int | None = None
    #: Histogram of margins (working days → tasks), kept on year rows so totals merge exactly.
    margins: dict[str, int] | None = None


class Timeliness(_Model):
    total: TimelinessRow
    by_obligation: list[TimelinessRow] = Field(default_factory=list)
    by_section: list[TimelinessRow] = Field(default_factory=list)
    by_obligation_section: list[TimelinessRow] = Field(default_factory=list)
    by_month: list[TimelinessRow] = Field(default_factory=list)
    detail: list[TimelinessRow] = Field(default_factory=list)


class Column(_Model):
    key: str
    label: str
    parent: str | None = None


class Table3Row(_Model):
    key: str
    label: str
    #: The label block this row sits in: "三" (本年度办理结果) and its group, e.g. "（三）不予公开".
    part: str | None = None
    group: str | None = None
    values: dict[str, int]


class Table3Check(_Model):
    column: str
    label: str
    new: int
    carried_in: int
    total: int
    carried_out: int
    ok: bool


class Table3(_Model):
    """收到和处理政府信息公开申请情况 (2021 layout, or the 2019 trial layout)."""

    layout: Literal["2021", "2019"]
    columns: list[Column]
    rows: list[Table3Row]
    checks: list[Table3Check]
    notes: list[str] = Field(default_factory=list)

    def value(self, row: str, column: str = "total") -> int:
        for item in self.rows:
            if item.key == row:
                return item.values.get(column, 0)
        raise KeyError(row)


class RequestSummary(_Model):
    """依申请公开 handled in the year, as the older tables count it (seed 青岛西海岸 2018)."""

    received: int
    received_by_channel: dict[str, int]
    carried_in: int
    closed: int
    on_time: int
    extended_on_time: int
    late: int
    carried_out: int
    on_time_rate: Rate


class DocumentCounts(_Model):
    made: int = 0
    repealed: int | None = None
    in_force: int | None = None
    public_total: int | None = None


class Table2(_Model):
    """主动公开政府信息情况 (第二十条 items)."""

    layout: Literal["2021", "2019"]
    regulation: DocumentCounts
    normative: DocumentCounts
    licensing: int = 0
    penalty: int = 0
    enforcement: int = 0
    fees_amount: float | None = None
    #: Every year figure entered (2019 trial format item counts, 信息处理费 …), by key.
    items: dict[str, float] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)


class Table4(_Model):
    """政府信息公开行政复议、行政诉讼情况: kind → result → cases."""

    values: dict[str, dict[str, int]]

    def total(self, kind: str) -> int:
        return self.values.get(kind, {}).get("total", 0)


class ChannelRow(_Model):
    key: str
    label: str
    values: dict[str, int]
    total: int
    #: Items whose channel was not recorded (counted under 其他).
    unrecorded: int = 0


class Channels(_Model):
    rows: list[ChannelRow]


class LockInfo(_Model):
    locked_at: dt.datetime
    locked_by: str
    digest: str


class AgencyFigures(_Model):
    """Every table and statistic of one agency's year (or the sum over several agencies)."""

    agency: str
    agency_name: str
    empty: bool
    timeliness: Timeliness
    table2: Table2
    table3: Table3
    requests: RequestSummary
    table4: Table4
    channels: Channels
    sentences: list[str]
    notes: list[str] = Field(default_factory=list)
    locked: LockInfo | None = None


class ComparisonRow(_Model):
    agency: str
    agency_name: str
    due: int
    on_time_rate: Rate
    open_overdue: int
    requests_received: int
    requests_closed: int
    requests_on_time_rate: Rate
    documents_made: int
    decisions: int
    reviews: int
    lawsuits: int
    locked: bool


class YearReport(_Model):
    """The annual report's statistics for one agency, or for the whole 本级政府."""

    kind: Literal["year"] = "year"
    schema_version: int = SCHEMA_VERSION
    year: int
    as_of: dt.datetime
    layout: Literal["2021", "2019"]
    government: bool
    title: str
    figures: AgencyFigures
    agencies: list[AgencyFigures] = Field(default_factory=list)
    comparison: list[ComparisonRow] = Field(default_factory=list)


class BulletinRow(_Model):
    rank: int
    agency: str
    section: str
    section_name: str
    due: int
    on_time: int
    extended_on_time: int
    late: int
    open_overdue: int
    open_not_due: int
    on_time_rate: Rate


class OverdueItem(_Model):
    task_id: int
    agency: str
    section_name: str
    obligation: str
    title: str
    due_date: dt.date
    days_overdue: int


class Bulletin(_Model):
    """The monthly bulletin (月度通报): sections ranked by on-time rate, then overdue count."""

    kind: Literal["month"] = "month"
    schema_version: int = SCHEMA_VERSION
    year: int
    month: int
    as_of: dt.datetime
    title: str
    government: bool
    total: TimelinessRow
    ranking: list[BulletinRow]
    overdue: list[OverdueItem]
    overdue_more: int = 0
    empty: bool
    sentences: list[str]
