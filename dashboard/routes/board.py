"""The overdue board (逾期看板) with its filters, and its CSV / xlsx export."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from dashboard import board, export
from dashboard.board import BoardFilter
from dashboard.live import ledger_version
from dashboard.scope import SectionInfo, ViewScope, agencies_in, scope_for, sections_in
from dashboard.security import Viewer
from dashboard.web import Services, Svc, WebViewer, language, page_view, render

router = APIRouter()


@dataclass(frozen=True)
class BoardQuery:
    """The board's query string, checked: problems are shown beside the filter."""

    agency: str | None
    section: str | None
    obligation: str | None
    min_days: int
    due_on: dt.date | None
    page: int
    errors: dict[str, str]

    @classmethod
    def parse(cls, request: Request, lang: str) -> BoardQuery:
        params = request.query_params
        errors: dict[str, str] = {}

        def msg(zh: str, en: str) -> str:
            return en if lang == "en" else zh

        min_days = 0
        raw_days = params.get("days", "").strip()
        if raw_days:
            try:
                min_days = int(raw_days)
                if not 0 <= min_days <= board.MAX_DAYS_FILTER:
                    raise ValueError
            except ValueError:
                errors["days"] = msg(
                    f"须为 0 到 {board.MAX_DAYS_FILTER} 之间的整数",
                    f"a whole number from 0 to {board.MAX_DAYS_FILTER}",
                )
                min_days = 0
        due_on = None
        raw_due = params.get("due_on", "").strip()
        if raw_due:
            try:
                due_on = dt.date.fromisoformat(raw_due)
            except ValueError:
                errors["due_on"] = msg("不是日期（YYYY-MM-DD）", "not a date (YYYY-MM-DD)")
        page = 1
        raw_page = params.get("page", "").strip()
        if raw_page:
            try:
                page = max(1, min(int(raw_page), 100_000))
            except ValueError:
                page = 1
        return cls(
            agency=params.get("agency", "").strip()[:64] or None,
            section=params.get("section", "").strip()[:64] or None,
            obligation=params.get("obligation", "").strip()[:64] or None,
            min_days=min_days,
            due_on=due_on,
            page=page,
            errors=errors,
        )

    def params(self) -> dict[str, str]:
        values = {
            "agency": self.agency or "",
            "section": self.section or "",
            "obligation": self.obligation or "",
            "days": str(self.min_days) if self.min_days else "",
            "due_on": self.due_on.isoformat() if self.due_on else "",
        }
        return {key: value for key, value in values.items() if value}


def _resolve(
    svc: Services, viewer: Viewer, query: BoardQuery, lang: str, session: Session
) -> tuple[ViewScope, dict[int, SectionInfo], BoardFilter, dict[str, str]]:
    """The scope, its sections and the checked filter of a board request."""
    errors = dict(query.errors)
    scope = scope_for(session, viewer, query.agency)
    sections = sections_in(session, scope)
    section_id = None
    if query.section:
        matches = [
            info.id
            for info in sections.values()
            if str(info.id) == query.section or info.code == query.section
        ]
        if not matches:
            errors["section"] = "未知科室" if lang == "zh" else "unknown section"
        else:
            section_id = matches[0]
    obligation = query.obligation
    if obligation and obligation not in svc.domain().catalog:
        errors["obligation"] = "未知公开事项" if lang == "zh" else "unknown obligation"
        obligation = None
    filters = BoardFilter(section_id, obligation, query.min_days, query.due_on)
    return scope, sections, filters, errors


@router.get("/board", include_in_schema=False)
@page_view
def overdue_board(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    lang = language(request)
    query = BoardQuery.parse(request, lang)
    at = svc.now()
    domain = svc.domain()
    size = svc.config.page_size
    with svc.db.read() as session:
        version = ledger_version(session)  # first: see dashboard.live
        scope, sections, filters, errors = _resolve(svc, viewer, query, lang, session)
        agencies = agencies_in(session, scope) if viewer.all_agencies else []
        total = board.cached_count(
            session,
            svc.live,
            version,
            scope,
            filters,
            at=at,
            calendar=domain.calendar,
            tz=domain.tz,
        )
        pages = max(1, -(-total // size))
        page = min(query.page, pages)
        found = board.rows(
            session,
            scope,
            filters,
            at=at,
            calendar=domain.calendar,
            catalog=domain.catalog,
            tz=domain.tz,
            sections=sections,
            lang=lang,
            limit=size,
            offset=(page - 1) * size,
        )
    context = {
        "rows": found,
        "total": total,
        "page": page,
        "pages": pages,
        "params": query.params(),
        "query": query,
        "sections": sections,
        "agencies": agencies,
        "obligations": sorted(domain.catalog.items()),
        "errors": errors,
        "today": at.astimezone(domain.tz).date(),
    }
    template = "_board_rows.html" if request.headers.get("hx-request") else "board.html"
    status = 400 if errors else 200
    return render(request, template, context, status_code=status)


def _export_rows(
    request: Request, viewer: Viewer, svc: Services
) -> tuple[list[board.BoardRow], str]:
    lang = language(request)
    query = BoardQuery.parse(request, lang)
    at = svc.now()
    domain = svc.domain()
    with svc.db.read() as session:
        scope, sections, filters, _errors = _resolve(svc, viewer, query, lang, session)
        found = board.rows(
            session,
            scope,
            filters,
            at=at,
            calendar=domain.calendar,
            catalog=domain.catalog,
            tz=domain.tz,
            sections=sections,
            lang=lang,
            limit=svc.config.max_export_rows,
        )
    stamp = at.astimezone(domain.tz).strftime("%Y%m%d-%H%M")
    return found, stamp


@router.get("/board.csv", include_in_schema=False)
def board_csv(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    found, stamp = _export_rows(request, viewer, svc)
    body = export.to_csv(found, tz=svc.domain().tz, lang=language(request))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="overdue-{stamp}.csv"'},
    )


@router.get("/board.xlsx", include_in_schema=False)
def board_xlsx(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    found, stamp = _export_rows(request, viewer, svc)
    body = export.to_xlsx(found, tz=svc.domain().tz, lang=language(request))
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="overdue-{stamp}.xlsx"'},
    )
