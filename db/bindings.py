"""Chat bindings and extension requests: the ledger operations behind the Telegram bot.

Binding (``/start CODE``):

1. The office issues a one-time code for a person (:func:`issue_bind_code`). Only the code's
   SHA-256 is stored, with an expiry; issuing a new code voids the person's unused ones.
2. The person sends the code from a chat; :func:`bind_chat` claims the code with a
   conditional update (exactly one row changes, so a code binds once even when two chats
   race), then points the person's address on that channel at the chat. A chat bound to
   someone else before is unbound from them: the code is the office's word that the chat now
   belongs to this person.

Extension requests (申请延期): a chief asks (:func:`request_extension`), the office decides
(:func:`decide_extension`); an approval extends the task through :func:`db.tasks.extend`, the
one write path of task state. Each step is audited, and the other side is told through an
immediate outbox notice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from db import tasks as ops
from db.audit import AuditWriter
from db.context import Actor, Domain
from db.errors import LedgerError, NotFoundError, TransitionError
from db.models import (
    BindCode,
    ChatAddress,
    ClockEventRow,
    ExtensionRequest,
    Person,
    Role,
    Section,
    Task,
    TaskStatus,
)
from db.sweep import insert_outbox, window_key

#: No 0/O, 1/I/L: codes are read aloud and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
DEFAULT_CODE_TTL = dt.timedelta(hours=72)
MAX_REASON = 1000


class BindingError(LedgerError):
    """The code cannot bind this chat."""


class ExtensionError(LedgerError):
    """The extension request cannot be made or decided."""


@dataclass(frozen=True)
class IssuedCode:
    """A fresh code: shown once to the office, never stored in clear."""

    code: str
    person_id: int
    person: str
    expires_at: dt.datetime


def normalise_code(code: str) -> str:
    """Upper-case, without the spaces and dashes people type between the groups."""
    return "".join(ch for ch in code.upper() if ch not in " -_\t")


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def actor_for(person: Person) -> Actor:
    """The actor a bound person acts as (their role, agency and section)."""
    return Actor(
        name=person.name,
        role=person.role,
        agency_id=person.agency_id,
        section_id=person.section_id,
        person_id=person.id,
    )


def person_by_name(session: Session, agency_id: int, name: str) -> Person:
    person = session.exec(
        select(Person).where(Person.agency_id == agency_id, Person.name == name.strip())
    ).first()
    if person is None:
        raise NotFoundError(f"no person named {name!r} in this agency")
    return person


def issue_bind_code(
    session: Session,
    person_id: int,
    *,
    actor: Actor,
    at: dt.datetime,
    ttl: dt.timedelta = DEFAULT_CODE_TTL,
) -> IssuedCode:
    """A one-time code that binds a chat to the person (office only); earlier codes are void."""
    if ttl <= dt.timedelta(0):
        raise BindingError("a bind code must be valid for some time")
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(f"person {person_id} does not exist")
    actor.check_write(person.agency_id, None, office_only=True)
    if not person.active:
        raise BindingError(f"{person.name} is inactive: reactivate them before binding a chat")
    voided = len(
        session.execute(
            update(BindCode)
            .where(
                col(BindCode.person_id) == person_id,
                col(BindCode.used_at).is_(None),
                col(BindCode.expires_at) > at,
            )
            .values(expires_at=at)
            .returning(col(BindCode.id))
        ).all()
    )
    code = new_code()
    expires_at = at + ttl
    session.add(
        BindCode(
            code_hash=hash_code(code),
            person_id=person_id,
            expires_at=expires_at,
            created_at=at,
            created_by=actor.name,
        )
    )
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="bind-code",
        entity="person",
        entity_id=str(person_id),
        agency_id=person.agency_id,
        after={"expires_at": expires_at, "voided_codes": voided},
    )
    session.flush()
    return IssuedCode(code=code, person_id=person_id, person=person.name, expires_at=expires_at)


def bind_chat(
    session: Session,
    code: str,
    address: str,
    *,
    at: dt.datetime,
    channel: str = "telegram",
    actor_name: str = "telegram-bot",
) -> tuple[Person, ChatAddress]:
    """Bind ``address`` (a chat id) to the person the code was issued for."""
    if not normalise_code(code):
        raise BindingError("no code given")
    found = session.exec(select(BindCode).where(BindCode.code_hash == hash_code(code))).first()
    if found is None:
        raise BindingError("unknown code")
    if found.used_at is not None:
        raise BindingError("this code was already used")
    if found.expires_at <= at:
        raise BindingError("this code has expired")
    # Exactly one row changes for the chat that claims the code; a racing chat gets none.
    claimed = session.execute(
        update(BindCode)
        .where(col(BindCode.id) == found.id, col(BindCode.used_at).is_(None))
        .values(used_at=at)
        .returning(col(BindCode.id))
    ).all()
    if len(claimed) != 1:
        raise BindingError("this code was already used")
    person = session.get(Person, found.person_id)
    if person is None or not person.active:
        raise BindingError("the person of this code is no longer active")
    _unbind_others(session, person, address, channel, at=at, actor_name=actor_name)
    existing = session.exec(
        select(ChatAddress).where(
            ChatAddress.person_id == person.id, ChatAddress.channel == channel
        )
    ).first()
    before = (
        {"address": existing.address, "enabled": existing.enabled} if existing is not None else None
    )
    if existing is None:
        existing = ChatAddress(person_id=person.id or 0, channel=channel, address=address)
    existing.address = address
    existing.enabled = True
    existing.disabled_reason = None
    session.add(existing)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor_name,
        action="bind",
        entity="chat_address",
        entity_id=str(existing.id),
        agency_id=person.agency_id,
        before=before,
        after={"person": person.name, "channel": channel, "address": address, "enabled": True},
    )
    return person, existing


def _unbind_others(
    session: Session,
    person: Person,
    address: str,
    channel: str,
    *,
    at: dt.datetime,
    actor_name: str,
) -> None:
    others = session.exec(
        select(ChatAddress).where(
            ChatAddress.channel == channel,
            ChatAddress.address == address,
            ChatAddress.person_id != person.id,
            col(ChatAddress.enabled),
        )
    ).all()
    for other in others:
        other.enabled = False
        other.disabled_reason = f"chat bound to {person.name} with a code issued by the office"
        session.add(other)
        AuditWriter(session).write(
            at=at,
            actor=actor_name,
            action="unbind",
            entity="chat_address",
            entity_id=str(other.id),
            agency_id=person.agency_id,
            before={"enabled": True},
            after={"enabled": False, "reason": other.disabled_reason},
        )


def people_of_chat(session: Session, address: str, *, channel: str = "telegram") -> list[Person]:
    """Active people whose enabled address on ``channel`` is this chat."""
    return list(
        session.exec(
            select(Person)
            .join(ChatAddress, col(ChatAddress.person_id) == col(Person.id))
            .where(
                ChatAddress.channel == channel,
                ChatAddress.address == address,
                col(ChatAddress.enabled),
                col(Person.active),
            )
            .order_by(col(Person.id))
        ).all()
    )


# --------------------------------------------------------------------------- extensions


def extension_room(session: Session, task: Task) -> tuple[int, int]:
    """(units that may still be added, extensions that may still be granted) under the rule."""
    policy = ops.rule_of(task).for_start(task.start_date)[0].extension
    if policy is None:
        return 0, 0
    assert task.id is not None
    granted = len(
        session.exec(
            select(ClockEventRow.id).where(
                ClockEventRow.task_id == task.id, ClockEventRow.kind == "extend"
            )
        ).all()
    )
    return max(policy.max_total - task.extended_by, 0), max(policy.max_times - granted, 0)


def unit_label(task: Task, lang: str = "zh") -> str:
    """The unit an extension of ``task`` is counted in ("个工作日", " working days" …)."""
    return ops.rule_of(task).unit.label(lang)


def request_extension(
    session: Session,
    task_id: int,
    *,
    actor: Actor,
    at: dt.datetime,
    amount: int,
    reason: str,
) -> ExtensionRequest:
    """申请延期: ask the office to extend a task by ``amount`` units of its rule."""
    task = ops.get_task(session, task_id, actor)  # chiefs: own section; leaders: refused
    if task.status not in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value):
        raise TransitionError(f"task {task_id} is {task.status}: nothing to extend")
    text = reason.strip()
    if not text:
        raise ExtensionError("an extension request needs a reason")
    if len(text) > MAX_REASON:
        raise ExtensionError(f"the reason is too long ({len(text)} > {MAX_REASON} characters)")
    units, times = extension_room(session, task)
    if units <= 0 or times <= 0:
        raise ExtensionError(f"task {task_id} cannot be extended (any more) under its rule")
    if amount <= 0 or amount > units:
        raise ExtensionError(f"the extension must be between 1 and {units}, got {amount}")
    pending = session.exec(
        select(ExtensionRequest).where(
            ExtensionRequest.task_id == task_id, ExtensionRequest.status == "pending"
        )
    ).first()
    if pending is not None:
        raise ExtensionError(
            f"task {task_id} already has a pending extension request (#{pending.id})"
        )
    request = ExtensionRequest(
        task_id=task_id,
        agency_id=task.agency_id,
        amount=amount,
        reason=text,
        requested_by=actor.name,
        requested_at=at,
    )
    session.add(request)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="extension-request",
        entity="extension_request",
        entity_id=str(request.id),
        agency_id=task.agency_id,
        after={"task_id": task_id, "amount": amount, "reason": text, "status": "pending"},
    )
    section = session.get(Section, task.section_id)
    notice = (
        f"{actor.name}（{section.name if section else ''}）申请延期 #{task_id}《{task.title}》"
        f" {amount}{unit_label(task)}，理由：{text}。请在看板或机器人 /pending 中审批（申请 #{request.id}）。"
    )
    recipients = session.exec(
        select(Person).where(
            Person.agency_id == task.agency_id,
            Person.role == Role.OFFICE.value,
            col(Person.active),
        )
    ).all()
    _notify(session, task.agency_id, f"extension-request|{request.id}", recipients, notice, at)
    return request


def decide_extension(
    session: Session,
    request_id: int,
    domain: Domain,
    *,
    actor: Actor,
    at: dt.datetime,
    approve: bool,
    note: str | None = None,
) -> ExtensionRequest:
    """The office approves (the task is extended through db.tasks.extend) or rejects."""
    request = session.exec(
        select(ExtensionRequest).where(ExtensionRequest.id == request_id).with_for_update()
    ).first()
    if request is None:
        raise NotFoundError(f"extension request {request_id} does not exist")
    actor.check_write(request.agency_id, None, office_only=True)
    if request.status != "pending":
        raise ExtensionError(f"extension request {request_id} was already {request.status}")
    task = session.get(Task, request.task_id)
    if task is None:
        raise NotFoundError(f"task {request.task_id} does not exist")
    if approve:
        ops.extend(
            session,
            request.task_id,
            domain,
            actor=actor,
            at=at,
            amount=request.amount,
            approver=actor.name,
            reason=request.reason,
        )
    request.status = "approved" if approve else "rejected"
    request.decided_by = actor.name
    request.decided_at = at
    request.decision_note = (note or "").strip()[:MAX_REASON] or None
    session.add(request)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="extension-decide",
        entity="extension_request",
        entity_id=str(request.id),
        agency_id=request.agency_id,
        before={"status": "pending"},
        after={"status": request.status, "note": request.decision_note},
    )
    verdict = "已批准" if approve else "未批准"
    notice = (
        f"延期申请 #{request.id}（任务 #{task.id}《{task.title}》延期 {request.amount}"
        f"{unit_label(task)}）{verdict}。"
    )
    if request.decision_note:
        notice += f"说明：{request.decision_note}"
    requester = session.exec(
        select(Person).where(
            Person.agency_id == request.agency_id, Person.name == request.requested_by
        )
    ).all()
    _notify(session, request.agency_id, f"extension-decision|{request.id}", requester, notice, at)
    return request


def pending_extensions(session: Session, actor: Actor) -> list[tuple[ExtensionRequest, Task]]:
    """Pending requests the actor may decide (the office: its agency), oldest first."""
    statement = (
        select(ExtensionRequest, Task)
        .join(Task, col(Task.id) == col(ExtensionRequest.task_id))
        .where(ExtensionRequest.status == "pending")
        .order_by(col(ExtensionRequest.requested_at), col(ExtensionRequest.id))
    )
    if not actor.all_agencies:
        statement = statement.where(ExtensionRequest.agency_id == actor.agency_id)
    return [(request, task) for request, task in session.exec(statement).all()]


def _notify(
    session: Session,
    agency_id: int,
    key: str,
    people: Sequence[Person],
    notice: str,
    at: dt.datetime,
) -> None:
    """An immediate outbox notice to each person (the deliver step sends it)."""
    rows = [
        {
            "agency_id": agency_id,
            "dedupe_key": f"{key}|{person.id}",
            "task_id": None,
            "person_id": person.id,
            "stage": key.split("|", 1)[0],
            "window": window_key(None),
            "immediate": True,
            "payload": {"notice": notice},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for person in people
    ]
    insert_outbox(session, rows)
