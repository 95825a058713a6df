"""ICS calendar feeds (日历订阅): a section's or a person's open deadlines, token in the URL.

Calendar apps cannot log in, so the feed URL carries a ``feed`` token (``gongkai user token
… --purpose feed``, or the section page's button); the token reads that section's open
tasks and nothing else. Day deadlines are all-day events on the due day; hour deadlines
(舆情) are timed events ending at the due moment.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import Response
from icalendar import Calendar, Event
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from dashboard.web import Services, Svc
from db.errors import NotFoundError
from db.models import ApiToken, Person, Section, Task, TaskStatus
from db.users import resolve_token

router = APIRouter()

#: Tasks a feed lists at most (soonest due first).
FEED_LIMIT = 1000


def _sections_of(session: Session, token: ApiToken) -> list[int]:
    if token.section_id is not None:
        return [token.section_id]
    if token.person_id is not None:
        person = session.get(Person, token.person_id)
        if person is not None and person.section_id is not None:
            return [person.section_id]
        if person is not None:
            # A person without a section (the office, a leader) follows the whole agency.
            return [
                section_id
                for section_id in session.exec(
                    select(Section.id).where(Section.agency_id == person.agency_id)
                ).all()
                if section_id is not None
            ]
    return []


def build_feed(session: Session, svc: Services, token: ApiToken, at: dt.datetime) -> bytes:
    domain = svc.domain()
    section_ids = _sections_of(session, token)
    sections = {
        section.id: section
        for section in session.exec(select(Section).where(col(Section.id).in_(section_ids))).all()
    }
    tasks = session.execute(
        sa_select(
            col(Task.id),
            col(Task.title),
            col(Task.section_id),
            col(Task.obligation_code),
            col(Task.due_date),
            col(Task.due_at),
            col(Task.provisional),
            col(Task.version),
            col(Task.rule),
        )
        .where(
            col(Task.section_id).in_(section_ids),
            col(Task.status) == TaskStatus.OPEN.value,
            col(Task.due_at).is_not(None),
        )
        .order_by(col(Task.due_at))
        .limit(FEED_LIMIT)
    ).all()
    calendar = Calendar()
    calendar.add("prodid", "-//gongkai//政务公开//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "政务公开 截止日 gongkai deadlines")
    calendar.add("x-wr-timezone", str(domain.tz))
    base = svc.config.base_url.rstrip("/")
    for task_id, title, section_id, code, due_date, due_at, provisional, version, rule in tasks:
        event = Event()
        event.add("uid", f"task-{task_id}@gongkai")
        summary = f"【截止】{title}" + ("（暂定）" if provisional else "")
        event.add("summary", summary)
        hourly = (rule or {}).get("deadline", {}).get("unit") == "hour"
        if hourly and due_at is not None:
            event.add("dtstart", due_at - dt.timedelta(hours=1))
            event.add("dtend", due_at)
        elif due_date is not None:
            event.add("dtstart", due_date)
            event.add("dtend", due_date + dt.timedelta(days=1))
        section = sections.get(section_id)
        lines = [
            f"科室 Section: {section.name if section else section_id}",
            f"事项 Obligation: {code}",
        ]
        if provisional:
            lines.append("截止日为暂定：所涉年份的放假通知尚未发布 (provisional due date)")
        event.add("description", "\n".join(lines))
        event.add("url", f"{base}/tasks/{task_id}")
        event.add("dtstamp", at)
        event.add("sequence", version)
        calendar.add_component(event)
    return calendar.to_ical()


@router.get("/ics/{token}.ics", include_in_schema=False)
def feed(token: str, svc: Svc) -> Response:
    at = svc.now()
    with svc.db.read() as session:
        found = resolve_token(session, token, purpose="feed")
        if found is None:
            raise NotFoundError("no such calendar feed (the link was revoked or mistyped)")
        body = build_feed(session, svc, found, at)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="gongkai.ics"'},
    )
