"""The deliver step: claim outbox rows, build one digest per person and window, send, record.

Guarantee: **at least once, with idempotent keys.** Rows are claimed with a lease and
committed before anything is sent; the send happens outside any transaction; the outcome
is recorded afterwards. A crash between a channel accepting a message and the commit of
its record (milliseconds) makes the rows claimable again once the lease ends, so that one
message can arrive twice — that is the documented window. Nothing is ever lost: a row is
only ``sent`` after a channel accepted it, and a row can never be created twice (unique
key), so a retried sweep cannot add duplicates.

Per person and window at most one digest is sent: rows arriving for a window whose digest
already went out wait for the next window. Immediate rows (hour duties, escalations, notices
to the office) are sent at once. Transient errors back off exponentially (or as long as the
channel's ``retry_after`` says); permanent errors disable the address, the next address of
the person is tried, and the office is told.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, or_, tuple_, update
from sqlmodel import Session, col, select

from db.claims import claim_rows
from db.context import Domain
from db.engine import session_scope
from db.models import ChatAddress, Delivery, OutboxMessage, Person, Role, Task, TaskStatus
from db.sweep import insert_outbox, next_window, window_key
from notifier.base import Channel, DeliveryError, DigestItem, Message
from obligations.explain import day_label

log = logging.getLogger("gongkai.deliver")
UTC = dt.UTC

#: Preferred channel first; a person is reached on the first enabled address in this order.
CHANNEL_ORDER = ("telegram", "wecom", "dingtalk", "feishu", "email", "console")
MAX_ATTEMPTS = 8
DEFAULT_LEASE = dt.timedelta(minutes=5)


@dataclass
class DeliverReport:
    claimed: int = 0
    messages: int = 0
    sent_rows: int = 0
    postponed_rows: int = 0
    skipped_rows: int = 0
    retried_rows: int = 0
    failed_rows: int = 0
    #: rows not sent because this pass's claim ran out and another pass took them
    lost_claims: int = 0
    disabled_addresses: list[str] = field(default_factory=list)


def backoff(attempts: int, retry_after: float | None) -> dt.timedelta:
    if retry_after is not None:
        return dt.timedelta(seconds=max(retry_after, 1.0))
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _claimable(at: dt.datetime) -> Any:
    return and_(
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.next_attempt_at) <= at,
        or_(
            col(OutboxMessage.claim_expires_at).is_(None), col(OutboxMessage.claim_expires_at) <= at
        ),
    )


def claim_outbox(
    session: Session,
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 500,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> list[int]:
    """Claim due pending rows (same pattern as task claims: SKIP LOCKED or conditional UPDATE)."""
    claimed = claim_rows(
        session,
        OutboxMessage,
        claimable=_claimable(at),
        order_by=col(OutboxMessage.next_attempt_at),
        at=at,
        worker=worker,
        limit=limit,
        lease=lease,
    )
    if claimed:
        claimed += _claim_rest_of_groups(session, claimed, at=at, worker=worker, lease=lease)
    return sorted(claimed)


def _claim_rest_of_groups(
    session: Session, claimed: list[int], *, at: dt.datetime, worker: str, lease: dt.timedelta
) -> list[int]:
    """Also claim the due rows of the same (person, window) as ``claimed``.

    A window's digest goes out once; rows of that person and window left to a later pass
    would be postponed to the next working day. So a pass takes whole groups (``limit`` is
    exceeded by at most the rest of the last groups).
    """
    groups = (
        select(OutboxMessage.person_id, OutboxMessage.window)
        .where(col(OutboxMessage.id).in_(claimed))
        .distinct()
    )
    candidates = select(OutboxMessage.id).where(
        tuple_(col(OutboxMessage.person_id), col(OutboxMessage.window)).in_(groups),
        _claimable(at),
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = [
            int(i) for i in session.exec(candidates.with_for_update(skip_locked=True)).all() if i
        ]
        if not ids:
            return []
        statement = update(OutboxMessage).where(col(OutboxMessage.id).in_(ids), _claimable(at))
    else:
        statement = update(OutboxMessage).where(
            col(OutboxMessage.id).in_(candidates.scalar_subquery()), _claimable(at)
        )
    result = session.execute(
        statement.values(claimed_by=worker, claim_expires_at=at + lease).returning(
            col(OutboxMessage.id)
        )
    )
    return [int(row[0]) for row in result]


def _item(
    payload: Mapping[str, Any], task: Task | None, domain: Domain, at: dt.datetime, link: str | None
) -> DigestItem:
    due_at = task.due_at if task and task.due_at else dt.datetime.fromisoformat(payload["due_at"])
    due_date = (
        task.due_date if task and task.due_date else dt.date.fromisoformat(payload["due_date"])
    )
    hourly = bool(payload.get("hourly"))
    today = at.astimezone(domain.tz).date()
    if hourly:
        hours = int((due_at - at).total_seconds() // 3600)
        state = "overdue" if hours < 0 else ("due_today" if hours < 1 else "due_soon")
        days = abs(hours)
    elif at >= due_at:
        state, days = "overdue", max(domain.calendar.workdays_between(due_date, today), 1)
    elif today >= due_date:
        state, days = "due_today", 0
    else:
        state, days = "due_soon", domain.calendar.workdays_between(today, due_date)
    if payload.get("kind") == "escalation":
        state = "escalation"
    return DigestItem(
        task_id=int(payload["task_id"]),
        title=str(payload["title"]),
        section=str(payload["section"]),
        obligation=str(payload["obligation"]),
        due_at=due_at,
        due_date=due_date,
        state=state,
        days=days,
        hourly=hourly,
        provisional=bool(task.provisional if task else payload.get("provisional")),
        link=f"{link}/tasks/{payload['task_id']}" if link else None,
    )


def build_message(
    person: Person,
    rows: Sequence[OutboxMessage],
    tasks: Mapping[int, Task],
    domain: Domain,
    *,
    at: dt.datetime,
    lang: str,
    dashboard_url: str | None,
) -> Message | None:
    """One message for one person; tasks closed since the sweep are left out (None if all)."""
    notices = [row.payload["notice"] for row in rows if "notice" in row.payload]
    items: dict[int, DigestItem] = {}
    rank = {"escalation": 3, "overdue": 2, "due_today": 1, "due_soon": 0}
    for row in rows:
        if "task_id" not in row.payload:
            continue
        task = tasks.get(int(row.payload["task_id"]))
        if task is not None and task.status not in (TaskStatus.OPEN.value,):
            continue
        item = _item(row.payload, task, domain, at, dashboard_url)
        known = items.get(item.task_id)
        if known is None or rank[item.state] > rank[known.state]:
            items[item.task_id] = item
    if not items and not notices:
        return None
    urgent = any(row.immediate for row in rows)
    day = day_label(at.astimezone(domain.tz).date(), lang)
    if lang == "zh":
        title = f"政务公开事项提醒 {day}" if not urgent else "政务公开紧急提醒"
    else:
        title = f"Disclosure duties {day}" if not urgent else "Urgent disclosure duty"
    return Message(
        recipient=person.name,
        title=title,
        items=tuple(items.values()),
        notice="\n".join(notices) or None,
        lang=lang,
        urgent=urgent,
        link=dashboard_url,
        actions=_actions(person, items, tasks, lang),
    )


def _actions(
    person: Person, items: Mapping[int, DigestItem], tasks: Mapping[int, Task], lang: str
) -> tuple[tuple[str, str], ...]:
    """已完成 / 申请延期 buttons for the first ten tasks; none for leaders (read only).

    申请延期 only where the task's rule allows an extension at all (the bot checks the
    remaining room when it is pressed).
    """
    if person.role == Role.LEADER.value:
        return ()
    done, extend = ("已完成", "申请延期") if lang == "zh" else ("Done", "Extension")
    actions: list[tuple[str, str]] = []
    for task_id in sorted(items)[:10]:
        actions.append((f"{done} #{task_id}", f"done:{task_id}"))
        task = tasks.get(task_id)
        if task is not None and (task.rule.get("deadline") or {}).get("extension"):
            actions.append((f"{extend} #{task_id}", f"ext:{task_id}"))
    return tuple(actions)


def _addresses(session: Session, person_ids: set[int]) -> dict[int, list[ChatAddress]]:
    found: dict[int, list[ChatAddress]] = defaultdict(list)
    rows = session.exec(
        select(ChatAddress).where(
            col(ChatAddress.person_id).in_(person_ids), col(ChatAddress.enabled)
        )
    ).all()
    for address in rows:
        found[address.person_id].append(address)
    for addresses in found.values():
        addresses.sort(
            key=lambda a: CHANNEL_ORDER.index(a.channel) if a.channel in CHANNEL_ORDER else 99
        )
    return found


def _tell_office(
    session: Session, person: Person, address: ChatAddress, error: str, at: dt.datetime
) -> None:
    """Queue an immediate notice to the office that ``address`` was disabled."""
    office = session.exec(
        select(Person).where(
            Person.agency_id == person.agency_id,
            Person.role == Role.OFFICE.value,
            col(Person.active),
        )
    ).all()
    notice = f"无法向 {person.name} 的 {address.channel} 地址发送提醒，已停用该地址：{error}"
    insert_outbox(
        session,
        [
            {
                "agency_id": person.agency_id,
                "dedupe_key": f"failure|{address.id}|{at.date().isoformat()}|{member.id}",
                "task_id": None,
                "person_id": member.id,
                "stage": "delivery-failure",
                "window": window_key(None),
                "immediate": True,
                "payload": {"notice": notice, "person": person.name, "channel": address.channel},
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
            for member in office
            if member.id != person.id
        ],
    )


async def deliver(
    engine: Engine,
    domain: Domain,
    channels: Mapping[str, Channel],
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 500,
    lang: str = "zh",
    dashboard_url: str | None = None,
    lease: dt.timedelta = DEFAULT_LEASE,
    clock: Callable[[], dt.datetime] | None = None,
    concurrency: int = 16,
) -> DeliverReport:
    """One delivery pass (see the module docstring for the guarantees).

    Up to ``concurrency`` messages are in flight at once (1: one after the other).

    ``clock`` tells the time during the pass (the flows pass their clock; default: ``at``
    throughout): before each message the claim on its rows is renewed until ``clock() +
    lease``, and a message whose rows another pass took after this pass's lease ran out is
    not sent. So a pass slower than its lease cannot double-send; one send must take less
    than ``lease`` (channel timeouts are far shorter).
    """
    report = DeliverReport()
    with session_scope(engine) as session:
        ids = claim_outbox(session, at=at, worker=worker, limit=limit, lease=lease)
    report.claimed = len(ids)
    if not ids:
        return report
    with session_scope(engine) as session:
        rows = list(session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(ids))).all())
        people = {
            p.id: p
            for p in session.exec(
                select(Person).where(col(Person.id).in_({r.person_id for r in rows}))
            )
        }
        task_ids = {int(r.task_id) for r in rows if r.task_id is not None}
        tasks: dict[int, Task] = (
            {t.id or 0: t for t in session.exec(select(Task).where(col(Task.id).in_(task_ids)))}
            if task_ids
            else {}
        )
        addresses = _addresses(session, {p for p in people if p is not None})
        groups: dict[tuple[int, str], list[OutboxMessage]] = defaultdict(list)
        for row in rows:
            groups[(row.person_id or 0, row.window)].append(row)
        sent_windows = _already_sent(session, groups)
        plans: list[tuple[Person, list[OutboxMessage], Message | None]] = []
        for (person_id, window), members in groups.items():
            person = people.get(person_id)
            if person is None:
                continue
            if window != window_key(None) and (person_id, window) in sent_windows:
                _postpone(session, members, domain, report)
                continue
            plans.append(
                (
                    person,
                    members,
                    build_message(
                        person,
                        members,
                        tasks,
                        domain,
                        at=at,
                        lang=lang,
                        dashboard_url=dashboard_url,
                    ),
                )
            )
    # Sends overlap: each channel paces itself (Telegram's shared limiter, the robots' own
    # limits), so a pass is not bound by one network round trip per person. The ledger
    # writes around each send are synchronous and never interleave.
    gate = asyncio.Semaphore(max(concurrency, 1))

    async def send(person: Person, members: list[OutboxMessage], message: Message | None) -> None:
        async with gate:
            await _send_one(
                engine,
                person,
                members,
                message,
                addresses.get(person.id or 0, []),
                channels,
                at,
                report,
                worker=worker,
                until=(clock() if clock else at) + lease,
            )

    await asyncio.gather(*(send(*plan) for plan in plans))
    return report


def _already_sent(
    session: Session, groups: Mapping[tuple[int, str], Sequence[OutboxMessage]]
) -> set[tuple[int, str]]:
    keys = {key for key in groups if key[1] != window_key(None)}
    if not keys:
        return set()
    sent = session.exec(
        select(OutboxMessage.person_id, OutboxMessage.window)
        .where(
            col(OutboxMessage.status) == "sent",
            col(OutboxMessage.window).in_({window for _, window in keys}),
            col(OutboxMessage.person_id).in_({person for person, _ in keys}),
        )
        .distinct()
    ).all()
    return {(int(person or 0), str(window)) for person, window in sent} & keys


def _postpone(
    session: Session, rows: Sequence[OutboxMessage], domain: Domain, report: DeliverReport
) -> None:
    for row in rows:
        current = dt.datetime.strptime(row.window, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        following = next_window(current, domain.calendar, domain.tz, domain.delivery_time)
        row.window = window_key(following)
        row.next_attempt_at = following
        row.claimed_by = None
        row.claim_expires_at = None
        session.add(row)
        report.postponed_rows += 1


async def _send_one(
    engine: Engine,
    person: Person,
    rows: list[OutboxMessage],
    message: Message | None,
    addresses: list[ChatAddress],
    channels: Mapping[str, Channel],
    at: dt.datetime,
    report: DeliverReport,
    *,
    worker: str,
    until: dt.datetime,
) -> None:
    if message is None:
        with session_scope(engine) as session:
            for row in rows:
                _finish(session, row, "skipped", at)
            report.skipped_rows += len(rows)
        return
    if not _renew(engine, rows, worker=worker, until=until):
        report.lost_claims += len(rows)
        return
    usable = [a for a in addresses if a.channel in channels] or [
        ChatAddress(person_id=person.id or 0, channel="console", address=person.name)
    ]
    error: DeliveryError | None = None
    for address in usable:
        channel = channels.get(address.channel) or channels["console"]
        try:
            delivery = await channel.send(address.address, message)
        except DeliveryError as exc:
            error = exc
            with session_scope(engine) as session:
                _record(
                    session,
                    rows,
                    address.channel,
                    at,
                    "permanent" if exc.permanent else "transient",
                    str(exc),
                )
                if exc.new_address:
                    _move_address(session, address, exc.new_address, at, person.agency_id)
                    error = None  # tried again on the next pass at the new address
                    _retry(session, rows, at, 0, report)
                    return
                if exc.permanent and address.id is not None:
                    _disable(session, person, address, str(exc), at)
                    report.disabled_addresses.append(f"{person.name}/{address.channel}")
                    continue  # the next address of this person
                _retry(session, rows, at, exc.retry_after, report)
            return
        except Exception as exc:  # a channel bug must not stop delivery to everyone else
            log.exception("channel %s failed for %s", address.channel, person.name)
            with session_scope(engine) as session:
                _record(
                    session, rows, address.channel, at, "transient", f"{type(exc).__name__}: {exc}"
                )
                _retry(session, rows, at, None, report)
            return
        with session_scope(engine) as session:
            _record(session, rows, delivery.channel, at, "sent", delivery.detail or None)
            for row in rows:
                _finish(session, row, "sent", at)
        report.messages += 1
        report.sent_rows += len(rows)
        return
    with session_scope(engine) as session:  # every address failed permanently
        for row in rows:
            fresh = session.get(OutboxMessage, row.id)
            if fresh is not None:
                fresh.last_error = str(error) if error else "no usable address"
                _finish(session, fresh, "failed", at)
        report.failed_rows += len(rows)


def _renew(
    engine: Engine, rows: Sequence[OutboxMessage], *, worker: str, until: dt.datetime
) -> bool:
    """Extend this pass's claim on ``rows`` before sending them.

    False (and the rows still held are let go) when another pass claimed some of them after
    this pass's lease ran out: that pass sends them.
    """
    ids = [row.id for row in rows]
    mine = and_(
        col(OutboxMessage.id).in_(ids),
        col(OutboxMessage.claimed_by) == worker,
        col(OutboxMessage.status) == "pending",
    )
    with session_scope(engine) as session:
        renewed = session.execute(update(OutboxMessage).where(mine).values(claim_expires_at=until))
        if int(renewed.rowcount or 0) == len(ids):  # type: ignore[attr-defined]
            return True
        session.execute(
            update(OutboxMessage).where(mine).values(claimed_by=None, claim_expires_at=None)
        )
    log.warning("deliver %s: claim on outbox rows %s ran out, another pass sends them", worker, ids)
    return False


def _record(
    session: Session,
    rows: Sequence[OutboxMessage],
    channel: str,
    at: dt.datetime,
    outcome: str,
    detail: str | None,
) -> None:
    for row in rows:
        assert row.id is not None
        session.add(
            Delivery(
                outbox_id=row.id,
                channel=channel,
                attempted_at=at,
                outcome=outcome,
                detail=(detail or "")[:2000] or None,
            )
        )


def _finish(session: Session, row: OutboxMessage, status: str, at: dt.datetime) -> None:
    fresh = session.get(OutboxMessage, row.id)
    if fresh is None:
        return
    fresh.status = status
    fresh.attempts += 1
    fresh.claimed_by = None
    fresh.claim_expires_at = None
    if status == "sent":
        fresh.sent_at = at
    session.add(fresh)


def _retry(
    session: Session,
    rows: Sequence[OutboxMessage],
    at: dt.datetime,
    retry_after: float | None,
    report: DeliverReport,
) -> None:
    for row in rows:
        fresh = session.get(OutboxMessage, row.id)
        if fresh is None:
            continue
        fresh.attempts += 1
        fresh.claimed_by = None
        fresh.claim_expires_at = None
        if fresh.attempts >= MAX_ATTEMPTS:
            fresh.status = "failed"
            report.failed_rows += 1
        else:
            fresh.next_attempt_at = at + backoff(fresh.attempts, retry_after)
            report.retried_rows += 1
        session.add(fresh)


def _disable(
    session: Session, person: Person, address: ChatAddress, error: str, at: dt.datetime
) -> None:
    fresh = session.get(ChatAddress, address.id)
    if fresh is None:
        return
    fresh.enabled = False
    fresh.disabled_reason = error[:500]
    session.add(fresh)
    from db.audit import AuditWriter

    AuditWriter(session).write(
        at=at,
        actor="deliver",
        action="disable",
        entity="chat_address",
        entity_id=str(address.id),
        agency_id=person.agency_id,
        before={"enabled": True},
        after={"enabled": False, "reason": error[:500]},
    )
    _tell_office(session, person, address, error, at)


def _move_address(
    session: Session, address: ChatAddress, new_address: str, at: dt.datetime, agency_id: int
) -> None:
    """Follow a moved chat (a Telegram group that became a supergroup)."""
    fresh = session.get(ChatAddress, address.id) if address.id is not None else None
    if fresh is None:
        return
    before = fresh.address
    fresh.address = new_address
    session.add(fresh)
    from db.audit import AuditWriter

    AuditWriter(session).write(
        at=at,
        actor="deliver",
        action="migrate",
        entity="chat_address",
        entity_id=str(fresh.id),
        agency_id=agency_id,
        before={"address": before},
        after={"address": new_address},
    )
