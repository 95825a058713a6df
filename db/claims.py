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
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from db.models import OutboxMessage, Task, TaskStatus

DEFAULT_LEASE = dt.timedelta(minutes=5)


def _claimable(at: dt.datetime) -> Any:
    return and_(
        col(Task.next_action_at).is_not(None),
        col(Task.next_action_at) <= at,
        col(Task.status) == TaskStatus.OPEN.value,
        or_(col(Task.claim_expires_at).is_(None), col(Task.claim_expires_at) <= at),
    )


def claim_rows(
    session: Session,
    model: type[Task] | type[OutboxMessage],
    *,
    claimable: Any,
    order_by: Any,
    at: dt.datetime,
    worker: str,
    limit: int,
    lease: dt.timedelta,
) -> list[int]:
    """Claim up to ``limit`` rows of ``model`` matching ``claimable`` for ``worker``.

    The one claim mechanism of the ledger (tasks for the sweep, outbox rows for delivery):
    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE … WHERE`` that repeats
    the condition on SQLite. Returns the claimed ids ordered by ``order_by``. The caller
    commits; until then the rows stay locked (PostgreSQL) or the write lock is held (SQLite).
    """
    row_id = col(model.id)
    candidates = select(model.id).where(claimable).order_by(order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
        ids = [int(found) for found in session.exec(candidates).all() if found is not None]
        if not ids:
            return []
        statement = update(model).where(row_id.in_(ids), claimable)
    else:
        statement = update(model).where(row_id.in_(candidates.scalar_subquery()), claimable)
    result = session.execute(
        statement.values(claimed_by=worker, claim_expires_at=at + lease).returning(row_id, order_by)
    )
    return [found for _, found in sorted((key, int(found)) for found, key in result)]


def claim_due_tasks(
    session: Session,
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 1_000,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> list[int]:
    """Claim up to ``limit`` due tasks for ``worker``; returns their ids (oldest action first)."""
    return claim_rows(
        session,
        Task,
        claimable=_claimable(at),
        order_by=col(Task.next_action_at),
        at=at,
        worker=worker,
        limit=limit,
        lease=lease,
    )


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
