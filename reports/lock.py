"""Locking a published year: ``gongkai report lock YEAR``.

The agency's figures are compiled from the live ledger one last time, checked (an
inconsistent ledger or a failing table check cannot be locked), and stored in a
:class:`~db.models.YearLock` with their digest; an audit entry records who locked what.
From then on:

- reports of that year are read from the lock (:mod:`reports.archive`), so the filed report
  renders the same in every format, whatever happens to the ledger later;
- the ledger refuses edits that would change the year's figures (:mod:`db.locks`).

Only a year that is over can be locked. Locking an already locked year changes nothing.

``gongkai report unlock YEAR --reason …`` lifts a lock when a published report has to be
corrected (更正): the office of the agency gives the reason, the audit entry keeps the
lock's digest and figures, and the year is live again until it is locked anew.
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


#: Longest reason an unlock accepts (it goes into the audit entry).
MAX_REASON_LENGTH = 500


def unlock_year(
    session: Session,
    *,
    year: int,
    at: dt.datetime,
    actor: Actor,
    reason: str,
    agency_code: str | None = None,
) -> YearLock:
    """Lift the lock of ``year`` for one agency; returns the removed lock.

    The audit entry records who, when, why and the lock as it was (digest and figures), so
    the figures once filed stay provable after the lock row is gone.
    """
    text = reason.strip()
    if not text:
        raise LockError("请说明解除锁定的原因 give the reason for unlocking (--reason)")
    if len(text) > MAX_REASON_LENGTH:
        raise LockError(f"原因过长 the reason may have at most {MAX_REASON_LENGTH} characters")
    scope = resolve_scope(session, actor, agency_code=agency_code)
    agency = scope.agencies[0]
    actor.check_write(agency.id, None, office_only=True)
    lock = session.exec(
        select(YearLock).where(col(YearLock.agency_id) == agency.id, col(YearLock.year) == year)
    ).first()
    if lock is None:
        raise LockError(f"{agency.code} {year}年未锁定 year {year} is not locked for {agency.code}")
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="unlock",
        entity="year_lock",
        entity_id=f"{agency.code}/{year}",
        agency_id=agency.id,
        before={
            "year": year,
            "digest": lock.digest,
            "locked_at": lock.locked_at.isoformat(),
            "locked_by": lock.locked_by,
            "figures": lock.figures,
        },
        after={"reason": text},
    )
    session.delete(lock)
    session.flush()
    return lock
