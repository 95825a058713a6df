"""期限计算器 The deadline calculator: "if this started then, when is it due, and why?"

A section chief about to reply to a request, or the office checking a colleague's date,
picks a duty and the day its clock started, and may add what happened since: a pause
(第三方征求意见, 中止计时), the day a corrected request arrived (补正, the clock restarts),
an approved extension. The page answers with the due moment, the provisional flag when a
year's holiday notice is not out yet, and the step-by-step explanation the task page shows,
computed by the same ``obligations.clocks.compute_due`` on the current calendar. Nothing is
stored: it is a GET form, so the answer can be bookmarked or sent to a colleague.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dashboard.board import due_text
from dashboard.forms import Form
from dashboard.web import Svc, WebViewer, language, page_view, render
from obligations.clocks import ClockEvent, ClockEventKind, Deadline, compute_due
from obligations.errors import ObligationsError
from obligations.rules import Unit

router = APIRouter()

#: Largest extension the form takes; the duty's own cap is checked by the clock.
MAX_EXTENSION = 365


def _field_of(message: str) -> str:
    """The form field a clock's refusal is about."""
    lowered = message.lower()
    if "extension" in lowered or "extend" in lowered:
        return "extend"
    if "pause" in lowered or "resume" in lowered:
        return "pause_from"
    if "restart" in lowered:
        return "restart"
    return "start"


@router.get("/deadline", include_in_schema=False)
@page_view
def deadline_page(request: Request, viewer: WebViewer, svc: Svc) -> Response:
    lang = language(request)
    domain = svc.domain()
    tz = domain.tz
    catalog = domain.catalog
    params = request.query_params
    form = Form(params, lang)
    asked = bool(params.get("obligation"))
    values = {key: params.get(key, "") for key in params if key != "csrf_token"}
    result: Deadline | None = None
    if asked:
        code = form.choice("obligation", tuple(catalog))
        started = form.moment("start", tz=tz, required=True)
        pause_from = form.moment("pause_from", tz=tz)
        pause_to = form.moment("pause_to", tz=tz)
        restart = form.moment("restart", tz=tz)
        amount = form.integer("extend", minimum=1, maximum=MAX_EXTENSION, required=False)
        if (pause_from is None) != (pause_to is None) and "pause_from" not in form.errors:
            form.error("pause_to", "中止计时须填写起止两个日期", "a pause needs both dates")
        events: list[ClockEvent] = []
        if started is not None:
            events.append(ClockEvent(ClockEventKind.START, started))
            timed: list[ClockEvent] = []
            if pause_from is not None and pause_to is not None:
                if pause_to < pause_from:
                    form.error(
                        "pause_to", "恢复日期早于中止日期", "the resume date is before the pause"
                    )
                elif pause_from < started:
                    form.error(
                        "pause_from", "中止日期早于起算日", "the pause starts before the clock"
                    )
                else:
                    timed += [
                        ClockEvent(ClockEventKind.PAUSE, pause_from),
                        ClockEvent(ClockEventKind.RESUME, pause_to),
                    ]
            if restart is not None:
                if restart < started:
                    form.error(
                        "restart",
                        "补正日期早于起算日",
                        "the correction arrives before the clock starts",
                    )
                else:
                    timed.append(ClockEvent(ClockEventKind.RESTART, restart))
            events += sorted(timed, key=lambda event: event.at)
            if amount is not None:
                approver = "期限计算器" if lang == "zh" else "calculator"
                events.append(
                    ClockEvent(
                        ClockEventKind.EXTEND, events[-1].at, amount=amount, approver=approver
                    )
                )
        if code is not None and not form.errors:
            try:
                result = compute_due(
                    catalog[code].deadline, events, calendar=domain.calendar, tz=tz, explain=True
                )
            except ObligationsError as exc:
                form.errors[_field_of(str(exc))] = str(exc)
    today = svc.now().astimezone(tz).date()
    context: dict[str, Any] = {
        "obligations": sorted(catalog.items()),
        "form": values,
        "errors": form.errors,
        "today": today.isoformat(),
    }
    if result is not None:
        obligation = catalog[values["obligation"]]
        due_label = due_text(result.due_date, result.due_at, tz)
        if result.due_at is not None and result.rule.unit is not Unit.HOUR:
            due_label += " 24:00"
        context.update(
            obligation=obligation,
            result=result,
            due_label=due_label,
            steps=result.explain(lang),
            calendar_month=(result.due_date or today).strftime("%Y-%m"),
        )
    return render(request, "deadline.html", context, status_code=422 if form.errors else 200)
