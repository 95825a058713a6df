"""Table 四: 政府信息公开行政复议、行政诉讼情况, from the recorded review cases.

A case counts in year Y when it was pending at some time during Y: filed by 31 December
and not decided before 1 January. Its column is its result if it was decided by the end of
Y, else 尚未审结 — so a case filed in one year and decided in the next appears as pending in
the first report and with its result in the second, and every case is reported once decided.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, func, literal, or_, select
from sqlmodel import Session, col

from db.cases import CASE_KINDS, CASE_RESULTS
from db.models import ReviewCase
from reports.model import Table4
from reports.scope import Window
from reports.sql import fetch

RESULT_KEYS = (*CASE_RESULTS, "total")


def case_counts(
    session: Session, agency_ids: Sequence[int], window: Window
) -> dict[int, dict[str, dict[str, int]]]:
    """agency → kind → result (as of the window's end) → cases."""
    if not agency_ids:
        return {}
    closed_by_end = and_(
        col(ReviewCase.closed_on).is_not(None), col(ReviewCase.closed_on) <= window.last
    )
    result = case((closed_by_end, col(ReviewCase.result)), else_=literal("pending"))
    statement = (
        select(col(ReviewCase.agency_id), col(ReviewCase.kind), result, func.count())
        .where(
            col(ReviewCase.agency_id).in_(list(agency_ids)),
            col(ReviewCase.filed_on) <= window.last,
            or_(col(ReviewCase.closed_on).is_(None), col(ReviewCase.closed_on) >= window.first),
        )
        .group_by(col(ReviewCase.agency_id), col(ReviewCase.kind), result)
    )
    found: dict[int, dict[str, dict[str, int]]] = {}
    for agency_id, kind, result_value, cases in fetch(session, statement):
        per_kind = found.setdefault(int(agency_id), {}).setdefault(str(kind), {})
        per_kind[str(result_value)] = per_kind.get(str(result_value), 0) + int(cases)
    return found


def build_table4(counts: dict[str, dict[str, int]]) -> Table4:
    values: dict[str, dict[str, int]] = {}
    for kind in CASE_KINDS:
        found = counts.get(kind, {})
        row = {result: int(found.get(result, 0)) for result in CASE_RESULTS}
        row["total"] = sum(row.values())
        values[kind] = row
    return Table4(values=values)


def sum_table4(parts: Sequence[Table4]) -> Table4:
    counts: dict[str, dict[str, int]] = {}
    for part in parts:
        for kind, row in part.values.items():
            target = counts.setdefault(kind, {})
            for result, cases in row.items():
                if result != "total":
                    target[result] = target.get(result, 0) + cases
    return build_table4(counts)
