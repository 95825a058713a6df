"""The overdue board: open tasks past their due moment, worst first, with filters.

"Days overdue" counts working days after the due day (the unit reminders use, 已逾期 N 个
工作日). The filter "at least N working days overdue" becomes an upper bound on ``due_at``
(the end of the day N working days before today), so every filter is a range or an
equality on indexed columns and a page costs the same with ten thousand tasks or a million.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, false, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from dashboard.live import LiveCache, next_due_after
from dashboard.scope import TASK, SectionInfo, ViewScope
from dashboard.stats import local_midnight
from db.models import TaskStatus
from obligations.catalog import Catalog
from obligations.errors import OutOfRangeError
from obligations.workdays import WorkdayCalendar

#: Largest "days overdue" filter accepted.
MAX_DAYS_FILTER = 3650


@dataclass(frozen=True)
class BoardFilter:
    #: One of the scope's sections (callers check it against ``sections_in(scope)``).
    section_id: int | None = None
    obligation: str | None = None
    min_days: int = 0
    #: Instead of the overdue tasks: the open/paused tasks due on this day (calendar link).
    due_on: dt.date | None = None
    #: Instead of the overdue tasks: every open or paused task (the section page).
    all_open: bool = False


class BoardRow(NamedTuple):
    """One line of the board (a named tuple: a page builds fifty of them per view)."""

    id: int
    title: str
    agency_code: str
    section_id: int
    section_name: str
    obligation: str
    obligation_title: str
    status: str
    due_date: dt.date | None
    due_at: dt.datetime | None
    provisional: bool
    extended_by: int
    days_overdue: int
    calendar_days_overdue: int
    #: The due day, with the hour when it is not the end of the day (hour duties).
    due_text: str = ""

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


_OPEN = TaskStatus.OPEN.value
_PAUSED = TaskStatus.PAUSED.value


def _cutoff(
    at: dt.datetime, min_days: int, calendar: WorkdayCalendar, tz: dt.tzinfo
) -> dt.datetime:
    """Latest ``due_at`` of a task at least ``min_days`` working days overdue at ``at``."""
    if min_days <= 0:
        return at
    today = at.astimezone(tz).date()
    try:
        last_due_day = calendar.add_workdays(today, -min_days)
    except OutOfRangeError:
        last_due_day = dt.date(calendar.first_year, 1, 1)
    return min(at, local_midnight(last_due_day + dt.timedelta(days=1), tz))


def _filters(
    scope: ViewScope,
    board: BoardFilter,
    *,
    at: dt.datetime,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
) -> list[ColumnElement[bool]]:
    if board.section_id is not None:
        if scope.section_id is not None and board.section_id != scope.section_id:
            return [false()]
        # The section implies its agency: filtering by section alone lets the count read
        # the (section, status, due_at) index without visiting the rows.
        filters = [TASK.c.section_id == board.section_id]
    else:
        filters = list(scope.task_filters())
    if board.obligation:
        filters.append(TASK.c.obligation_code == board.obligation)
    if board.all_open:
        filters.append(TASK.c.status.in_([_OPEN, _PAUSED]))
        return filters
    if board.due_on is not None:
        filters += [
            TASK.c.status.in_([_OPEN, _PAUSED]),
            TASK.c.due_at > local_midnight(board.due_on, tz),
            TASK.c.due_at <= local_midnight(board.due_on + dt.timedelta(days=1), tz),
        ]
        return filters
    filters += [
        TASK.c.status == _OPEN,
        TASK.c.due_at <= _cutoff(at, board.min_days, calendar, tz),
    ]
    return filters


def count(
    session: Session,
    scope: ViewScope,
    board: BoardFilter,
    *,
    at: dt.datetime,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
) -> int:
    filters = _filters(scope, board, at=at, calendar=calendar, tz=tz)
    return int(
        session.execute(sa_select(func.count()).select_from(TASK).where(*filters)).scalar_one()
    )


def cached_count(
    session: Session,
    cache: LiveCache,
    version: int,
    scope: ViewScope,
    board: BoardFilter,
    *,
    at: dt.datetime,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
) -> int:
    """:func:`count`, reused while exact (:mod:`dashboard.live`; ``version`` read first).

    The overdue board's total changes by time alone when its cutoff (now, or the end of the
    day N working days back) passes an open task's due moment; the calendar links' and the
    section page's totals only when the ledger changes.
    """
    overdue_board = board.due_on is None and not board.all_open
    moment = _cutoff(at, board.min_days, calendar, tz) if overdue_board else at
    return cache.get(
        ("board-count", scope, board),
        version=version,
        moment=moment,
        compute=lambda: count(session, scope, board, at=at, calendar=calendar, tz=tz),
        until=(lambda: next_due_after(session, scope, moment)) if overdue_board else None,
    )


def rows(
    session: Session,
    scope: ViewScope,
    board: BoardFilter,
    *,
    at: dt.datetime,
    calendar: WorkdayCalendar,
    catalog: Catalog,
    tz: dt.tzinfo,
    sections: dict[int, SectionInfo],
    lang: str = "zh",
    limit: int = 100,
    offset: int = 0,
) -> list[BoardRow]:
    """One page of the board, most overdue first (earliest due moment, then id)."""
    filters = _filters(scope, board, at=at, calendar=calendar, tz=tz)
    found = session.execute(
        sa_select(
            TASK.c.id,
            TASK.c.title,
            TASK.c.agency_id,
            TASK.c.section_id,
            TASK.c.obligation_code,
            TASK.c.status,
            TASK.c.due_date,
            TASK.c.due_at,
            TASK.c.provisional,
            TASK.c.extended_by,
        )
        .where(*filters)
        .order_by(
            # Paused tasks have no due moment: last. Only there, so the overdue board reads
            # the (agency, status, due_at, section) index in its order, without sorting.
            TASK.c.due_at.nulls_last() if board.all_open else TASK.c.due_at,
            TASK.c.section_id,
            TASK.c.id,
        )
        .offset(offset)
        .limit(limit)
    ).all()
    today = at.astimezone(tz).date()
    titles: dict[str, str] = {}
    late: dict[dt.date, int] = {}
    result = []
    for task_id, title, _agency, section_id, code, status, due_date, due_at, prov, ext in found:
        title_of = titles.get(code)
        if title_of is None:
            title_of = titles[code] = obligation_title(catalog, code, lang)
        section = sections.get(section_id)
        days = calendar_days = 0
        if due_at is not None and due_at <= at and status == _OPEN and due_date is not None:
            days = late.get(due_date, -1)
            if days < 0:
                days = late[due_date] = _workdays_late(calendar, due_date, today)
            calendar_days = (today - due_date).days
        result.append(
            BoardRow(
                task_id,
                title,
                section.agency_code if section else "",
                section_id,
                section.name if section else str(section_id),
                code,
                title_of,
                status,
                due_date,
                due_at,
                prov,
                ext,
                days,
                calendar_days,
                due_text(due_date, due_at, tz),
            )
        )
    return result


def due_text(due_date: dt.date | None, due_at: dt.datetime | None, tz: dt.tzinfo) -> str:
    if due_date is None:
        return "—"
    if due_at is None:
        return due_date.isoformat()
    local = due_at.astimezone(tz)
    if local.hour == 0 and local.minute == 0:
        return due_date.isoformat()
    return f"{due_date.isoformat()} {local:%H:%M}"


def _workdays_late(calendar: WorkdayCalendar, due: dt.date | None, today: dt.date) -> int:
    if due is None or today <= due:
        return 0
    try:
        return max(calendar.workdays_between(due, today), 0)
    except OutOfRangeError:
        return (today - due).days


def obligation_title(catalog: Catalog, code: str, lang: str) -> str:
    """The obligation's title; a code no longer in the catalog is shown as it is."""
    obligation = catalog.get(code, None)
    return obligation.title.localized(lang) if obligation is not None else code
