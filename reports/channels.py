"""Counts by publication channel (政府网站, 政务微信, 政务微博, 政府公报, 其他), as the seed tables
count them: documents published, other information published, interpretations, responses.

- 主动公开文件: ``document_published`` events of the window, by their ``channel``;
- 主动公开信息: tasks of ``information_formed`` events done in the window (the information
  was published when its task was done), by the event's ``channel``;
- 政策解读 / 回应社会关切: tasks feeding ``interpretations`` / ``responses`` done in the
  window, by the channel of the event that started them.

An item without a recorded channel is counted under 其他 and reported as ``unrecorded``
(舆情 and 信箱 events have no channel attribute today).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from db.models import Event, Task, TaskStatus
from obligations.catalog import EventType
from obligations.events import EVENT_ATTRIBUTES, PUBLICATION_CHANNELS
from reports.feeds import FeedMap
from reports.model import ChannelRow, Channels
from reports.scope import Window
from reports.sql import fetch, on_facts_index, unindexed

ROWS = {
    "documents": "主动公开文件",
    "information": "主动公开信息",
    "interpretations": "政策解读",
    "responses": "回应社会关切",
}

#: agency → row key → channel (None: not recorded) → items
Counts = dict[int, dict[str, Counter[str | None]]]


def _tasks_by_channel(
    session: Session,
    agency_ids: Sequence[int],
    window: Window,
    condition: ColumnElement[bool],
) -> list[tuple[int, str, str | None, int]]:
    """(agency, obligation, channel, tasks) of the tasks done in the window."""
    channel = col(Event.attributes)["channel"].as_string()
    code = unindexed(col(Task.obligation_code))
    statement = (
        select(col(Task.agency_id), code, channel, func.count())
        .join(Event, col(Event.id) == col(Task.event_id))
        .where(
            col(Task.agency_id).in_(list(agency_ids)),
            unindexed(col(Task.status)) == TaskStatus.DONE.value,
            col(Task.done_at) >= window.start_utc,
            col(Task.done_at) < window.end_utc,
            condition,
        )
        .group_by(col(Task.agency_id), code, channel)
    )
    return [(int(a), str(o), c, int(n)) for a, o, c, n in fetch(session, on_facts_index(statement))]


def _has_channel(event_type: str | None) -> bool:
    if event_type is None:
        return False
    try:
        specs = EVENT_ATTRIBUTES[EventType(event_type)]
    except ValueError:
        return True
    return any(spec.name == "channel" for spec in specs)


def _tasks_by_code(
    session: Session, agency_ids: Sequence[int], window: Window, codes: Sequence[str]
) -> list[tuple[int, str, int]]:
    """(agency, obligation, tasks) done in the window, from the facts index alone."""
    code = unindexed(col(Task.obligation_code))
    statement = (
        select(col(Task.agency_id), code, func.count())
        .where(
            col(Task.agency_id).in_(list(agency_ids)),
            unindexed(col(Task.status)) == TaskStatus.DONE.value,
            col(Task.done_at) >= window.start_utc,
            col(Task.done_at) < window.end_utc,
            code.in_(list(codes)),
        )
        .group_by(col(Task.agency_id), code)
    )
    return [(int(a), str(o), int(n)) for a, o, n in fetch(session, on_facts_index(statement))]


def channel_counts(
    session: Session, agency_ids: Sequence[int], window: Window, feeds: FeedMap
) -> Counts:
    if not agency_ids:
        return {}
    counts: Counts = {}

    def add(row: str, agency_id: int, channel: str | None, items: int) -> None:
        counts.setdefault(agency_id, {}).setdefault(row, Counter())[channel] += items

    channel = col(Event.attributes)["channel"].as_string()
    documents = fetch(
        session,
        select(col(Event.agency_id), channel, func.count())
        .where(
            col(Event.agency_id).in_(list(agency_ids)),
            col(Event.type) == EventType.DOCUMENT_PUBLISHED.value,
            col(Event.occurred_at) >= window.start_utc,
            col(Event.occurred_at) < window.end_utc,
        )
        .group_by(col(Event.agency_id), channel),
    )
    for agency_id, found, items in documents:
        add("documents", int(agency_id), found, int(items))
    # One pass over the done tasks of the codes that count here (by their snapshots).
    rows_of: dict[str, list[str]] = {}
    for code in feeds.triggered_by(EventType.INFORMATION_FORMED.value):
        rows_of.setdefault(code, []).append("information")
    for feed in ("interpretations", "responses"):
        for code in feeds.codes(feed):
            rows_of.setdefault(code, []).append(feed)
    uniform = sorted(code for code in rows_of if code not in feeds.mixed)
    # Only some event types carry a channel: the others' tasks are counted without reading
    # their events (their channel is not recorded).
    with_channel = [code for code in uniform if _has_channel(feeds.triggers.get(code))]
    without = [code for code in uniform if code not in with_channel]
    if with_channel:
        condition = unindexed(col(Task.obligation_code)).in_(with_channel)
        for agency_id, code, found, items in _tasks_by_channel(
            session, agency_ids, window, condition
        ):
            for row in rows_of[code]:
                add(row, agency_id, found, items)
    if without:
        for agency_id, code, items in _tasks_by_code(session, agency_ids, window, without):
            for row in rows_of[code]:
                add(row, agency_id, None, items)
    for feed in ("interpretations", "responses") if feeds.mixed else ():
        mixed = feeds.condition(feed) & unindexed(col(Task.obligation_code)).in_(
            sorted(feeds.mixed)
        )
        for agency_id, _, found, items in _tasks_by_channel(session, agency_ids, window, mixed):
            add(feed, agency_id, found, items)
    return counts


def build_channels(counts: dict[str, Counter[str | None]]) -> Channels:
    rows = []
    for key, label in ROWS.items():
        found = counts.get(key, Counter())
        values = dict.fromkeys(PUBLICATION_CHANNELS, 0)
        unrecorded = 0
        for channel, items in found.items():
            if channel in values:
                values[str(channel)] += items
            else:
                values["other"] += items
                unrecorded += items
        rows.append(
            ChannelRow(
                key=key,
                label=label,
                values=values,
                total=sum(values.values()),
                unrecorded=unrecorded,
            )
        )
    return Channels(rows=rows)


def sum_channels(parts: Sequence[Channels]) -> Channels:
    counts: dict[str, Counter[str | None]] = {}
    for part in parts:
        for row in part.rows:
            target = counts.setdefault(row.key, Counter())
            for channel, items in row.values.items():
                target[channel] += items
            # Keep the unrecorded share visible after summing.
            target["other"] -= row.unrecorded
            target[None] += row.unrecorded
    return build_channels(counts)


def channel_labels() -> dict[str, str]:
    return {key: zh for key, (zh, _) in PUBLICATION_CHANNELS.items()}
