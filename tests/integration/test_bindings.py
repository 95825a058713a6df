"""Bind codes, chat bindings and extension requests: ledger operations, audited."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db import bindings
from db.audit import verify_chain
from db.context import Actor, PermissionDenied
from db.engine import session_scope
from db.errors import TransitionError
from db.models import AuditEntry, BindCode, ChatAddress, ExtensionRequest, OutboxMessage, Task
from db.spawn import record_event

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


@pytest.fixture
def people(bureau: Any) -> dict[str, Any]:
    return bureau["people"]


def actor(person: Any) -> Actor:
    return bindings.actor_for(person)


def issue(engine: Engine, person_id: int, at: dt.datetime, **kwargs: Any) -> bindings.IssuedCode:
    with session_scope(engine) as session:
        return bindings.issue_bind_code(
            session, person_id, actor=Actor.system("test"), at=at, **kwargs
        )


def bind(engine: Engine, code: str, chat: str, at: dt.datetime) -> Any:
    with session_scope(engine) as session:
        person, address = bindings.bind_chat(session, code, chat, at=at)
        return person.name, address.address, address.enabled


def test_a_code_is_stored_only_as_its_hash(engine: Engine, people: Any, at: dt.datetime) -> None:
    issued = issue(engine, people["trade_chief"].id, at)
    assert len(bindings.normalise_code(issued.code)) == bindings.CODE_LENGTH
    assert issued.expires_at == at + bindings.DEFAULT_CODE_TTL
    with Session(engine) as session:
        stored = session.exec(select(BindCode)).one()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "bind-code")).one()
    assert stored.code_hash == bindings.hash_code(issued.code)
    assert issued.code not in str(entry.after)
    assert issued.code not in stored.code_hash


def test_binding_points_the_persons_telegram_at_the_chat(
    engine: Engine, people: Any, at: dt.datetime
) -> None:
    issued = issue(engine, people["trade_chief"].id, at)
    # People type codes in lower case, without the dash, with spaces.
    typed = " ".join(bindings.normalise_code(issued.code).lower())
    assert bind(engine, typed, "5001", at + dt.timedelta(minutes=5)) == ("王外贸", "5001", True)
    with Session(engine) as session:
        assert [p.name for p in bindings.people_of_chat(session, "5001")] == ["王外贸"]
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "bind")).one()
        assert verify_chain(session)[1] == []


@pytest.mark.parametrize(
    ("later", "reason"),
    [(dt.timedelta(hours=73), "expired"), (dt.timedelta(minutes=1), "already used")],
)
def test_a_code_binds_once_and_only_while_valid(
    engine: Engine, people: Any, at: dt.datetime, later: dt.timedelta, reason: str
) -> None:
    issued = issue(engine, people["trade_chief"].id, at)
    if reason == "already used":
        bind(engine, issued.code, "5001", at)
    with pytest.raises(bindings.BindingError, match=reason):
        bind(engine, issued.code, "6666", at + later)
    with Session(engine) as session:
        assert bindings.people_of_chat(session, "6666") == []


def test_an_unknown_code_binds_nothing(engine: Engine, people: Any, at: dt.datetime) -> None:
    with pytest.raises(bindings.BindingError, match="unknown code"):
        bind(engine, "AAAAA-BBBBB", "5001", at)


def test_a_new_code_voids_the_unused_ones(engine: Engine, people: Any, at: dt.datetime) -> None:
    first = issue(engine, people["trade_chief"].id, at)
    second = issue(engine, people["trade_chief"].id, at + dt.timedelta(minutes=1))
    with pytest.raises(bindings.BindingError, match="expired"):
        bind(engine, first.code, "5001", at + dt.timedelta(minutes=2))
    assert bind(engine, second.code, "5001", at + dt.timedelta(minutes=2))[0] == "王外贸"


def test_only_the_office_issues_codes(engine: Engine, people: Any, at: dt.datetime) -> None:
    with session_scope(engine) as session, pytest.raises(PermissionDenied):
        bindings.issue_bind_code(
            session, people["trade_chief"].id, actor=actor(people["trade_chief"]), at=at
        )
    with session_scope(engine) as session:
        issued = bindings.issue_bind_code(
            session, people["trade_chief"].id, actor=actor(people["office"]), at=at
        )
    assert issued.person == "王外贸"


def test_rebinding_a_chat_unbinds_its_previous_person(
    engine: Engine, people: Any, at: dt.datetime
) -> None:
    bind(engine, issue(engine, people["trade_chief"].id, at).code, "5001", at)
    bind(engine, issue(engine, people["office"].id, at).code, "5001", at + dt.timedelta(hours=1))
    with Session(engine) as session:
        assert [p.name for p in bindings.people_of_chat(session, "5001")] == ["李办公"]
        old = session.exec(
            select(ChatAddress).where(ChatAddress.person_id == people["trade_chief"].id)
        ).one()
    assert not old.enabled
    assert "李办公" in (old.disabled_reason or "")


# --------------------------------------------------------------------------- extensions


@pytest.fixture
def request_task(engine: Engine, people: Any, domain: Any, at: dt.datetime) -> int:
    """A 依申请公开 reply (20 WD, one extension of ≤ 20 WD) of the foreign-trade section."""
    with session_scope(engine) as session:
        result = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=local(2026, 11, 20, 10),
            actor=Actor.system("test"),
            at=at,
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            section_code="foreign-trade",
            title="申请公开外贸统计",
        )
        reply = session.exec(
            select(Task).where(
                Task.obligation_code == "request-reply", Task.event_id == result.event.id
            )
        ).one()
    assert reply.id is not None
    return reply.id


def ask(engine: Engine, task_id: int, who: Actor, at: dt.datetime, amount: int = 10) -> int:
    with session_scope(engine) as session:
        request = bindings.request_extension(
            session, task_id, actor=who, at=at, amount=amount, reason="需征求第三方意见"
        )
        assert request.id is not None
        return request.id


def test_a_chief_asks_and_the_office_is_told(
    engine: Engine, people: Any, request_task: int, at: dt.datetime
) -> None:
    request_id = ask(engine, request_task, actor(people["trade_chief"]), at)
    with Session(engine) as session:
        request = session.get(ExtensionRequest, request_id)
        assert request is not None
        assert (request.status, request.amount, request.requested_by) == ("pending", 10, "王外贸")
        notices = session.exec(
            select(OutboxMessage).where(OutboxMessage.stage == "extension-request")
        ).all()
    assert [n.person_id for n in notices] == [people["office"].id]
    assert "申请延期" in notices[0].payload["notice"]
    assert notices[0].immediate


def test_the_office_approves_and_the_task_is_extended(
    engine: Engine, people: Any, request_task: int, domain: Any, at: dt.datetime
) -> None:
    request_id = ask(engine, request_task, actor(people["trade_chief"]), at)
    with Session(engine) as session:
        before = session.get(Task, request_task)
        assert before is not None
        due_before = before.due_date
    with session_scope(engine) as session:
        bindings.decide_extension(
            session, request_id, domain, actor=actor(people["office"]), at=at, approve=True
        )
    with Session(engine) as session:
        task = session.get(Task, request_task)
        request = session.get(ExtensionRequest, request_id)
        told = session.exec(
            select(OutboxMessage).where(OutboxMessage.stage == "extension-decision")
        ).all()
        assert verify_chain(session)[1] == []
    assert task is not None
    assert request is not None
    assert task.extended_by == 10
    assert due_before is not None
    assert task.due_date is not None
    assert task.due_date > due_before
    assert (request.status, request.decided_by) == ("approved", "李办公")
    assert [n.person_id for n in told] == [people["trade_chief"].id]


def test_a_rejection_leaves_the_deadline(
    engine: Engine, people: Any, request_task: int, domain: Any, at: dt.datetime
) -> None:
    request_id = ask(engine, request_task, actor(people["trade_chief"]), at)
    with session_scope(engine) as session:
        bindings.decide_extension(
            session,
            request_id,
            domain,
            actor=actor(people["office"]),
            at=at,
            approve=False,
            note="请按期答复",
        )
    with Session(engine) as session:
        task = session.get(Task, request_task)
        assert task is not None
        assert task.extended_by == 0
        with pytest.raises(bindings.ExtensionError, match="already rejected"):
            bindings.decide_extension(
                session, request_id, domain, actor=actor(people["office"]), at=at, approve=True
            )


def test_who_may_ask_and_decide(
    engine: Engine, people: Any, request_task: int, domain: Any, at: dt.datetime
) -> None:
    with pytest.raises(PermissionDenied):
        ask(engine, request_task, actor(people["leader"]), at)
    request_id = ask(engine, request_task, actor(people["trade_chief"]), at)
    for who in ("trade_chief", "leader"):
        with session_scope(engine) as session, pytest.raises(PermissionDenied):
            bindings.decide_extension(
                session, request_id, domain, actor=actor(people[who]), at=at, approve=True
            )


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        (0, "理由", "between 1 and 20"),
        (21, "理由", "between 1 and 20"),
        (5, "  ", "needs a reason"),
    ],
)
def test_bad_requests_are_refused(
    engine: Engine,
    people: Any,
    request_task: int,
    at: dt.datetime,
    amount: int,
    reason: str,
    message: str,
) -> None:
    with session_scope(engine) as session, pytest.raises(bindings.ExtensionError, match=message):
        bindings.request_extension(
            session,
            request_task,
            actor=actor(people["trade_chief"]),
            at=at,
            amount=amount,
            reason=reason,
        )


def test_one_pending_request_per_task(
    engine: Engine, people: Any, request_task: int, at: dt.datetime
) -> None:
    ask(engine, request_task, actor(people["trade_chief"]), at)
    with pytest.raises(bindings.ExtensionError, match="already has a pending"):
        ask(engine, request_task, actor(people["office"]), at)


def test_a_rule_without_extensions_refuses(
    engine: Engine, people: Any, request_task: int, at: dt.datetime
) -> None:
    with Session(engine) as session:
        notice = session.exec(
            select(Task).where(Task.obligation_code == "request-correction-notice")
        ).one()
    assert notice.id is not None
    with pytest.raises(bindings.ExtensionError, match="cannot be extended"):
        ask(engine, notice.id, actor(people["trade_chief"]), at, amount=1)


def test_a_closed_task_cannot_be_extended(
    engine: Engine, people: Any, request_task: int, domain: Any, at: dt.datetime
) -> None:
    from db import tasks as ops

    with session_scope(engine) as session:
        ops.complete(
            session,
            request_task,
            domain,
            actor=Actor.system("test"),
            at=at,
            evidence="https://www.example.gov.cn/1.html",
            outcome_code="disclosed",
            service_date=at.date(),
        )
    with pytest.raises(TransitionError):
        ask(engine, request_task, actor(people["trade_chief"]), at)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ExtensionRequest)).one() == 0
