"""Recording what the annual report needs beyond tasks: review cases and year figures.

- **Review cases** (table 四): an administrative review (行政复议) or a lawsuit (行政诉讼,
  filed directly or after a review) about a disclosure decision, with its result once
  decided. :func:`record_case` is idempotent on the case's external id; :func:`decide_case`
  records or corrects the result.
- **Year figures**: numbers the office enters per agency and year because no task counts
  them — 规章 / 行政规范性文件 repealed and in force, fee amounts, the 2019 trial format's item
  counts. :data:`FIGURES` lists the keys; anything else is refused with the list.

Every write appends an audit entry, and nothing may be dated into a locked year
(:mod:`db.locks`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor
from db.errors import LedgerError, NotFoundError
from db.locks import check_day_not_locked
from db.models import ReviewCase, YearFigure
from db.spawn import agency_by_code

#: Kinds of table 四 cases: key → label.
CASE_KINDS: dict[str, str] = {
    "review": "行政复议",
    "litigation_direct": "行政诉讼（未经复议直接起诉）",
    "litigation_after_review": "行政诉讼（复议后起诉）",
}

#: Results of a case: key → the column of table 四.
CASE_RESULTS: dict[str, str] = {
    "upheld": "结果维持",
    "corrected": "结果纠正",
    "other": "其他结果",
    "pending": "尚未审结",
}


@dataclass(frozen=True)
class FigureSpec:
    """A figure the office enters: its label, unit, and whether it must be a whole number."""

    label: str
    unit: str
    whole: bool = True


#: Year figures the reports read (key → spec). Counts are whole numbers; amounts in 万元.
FIGURES: dict[str, FigureSpec] = {
    "table2.regulation.repealed": FigureSpec("规章 本年废止件数", "件"),
    "table2.regulation.in_force": FigureSpec("规章 现行有效件数", "件"),
    "table2.normative.repealed": FigureSpec("行政规范性文件 本年废止件数", "件"),
    "table2.normative.in_force": FigureSpec("行政规范性文件 现行有效件数", "件"),
    "table2.fees.amount": FigureSpec("行政事业性收费 本年收费金额", "万元", whole=False),
    # The 2019 trial format (国办公开办函〔2019〕60号) asks for item counts instead.
    "table2.regulation.public_total": FigureSpec("规章 对外公开总数量（2019试行格式）", "件"),
    "table2.normative.public_total": FigureSpec("规范性文件 对外公开总数量（2019试行格式）", "件"),
    "table2.licensing.items_prev": FigureSpec("行政许可 上一年项目数量（2019试行格式）", "项"),
    "table2.licensing.items_change": FigureSpec("行政许可 本年增/减（2019试行格式）", "项"),
    "table2.other_services.items_prev": FigureSpec(
        "其他对外管理服务事项 上一年项目数量（2019试行格式）", "项"
    ),
    "table2.other_services.items_change": FigureSpec(
        "其他对外管理服务事项 本年增/减（2019试行格式）", "项"
    ),
    "table2.other_services.decisions": FigureSpec(
        "其他对外管理服务事项 处理决定数量（2019试行格式）", "件"
    ),
    "table2.penalty.items_prev": FigureSpec("行政处罚 上一年项目数量（2019试行格式）", "项"),
    "table2.penalty.items_change": FigureSpec("行政处罚 本年增/减（2019试行格式）", "项"),
    "table2.enforcement.items_prev": FigureSpec("行政强制 上一年项目数量（2019试行格式）", "项"),
    "table2.enforcement.items_change": FigureSpec("行政强制 本年增/减（2019试行格式）", "项"),
    "table2.fees.items_prev": FigureSpec("行政事业性收费 上一年项目数量（2019试行格式）", "项"),
    "table2.fees.items_change": FigureSpec("行政事业性收费 本年增/减（2019试行格式）", "项"),
    "table2.procurement.items": FigureSpec("政府集中采购 采购项目数量（2019试行格式）", "项"),
    "table2.procurement.amount": FigureSpec(
        "政府集中采购 采购总金额（2019试行格式）", "万元", whole=False
    ),
    "requests.processing_fees": FigureSpec("依申请公开 收取信息处理费", "万元", whole=False),
}

#: Figures that may be negative (增/减).
_SIGNED = frozenset(key for key in FIGURES if key.endswith(".items_change"))


@dataclass
class CaseResult:
    case: ReviewCase
    created: bool


def _case_state(case: ReviewCase) -> dict[str, Any]:
    return {
        "kind": case.kind,
        "external_id": case.external_id,
        "filed_on": case.filed_on,
        "result": case.result,
        "closed_on": case.closed_on,
        "note": case.note,
    }


def _check_case_fields(
    kind: str, filed_on: dt.date, result: str, closed_on: dt.date | None, today: dt.date
) -> None:
    if kind not in CASE_KINDS:
        raise LedgerError(f"case kind {kind!r} is not one of {', '.join(CASE_KINDS)}")
    if result not in CASE_RESULTS:
        raise LedgerError(f"case result {result!r} is not one of {', '.join(CASE_RESULTS)}")
    if filed_on > today:
        raise LedgerError(f"filed_on {filed_on.isoformat()} is in the future")
    if result == "pending" and closed_on is not None:
        raise LedgerError(
            "a pending case has no closed_on; give the result (upheld, corrected, other)"
        )
    if result != "pending" and closed_on is None:
        raise LedgerError(f"result {result!r} needs closed_on (the day the case was decided)")
    if closed_on is not None and closed_on < filed_on:
        raise LedgerError(
            f"closed_on {closed_on.isoformat()} is before filed_on {filed_on.isoformat()}"
        )
    if closed_on is not None and closed_on > today:
        raise LedgerError(f"closed_on {closed_on.isoformat()} is in the future")


def record_case(
    session: Session,
    *,
    agency_code: str,
    kind: str,
    filed_on: dt.date,
    actor: Actor,
    at: dt.datetime,
    tz: dt.tzinfo,
    result: str = "pending",
    closed_on: dt.date | None = None,
    external_id: str | None = None,
    note: str | None = None,
) -> CaseResult:
    """Record a review or lawsuit; the same ``external_id`` again changes nothing."""
    agency = agency_by_code(session, agency_code)
    assert agency.id is not None
    actor.check_write(agency.id, None, office_only=True)
    external_id = (external_id or "").strip() or None
    if external_id is not None:
        existing = session.exec(
            select(ReviewCase).where(
                col(ReviewCase.agency_id) == agency.id, col(ReviewCase.external_id) == external_id
            )
        ).first()
        if existing is not None:
            return CaseResult(existing, created=False)
    _check_case_fields(kind, filed_on, result, closed_on, at.astimezone(tz).date())
    check_day_not_locked(session, agency.id, filed_on, f"a {kind} case filed")
    check_day_not_locked(session, agency.id, closed_on, f"a {kind} case decided")
    case = ReviewCase(
        agency_id=agency.id,
        kind=kind,
        external_id=external_id,
        filed_on=filed_on,
        result=result,
        closed_on=closed_on,
        note=(note or "").strip()[:1000] or None,
        recorded_at=at,
        recorded_by=actor.name,
    )
    session.add(case)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="record",
        entity="review_case",
        entity_id=str(case.id),
        agency_id=agency.id,
        after=_case_state(case),
    )
    session.flush()
    return CaseResult(case, created=True)


def decide_case(
    session: Session,
    case_id: int,
    *,
    result: str,
    closed_on: dt.date | None,
    actor: Actor,
    at: dt.datetime,
    tz: dt.tzinfo,
) -> ReviewCase:
    """Record (or correct) the result of a case; ``pending`` with no date reopens it."""
    case = session.get(ReviewCase, case_id)
    if case is None:
        raise NotFoundError(f"review case {case_id} does not exist")
    actor.check_write(case.agency_id, None, office_only=True)
    _check_case_fields(case.kind, case.filed_on, result, closed_on, at.astimezone(tz).date())
    check_day_not_locked(session, case.agency_id, case.closed_on, f"case {case_id}'s result")
    check_day_not_locked(session, case.agency_id, closed_on, f"case {case_id}'s result")
    before = _case_state(case)
    case.result = result
    case.closed_on = closed_on
    session.add(case)
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="decide",
        entity="review_case",
        entity_id=str(case.id),
        agency_id=case.agency_id,
        before=before,
        after=_case_state(case),
    )
    session.flush()
    return case


def list_cases(session: Session, actor: Actor, *, agency_code: str) -> list[ReviewCase]:
    agency = agency_by_code(session, agency_code)
    assert agency.id is not None
    actor.check_read(agency.id, None)
    return list(
        session.exec(
            select(ReviewCase)
            .where(col(ReviewCase.agency_id) == agency.id)
            .order_by(col(ReviewCase.filed_on), col(ReviewCase.id))
        ).all()
    )


def check_figure(key: str, value: float) -> float:
    """The value as stored; an unknown key or an impossible value raises with the reason."""
    spec = FIGURES.get(key)
    if spec is None:
        raise LedgerError(f"unknown figure {key!r}; known: {', '.join(FIGURES)}")
    if value != value or value in (float("inf"), float("-inf")):
        raise LedgerError(f"figure {key}: {value!r} is not a number")
    if value < 0 and key not in _SIGNED:
        raise LedgerError(f"figure {key} ({spec.label}) cannot be negative, got {value:g}")
    if spec.whole and value != int(value):
        raise LedgerError(f"figure {key} ({spec.label}) counts {spec.unit}: give a whole number")
    return float(value)


def set_figure(
    session: Session,
    *,
    agency_code: str,
    year: int,
    key: str,
    value: float,
    actor: Actor,
    at: dt.datetime,
    note: str | None = None,
) -> YearFigure:
    """Set (or change) one figure of the agency's year."""
    stored = check_figure(key, value)
    agency = agency_by_code(session, agency_code)
    assert agency.id is not None
    actor.check_write(agency.id, None, office_only=True)
    if not 2000 <= year <= 2100:
        raise LedgerError(f"year {year} is out of range")
    check_day_not_locked(session, agency.id, dt.date(year, 12, 31), f"figure {key}")
    figure = session.exec(
        select(YearFigure).where(
            col(YearFigure.agency_id) == agency.id,
            col(YearFigure.year) == year,
            col(YearFigure.key) == key,
        )
    ).first()
    before = None if figure is None else {"value": figure.value, "note": figure.note}
    if figure is None:
        figure = YearFigure(
            agency_id=agency.id,
            year=year,
            key=key,
            value=stored,
            recorded_at=at,
            recorded_by=actor.name,
        )
    figure.value = stored
    figure.note = (note or "").strip()[:500] or None
    figure.recorded_at = at
    figure.recorded_by = actor.name
    session.add(figure)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="set",
        entity="year_figure",
        entity_id=f"{agency.code}/{year}/{key}",
        agency_id=agency.id,
        before=before,
        after={"value": figure.value, "note": figure.note},
    )
    session.flush()
    return figure


def list_figures(
    session: Session, actor: Actor, *, agency_code: str, year: int
) -> list[YearFigure]:
    agency = agency_by_code(session, agency_code)
    assert agency.id is not None
    actor.check_read(agency.id, None)
    return list(
        session.exec(
            select(YearFigure)
            .where(col(YearFigure.agency_id) == agency.id, col(YearFigure.year) == year)
            .order_by(col(YearFigure.key))
        ).all()
    )
