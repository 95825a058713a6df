"""The task page (任务详情) and its actions, and the office's queue of extension requests.

Every action is a POST of a plain form (CSRF-checked) that calls one ledger operation of
``db.tasks`` with the logged-in user as the actor; the ledger checks the user may act on
that task, so editing the URL to another section's task is refused there too. A bad field
re-renders the page with the message beside the field and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from dashboard.board import due_text, obligation_title
from dashboard.forms import MAX_ID, FieldErrors, Form, RowId
from dashboard.scope import scope_for, sections_in
from dashboard.security import Viewer, check_csrf
from dashboard.web import Services, Svc, WebViewer, flash, language, page_view, redirect, render
from db import tasks as ledger
from db.bindings import decide_extension, extension_room, pending_extensions, request_extension
from db.context import PermissionDenied
from db.errors import NotFoundError
from db.models import Agency, ExtensionRequest, Section, Task, TaskStatus
from db.queries import task_history
from obligations.catalog import Feed
from obligations.errors import ObligationsError, OutOfRangeError
from obligations.outcomes import OUTCOMES

router = APIRouter(dependencies=[Depends(check_csrf)])

#: Largest extension a form accepts; the rule's own cap is checked by the ledger.
MAX_AMOUNT = 60

ACTIONS = (
    "complete",
    "extend",
    "request_extension",
    "decide_extension",
    "pause",
    "resume",
    "restart",
    "cancel",
    "reopen",
)


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormData = Annotated[dict[str, str], Depends(read_form)]


def _working_days(svc: Services, start: dt.date, end: dt.date) -> int | None:
    try:
        return svc.domain().calendar.workdays_between(start, end)
    except OutOfRangeError:
        return None


def _audit_rows(entries: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        before = entry.before or {}
        after = entry.after or {}
        changes = [
            (name, before.get(name), after.get(name))
            for name in ledger.AUDITED_FIELDS
            if name in after and before.get(name) != after.get(name)
        ]
        notes = [
            f"{key}: {after[key]}"
            for key in ("note", "reason", "notice", "obligation", "dedupe_key")
            if after.get(key)
        ]
        rows.append({"entry": entry, "changes": changes, "notes": notes})
    return rows


#: Tasks of a disclosure request, whose handling sends the applicant a 告知书.
LETTER_TASKS = {
    "request-reply": ("correction", "extension"),
    "request-correction-notice": ("correction",),
}


def letter_kinds(task: Task) -> list[str]:
    """The letters the task page offers: an extension letter only once one was approved."""
    kinds = LETTER_TASKS.get(task.obligation_code, ())
    return [kind for kind in kinds if kind != "extension" or task.extended_by > 0]


def task_context(
    session: Session, svc: Services, viewer: Viewer, task_id: int, lang: str
) -> dict[str, Any]:
    """Everything the task page shows; PermissionDenied for a task the viewer may not see."""
    domain = svc.domain()
    at = svc.now()
    task = ledger.get_task(session, task_id, viewer.actor, for_write=False)
    assert task.id is not None
    section = session.get(Section, task.section_id)
    agency = session.get(Agency, task.agency_id)
    deadline = ledger.explain_task(session, task, domain)
    events, audit = task_history(session, task.id)
    rule = ledger.rule_of(task)
    snapshot = task.rule
    feeds = set(snapshot.get("feeds", []))
    today = at.astimezone(domain.tz).date()
    overdue = task.status == TaskStatus.OPEN.value and task.due_at is not None and task.due_at <= at
    days_left = None
    days_over = None
    if task.due_date is not None and task.status == TaskStatus.OPEN.value:
        if overdue:
            days_over = _working_days(svc, task.due_date, today)
        else:
            days_left = _working_days(svc, today, task.due_date)
    requests = requests_for_task(session, task.id)
    pending = next((item for item in requests if item.status == "pending"), None)
    room, times = extension_room(session, task)
    active = task.status in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value)
    own = viewer.all_agencies or (
        viewer.agency_id == task.agency_id
        and (not viewer.is_section_bound or viewer.section_id == task.section_id)
    )
    writer = viewer.can_write and own
    office = writer and viewer.is_office
    title = snapshot.get("title", {})
    return {
        "task": task,
        "section": section,
        "agency": agency,
        "obligation": obligation_title(domain.catalog, task.obligation_code, lang)
        if task.obligation_code in domain.catalog
        else (title.get("en" if lang == "en" else "zh") if isinstance(title, dict) else None)
        or task.obligation_code,
        "rule": rule.describe(lang),
        "basis": list(snapshot.get("basis", [])),
        "deadline": deadline,
        "steps": deadline.explain(lang),
        "events": events,
        "audit": _audit_rows(audit),
        "requests": requests,
        "pending": pending,
        "overdue": overdue,
        "days_left": days_left,
        "days_over": days_over,
        "needs_outcome": Feed.TABLE3.value in feeds,
        "outcomes": OUTCOMES,
        "can": {
            "complete": writer and active,
            "request_extension": writer
            and active
            and not viewer.is_office
            and pending is None
            and room > 0
            and times > 0,
            "extend": office and active and room > 0 and times > 0,
            "decide": office and pending is not None,
            "pause": writer
            and task.status == TaskStatus.OPEN.value
            and rule.for_start(task.start_date)[0].pausable,
            "resume": writer and task.status == TaskStatus.PAUSED.value,
            "restart": writer and task.status == TaskStatus.OPEN.value and task.period_key is None,
            "cancel": office and active,
            "reopen": office and not active,
        },
        "letters": letter_kinds(task) if writer else [],
        "now_local": at.astimezone(domain.tz).strftime("%Y-%m-%dT%H:%M"),
        "extension_room": room,
        "due_label": due_text(task.due_date, task.due_at, domain.tz)
        + (" 24:00" if task.due_at and task.due_at.astimezone(domain.tz).hour == 0 else ""),
        "unit": rule.unit.label(lang),
    }


def requests_for_task(session: Session, task_id: int) -> list[ExtensionRequest]:
    return list(
        session.exec(
            select(ExtensionRequest)
            .where(ExtensionRequest.task_id == task_id)
            .order_by(col(ExtensionRequest.id))
        ).all()
    )


@router.get("/tasks/{task_id}", include_in_schema=False)
@page_view
def task_page(request: Request, task_id: RowId, viewer: WebViewer, svc: Svc) -> Response:
    lang = language(request)
    with svc.db.read() as session:
        context = task_context(session, svc, viewer, task_id, lang)
    return render(request, "task.html", context)


def _apply(
    action: str, form: Form, svc: Services, viewer: Viewer, task_id: int
) -> Callable[[Session], str]:
    """Read the action's fields (collecting errors) and return the ledger call to run."""
    domain = svc.domain()
    tz = domain.tz
    at = svc.now()
    actor = viewer.actor
    zh = form.lang == "zh"
    if action == "complete":
        evidence = form.url("evidence")
        done_at = form.moment("done_at", tz=tz)
        outcome = form.choice("outcome", {item.code: item for item in OUTCOMES}, required=False)
        service_date = form.date("service_date")
        if done_at is not None and done_at > at:
            form.error("done_at", "完成时间不能晚于现在", "cannot be in the future")
        form.raise_if_errors()

        def complete(session: Session) -> str:
            ledger.complete(
                session,
                task_id,
                domain,
                actor=actor,
                at=at,
                evidence=evidence,
                done_at=done_at,
                outcome_code=outcome,
                service_date=service_date,
            )
            return "已标记完成" if zh else "Marked done"

        return complete
    if action == "extend":
        amount = form.integer("amount", minimum=1, maximum=MAX_AMOUNT)
        approver = form.text("approver", required=True, max_length=100)
        reason = form.text("reason", required=True, max_length=500)
        form.raise_if_errors()
        assert amount is not None
        units: int = amount

        def do_extend(session: Session) -> str:
            ledger.extend(
                session,
                task_id,
                domain,
                actor=actor,
                at=at,
                amount=units,
                approver=approver,
                reason=reason,
            )
            return "已延期" if zh else "Extended"

        return do_extend
    if action == "request_extension":
        amount = form.integer("amount", minimum=1, maximum=MAX_AMOUNT)
        reason = form.text("reason", required=True, max_length=1000)
        form.raise_if_errors()
        assert amount is not None

        def ask(session: Session) -> str:
            request_extension(session, task_id, actor=actor, at=at, amount=amount, reason=reason)
            return (
                "延期申请已提交，等待办公室审批"
                if zh
                else "Extension requested; the office decides"
            )

        return ask
    if action == "decide_extension":
        request_id = form.integer("request_id", minimum=1, maximum=MAX_ID)
        decision = form.choice("decision", ("approve", "reject"))
        note = form.text("note", max_length=1000)
        form.raise_if_errors()
        assert request_id is not None

        def decide(session: Session) -> str:
            found = session.get(ExtensionRequest, request_id)
            if found is None or found.task_id != task_id:
                raise NotFoundError(f"extension request {request_id} is not one of task {task_id}")
            decide_extension(
                session,
                request_id,
                domain,
                actor=actor,
                at=at,
                approve=decision == "approve",
                note=note,
            )
            if decision == "approve":
                return "已批准延期" if zh else "Extension approved"
            return "已驳回延期申请" if zh else "Extension request rejected"

        return decide
    if action == "pause":
        reason = form.text("reason", required=True, max_length=500)
        since = form.moment("since", tz=tz)
        form.raise_if_errors()

        def do_pause(session: Session) -> str:
            ledger.pause(session, task_id, domain, actor=actor, at=at, since=since, reason=reason)
            return "已中止计时" if zh else "Clock paused"

        return do_pause
    if action == "resume":
        since = form.moment("since", tz=tz)
        form.raise_if_errors()

        def do_resume(session: Session) -> str:
            ledger.resume(session, task_id, domain, actor=actor, at=at, since=since)
            return "已恢复计时" if zh else "Clock resumed"

        return do_resume
    if action == "restart":
        received = form.moment("received", tz=tz)
        form.raise_if_errors()

        def do_restart(session: Session) -> str:
            ledger.restart(session, task_id, domain, actor=actor, at=at, received=received)
            return "已重新计时（补正）" if zh else "Clock restarted (corrected request)"

        return do_restart
    if action in ("cancel", "reopen"):
        reason = form.text("reason", required=True, max_length=500)
        form.raise_if_errors()
        operation = ledger.cancel if action == "cancel" else ledger.reopen

        def close_or_open(session: Session) -> str:
            operation(session, task_id, domain, actor=actor, at=at, reason=reason)
            if action == "cancel":
                return "已撤销" if zh else "Cancelled"
            return "已重新打开" if zh else "Reopened"

        return close_or_open
    raise NotFoundError(f"no action {action!r}")


