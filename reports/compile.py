"""Compiling the year: every table and statistic for one agency or the whole 本级政府.

The queries run once for all agencies of the scope (each grouped by agency), then each
agency's figures are assembled from its share of the aggregated rows. An agency whose year
is locked is read from its lock instead (the figures as filed). The whole-government figures
are the sums of the agencies' figures (条例第四十九条第二款: compiled from its departments'),
with a table comparing the agencies.

Before anything is assembled the ledger is checked: closed tasks without closing facts and
closed requests without a valid outcome code are listed in :class:`LedgerInconsistent`
instead of becoming a wrong number.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from sqlmodel import Session, col, select

from db.models import YearLock
from reports.archive import figures_from_lock
from reports.channels import build_channels, channel_counts, sum_channels
from reports.errors import LedgerInconsistent
from reports.feeds import resolve_feeds
from reports.model import AgencyFigures, ComparisonRow, YearReport
from reports.scope import AgencyRef, Scope, Window, year_window
from reports.sentences import (
    channel_sentence,
    interpretation_sentence,
    request_sentence,
    table2_sentence,
    table4_sentence,
    timeliness_sentence,
)
from reports.sql import reading
from reports.stats import (
    CLASSES,
    build_timeliness,
    merge_timeliness,
    section_names,
    timeliness_buckets,
    timeliness_problems,
)
from reports.table2 import build_table2, event_counts, missing_note, sum_table2, year_figures
from reports.table3 import (
    build_summary,
    build_table3,
    carry_over_note,
    enforce_check,
    layout_for,
    request_buckets,
    request_problems,
    sum_summaries,
    sum_tables,
    suspicious,
)
from reports.table4 import build_table4, case_counts, sum_table4

GOVERNMENT_CODE = "*"


def locks_of(session: Session, agency_ids: Sequence[int], year: int) -> dict[int, YearLock]:
    if not agency_ids:
        return {}
    rows = session.exec(
        select(YearLock).where(
            col(YearLock.agency_id).in_(list(agency_ids)), col(YearLock.year) == year
        )
    ).all()
    return {row.agency_id: row for row in rows}


def compile_year(
    session: Session,
    *,
    year: int,
    at: dt.datetime,
    tz: dt.tzinfo,
    scope: Scope,
    use_locks: bool = True,
) -> YearReport:
    """The year's report for ``scope`` as of ``at`` (locked agencies: as filed)."""
    window = year_window(year, tz)
    layout = layout_for(year)
    locks = locks_of(session, scope.ids, year) if use_locks else {}
    live = [agency for agency in scope.agencies if agency.id not in locks]
    figures = compile_agencies(session, live, window=window, year=year, at=at)
    for agency_id, lock in locks.items():
        figures[agency_id] = figures_from_lock(lock)
    ordered = [figures[agency.id] for agency in scope.agencies]
    if not scope.government:
        only = ordered[0]
        return YearReport(
            year=year,
            as_of=at,
            layout=layout,  # type: ignore[arg-type]
            government=False,
            title=f"{only.agency_name}{year}年政府信息公开工作年度报告（统计部分）",
            figures=only,
        )
    whole = merge_figures(ordered, year=year, layout=layout)
    return YearReport(
        year=year,
        as_of=at,
        layout=layout,  # type: ignore[arg-type]
        government=True,
        title=f"本级政府{year}年政府信息公开工作年度报告（统计部分，{len(ordered)}个单位）",
        figures=whole,
        agencies=ordered,
        comparison=[comparison_row(item) for item in ordered],
    )


def compile_agencies(
    session: Session,
    agencies: Sequence[AgencyRef],
    *,
    window: Window,
    year: int,
    at: dt.datetime,
) -> dict[int, AgencyFigures]:
    """The live figures of each agency (no locks consulted)."""
    if not agencies:
        return {}
    with reading(session):
        return _compile_agencies(session, agencies, window=window, year=year, at=at)


