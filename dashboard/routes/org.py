"""The organisation page (组织机构): sections, people, their chat bindings, and bind codes.

Chat addresses can be secrets (a WeCom / DingTalk / Feishu robot's webhook key), so the page
shows which channels a person is bound on, never the address itself; e-mail addresses are
shown masked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import col, select

from dashboard.forms import MAX_ID, Form
from dashboard.routes.tasks import FormData
from dashboard.scope import ViewScope, agencies_in, scope_for, sections_in
from dashboard.security import check_csrf
from dashboard.web import Svc, WebViewer, language, page_view, render
from db.bindings import DEFAULT_CODE_TTL, issue_bind_code
from db.context import PermissionDenied
from db.models import ChatAddress, Person

router = APIRouter(dependencies=[Depends(check_csrf)])


def mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    if not domain:
        return "***"
    return f"{name[:1]}***@{domain}"


@router.get("/org", include_in_schema=False)
@page_view
def org_page(request: Request, viewer: WebViewer, svc: Svc, agency: str | None = None) -> Response:
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        agencies = agencies_in(session, scope)
        ids = [item.id for item in agencies]
        people = list(
            session.exec(
                select(Person).where(col(Person.agency_id).in_(ids)).order_by(col(Person.id))
            ).all()
        )
        addresses = list(
            session.exec(
                select(ChatAddress).where(col(ChatAddress.person_id).in_([p.id for p in people]))
            ).all()
        )
        # The whole agency's sections, for chiefs too: the organisation is no secret.
        sections = sections_in(session, ViewScope(agency_id=scope.agency_id))
    channels: dict[int, list[dict[str, Any]]] = {}
    for address in addresses:
        shown = mask_email(address.address) if address.channel == "email" else None
        channels.setdefault(address.person_id, []).append(
            {
                "channel": address.channel,
                "enabled": address.enabled,
                "shown": shown,
                "disabled_reason": address.disabled_reason,
            }
        )
    tree = []
    for item in agencies:
        agency_sections = [s for s in sections.values() if s.agency_id == item.id]
        tree.append(
            {
                "agency": item,
                "sections": [
                    {
                        "section": section,
                        "people": [p for p in people if p.section_id == section.id],
                    }
                    for section in agency_sections
                ],
                "others": [
                    p
                    for p in people
                    if p.agency_id == item.id
                    and p.section_id not in {s.id for s in agency_sections}
                ],
            }
        )
    return render(
        request,
        "org.html",
        {"tree": tree, "channels": channels, "can_bind": viewer.is_office and viewer.can_write},
    )


@router.post("/org/bind-code", include_in_schema=False)
def bind_code(request: Request, data: FormData, viewer: WebViewer, svc: Svc) -> Response:
    """Issue a one-time chat binding code for a person; the code is shown once."""
    if not viewer.is_office:
        raise PermissionDenied(f"{viewer.username}: only the office issues bind codes")
    form = Form(data, language(request))
    person_id = form.integer("person_id", minimum=1, maximum=MAX_ID)
    form.raise_if_errors()
    assert person_id is not None
    at = svc.now()
    with svc.db.write() as session:
        issued = issue_bind_code(session, person_id, actor=viewer.actor, at=at)
    # The one time the code is shown: to the office user, who hands it to the person.
    return render(
        request,
        "bind_code.html",
        {
            "person_name": issued.person,
            "code": issued.code,
            "expires": issued.expires_at,
            "hours": int(DEFAULT_CODE_TTL.total_seconds() // 3600),
        },
    )
