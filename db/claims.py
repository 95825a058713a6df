"""Handing due tasks to exactly one worker.

A claim sets ``claimed_by`` and a lease (``claim_expires_at``) on tasks whose
``next_action_at`` has come and that nobody holds (or whose lease ran out, e.g. after a
crash). On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so parallel
workers take disjoint sets without waiting; SQLite ignores that clause, but its
transactions begin IMMEDIATE (db.engine) and the ``UPDATE … WHERE`` repeats the
condition, so a row that another worker took in between is simply not updated.
Both paths use the partial index on ``next_action_at``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from db.models import Task, TaskStatus

DEFAULT_LEASE = dt.timedelta(minutes=5)


def _claimable(at: dt.datetime):  # type: ignore[no-untyped-def]
    return and_(
        col(Task.next_action_at).is_not(None),
        col(Task.next_action_at) <= at,
        col(Task.status) == TaskStatus.OPEN.value,
        or_(col(Task.claim_expires_at).is_(None), col(Task.claim_expires_at) <= at),
    )


def claim_due_tasks(
    session: Session,
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 1_000,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> list[int]:
    """Claim up to ``limit`` due tasks for ``worker``; returns their ids (oldest action first).

    The caller commits; until then the rows stay locked (PostgreSQL) or the database's write
    lock is held (SQLite).
    """
    candidates = (
        select(Task.id).where(_claimable(at)).order_by(col(Task.next_action_at)).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
        ids = [int(task_id) for task_id in session.exec(candidates).all() if task_id is not None]
        if not ids:
            return []
        statement = update(Task).where(col(Task.id).in_(ids), _claimable(at))
    else:
        statement = update(Task).where(
            col(Task.id).in_(candidates.scalar_subquery()), _claimable(at)
        )
    result = session.execute(
        statement.values(claimed_by=worker, claim_expires_at=at + lease).returning(
            col(Task.id), col(Task.next_action_at)
        )
    )
    return [
        task_id for _, task_id in sorted((next_at, int(task_id)) for task_id, next_at in result)
    ]


def release(session: Session, task_ids: list[int], *, worker: str) -> int:
    """Give claimed tasks back (after processing, or on error)."""
    if not task_ids:
        return 0
    result = session.execute(
        update(Task)
        .where(col(Task.id).in_(task_ids), col(Task.claimed_by) == worker)
        .values(claimed_by=None, claim_expires_at=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