def _compile_agencies(
    session: Session,
    agencies: Sequence[AgencyRef],
    *,
    window: Window,
    year: int,
    at: dt.datetime,
) -> dict[int, AgencyFigures]:
    ids = [agency.id for agency in agencies]
    layout = layout_for(year)
    feeds = resolve_feeds(session, ids)
    buckets = timeliness_buckets(session, ids, window, at, feeds)
    requests = request_buckets(session, ids, window, feeds)
    # The offending tasks are looked up only when the aggregates show there are some.
    problems: list[str] = []
    if any(bucket.cls not in CLASSES for bucket in buckets):
        problems += timeliness_problems(session, ids, window, feeds)
    if suspicious(requests):
        problems += request_problems(session, ids, window, feeds)
    if problems:
        raise LedgerInconsistent(problems)
    sections = section_names(session, ids)
    events = event_counts(session, ids, window)
    entered = year_figures(session, ids, year)
    cases = case_counts(session, ids, window)
    channels = channel_counts(session, ids, window, feeds)
    previous = locks_of(session, ids, year - 1)
    result: dict[int, AgencyFigures] = {}
    for agency in agencies:
        mine = [bucket for bucket in buckets if bucket.agency_id == agency.id]
        my_requests = [bucket for bucket in requests if bucket.agency_id == agency.id]
        notes: list[str] = []
        table3 = build_table3(my_requests, layout)
        enforce_check(table3, who=agency.name)
        if agency.id in previous:
            filed = figures_from_lock(previous[agency.id])
            note = carry_over_note(
                filed.table3.value("carried_out"), table3.value("carried_in"), year
            )
            if note:
                table3.notes.append(note)
                notes.append(note)
        table2 = build_table2(events.get(agency.id, Counter()), entered.get(agency.id, {}), layout)
        note = missing_note(table2)
        if note:
            notes.append(note)
        empty = not (
            mine
            or my_requests
            or events.get(agency.id)
            or entered.get(agency.id)
            or cases.get(agency.id)
            or channels.get(agency.id)
        )
        if empty:
            notes.insert(0, f"{year}年台账中没有任何数据，各表均为0。No data recorded for {year}.")
        figures = AgencyFigures(
            agency=agency.code,
            agency_name=agency.name,
            empty=empty,
            timeliness=build_timeliness(
                mine, agency_code=agency.code, feeds=feeds, sections=sections
            ),
            table2=table2,
            table3=table3,
            requests=build_summary(my_requests, table3),
            table4=build_table4(cases.get(agency.id, {})),
            channels=build_channels(channels.get(agency.id, {})),
            sentences=[],
            notes=notes,
        )
        figures.sentences = sentences_for(figures, year)
        result[agency.id] = figures
    return result


def sentences_for(figures: AgencyFigures, year: int) -> list[str]:
    if figures.empty:
        return [f"{year}年度台账中没有数据，本报告各项统计均为0。"]
    found = [
        channel_sentence(figures.channels),
        interpretation_sentence(figures.channels),
        request_sentence(figures.requests),
        timeliness_sentence(f"{year}年", figures.timeliness),
        table2_sentence(figures.table2),
        table4_sentence(figures.table4),
    ]
    return [sentence for sentence in found if sentence]


def merge_figures(parts: Sequence[AgencyFigures], *, year: int, layout: str) -> AgencyFigures:
    """The whole government's figures: the sum of its agencies' figures."""
    table3 = sum_tables([part.table3 for part in parts], layout)
    enforce_check(table3, who="本级政府")
    notes = [f"{part.agency_name}：{note}" for part in parts for note in part.notes]
    notes += [
        f"{part.agency_name}：{year}年数据已锁定（{part.locked.locked_at.date()}），按锁定时的报送数据汇总"
        for part in parts
        if part.locked is not None
    ]
    merged = AgencyFigures(
        agency=GOVERNMENT_CODE,
        agency_name=f"本级政府（{len(parts)}个单位）",
        empty=all(part.empty for part in parts),
        timeliness=merge_timeliness([part.timeliness for part in parts], label=GOVERNMENT_CODE),
        table2=sum_table2([part.table2 for part in parts], layout),
        table3=table3,
        requests=sum_summaries([part.requests for part in parts], table3),
        table4=sum_table4([part.table4 for part in parts]),
        channels=sum_channels([part.channels for part in parts]),
        sentences=[],
        notes=notes,
    )
    merged.sentences = sentences_for(merged, year)
    return merged


def comparison_row(figures: AgencyFigures) -> ComparisonRow:
    total = figures.timeliness.total
    table4 = figures.table4
    return ComparisonRow(
        agency=figures.agency,
        agency_name=figures.agency_name,
        due=total.due,
        on_time_rate=total.on_time_rate,
        open_overdue=total.open_overdue,
        requests_received=figures.requests.received,
        requests_closed=figures.requests.closed,
        requests_on_time_rate=figures.requests.on_time_rate,
        documents_made=figures.table2.regulation.made + figures.table2.normative.made,
        decisions=figures.table2.licensing + figures.table2.penalty + figures.table2.enforcement,
        reviews=table4.total("review"),
        lawsuits=table4.total("litigation_direct") + table4.total("litigation_after_review"),
        locked=figures.locked is not None,
    )
