"""Table 二: 主动公开政府信息情况 (条例第二十条 items), from events and year figures.

- 规章 / 行政规范性文件 本年制发: ``document_published`` events of the year whose ``doc_kind``
  is ``regulation`` / ``normative`` (a document is registered when it is published);
- 本年废止, 现行有效: year figures the office enters (``gongkai report figure set``);
- 行政许可 / 行政处罚 / 行政强制 本年处理决定数量: ``decision_made`` events of the year by
  ``kind`` (each also spawns its 双公示 task, which feeds the same rows);
- 行政事业性收费 本年收费金额（万元）: a year figure.

The 2019 trial layout asks for item counts (上一年项目数量, 本年增/减) and 政府集中采购, which are
year figures too. A figure not entered is reported as missing (a dash in the tables, listed
in the notes) rather than silently taken as zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import Session, col

from db.cases import FIGURES
from db.models import Event, YearFigure
from obligations.catalog import EventType
from reports.model import DocumentCounts, Table2
from reports.scope import Window
from reports.sql import fetch

#: Year figures each layout needs.
NEEDED: dict[str, tuple[str, ...]] = {
    "2021": (
        "table2.regulation.repealed",
        "table2.regulation.in_force",
        "table2.normative.repealed",
        "table2.normative.in_force",
        "table2.fees.amount",
    ),
    "2019": (
        "table2.regulation.public_total",
        "table2.normative.public_total",
        "table2.licensing.items_prev",
        "table2.licensing.items_change",
        "table2.other_services.items_prev",
        "table2.other_services.items_change",
        "table2.other_services.decisions",
        "table2.penalty.items_prev",
        "table2.penalty.items_change",
        "table2.enforcement.items_prev",
        "table2.enforcement.items_change",
        "table2.fees.items_prev",
        "table2.fees.items_change",
        "table2.procurement.items",
        "table2.procurement.amount",
    ),
}


def event_counts(
    session: Session, agency_ids: Sequence[int], window: Window
) -> dict[int, Counter[str]]:
    """agency → ``document.<doc_kind>`` / ``decision.<kind>`` → events in the window."""
    if not agency_ids:
        return {}
    doc_kind = col(Event.attributes)["doc_kind"].as_string()
    kind = col(Event.attributes)["kind"].as_string()
    statement = (
        select(col(Event.agency_id), col(Event.type), doc_kind, kind, func.count())
        .where(
            col(Event.agency_id).in_(list(agency_ids)),
            col(Event.type).in_(
                [EventType.DOCUMENT_PUBLISHED.value, EventType.DECISION_MADE.value]
            ),
            col(Event.occurred_at) >= window.start_utc,
            col(Event.occurred_at) < window.end_utc,
        )
        .group_by(col(Event.agency_id), col(Event.type), doc_kind, kind)
    )
    result: dict[int, Counter[str]] = {}
    for agency_id, event_type, doc_kind_value, kind_value, events in fetch(session, statement):
        if event_type == EventType.DOCUMENT_PUBLISHED.value:
            key = f"document.{doc_kind_value or 'other'}"
        else:
            key = f"decision.{kind_value or 'other'}"
        result.setdefault(int(agency_id), Counter())[key] += int(events)
    return result


def year_figures(
    session: Session, agency_ids: Sequence[int], year: int
) -> dict[int, dict[str, float]]:
    """agency → figure key → value entered for ``year``."""
    if not agency_ids:
        return {}
    rows = fetch(
        session,
        select(col(YearFigure.agency_id), col(YearFigure.key), col(YearFigure.value)).where(
            col(YearFigure.agency_id).in_(list(agency_ids)), col(YearFigure.year) == year
        ),
    )
    result: dict[int, dict[str, float]] = {}
    for agency_id, key, value in rows:
        result.setdefault(int(agency_id), {})[str(key)] = float(value)
    return result


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def build_table2(events: Counter[str], figures: dict[str, float], layout: str) -> Table2:
    needed = NEEDED["2021" if layout == "2021" else "2019"]
    return Table2(
        layout=layout,  # type: ignore[arg-type]
        regulation=DocumentCounts(
            made=events["document.regulation"],
            repealed=_whole(figures.get("table2.regulation.repealed")),
            in_force=_whole(figures.get("table2.regulation.in_force")),
            public_total=_whole(figures.get("table2.regulation.public_total")),
        ),
        normative=DocumentCounts(
            made=events["document.normative"],
            repealed=_whole(figures.get("table2.normative.repealed")),
            in_force=_whole(figures.get("table2.normative.in_force")),
            public_total=_whole(figures.get("table2.normative.public_total")),
        ),
        licensing=events["decision.licensing"],
        penalty=events["decision.penalty"],
        enforcement=events["decision.enforcement"],
        fees_amount=figures.get("table2.fees.amount"),
        items=dict(sorted(figures.items())),
        missing=[key for key in needed if key not in figures],
    )


def sum_table2(parts: Sequence[Table2], layout: str) -> Table2:
    """Whole government: counts and figures summed; a figure is missing if any agency lacks it."""

    def total(values: Sequence[int | None]) -> int | None:
        return None if any(value is None for value in values) else sum(v or 0 for v in values)

    def documents(name: str) -> DocumentCounts:
        items = [getattr(part, name) for part in parts]
        return DocumentCounts(
            made=sum(item.made for item in items),
            repealed=total([item.repealed for item in items]),
            in_force=total([item.in_force for item in items]),
            public_total=total([item.public_total for item in items]),
        )

    fees = [part.fees_amount for part in parts]
    items: Counter[str] = Counter()
    for part in parts:
        items.update(part.items)
    missing = sorted({key for part in parts for key in part.missing})
    return Table2(
        layout=layout,  # type: ignore[arg-type]
        regulation=documents("regulation"),
        normative=documents("normative"),
        licensing=sum(part.licensing for part in parts),
        penalty=sum(part.penalty for part in parts),
        enforcement=sum(part.enforcement for part in parts),
        fees_amount=None if any(fee is None for fee in fees) else sum(fee or 0 for fee in fees),
        items={key: float(value) for key, value in sorted(items.items())},
        missing=missing,
    )


def missing_note(table: Table2) -> str | None:
    if not table.missing:
        return None
    labels = "、".join(FIGURES[key].label for key in table.missing if key in FIGURES)
    return f"以下数字尚未登记，表中以“—”表示：{labels}（gongkai report figure set）"
