"""告知书 drafts from a request's task page: 补正告知书 and 延期答复告知书 as .docx.

The ledger gives the facts (agency, receipt date, extension, new due date); the form adds
the applicant's name, the 文号 and the reason or what to correct, which are not stored.
Only someone who may act on the task (its section, or the office) makes the draft.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from dashboard.forms import Form, RowId
from dashboard.routes.tasks import FormData, letter_kinds, rerender_task
from dashboard.security import check_csrf
from dashboard.web import Svc, WebViewer, language
from db import tasks as ledger
from db.context import PermissionDenied
from db.models import Agency, Event
from reports.letters import LetterError, LetterFacts, LetterInput, LetterKind, letter_docx

router = APIRouter(dependencies=[Depends(check_csrf)])

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.post("/letters/{task_id}", include_in_schema=False)
def make_letter(
    request: Request, task_id: RowId, data: FormData, viewer: WebViewer, svc: Svc
) -> Response:
    lang = language(request)
    domain = svc.domain()
    form = Form(data, lang)
    with svc.db.read() as session:
        task = ledger.get_task(session, task_id, viewer.actor, for_write=False)
        if not viewer.can_write:
            raise PermissionDenied(f"{viewer.username} is read-only")
        viewer.actor.check_write(task.agency_id, task.section_id)
        offered = letter_kinds(task)
        kind_value = form.choice("kind", tuple(kind.value for kind in LetterKind))
        if kind_value is not None and kind_value not in offered:
            form.error(
                "kind",
                "此任务不能出具该告知书（延期告知书须在批准延期后出具）",
                "this task has no such letter (an extension letter needs an approved extension)",
            )
        applicant = form.text("applicant", required=True, max_length=200)
        number = form.text("number", max_length=100)
        correction = form.text("correction", max_length=500)
        days = form.integer("correction_days", minimum=1, maximum=60, required=False)
        reason = form.text("reason", max_length=500)
        agency = session.get(Agency, task.agency_id)
        event = session.get(Event, task.event_id) if task.event_id is not None else None
    if form.errors or kind_value is None:
        return rerender_task(request, svc, viewer, task_id, "letter", form.errors, data)
    kind = LetterKind(kind_value)
    received = (event.occurred_at if event else task.created_at).astimezone(domain.tz).date()
    facts = LetterFacts(
        agency_name=agency.name if agency else "",
        received_on=received,
        request_title=event.title if event and event.title else task.title,
        due_on=task.due_date,
        extended_by=task.extended_by,
    )
    given = LetterInput(
        applicant=applicant,
        number=number,
        correction=correction,
        correction_days=days or 15,
        reason=reason,
    )
    try:
        body = letter_docx(kind, facts, given, issued_on=svc.now().astimezone(domain.tz).date())
    except LetterError as exc:
        field, _, message = str(exc).partition(": ")
        return rerender_task(request, svc, viewer, task_id, "letter", {field: message}, data)
    name = f"{kind.title()}-{task_id}.docx"
    return Response(
        body,
        media_type=DOCX,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"letter-{task_id}.docx\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )
