"""The overview's figures as SQL aggregates over the ledger, scoped by :class:`ViewScope`.

- overdue now, due this week, deadlines per calendar day: ranges on ``due_at`` among open
  tasks (index on agency, status, due_at), so they cost the same at any table size;
- this year's on-time rates per section / agency and the monthly trend: the bulletin's own
  aggregate (``reports.stats.timeliness_buckets``), so the overview and the 月度通报 never
  disagree. That aggregate reads every task due in the year; its result is reused for
  ``ttl_seconds`` (:class:`StatsCache`), as the rates change only when tasks close or fall
  overdue and an office does not need them to the second.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from dashboard.scope import SECTION, TASK, ViewScope, agencies_in
from db.models import Task, TaskStatus
from reports.feeds import resolve_feeds
from reports.model import TimelinessRow
from reports.scope import year_window
from reports.stats import Tally, timeliness_buckets

T = TypeVar("T")


class StatsCache:
    """Aggregate figures reused for ``ttl_seconds``, safe across request threads.

    The first request for a key computes it (concurrent requests for the same key wait for
    that one computation instead of repeating it). Once a value is older than the TTL, the
    next request starts one background refresh and every request keeps getting the previous
    value until the new one is stored: no page waits for a yearly aggregate after the first.
    ``compute`` must open its own database session (it may run after the request ended).
    """

    def __init__(self, ttl_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl_seconds
        self.clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._refreshing: set[Hashable] = set()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return compute()
        with self._lock:
            hit = self._values.get(key)
            if hit is not None:
                if self.clock() - hit[0] >= self.ttl and key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, compute), daemon=True).start()
                value: T = hit[1]
                return value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._values.get(key)
            if hit is not None:
                stored: T = hit[1]
                return stored
            fresh = compute()
            self._store(key, fresh)
            return fresh

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self._store(key, compute())
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if len(self._values) > 1_000:
                self._values.clear()
                self._key_locks.clear()
            self._values[key] = (self.clock(), value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


_OPEN = TaskStatus.OPEN.value


def _open_filters(scope: ViewScope) -> list[ColumnElement[bool]]:
    return [TASK.c.status == _OPEN, *scope.task_filters()]


@dataclass(frozen=True)
class SectionCounts:
    overdue: int
    due_soon: int


def open_counts_by_section(
    session: Session, scope: ViewScope, *, at: dt.datetime, end: dt.datetime
) -> dict[int, SectionCounts]:
    """Per section of the scope: open tasks overdue at ``at`` and falling due in (at, end].

    Two correlated counts per section, each a range of the (section, status, due_at)
    index. Grouping the agency's overdue range by section instead sorts every overdue task
    through a temporary b-tree: 4.4 ms against 0.7 ms with 15,000 overdue among a million.
    """

    def count(*conditions: ColumnElement[bool]) -> Any:
        return (
            sa_select(func.count())
            .select_from(TASK)
            .where(
                TASK.c.section_id == SECTION.c.id,
                TASK.c.status == _OPEN,
                *conditions,
            )
            .scalar_subquery()
        )

    rows = session.execute(
        sa_select(
            SECTION.c.id,
            count(TASK.c.due_at <= at),
            count(TASK.c.due_at > at, TASK.c.due_at <= end),
        ).where(*scope.section_filters())
    ).all()
    return {
        int(section_id): SectionCounts(int(overdue), int(soon))
        for section_id, overdue, soon in rows
    }


def due_soon(
    session: Session, scope: ViewScope, *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> list[Any]:
    """The first ``limit`` open tasks falling due in (start, end], soonest first."""
    return list(
        session.execute(
            sa_select(
                TASK.c.id,
                TASK.c.title,
                TASK.c.section_id,
                TASK.c.obligation_code,
                TASK.c.due_date,
                TASK.c.due_at,
                TASK.c.provisional,
            )
            .where(*_open_filters(scope), TASK.c.due_at > start, TASK.c.due_at <= end)
            .order_by(TASK.c.due_at, TASK.c.id)
            .limit(limit)
        ).all()
    )


@dataclass
class YearTimeliness:
    """This year's timeliness as the bulletin counts it (``reports.stats``): the tasks due
    in the year, on time (按时 + 延期内办结) over closed plus overdue-and-open."""

    total: TimelinessRow
    by_section: dict[int, TimelinessRow]
    by_agency: dict[int, TimelinessRow]
    #: Month number → row, for the months up to ``through``.
    by_month: dict[int, TimelinessRow] = field(default_factory=dict)

    def trend(self, year: int) -> dict[str, list[Any]]:
        months = sorted(self.by_month)
        return {
            "months": [f"{year}-{month:02d}" for month in months],
            "rates": [
                None
                if self.by_month[month].on_time_rate.value is None
                else round((self.by_month[month].on_time_rate.value or 0) * 100, 1)
                for month in months
            ],
            "due": [self.by_month[month].due for month in months],
            "late": [
                self.by_month[month].late + self.by_month[month].open_overdue for month in months
            ],
        }


def yearly_timeliness(
    session: Session, scope: ViewScope, *, year: int, at: dt.datetime, tz: dt.tzinfo
) -> YearTimeliness:
    """Timeliness of the tasks due in ``year`` per section, agency and month (to ``at``)."""
    agency_ids = [agency.id for agency in agencies_in(session, scope) if agency.id is not None]
    feeds = resolve_feeds(session, agency_ids)
    buckets = timeliness_buckets(session, agency_ids, year_window(year, tz), at, feeds)
    if scope.section_id is not None:
        buckets = [bucket for bucket in buckets if bucket.section_id == scope.section_id]
    total = Tally()
    sections: dict[int, Tally] = {}
    agencies: dict[int, Tally] = {}
    months: dict[int, Tally] = {}
    for bucket in buckets:
        for group, key in (
            (sections, bucket.section_id),
            (agencies, bucket.agency_id),
            (months, bucket.month),
        ):
            group.setdefault(key, Tally()).add(bucket.cls, bucket.margin, bucket.tasks)
        total.add(bucket.cls, bucket.margin, bucket.tasks)
    local = at.astimezone(tz)
    last_month = local.month if local.year == year else 12
    return YearTimeliness(
        total=total.row({}),
        by_section={key: tally.row({}) for key, tally in sections.items()},
        by_agency={key: tally.row({}) for key, tally in agencies.items()},
        by_month={
            month: months.get(month, Tally()).row({"month": month})
            for month in range(1, last_month + 1)
        },
    )


@dataclass
class AgencyRank:
    code: str
    name: str
    row: TimelinessRow
    overdue: int

    @property
    def sort_key(self) -> tuple[float, int, str]:
        rate = self.row.on_time_rate.value
        return (-(rate if rate is not None else -1.0), self.overdue, self.code)


def agency_ranking(
    session: Session, *, year: int, tz: dt.tzinfo, at: dt.datetime
) -> list[AgencyRank]:
    """Every agency by this year's on-time rate (best first), then fewest overdue now."""
    everyone = ViewScope(agency_id=None)
    figures = yearly_timeliness(session, everyone, year=year, at=at, tz=tz)
    overdue = overdue_by_agency(session, at=at)
    ranking = [
        AgencyRank(
            code=agency.code,
            name=agency.name,
            row=figures.by_agency.get(agency.id or 0) or Tally().row({}),
            overdue=overdue.get(agency.id or 0, 0),
        )
        for agency in agencies_in(session, everyone)
    ]
    ranking.sort(key=lambda item: item.sort_key)
    return ranking


def overdue_by_agency(session: Session, *, at: dt.datetime) -> dict[int, int]:
    rows = session.exec(
        select(Task.agency_id, func.count())
        .where(col(Task.status) == TaskStatus.OPEN.value, col(Task.due_at) <= at)
        .group_by(col(Task.agency_id))
    ).all()
    return {int(agency): int(count) for agency, count in rows}


def deadlines_per_day(
    session: Session, scope: ViewScope, *, first: dt.date, last: dt.date, tz: dt.tzinfo
) -> dict[dt.date, int]:
    """Open and paused tasks per due day in [first, last] (paused ones keep their last due)."""
    start = local_midnight(first, tz)
    end = local_midnight(last + dt.timedelta(days=1), tz)
    rows = session.exec(
        select(col(Task.due_date), func.count())
        .where(
            col(Task.status).in_([TaskStatus.OPEN.value, TaskStatus.PAUSED.value]),
            *scope.task_filters(),
            col(Task.due_at) > start,
            col(Task.due_at) <= end,
        )
        .group_by(col(Task.due_date))
    ).all()
    return {day: int(count) for day, count in rows if day is not None}
