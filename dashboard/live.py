"""Exact reuse of the live counts: overdue now, due this week, the board's total.

These counts change for two reasons only: the ledger changes (a task is spawned, closed,
extended, paused …), or time passes the due moment of an open task. Both can be checked for
less than the counting costs (a million tasks with fifteen thousand overdue: 1 ms a count):

- every ledger change appends to the audit chain, whose head row carries a gapless ``seq``:
  one primary-key read says whether anything changed since a count was made;
- the next due moment after the one a count was made for is one index seek; until the clock
  reaches it, no open task changes sides.

So a count is reused while the chain's ``seq`` is the same and the moment lies in
[made for, next due moment). A page reads ``seq`` first, then counts: what it stores is never
older than the version it is filed under (on PostgreSQL a later statement may see newer rows,
which only makes the next request recount). Changes that bypass the ledger (a hand-edited
database) are picked up after ``max_age`` seconds at the latest.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel

from dashboard.scope import AGENCY, TASK, ViewScope
from db.models import TaskStatus

T = TypeVar("T")
AUDIT_HEAD: Table = SQLModel.metadata.tables["audit_head"]
_VERSION = sa_select(AUDIT_HEAD.c.seq).where(AUDIT_HEAD.c.id == 1)
_OPEN = TaskStatus.OPEN.value


def ledger_version(session: Session) -> int:
    """The audit chain's last ``seq``: it grows with every change the ledger makes."""
    row = session.execute(_VERSION).first()
    return int(row[0]) if row is not None else 0


def next_due_after(session: Session, scope: ViewScope, moment: dt.datetime) -> dt.datetime | None:
    """The first due moment after ``moment`` among the scope's open tasks (None: none).

    One seek of the (agency, status, due_at) index per agency: for every agency at once
    (the government office) the minimum is taken over a correlated seek per agency, as a
    plain MIN without the agency would read the whole index.
    """
    if scope.agency_id is not None:
        statement = sa_select(func.min(TASK.c.due_at)).where(
            TASK.c.status == _OPEN, *scope.task_filters(), TASK.c.due_at > moment
        )
    else:
        per_agency = (
            sa_select(TASK.c.due_at)
            .where(
                TASK.c.agency_id == AGENCY.c.id,
                TASK.c.status == _OPEN,
                TASK.c.due_at > moment,
            )
            .order_by(TASK.c.due_at)
            .limit(1)
            .scalar_subquery()
        )
        statement = sa_select(func.min(sa_select(per_agency.label("due")).subquery().c.due))
    found = session.execute(statement).scalar()
    if isinstance(found, dt.datetime) and found.tzinfo is None:
        return found.replace(tzinfo=dt.UTC)
    return found if isinstance(found, dt.datetime) else None


@dataclass
class _Entry:
    version: int
    start: dt.datetime
    #: None: the count does not depend on time (only on the ledger).
    until: dt.datetime | None
    stored: float
    value: Any


class LiveCache:
    """Counts filed under (key, ledger version, moment range); safe across request threads."""

    def __init__(
        self, max_age: float = 60.0, clock: Callable[[], float] = time.monotonic, size: int = 2_000
    ) -> None:
        self.max_age = max_age
        self.clock = clock
        self.size = size
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def get(
        self,
        key: Hashable,
        *,
        version: int,
        moment: dt.datetime,
        compute: Callable[[], T],
        until: Callable[[], dt.datetime | None] | None,
    ) -> T:
        """The value for ``key`` at ``moment``: reused when still exact, else ``compute()``.

        ``until()`` gives the first moment at which the value may change by time alone;
        pass ``until=None`` for a value that only the ledger changes.
        """
        if self.max_age <= 0:
            return compute()
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
        if (
            entry is not None
            and entry.version == version
            and entry.start <= moment
            and (entry.until is None or moment < entry.until)
            and now - entry.stored < self.max_age
        ):
            value: T = entry.value
            return value
        fresh = compute()
        boundary = until() if until is not None else None
        if until is not None and boundary is None:
            boundary = dt.datetime.max.replace(tzinfo=dt.UTC)  # no open task due later
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = _Entry(version, moment, boundary, now, fresh)
        return fresh

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
