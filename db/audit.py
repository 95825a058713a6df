"""The audit trail: every ledger operation appends an entry to a SHA-256 hash chain.

Each entry's hash covers its own content and the previous entry's hash, and ``seq`` counts
1, 2, 3 … without gaps, so :func:`verify_chain` detects an edited entry (hash mismatch), a
deleted one (gap in ``seq`` / broken link) and a reordered one (broken link).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from db.models import AuditEntry, AuditHead

GENESIS = "0" * 64
UTC = dt.UTC


def jsonable(value: Any) -> Any:
    """Values as JSON would store them, so a hash computed before storing matches after."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if hasattr(value, "value") and isinstance(value.value, str | int):
        return value.value
    return value


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    agency_id: int | None,
    before: Any,
    after: Any,
    prev_hash: str,
) -> str:
    payload = json.dumps(
        [
            seq,
            at.astimezone(UTC).isoformat(),
            actor,
            action,
            entity,
            entity_id,
            agency_id,
            before,
            after,
            prev_hash,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class AuditWriter:
    """Appends entries within one transaction, remembering the chain's head in between."""

    session: Session
    _seq: int | None = None
    _head: str = GENESIS

    def _load_head(self) -> None:
        if self._seq is not None:
            return
        # FOR UPDATE serialises appends on PostgreSQL; SQLite transactions begin IMMEDIATE.
        head = self.session.exec(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).first()
        if head is None:
            self.session.add(AuditHead(id=1, seq=0, hash=GENESIS))
            self.session.flush()
            self._seq, self._head = 0, GENESIS
        else:
            self._seq, self._head = head.seq, head.hash

    def append(
        self,
        *,
        at: dt.datetime,
        actor: str,
        action: str,
        entity: str,
        entity_id: str | int,
        agency_id: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one entry; returns the row as a dict ready for a bulk insert or ``session.add``."""
        self._load_head()
        assert self._seq is not None
        self._seq += 1
        before_json = jsonable(before) if before is not None else None
        after_json = jsonable(after) if after is not None else None
        at_utc = at.astimezone(UTC)
        digest = entry_hash(
            seq=self._seq,
            at=at_utc,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            agency_id=agency_id,
            before=before_json,
            after=after_json,
            prev_hash=self._head,
        )
        row = {
            "seq": self._seq,
            "at": at_utc,
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": str(entity_id),
            "agency_id": agency_id,
            "before": before_json,
            "after": after_json,
            "prev_hash": self._head,
            "hash": digest,
        }
        self._head = digest
        return row

    def store_head(self) -> None:
        """Persist the chain's head; call once after the entries of a transaction."""
        if self._seq is None:
            return
        self.session.execute(
            update(AuditHead).where(col(AuditHead.id) == 1).values(seq=self._seq, hash=self._head)
        )

    def write(self, **kwargs: Any) -> None:
        """Append and add the entry to the session at once."""
        self.session.add(AuditEntry(**self.append(**kwargs)))
        self.store_head()


def verify_chain(session: Session, *, batch: int = 5_000) -> tuple[int, list[str]]:
    """Check every entry; returns (entries checked, problems as readable lines)."""
    problems: list[str] = []
    expected_seq = 1
    head = GENESIS
    checked = 0
    statement = select(AuditEntry).order_by(col(AuditEntry.seq)).execution_options(yield_per=batch)
    for entry in session.exec(statement):
        checked += 1
        if entry.seq != expected_seq:
            problems.append(
                f"audit entry seq {expected_seq} is missing (next is {entry.seq}): deleted or reordered"
            )
            expected_seq = entry.seq
        if entry.prev_hash != head:
            problems.append(f"audit entry seq {entry.seq}: link to the previous entry is broken")
        digest = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            entity=entry.entity,
            entity_id=entry.entity_id,
            agency_id=entry.agency_id,
            before=entry.before,
            after=entry.after,
            prev_hash=entry.prev_hash,
        )
        if digest != entry.hash:
            problems.append(
                f"audit entry seq {entry.seq} ({entry.action} {entry.entity} {entry.entity_id}): content was changed"
            )
        head = entry.hash
        expected_seq += 1
    stored = session.get(AuditHead, 1)
    if stored is not None and (stored.seq != expected_seq - 1 or stored.hash != head):
        problems.append(
            f"audit chain ends at seq {expected_seq - 1} but its head says seq {stored.seq}: "
            "the newest entries were deleted or changed"
        )
    return checked, problems
