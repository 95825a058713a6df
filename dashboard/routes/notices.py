"""Calendar notices (放假通知): the years' status, loading a State Council notice, and the
tasks whose due dates the notice moved."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import col, select
from starlette.datastructures import UploadFile

from dashboard.security import Viewer, check_csrf
from dashboard.web import Services, Svc, WebViewer, language, page_view, render
from db.context import PermissionDenied
from db.models import CalendarNotice, Section
from db.notices import load_notice
from obligations.errors import NoticeError

router = APIRouter(dependencies=[Depends(check_csrf)])

#: The shipped example of the notice format, shown on the page.
EXAMPLE = """year: 2027
title: 国务院办公厅关于2027年部分节假日安排的通知
number: 国办发明电〔2026〕X号
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-05, to: 2027-02-12}
makeup_workdays:
  - {date: 2027-02-14, for: 春节}
"""


def _page(
    request: Request,
    svc: Services,
    viewer: Viewer,
    *,
    errors: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    at = svc.now()
    domain = svc.domain()
    year = at.astimezone(domain.tz).year
    with svc.db.read() as session:
        notices = list(
            session.exec(
                select(CalendarNotice).order_by(col(CalendarNotice.loaded_at).desc()).limit(50)
            ).all()
        )
    coverage = domain.calendar.coverage(
        [
            y
            for y in range(year - 1, year + 3)
            if domain.calendar.first_year <= y <= domain.calendar.last_year
        ]
    )
    return render(
        request,
        "notices.html",
        {
            "notices": notices,
            "coverage": coverage,
            "errors": errors or {},
            "result": result,
            "can_load": viewer.role in ("office", "gov_office"),
            "example": EXAMPLE,
            "max_kb": svc.config.max_upload_bytes // 1024,
        },
        status_code=status_code,
    )


@router.get("/notices", include_in_schema=False)
@page_view
def notices_page(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    return _page(request, svc, viewer)


@router.post("/notices", include_in_schema=False)
async def upload_notice(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    if viewer.role not in ("office", "gov_office"):
        raise PermissionDenied(f"{viewer.username} may not load calendar notices")
    zh = language(request) == "zh"
    form = await request.form()
    upload = form.get("notice")
    pasted = form.get("text")
    limit = svc.config.max_upload_bytes
    raw: bytes = b""
    source = "dashboard"
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(limit + 1)
        source = f"dashboard:{upload.filename[:100]}"
    elif isinstance(pasted, str) and pasted.strip():
        raw = pasted.encode("utf-8")
    field = "notice"
    if not raw:
        return await _refuse(
            request,
            svc,
            viewer,
            field,
            "请选择通知文件（YAML）" if zh else "choose the notice file (YAML)",
        )
    if len(raw) > limit:
        return await _refuse(
            request,
            svc,
            viewer,
            field,
            f"文件过大（最多 {limit // 1024} KB）"
            if zh
            else f"the file is too large (at most {limit // 1024} KB)",
            status_code=413,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return await _refuse(
            request,
            svc,
            viewer,
            field,
            "文件不是 UTF-8 文本" if zh else "the file is not UTF-8 text",
        )
    at = svc.now()
    try:
        from starlette.concurrency import run_in_threadpool

        outcome = await run_in_threadpool(_load, svc, viewer, text, source, at)
    except NoticeError as exc:
        return await _refuse(request, svc, viewer, field, str(exc))
    return await run_in_threadpool(_page, request, svc, viewer, result=outcome)


def _load(svc: Services, viewer: Viewer, text: str, source: str, at: Any) -> dict[str, Any]:
    with svc.db.write() as session:
        result, new_domain = load_notice(
            session, svc.domain(), text=text, source=source, actor=viewer.actor, at=at
        )
        section_ids = {moved.section_id for moved in result.moved}
        names = {
            section.id: section.name
            for section in session.exec(
                select(Section).where(col(Section.id).in_(sorted(section_ids)))
            ).all()
        }
    svc.domain_changed(new_domain)
    visible = [
        moved
        for moved in result.moved
        if viewer.all_agencies
        or (
            moved.agency_id == viewer.agency_id
            and (not viewer.is_section_bound or moved.section_id == viewer.section_id)
        )
    ]
    return {
        "year": result.notice.year,
        "title": result.notice.title,
        "source": result.notice.source,
        "checked": result.checked,
        "moved": [
            {
                "task_id": moved.task_id,
                "title": moved.title,
                "section": names.get(moved.section_id, str(moved.section_id)),
                "before": moved.due_before,
                "after": moved.due_after,
            }
            for moved in visible
        ],
        "moved_total": len(result.moved),
    }


async def _refuse(
    request: Request,
    svc: Services,
    viewer: Viewer,
    field: str,
    message: str,
    *,
    status_code: int = 422,
) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        lambda: _page(request, svc, viewer, errors={field: message}, status_code=status_code)
    )
