"""Timeliness statistics: due, on time, within an extension, late, overdue — SQL aggregates.

One ``GROUP BY`` over the stored closing facts of the tasks due in a window returns, per
agency × obligation × section × month × class × margin, how many tasks there are. Every
figure of the report (month rows, year rows per obligation / section, totals, medians) is a
sum over that small aggregated set, never a loop over tasks. Medians come from the margin
histogram (working days early or late → tasks), so month figures, year figures and several
agencies merge exactly; the result equals PostgreSQL's ``percentile_cont(0.5)``.

Classes: a closed task's stored ``timeliness`` (on_time / extended_on_time / late); an open
task is ``open_overdue`` once its due moment has passed at ``at`` and ``open_not_due``
before. Cancelled tasks are not counted; paused tasks have no due day and fall outside every
window until they resume.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import case, func, literal, select
from sqlmodel import Session, col
from sqlmodel import select as select_models

from db.models import Section, Task, TaskStatus
from reports.feeds import FeedMap
from reports.model import ON_TIME_BASIS, Rate, Timeliness, TimelinessRow
from reports.scope import Window
from reports.sql import fetch, month_of, on_facts_index

_K = TypeVar("_K", bound=Hashable)

CLASSES = ("on_time", "extended_on_time", "late", "open_overdue", "open_not_due")
CLASS_LABELS = {
    "on_time": "按时办结",
    "extended_on_time": "延期内办结",
    "late": "逾期办结",
    "open_overdue": "逾期未办结",
    "open_not_due": "未到期",
}


@dataclass(frozen=True)
class Bucket:
    """One row of the aggregated set."""

    agency_id: int
    obligation: str
    section_id: int
    month: int
    cls: str
    margin: int | None
    tasks: int


def timeliness_buckets(
    session: Session,
    agency_ids: Sequence[int],
    window: Window,
    at: dt.datetime,
    feeds: FeedMap,
) -> list[Bucket]:
    """The aggregated set for the tasks due within ``window`` that feed ``timeliness``."""
    if not agency_ids:
        return []
    status = col(Task.status)
    cls = case(
        (status == TaskStatus.DONE.value, func.coalesce(col(Task.timeliness), literal("unknown"))),
        (col(Task.due_at) <= at, literal("open_overdue")),
        else_=literal("open_not_due"),
    )
    month = month_of(col(Task.due_date))
    statement = (
        select(
            col(Task.agency_id),
            col(Task.obligation_code),
            col(Task.section_id),
            month,
            cls,
            col(Task.working_days_margin),
            func.count(),
        )
        .where(
            col(Task.agency_id).in_(list(agency_ids)),
            col(Task.due_date) >= window.first,
            col(Task.due_date) <= window.last,
            status != TaskStatus.CANCELLED.value,
            feeds.condition("timeliness"),
        )
        .group_by(
            col(Task.agency_id),
            col(Task.obligation_code),
            col(Task.section_id),
            month,
            cls,
            col(Task.working_days_margin),
        )
    )
    statement = on_facts_index(statement)
    return [
        Bucket(
            agency_id=int(agency_id),
            obligation=str(code),
            section_id=int(section_id),
            month=int(month_value),
            cls=str(klass),
            margin=None if margin is None else int(margin),
            tasks=int(tasks),
        )
        for agency_id, code, section_id, month_value, klass, margin, tasks in fetch(
            session, statement
        )
    ]


@dataclass
class Tally:
    """Counts per class and the margin histogram of the closed tasks."""

    counts: Counter[str] = field(default_factory=Counter)
    margins: Counter[int] = field(default_factory=Counter)

    def add(self, cls: str, margin: int | None, tasks: int) -> None:
        self.counts[cls] += tasks
        if cls in ("on_time", "extended_on_time", "late") and margin is not None:
            self.margins[margin] += tasks

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.margins.update(other.margins)

    @classmethod
    def from_histogram(cls, counts: dict[str, int], margins: dict[str, int] | None) -> Tally:
        tally = cls()
        tally.counts.update(counts)
        tally.margins.update({int(key): value for key, value in (margins or {}).items()})
        return tally

    def row(self, labels: dict[str, object], *, keep_margins: bool = False) -> TimelinessRow:
        counts = self.counts
        done_in_time = counts["on_time"] + counts["extended_on_time"]
        denominator = done_in_time + counts["late"] + counts["open_overdue"]
        return TimelinessRow.model_validate(
            {
                **labels,
                "due": sum(counts[name] for name in CLASSES),
                **{name: counts[name] for name in CLASSES},
                "on_time_rate": Rate.of(done_in_time, denominator, ON_TIME_BASIS),
                "median_margin": median(self.margins),
                "worst_margin": min(self.margins) if self.margins else None,
                "margins": (
                    {str(key): self.margins[key] for key in sorted(self.margins)}
                    if keep_margins
                    else None
                ),
            }
        )


def median(histogram: Counter[int]) -> float | None:
    """The median of a histogram (value → count), interpolated like ``percentile_cont(0.5)``."""
    total = sum(histogram.values())
    if total == 0:
        return None
    lower_rank, upper_rank = (total - 1) // 2, total // 2
    lower = upper = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lower is None and seen > lower_rank:
            lower = value
        if seen > upper_rank:
            upper = value
            break
    assert lower is not None
    assert upper is not None
    return (lower + upper) / 2


def _group(buckets: Iterable[Bucket], key: Callable[[Bucket], _K]) -> dict[_K, Tally]:
    groups: dict[_K, Tally] = {}
    for bucket in buckets:
        groups.setdefault(key(bucket), Tally()).add(bucket.cls, bucket.margin, bucket.tasks)
    return groups


def section_names(session: Session, agency_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Section id → (code, name) for these agencies."""
    if not agency_ids:
        return {}
    rows = fetch(
        session,
        select(col(Section.id), col(Section.code), col(Section.name)).where(
            col(Section.agency_id).in_(list(agency_ids))
        ),
    )
    return {int(section_id): (str(code), str(name)) for section_id, code, name in rows}


