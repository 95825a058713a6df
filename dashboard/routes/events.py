"""Registering events (事件登记): a published document, a request with applicant type and
channel, a suggestion, a sentiment, a decision … each spawns its tasks through the ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard.forms import Form
from dashboard.routes.tasks import FormData
from dashboard.scope import SectionInfo, ViewScope, agencies_in, scope_for, sections_in
from dashboard.security import Viewer, check_csrf
from dashboard.web import Services, Svc, WebViewer, flash, language, page_view, redirect, render
from db.context import PermissionDenied
from db.models import Agency, Event, Task
from db.spawn import record_event
from obligations.catalog import EventType
from obligations.errors import ObligationsError
from obligations.events import (
    APPLICANT_TYPES,
    EVENT_ATTRIBUTES,
    PUBLICATION_CHANNELS,
    RECEIPT_CHANNELS,
    validate_attributes,
)

router = APIRouter(dependencies=[Depends(check_csrf)])

#: Event types offered on the page, in this order (the five of the office's daily work first).
FORM_TYPES = (
    EventType.DOCUMENT_PUBLISHED,
    EventType.REQUEST_RECEIVED,
    EventType.SUGGESTION_ASSIGNED,
    EventType.SENTIMENT_DETECTED,
    EventType.DECISION_MADE,
    EventType.APPROVAL_RECEIVED,
    EventType.INFORMATION_FORMED,
    EventType.MESSAGE_RECEIVED,
)

#: Labels of attribute values shown in the selects (zh, en); others show the value itself.
VALUE_LABELS: dict[str, tuple[str, str]] = {
    **dict(APPLICANT_TYPES.items()),
    **{f"receipt:{key}": labels for key, labels in RECEIPT_CHANNELS.items()},
    **{f"publication:{key}": labels for key, labels in PUBLICATION_CHANNELS.items()},
    "regulation": ("规章", "regulation"),
    "normative": ("行政规范性文件", "normative document"),
    "policy": ("政策文件", "policy document"),
    "npc": ("人大代表建议", "NPC deputies' suggestion"),
    "cppcc": ("政协委员提案", "CPPCC proposal"),
    "major": ("重大舆情", "major"),
    "licensing": ("行政许可", "licensing"),
    "penalty": ("行政处罚", "penalty"),
    "enforcement": ("行政强制", "enforcement"),
    "budget": ("预算", "budget"),
    "final_accounts": ("决算", "final accounts"),
    "consultation": ("咨询", "consultation"),
    "director_mailbox": ("局长信箱", "director's mailbox"),
    "complaint": ("投诉", "complaint"),
    "other": ("其他", "other"),
}

ATTRIBUTE_LABELS: dict[str, tuple[str, str]] = {
    "doc_kind": ("文件类型", "document kind"),
    "channel": ("渠道", "channel"),
    "doc_number": ("文号", "document number"),
    "applicant_type": ("申请人类型", "applicant type"),
    "confirmed_on": (
        "确认收到日期（非当面/签收邮寄时必填）",
        "confirmed on (needed unless in person / signed post)",
    ),
    "applicant": ("申请人", "applicant"),
    "source": ("来源", "source"),
    "number": ("编号", "number"),
    "severity": ("级别", "severity"),
    "occurred_at": ("发生时间", "occurred at"),
    "kind": ("类别", "kind"),
    "category": ("信息类别", "category"),
    "box": ("信箱", "mailbox"),
}


def attribute_field(kind: EventType, name: str) -> str:
    return f"attr_{kind.value}_{name}"


def value_label(kind: EventType, name: str, value: str, lang: str) -> str:
    key = value
    if name == "channel":
        key = ("receipt:" if kind is EventType.REQUEST_RECEIVED else "publication:") + value
    labels = VALUE_LABELS.get(key)
    if labels is None:
        return value
    return labels[1] if lang == "en" else labels[0]


def _form_specs(lang: str) -> list[dict[str, Any]]:
    specs = []
    for kind in FORM_TYPES:
        fields = []
        for spec in EVENT_ATTRIBUTES[kind]:
            labels = ATTRIBUTE_LABELS.get(spec.name, (spec.name, spec.name))
            fields.append(
                {
                    "name": attribute_field(kind, spec.name),
                    "label": labels[1] if lang == "en" else labels[0],
                    "required": spec.required,
                    "date": spec.name == "confirmed_on",
                    "choices": [
                        (value, value_label(kind, spec.name, value, lang)) for value in spec.allowed
                    ]
                    if spec.allowed
                    else None,
                }
            )
        specs.append({"type": kind.value, "label": kind.label(lang), "fields": fields})
    return specs


def _recent(
    session: Session, scope: ViewScope, sections: dict[int, SectionInfo], limit: int = 30
) -> list[dict[str, Any]]:
    statement = select(Event).order_by(col(Event.recorded_at).desc(), col(Event.id).desc())
    if scope.agency_id is not None:
        statement = statement.where(col(Event.agency_id) == scope.agency_id)
    if scope.section_id is not None:
        statement = statement.where(col(Event.section_id) == scope.section_id)
    events = list(session.exec(statement.limit(limit)).all())
    ids = [event.id for event in events]
    counts = dict(
        session.exec(
            select(Task.event_id, func.count())
            .where(col(Task.event_id).in_(ids))
            .group_by(col(Task.event_id))
        ).all()
    )
    return [
        {
            "event": event,
            "section": sections.get(event.section_id) if event.section_id else None,
            "tasks": int(counts.get(event.id, 0)),
        }
        for event in events
    ]


def _page(
    request: Request,
    svc: Services,
    viewer: Viewer,
    *,
    agency: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    created: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    lang = language(request)
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        sections = sections_in(session, scope)
        agencies = agencies_in(session, scope) if viewer.all_agencies else []
        recent = _recent(session, scope, sections)
    return render(
        request,
        "events.html",
        {
            "specs": _form_specs(lang),
            "sections": sections,
            "agencies": agencies,
            "recent": recent,
            "errors": errors or {},
            "form": form or {"type": EventType.DOCUMENT_PUBLISHED.value},
            "can_register": viewer.is_office,
            "created": created or [],
            "now_local": svc.now().astimezone(svc.domain().tz).strftime("%Y-%m-%dT%H:%M"),
        },
        status_code=status_code,
    )


@router.get("/events", include_in_schema=False)
@page_view
def events_page(
    request: Request, viewer: WebViewer, svc: Svc, agency: str | None = None
) -> Response:
    if viewer.is_section_bound:
        raise PermissionDenied(f"{viewer.username}: events are registered by the office")
    return _page(request, svc, viewer, agency=agency)


def _field_of(message: str, kind: EventType | None) -> str:
    """The form field a ledger message is about (it names the attribute or the part)."""
    if kind is not None:
        for spec in EVENT_ATTRIBUTES[kind]:
            if f"'{spec.name}'" in message or f"{spec.name}=" in message or spec.name in message:
                return attribute_field(kind, spec.name)
    if "section" in message:
        return "section"
    if "time" in message or "date" in message or "calendar" in message:
        return "occurred_at"
    if "external" in message:
        return "external_id"
    return "type"


@router.post("/events", include_in_schema=False)
def register_event(request: Request, data: FormData, viewer: WebViewer, svc: Svc) -> Response:
    if not viewer.is_office:
        raise PermissionDenied(f"{viewer.username}: only the office registers events")
    lang = language(request)
    domain = svc.domain()
    at = svc.now()
    form = Form(data, lang)
    type_value = form.choice("type", tuple(kind.value for kind in FORM_TYPES))
    kind = EventType(type_value) if type_value else None
    occurred = form.moment("occurred_at", tz=domain.tz, required=True)
    if occurred is not None and occurred > at:
        form.error("occurred_at", "不能晚于现在", "cannot be in the future")
    title = form.text("title", required=True, max_length=500)
    external_id = form.optional_text("external_id", max_length=200)
    section_value = form.text("section", max_length=20)
    agency_code = form.optional_text("agency", max_length=64)
    attributes: dict[str, str] = {}
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency_code)
        sections = sections_in(session, scope)
        agencies = agencies_in(session, scope)
    section: SectionInfo | None = None
    if section_value:
        section = next((s for s in sections.values() if str(s.id) == section_value), None)
        if section is None:
            form.error("section", "未知科室", "unknown section")
    if kind is not None:
        for spec in EVENT_ATTRIBUTES[kind]:
            value = form.text(attribute_field(kind, spec.name), max_length=200)
            if value:
                attributes[spec.name] = value
        if not form.errors:
            try:
                validate_attributes(kind, attributes)
            except ObligationsError as exc:
                form.errors[_field_of(str(exc), kind)] = str(exc)
    agency_id: int | None
    if section is not None:
        agency_id = section.agency_id
    elif len(agencies) == 1:
        agency_id = agencies[0].id
    else:
        form.error("agency", "请选择机关", "choose the agency")
        agency_id = None
    values = {key: value for key, value in data.items() if key != "csrf_token"}
    if form.errors or kind is None or occurred is None or agency_id is None:
        return _page(
            request,
            svc,
            viewer,
            agency=agency_code,
            errors=form.errors,
            form=values,
            status_code=422,
        )
    try:
        with svc.db.write() as session:
            agency = session.get(Agency, agency_id)
            assert agency is not None
            result = record_event(
                session,
                domain,
                agency_code=agency.code,
                event_type_name=kind.value,
                occurred_at=occurred,
                actor=viewer.actor,
                at=at,
                attributes=attributes,
                external_id=external_id,
                section_code=section.code if section else None,
                title=title,
            )
            task_ids = list(result.task_ids)
            created = result.created
    except PermissionDenied:
        raise
    except ObligationsError as exc:
        errors = {_field_of(str(exc), kind): str(exc)}
        return _page(
            request, svc, viewer, agency=agency_code, errors=errors, form=values, status_code=422
        )
    svc.stats.clear()
    zh = lang == "zh"
    if created:
        flash(
            request,
            f"已登记，生成 {len(task_ids)} 项任务"
            if zh
            else f"Recorded; {len(task_ids)} task(s) created",
        )
    else:
        flash(
            request,
            "该外部编号已登记过，未重复生成任务"
            if zh
            else "Already recorded with this external id; nothing created",
            "warn",
        )
    target = "/events" + (f"?agency={agency_code}" if agency_code else "")
    if len(task_ids) == 1:
        target = f"/tasks/{task_ids[0]}"
    return redirect(target)
