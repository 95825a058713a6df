"""Table 三: 收到和处理政府信息公开申请情况, from the stored facts of the request tasks.

A request is one task that feeds ``table3`` (the ``request-reply`` duty), its applicant and
receipt channel are attributes of its ``request_received`` event. For year Y:

- 一、本年新收: received in Y (收到申请之日, 条例第三十一条: the confirmation day for ordinary
  letters, online, fax and e-mail; else the day it arrived);
- 二、上年结转: received before Y and not answered before Y;
- 三、本年度办理结果: answered in Y (the service date), one row per outcome code;
- 四、结转下年度继续办理: received by the end of Y and not answered by then.

Every column must satisfy 一 + 二 = （七）总计 + 四 (the 勾稽关系 note of the official table);
a failing column raises :class:`TableCheckError` naming it. Cancelled requests (registered
by mistake) are not requests and are not counted. Years up to 2020 use the 2019 trial layout
(国办公开办函〔2019〕60号), whose （六）其他处理 is one row; from 2021 the 30号 layout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, literal, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col
from sqlmodel import select as select_models

from db.models import Event, Section, Task, TaskStatus
from obligations.events import APPLICANT_TYPES, CONFIRMATION_CHANNELS, RECEIPT_CHANNELS
from obligations.outcomes import BY_CODE, OUTCOMES, group_label
from reports.errors import TableCheckError
from reports.feeds import FeedMap
from reports.model import Column, Rate, RequestSummary, Table3, Table3Check, Table3Row
from reports.scope import Window
from reports.sql import fetch, on_facts_index

CHECK_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
COLUMN_KEYS = (*APPLICANT_TYPES, "total")
LEGAL_PERSONS = "法人或其他组织"
REQUEST_ON_TIME_BASIS = "分母：本年办结的申请；分子：按时办结及在依法延长的期限内办结的申请"


def layout_for(year: int) -> str:
    """The 2019 trial layout for the 2019 and 2020 reports (and older years), else 2021."""
    return "2019" if year <= 2020 else "2021"


def columns() -> list[Column]:
    result = [Column(key="natural_person", label=APPLICANT_TYPES["natural_person"][0])]
    for key in COLUMN_KEYS[1:-1]:
        result.append(Column(key=key, label=APPLICANT_TYPES[key][0], parent=LEGAL_PERSONS))
    result.append(Column(key="total", label="总计"))
    return result


def result_rows(layout: str) -> list[tuple[str, str, str | None]]:
    """(row key, label, group label) of the 本年度办理结果 part, in the official order."""
    rows: list[tuple[str, str, str | None]] = []
    for outcome in OUTCOMES:
        if outcome.group in ("disclosed", "partial"):
            rows.append((outcome.code, group_label(outcome.group), None))
        elif outcome.group == "other" and layout == "2019":
            if not any(key == "other" for key, _, _ in rows):
                rows.append(("other", group_label("other"), None))
        else:
            rows.append((outcome.code, outcome.zh, group_label(outcome.group)))
    rows.append(("total", "（七）总计", None))
    return rows


def row_of(outcome_code: str, layout: str) -> str:
    """The table row an outcome code is counted in."""
    if layout == "2019" and outcome_code.startswith("other."):
        return "other"
    return outcome_code


@dataclass(frozen=True)
class RequestBucket:
    agency_id: int
    applicant: str | None
    channel: str | None
    received: str  # before | in | after
    answered: str  # before | in | after (after: still open at the end of the window)
    outcome: str | None
    timeliness: str | None
    tasks: int


def _receipt_period(window: Window) -> ColumnElement[str]:
    confirmed = col(Event.attributes)["confirmed_on"].as_string()
    channel = col(Event.attributes)["channel"].as_string()
    by_confirmation = and_(channel.in_(sorted(CONFIRMATION_CHANNELS)), confirmed.is_not(None))
    first, last = window.first.isoformat(), window.last.isoformat()
    return case(
        (
            by_confirmation,
            case(
                (confirmed < first, literal("before")),
                (confirmed <= last, literal("in")),
                else_=literal("after"),
            ),
        ),
        (col(Event.occurred_at) < window.start_utc, literal("before")),
        (col(Event.occurred_at) < window.end_utc, literal("in")),
        else_=literal("after"),
    )


def _answer_period(window: Window) -> ColumnElement[str]:
    done = col(Task.status) == TaskStatus.DONE.value
    return case(
        (and_(done, col(Task.done_at) < window.start_utc), literal("before")),
        (and_(done, col(Task.done_at) < window.end_utc), literal("in")),
        else_=literal("after"),
    )


def _request_filter(
    agency_ids: Sequence[int], window: Window, feeds: FeedMap
) -> list[ColumnElement[bool]]:
    return [
        col(Task.agency_id).in_(list(agency_ids)),
        feeds.condition("table3"),
        col(Task.status) != TaskStatus.CANCELLED.value,
        not_(and_(col(Task.status) == TaskStatus.DONE.value, col(Task.done_at) < window.start_utc)),
        col(Event.occurred_at) < window.end_utc,
    ]


def request_buckets(
    session: Session, agency_ids: Sequence[int], window: Window, feeds: FeedMap
) -> list[RequestBucket]:
    """The requests relevant to ``window`` (not answered before it), aggregated."""
    if not agency_ids:
        return []
    received = _receipt_period(window)
    answered = _answer_period(window)
    applicant = col(Event.attributes)["applicant_type"].as_string()
    channel = col(Event.attributes)["channel"].as_string()
    statement = (
        select(
            col(Task.agency_id),
            applicant,
            channel,
            received,
            answered,
            col(Task.outcome_code),
            col(Task.timeliness),
            func.count(),
        )
        .join(Event, col(Event.id) == col(Task.event_id))
        .where(*_request_filter(agency_ids, window, feeds))
        .group_by(
            col(Task.agency_id),
            applicant,
            channel,
            received,
            answered,
            col(Task.outcome_code),
            col(Task.timeliness),
        )
    )
    return [
        RequestBucket(
            agency_id=int(agency_id),
            applicant=applicant_value,
            channel=channel_value,
            received=str(received_value),
            answered=str(answered_value),
            outcome=outcome,
            timeliness=timeliness,
            tasks=int(tasks),
        )
        for (
            agency_id,
            applicant_value,
            channel_value,
            received_value,
            answered_value,
            outcome,
            timeliness,
            tasks,
        ) in fetch(session, on_facts_index(statement))
    ]


def request_problems(
    session: Session, agency_ids: Sequence[int], window: Window, feeds: FeedMap, *, limit: int = 200
) -> list[str]:
    """Requests the table cannot count: answered in the window without a valid outcome code,
    or without a known applicant type. One line per task."""
    if not agency_ids:
        return []
    applicant = col(Event.attributes)["applicant_type"].as_string()
    answered_in = and_(
        col(Task.status) == TaskStatus.DONE.value,
        col(Task.done_at) >= window.start_utc,
        col(Task.done_at) < window.end_utc,
    )
    bad_outcome = or_(
        col(Task.outcome_code).is_(None), col(Task.outcome_code).not_in(sorted(BY_CODE))
    )
    bad_applicant = or_(applicant.is_(None), applicant.not_in(sorted(APPLICANT_TYPES)))
    # The ids through the facts index first, then the few offending rows.
    ids = fetch(
        session,
        on_facts_index(select(col(Task.id)))
        .join(Event, col(Event.id) == col(Task.event_id))
        .where(
            *_request_filter(agency_ids, window, feeds),
            or_(and_(answered_in, bad_outcome), bad_applicant),
        )
        .order_by(col(Task.id))
        .limit(limit),
    )
    statement = (
        select_models(Task, Section, applicant)
        .join(Event, col(Event.id) == col(Task.event_id))
        .join(Section, col(Section.id) == col(Task.section_id))
        .where(col(Task.id).in_([int(row[0]) for row in ids]))
        .order_by(col(Task.id))
    )
    problems = []
    for task, section, applicant_value in session.exec(statement).all():
        where = f"task {task.id} ({section.name}, {task.title})"
        if applicant_value not in APPLICANT_TYPES:
            problems.append(
                f"{where}: applicant type {applicant_value!r} is not one of table 三's columns"
            )
        if task.status == TaskStatus.DONE.value and task.outcome_code not in BY_CODE:
            what = (
                "no outcome code"
                if task.outcome_code is None
                else f"unknown outcome {task.outcome_code!r}"
            )
            problems.append(
                f"{where}: closed request with {what} (办理结果); reopen it and complete it with --outcome"
            )
    return problems


def suspicious(buckets: Sequence[RequestBucket]) -> bool:
    """Whether the aggregated requests hold something :func:`request_problems` would list."""
    return any(
        bucket.applicant not in APPLICANT_TYPES
        or (bucket.answered == "in" and bucket.outcome not in BY_CODE)
        for bucket in buckets
    )


def build_table3(
    buckets: Sequence[RequestBucket], layout: str, *, notes: Sequence[str] = ()
) -> Table3:
    """The table of one agency (or of several, summed) from its aggregated requests."""
    counts: dict[str, Counter[str]] = {}

    def add(row: str, applicant: str | None, tasks: int) -> None:
        column = applicant if applicant in APPLICANT_TYPES else "other"
        target = counts.setdefault(row, Counter())
        target[column] += tasks
        target["total"] += tasks

    for bucket in buckets:
        if bucket.received == "after":
            continue
        if bucket.received == "in":
            add("new", bucket.applicant, bucket.tasks)
        else:
            add("carried_in", bucket.applicant, bucket.tasks)
        if bucket.answered == "in":
            if bucket.outcome in BY_CODE:
                add(row_of(bucket.outcome, layout), bucket.applicant, bucket.tasks)
                add("total", bucket.applicant, bucket.tasks)
        else:
            add("carried_out", bucket.applicant, bucket.tasks)
    return assemble_table3(counts, layout, notes=notes)


def assemble_table3(
    counts: dict[str, Counter[str]], layout: str, *, notes: Sequence[str] = ()
) -> Table3:
    """The table from row → column → count, with its per-column check."""

    def values(row: str) -> dict[str, int]:
        found = counts.get(row, Counter())
        return {key: int(found[key]) for key in COLUMN_KEYS}

    rows = [
        Table3Row(key="new", label="一、本年新收政府信息公开申请数量", values=values("new")),
        Table3Row(
            key="carried_in", label="二、上年结转政府信息公开申请数量", values=values("carried_in")
        ),
    ]
    for key, label, group in result_rows(layout):
        rows.append(
            Table3Row(
                key=key, label=label, part="三、本年度办理结果", group=group, values=values(key)
            )
        )
    rows.append(
        Table3Row(key="carried_out", label="四、结转下年度继续办理", values=values("carried_out"))
    )
    table = Table3(layout=layout, columns=columns(), rows=rows, checks=[], notes=list(notes))  # type: ignore[arg-type]
    table.checks = [
        Table3Check(
            column=column.key,
            label=column.label,
            new=table.value("new", column.key),
            carried_in=table.value("carried_in", column.key),
            total=table.value("total", column.key),
            carried_out=table.value("carried_out", column.key),
            ok=table.value("new", column.key) + table.value("carried_in", column.key)
            == table.value("total", column.key) + table.value("carried_out", column.key),
        )
        for column in table.columns
    ]
    return table


def enforce_check(table: Table3, *, who: str) -> None:
    """Raise :class:`TableCheckError` naming every column whose 勾稽关系 fails."""
    failed = [check for check in table.checks if not check.ok]
    if not failed:
        return
    lines = [
        f"{who} 表三「{check.label}」列勾稽关系不成立 table 三 column {check.column!r} fails "
        f"一+二=总计+四: {check.new}+{check.carried_in}={check.new + check.carried_in} ≠ "
        f"{check.total}+{check.carried_out}={check.total + check.carried_out}"
        for check in failed
    ]
    raise TableCheckError("\n".join(lines))


def sum_tables(tables: Sequence[Table3], layout: str) -> Table3:
    """Whole government: each cell is the sum of the agencies' cells."""
    counts: dict[str, Counter[str]] = {}
    for table in tables:
        for row in table.rows:
            counts.setdefault(row.key, Counter()).update(row.values)
    return assemble_table3(counts, layout)