def build_timeliness(
    buckets: Sequence[Bucket],
    *,
    agency_code: str,
    feeds: FeedMap,
    sections: dict[int, tuple[str, str]],
) -> Timeliness:
    """The timeliness figures of one agency from its share of the aggregated set."""

    def section_code(section_id: int) -> str:
        return sections.get(section_id, (str(section_id), ""))[0]

    def section_labels(section_id: int) -> dict[str, object]:
        code, name = sections.get(section_id, (str(section_id), str(section_id)))
        return {"agency": agency_code, "section": code, "section_name": name}

    def obligation_labels(code: str) -> dict[str, object]:
        return {"obligation": code, "obligation_title": feeds.title(code)}

    total = Tally()
    for bucket in buckets:
        total.add(bucket.cls, bucket.margin, bucket.tasks)
    obligations = _group(buckets, lambda b: b.obligation)
    by_section = _group(buckets, lambda b: b.section_id)
    pairs = _group(buckets, lambda b: (b.obligation, b.section_id))
    months = _group(buckets, lambda b: b.month)
    cells = _group(buckets, lambda b: (b.obligation, b.section_id, b.month))
    return Timeliness(
        total=total.row({"agency": agency_code}, keep_margins=True),
        by_obligation=[
            obligations[code].row(
                {"agency": agency_code, **obligation_labels(code)}, keep_margins=True
            )
            for code in sorted(obligations)
        ],
        by_section=[
            by_section[section_id].row(section_labels(section_id))
            for section_id in sorted(by_section, key=section_code)
        ],
        by_obligation_section=[
            pairs[pair].row({**obligation_labels(pair[0]), **section_labels(pair[1])})
            for pair in sorted(pairs, key=lambda pair: (pair[0], section_code(pair[1])))
        ],
        by_month=[
            months[month].row({"agency": agency_code, "month": month}) for month in sorted(months)
        ],
        detail=[
            cells[cell].row(
                {**obligation_labels(cell[0]), **section_labels(cell[1]), "month": cell[2]}
            )
            for cell in sorted(cells, key=lambda cell: (cell[0], section_code(cell[1]), cell[2]))
        ],
    )


def merge_timeliness(parts: Sequence[Timeliness], *, label: str) -> Timeliness:
    """Whole-government timeliness: per obligation and month summed over the agencies
    (medians from the merged histograms); section rows are listed agency by agency."""

    def tally_of(row: TimelinessRow) -> Tally:
        counts = {name: getattr(row, name) for name in CLASSES}
        return Tally.from_histogram(counts, row.margins)

    total = Tally()
    obligations: dict[str, Tally] = {}
    titles: dict[str, str | None] = {}
    months: dict[int, Tally] = {}
    for part in parts:
        total.merge(tally_of(part.total))
        for row in part.by_obligation:
            key = row.obligation or ""
            obligations.setdefault(key, Tally()).merge(tally_of(row))
            titles[key] = row.obligation_title
        for row in part.by_month:
            # Month rows carry no histogram: their medians are not merged.
            counts = {name: getattr(row, name) for name in CLASSES}
            months.setdefault(row.month or 0, Tally()).merge(Tally.from_histogram(counts, None))
    return Timeliness(
        total=total.row({"agency": label}, keep_margins=True),
        by_obligation=[
            obligations[code].row(
                {"agency": label, "obligation": code, "obligation_title": titles[code]},
                keep_margins=True,
            )
            for code in sorted(obligations)
        ],
        by_section=[row for part in parts for row in part.by_section],
        by_obligation_section=[row for part in parts for row in part.by_obligation_section],
        by_month=[months[month].row({"agency": label, "month": month}) for month in sorted(months)],
        detail=[],
    )


def timeliness_problems(
    session: Session,
    agency_ids: Sequence[int],
    window: Window,
    feeds: FeedMap,
    *,
    limit: int = 200,
) -> list[str]:
    """Closed tasks due in the window without stored closing facts, one line per task."""
    if not agency_ids:
        return []
    ids = fetch(
        session,
        on_facts_index(select(col(Task.id)))
        .where(
            col(Task.agency_id).in_(list(agency_ids)),
            col(Task.due_date) >= window.first,
            col(Task.due_date) <= window.last,
            col(Task.status) == TaskStatus.DONE.value,
            feeds.condition("timeliness"),
            col(Task.timeliness).is_(None) | col(Task.timeliness).not_in(CLASSES[:3]),
        )
        .order_by(col(Task.id))
        .limit(limit),
    )
    statement = (
        select_models(Task, Section)
        .join(Section, col(Section.id) == col(Task.section_id))
        .where(col(Task.id).in_([int(row[0]) for row in ids]))
        .order_by(col(Task.id))
    )
    return [
        f"task {task.id} ({section.name}, {task.title}): closed without its closing facts "
        f"(timeliness {task.timeliness!r}); reopen and complete it again"
        for task, section in session.exec(statement).all()
    ]
