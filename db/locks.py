"""Year locks: once a year's report is published and locked, its figures cannot be rewritten.

``gongkai report lock YEAR`` stores the figures as filed in a :class:`~db.models.YearLock`
row (reports/lock.py). From then on the ledger refuses every operation that would change
what that year counted. One rule for every write:

1. **Nothing is dated into a locked year.** The operation's moment (``at``) and every moment
   it records (a completion's ``done_at`` and service date, a pause's start, the receipt
   of a corrected request …) must fall after it.
2. **A task closed in a locked year stays closed.** Reopening it would take a result out
   of the filed figures.
3. **A task due in a locked year keeps its deadline.** The filed report counted it by that
   due date (on time, late, or 逾期未办结), so it cannot be extended, paused, restarted or
   cancelled any more. It can still be *completed* after the year: the late reply is a
   fact of the open year, and the locked figures keep showing it as 逾期未办结.

Years are local years in the agency's zone (:attr:`Agency.timezone`). The reports read a
locked year from its lock, so the filed report can always be reproduced exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from db.errors import LedgerError
from db.models import Agency, Task, TaskStatus, YearLock

#: Operations that change a task's deadline or make it vanish from the statistics.
DEADLINE_CHANGES = frozenset({"extend", "pause", "resume", "restart", "cancel"})


class YearLockedError(LedgerError):
    """The year is locked: its published figures cannot change."""


def locked_years(session: Session, agency_id: int) -> dict[int, YearLock]:
    """The agency's locked years (year → lock)."""
    rows = session.exec(select(YearLock).where(col(YearLock.agency_id) == agency_id)).all()
    return {row.year: row for row in rows}


def agency_zone(session: Session, agency_id: int) -> dt.tzinfo:
    agency = session.get(Agency, agency_id)
    return ZoneInfo(agency.timezone if agency is not None else "Asia/Shanghai")


def local_year(moment: dt.datetime | dt.date, tz: dt.tzinfo) -> int:
    if isinstance(moment, dt.datetime):
        return moment.astimezone(tz).year
    return moment.year


def _refuse(lock: YearLock, what: str) -> YearLockedError:
    return YearLockedError(
        f"{lock.year}年已锁定 year {lock.year} is locked (published report, locked "
        f"{lock.locked_at.date().isoformat()} by {lock.locked_by}): {what}"
    )


def check_not_locked(
    session: Session,
    task: Task,
    at: dt.datetime,
    *,
    action: str,
    moments: Iterable[dt.datetime | dt.date | None] = (),
) -> None:
    """Refuse ``action`` on ``task`` if it would change a locked year's figures (see above).

    ``moments`` are the instants or days the operation records (``None`` entries are
    skipped); ``at`` is always one of them.
    """
    locks = locked_years(session, task.agency_id)
    if not locks:
        return
    tz = agency_zone(session, task.agency_id)
    closed = task.done_at if task.status == TaskStatus.DONE.value else task.closed_at
    if task.status in (TaskStatus.DONE.value, TaskStatus.CANCELLED.value) and closed is not None:
        year = local_year(closed, tz)
        if year in locks:
            raise _refuse(
                locks[year],
                f"task {task.id} was closed in {year} and cannot change any more ({action})",
            )
    for moment in (at, *moments):
        if moment is None:
            continue
        year = local_year(moment, tz)
        if year in locks:
            raise _refuse(
                locks[year],
                f"{action} of task {task.id} would record {moment.isoformat()}, inside {year}",
            )
    if action in DEADLINE_CHANGES and task.due_date is not None and task.due_date.year in locks:
        raise _refuse(
            locks[task.due_date.year],
            f"task {task.id} is due {task.due_date.isoformat()} and was counted in the "
            f"{task.due_date.year} report; its deadline can no longer change ({action})",
        )


def check_day_not_locked(
    session: Session, agency_id: int, moment: dt.datetime | dt.date | None, what: str
) -> None:
    """Refuse recording ``what`` dated ``moment`` when that year is locked for the agency."""
    if moment is None:
        return
    locks = locked_years(session, agency_id)
    if not locks:
        return
    year = local_year(moment, agency_zone(session, agency_id))
    if year in locks:
        raise _refuse(locks[year], f"{what} is dated {moment.isoformat()}, inside {year}")
