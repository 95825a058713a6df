"""Which tasks feed which statistic: read from the tasks' rule snapshots, per obligation.

A task counts in a statistic when its rule snapshot lists the feed (``rule["feeds"]``):
editing the catalog never moves history from one table to another. Parsing every
snapshot's JSON would cost a full read of the task table (1–2 KB of JSON per task), so the
feeds are resolved per obligation code: the snapshots of the first and the last task of each
code are read, and where they agree the code's tasks are taken to share them. A code whose
first and last snapshots disagree (the catalog changed its feeds) is *mixed*: its tasks are
then tested one by one in SQL. Codes whose feeds changed and changed back between the first
and the last task are the one case this does not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from db.models import Task
from reports.sql import fetch, unindexed


@dataclass(frozen=True)
class FeedMap:
    """Feeds and titles per obligation code, for the tasks of some agencies."""

    feeds: dict[str, frozenset[str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    mixed: frozenset[str] = frozenset()
    #: The event type that starts each code's tasks (None: recurring).
    triggers: dict[str, str | None] = field(default_factory=dict)

    def triggered_by(self, event_type: str) -> list[str]:
        return sorted(code for code, found in self.triggers.items() if found == event_type)

    def codes(self, feed: str) -> list[str]:
        """The (uniform) codes whose tasks feed ``feed``."""
        return sorted(code for code, feeds in self.feeds.items() if feed in feeds)

    def condition(self, feed: str) -> ColumnElement[bool]:
        """A WHERE clause on ``task`` selecting the tasks that feed ``feed``."""
        parts: list[ColumnElement[bool]] = []
        codes = self.codes(feed)
        if codes:
            parts.append(unindexed(col(Task.obligation_code)).in_(codes))
        if self.mixed:
            listed = cast(col(Task.rule)["feeds"], String)
            pattern = '%"' + feed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parts.append(
                unindexed(col(Task.obligation_code)).in_(sorted(self.mixed))
                & listed.like(pattern + '"%', escape="\\")
            )
        if not parts:
            return false()
        return or_(*parts)

    def title(self, code: str) -> str:
        return self.titles.get(code, code)


def _code_bounds(session: Session) -> list[tuple[str, int, int]]:
    """(code, first task id, last task id) of every obligation code in the ledger.

    Walks the ``obligation_code`` index code by code (a skip scan: a few tiny queries per
    code), so it costs the same for 1 000 tasks as for 1 000 000. The codes of every agency
    are read: they share one catalog, so their snapshots agree.
    """
    code_column = col(Task.obligation_code)
    bounds: list[tuple[str, int, int]] = []
    previous: str | None = None
    while True:
        statement = select(func.min(code_column))
        if previous is not None:
            statement = statement.where(code_column > previous)
        found = fetch(session, statement)
        code = found[0][0] if found else None
        if code is None:
            return bounds
        first = fetch(session, select(func.min(col(Task.id))).where(code_column == code))
        last = fetch(session, select(func.max(col(Task.id))).where(code_column == code))
        bounds.append((str(code), int(first[0][0]), int(last[0][0])))
        previous = str(code)


def resolve_feeds(session: Session, agency_ids: Sequence[int]) -> FeedMap:
    """Read the first and last snapshot of every obligation code (see the module docstring)."""
    if not agency_ids:
        return FeedMap()
    bounds = _code_bounds(session)
    wanted = {first for _, first, _ in bounds} | {last for _, _, last in bounds}
    snapshots: dict[int, dict[str, Any]] = {
        int(task_id): rule
        for task_id, rule in fetch(
            session, select(col(Task.id), col(Task.rule)).where(col(Task.id).in_(sorted(wanted)))
        )
    }
    feeds: dict[str, frozenset[str]] = {}
    titles: dict[str, str] = {}
    mixed: set[str] = set()
    triggers: dict[str, str | None] = {}
    for code, first, last in bounds:
        older, newer = snapshots[int(first)], snapshots[int(last)]
        first_feeds = frozenset(str(item) for item in older.get("feeds", []))
        last_feeds = frozenset(str(item) for item in newer.get("feeds", []))
        trigger = newer.get("trigger", {})
        triggers[code] = str(trigger.get("event")) if trigger.get("event") else None
        title = newer.get("title", {})
        titles[code] = str(title.get("zh") or code) if isinstance(title, dict) else code
        if first_feeds == last_feeds:
            feeds[code] = first_feeds
        else:
            mixed.add(code)
    return FeedMap(feeds=feeds, titles=titles, mixed=frozenset(mixed), triggers=triggers)
