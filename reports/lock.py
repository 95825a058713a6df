"""Locking a published year: ``gongkai report lock YEAR``.

The agency's figures are compiled from the live ledger one last time, checked (an
inconsistent ledger or a failing table check cannot be locked), and stored in a
:class:`~db.models.YearLock` with their digest; an audit entry records who locked what.
From then on:

- reports of that year are read from the lock (:mod:`reports.archive`), so the filed report
  renders the same in every format, whatever happens to the ledger later;
- the ledger refuses edits that would change the year's figures (:mod:`db.locks`).

Only a year that is over can be locked. Locking an already locked year changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor
from db.models import YearLock
from reports.archive import digest_of, figures_from_lock, stored_form
from reports.compile import compile_agencies
from reports.errors import LockError
from reports.model import AgencyFigures
from reports.scope import resolve_scope, year_window


@dataclass
class LockResult:
    lock: YearLock
    figures: AgencyFigures
    created: bool


def lock_year(
    session: Session,
    *,
    year: int,
    at: dt.datetime,
    tz: dt.tzinfo,
    actor: Actor,
    agency_code: str | None = None,
) -> LockResult:
    """Freeze ``year`` for one agency (``agency_code``, or the only one)."""
    scope = resolve_scope(session, actor, agency_code=agency_code)
    agency = scope.agencies[0]
    actor.check_write(agency.id, None, office_only=True)
    window = year_window(year, tz)
    if not window.ended(at):
        raise LockError(
            f"{year}年尚未结束，不能锁定 year {year} is not over yet "
            f"(it ends {window.last.isoformat()}); lock it once its report is published"
        )
    existing = session.exec(
        select(YearLock).where(col(YearLock.agency_id) == agency.id, col(YearLock.year) == year)
    ).first()
    if existing is not None:
        return LockResult(existing, figures_from_lock(existing), created=False)
    figures = compile_agencies(session, [agency], window=window, year=year, at=at)[agency.id]
    data = stored_form(figures)
    digest = digest_of(data)
    lock = YearLock(
        agency_id=agency.id,
        year=year,
        figures=data,
        digest=digest,
        locked_at=at,
        locked_by=actor.name,
    )
    session.add(lock)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="lock",
        entity="year_lock",
        entity_id=f"{agency.code}/{year}",
        agency_id=agency.id,
        after={"year": year, "digest": digest},
    )
    session.flush()
    return LockResult(lock, figures_from_lock(lock), created=True)