#: Which field a refusal of the ledger belongs to, per action.
LEDGER_FIELD = {
    "complete": "evidence",
    "extend": "amount",
    "request_extension": "amount",
    "decide_extension": "decision",
    "pause": "since",
    "resume": "since",
    "restart": "received",
    "cancel": "reason",
    "reopen": "reason",
}


@router.post("/tasks/{task_id}/{action}", include_in_schema=False)
def task_action(
    request: Request, task_id: RowId, action: str, data: FormData, viewer: WebViewer, svc: Svc
) -> Response:
    lang = language(request)
    if action not in ACTIONS:
        raise NotFoundError(f"no action {action!r}")
    form = Form(data, lang)
    try:
        run = _apply(action, form, svc, viewer, task_id)
        with svc.db.write() as session:
            message = run(session)
    except FieldErrors as exc:
        return rerender_task(request, svc, viewer, task_id, action, exc.errors, data)
    except (PermissionDenied, NotFoundError):
        raise
    except ObligationsError as exc:
        field = LEDGER_FIELD[action]
        if action == "complete" and "outcome" in str(exc):
            field = "outcome"
        elif action == "complete" and "service" in str(exc):
            field = "service_date"
        elif action == "complete" and "done_at" in str(exc):
            field = "done_at"
        return rerender_task(request, svc, viewer, task_id, action, {field: str(exc)}, data)
    svc.stats.clear()
    flash(request, message)
    return redirect(f"/tasks/{task_id}")


def rerender_task(
    request: Request,
    svc: Services,
    viewer: Viewer,
    task_id: int,
    action: str,
    errors: dict[str, str],
    data: dict[str, str],
) -> Response:
    lang = language(request)
    with svc.db.read() as session:
        context = task_context(session, svc, viewer, task_id, lang)
    form = {key: value for key, value in data.items() if key != "csrf_token"}
    context.update({"errors": errors, "form": form, "failed_action": action})
    return render(request, "task.html", context, status_code=422)


@router.get("/extensions", include_in_schema=False)
@page_view
def extension_queue(
    request: Request, viewer: WebViewer, svc: Svc, agency: str | None = None
) -> Response:
    """Pending extension requests: the office decides them; chiefs see their own."""
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        sections = sections_in(session, scope)
        pending = pending_extensions(session, viewer.actor)
    rows = [
        {"request": item, "task": task, "section": sections.get(task.section_id)}
        for item, task in pending
        if (scope.agency_id is None or task.agency_id == scope.agency_id)
        and (scope.section_id is None or task.section_id == scope.section_id)
    ]
    return render(request, "extensions.html", {"rows": rows})