def build_summary(buckets: Sequence[RequestBucket], table: Table3) -> RequestSummary:
    received_by_channel: Counter[str] = Counter(dict.fromkeys(RECEIPT_CHANNELS, 0))
    answered: Counter[str] = Counter()
    for bucket in buckets:
        if bucket.received == "in":
            received_by_channel[bucket.channel or "unknown"] += bucket.tasks
        if bucket.received != "after" and bucket.answered == "in":
            answered[bucket.timeliness or "unknown"] += bucket.tasks
    closed = table.value("total")
    in_time = answered["on_time"] + answered["extended_on_time"]
    return RequestSummary(
        received=table.value("new"),
        received_by_channel=dict(received_by_channel),
        carried_in=table.value("carried_in"),
        closed=closed,
        on_time=answered["on_time"],
        extended_on_time=answered["extended_on_time"],
        late=answered["late"],
        carried_out=table.value("carried_out"),
        on_time_rate=Rate.of(in_time, closed, REQUEST_ON_TIME_BASIS),
    )


def sum_summaries(parts: Sequence[RequestSummary], table: Table3) -> RequestSummary:
    channels: Counter[str] = Counter()
    for part in parts:
        channels.update(part.received_by_channel)
    on_time = sum(part.on_time for part in parts)
    extended = sum(part.extended_on_time for part in parts)
    return RequestSummary(
        received=table.value("new"),
        received_by_channel=dict(channels),
        carried_in=table.value("carried_in"),
        closed=table.value("total"),
        on_time=on_time,
        extended_on_time=extended,
        late=sum(part.late for part in parts),
        carried_out=table.value("carried_out"),
        on_time_rate=Rate.of(on_time + extended, table.value("total"), REQUEST_ON_TIME_BASIS),
    )


def carry_over_note(previous_carried_out: int, carried_in: int, year: int) -> str | None:
    """A note when the ledger's 上年结转 differs from the locked previous report's 结转下年度."""
    if previous_carried_out == carried_in:
        return None
    return (
        f"上年结转{carried_in}件与{year - 1}年已锁定报告的结转下年度{previous_carried_out}件不一致"
        f"（锁定后台账有更正） carried-in differs from the locked {year - 1} report"
    )
