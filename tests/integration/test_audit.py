"""The audit trail is a hash chain: editing, deleting or reordering an entry is detected."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from db import tasks as ops
from db.audit import verify_chain
from db.context import Actor
from db.engine import session_scope
from db.spawn import record_event, spawn_recurring

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def history(engine: Engine, bureau: Any, domain: Any, system: Actor) -> Engine:
    """A few months of ledger activity: spawned duties, a request, a pause and a completion."""
    at = dt.datetime(2026, 3, 2, 10, tzinfo=TZ)
    with session_scope(engine) as session:
        spawn_recurring(session, domain, through=dt.date(2026, 3, 31), actor=system, at=at)
        result = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=at,
            actor=system,
            at=at,
            attributes={"applicant_type": "commercial_enterprise", "channel": "in_person"},
            section_code="foreign-trade",
        )
    task_id = result.task_ids[0]
    with session_scope(engine) as session:
        ops.pause(
            session,
            task_id,
            domain,
            actor=system,
            at=at + dt.timedelta(days=1),
            reason="征求第三方意见",
        )
    with session_scope(engine) as session:
        ops.resume(session, task_id, domain, actor=system, at=at + dt.timedelta(days=3))
    return engine


def problems(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return verify_chain(session)[1]


def tamper(engine: Engine, sql: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(sql))


def test_untouched_chain_verifies(history: Engine) -> None:
    assert problems(history) == []


def test_edited_entry_is_detected(history: Engine) -> None:
    tamper(history, "UPDATE audit_entry SET actor = 'someone else' WHERE seq = 3")
    assert any("seq 3" in line and "content was changed" in line for line in problems(history))


def test_edited_payload_is_detected(history: Engine) -> None:
    tamper(history, "UPDATE audit_entry SET after = NULL WHERE action = 'pause'")
    assert any("content was changed" in line for line in problems(history))


def test_deleted_entry_is_detected(history: Engine) -> None:
    tamper(history, "DELETE FROM audit_entry WHERE seq = 5")
    found = problems(history)
    assert any("seq 5 is missing" in line for line in found)


def test_deleted_newest_entry_is_detected(history: Engine) -> None:
    tamper(history, "DELETE FROM audit_entry WHERE seq = (SELECT MAX(seq) FROM audit_entry)")
    assert any("newest entries were deleted" in line for line in problems(history))


def test_reordered_entries_are_detected(history: Engine) -> None:
    tamper(history, "UPDATE audit_entry SET seq = -1 WHERE seq = 2")
    tamper(history, "UPDATE audit_entry SET seq = 2 WHERE seq = 3")
    tamper(history, "UPDATE audit_entry SET seq = 3 WHERE seq = -1")
    assert any("link to the previous entry is broken" in line for line in problems(history))
