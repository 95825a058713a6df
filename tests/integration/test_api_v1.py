"""The REST API /api/v1 and the ICS feeds over HTTP on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db.models import AuditEntry, Event, Task


def api(site: Any, token: str = "cms") -> Any:
    client = site.client()
    client.headers["Authorization"] = f"Bearer {site.tokens[token]}"
    return client


def audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AuditEntry)).one())


POLICY = {
    "type": "document_published",
    "occurred_at": "2026-11-26T09:30:00+08:00",
    "external_id": "CMS-2026-0815",
    "section": "general",
    "title": "关于进一步稳外贸的若干措施",
    "attributes": {"doc_kind": "policy", "channel": "website", "doc_number": "厦商务〔2026〕8号"},
}


def test_openapi_document_lists_the_endpoints(site: Any) -> None:
    spec = site.client().get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/v1/events", "/api/v1/tasks", "/api/v1/tasks/{task_id}"} <= set(paths)
    assert "/api/v1/tasks/{task_id}/complete" in paths
    assert "/api/v1/tasks/{task_id}/extend" in paths
    assert not any(not path.startswith("/api/") for path in paths)  # pages stay out
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_authentication_is_required(site: Any) -> None:
    client = site.client()
    answer = client.get("/api/v1/tasks")
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith("authentication required")
    bad = client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    feed = client.get(
        "/api/v1/tasks", headers={"Authorization": f"Bearer {site.tokens['trade-feed']}"}
    )
    assert feed.status_code == 401  # a feed token is not an API token


def test_register_an_event_is_idempotent_by_external_id(site: Any) -> None:
    client = api(site)
    first = client.post("/api/v1/events", json=POLICY)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert [task["obligation"] for task in body["tasks"]] == ["policy-interpretation"]
    assert body["tasks"][0]["due_date"] == "2026-12-01"
    again = client.post("/api/v1/events", json=POLICY)
    assert again.status_code == 200
    assert again.json()["event_id"] == body["event_id"]
    assert again.json()["created"] is False
    with Session(site.engine) as session:
        assert (
            len(session.exec(select(Event).where(Event.external_id == "CMS-2026-0815")).all()) == 1
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "2026-11-26T09:30:00"}, "occurred_at"),  # no offset
        ({"occurred_at": "2099-01-01T00:00:00+08:00"}, "occurred_at"),  # future / out of range
        ({"occurred_at": "not a date"}, "occurred_at"),
        ({"section": "no-such-section"}, "section"),
        ({"type": "party"}, "type"),
        ({"attributes": {"doc_kind": "poem"}}, "attributes.doc_kind"),
        ({"attributes": {"colour": "red"}}, "attributes.colour"),
        ({"title": "x" * 501}, "title"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_events_are_refused_naming_the_field(
    site: Any, change: dict[str, Any], field: str
) -> None:
    before = audit_count(site.engine)
    answer = api(site).post("/api/v1/events", json={**POLICY, **change})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field, answer.json()
    assert audit_count(site.engine) == before


def test_request_without_required_attribute_names_it(site: Any) -> None:
    answer = api(site).post(
        "/api/v1/events",
        json={
            "type": "request_received",
            "occurred_at": "2026-11-26T09:30:00+08:00",
            "section": "foreign-trade",
            "attributes": {"channel": "in_person"},
        },
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "attributes.applicant_type"


def test_list_and_show_tasks_within_the_tokens_scope(site: Any) -> None:
    office = api(site)
    everything = office.get("/api/v1/tasks", params={"status": "all"}).json()
    assert everything["count"] == 4
    overdue = office.get("/api/v1/tasks", params={"status": "overdue"}).json()
    assert overdue["count"] == 3
    assert all(task["overdue"] for task in overdue["data"])
    page = office.get("/api/v1/tasks", params={"status": "all", "limit": 1, "offset": 1}).json()
    assert len(page["data"]) == 1
    assert page["count"] == 4
    chief = api(site, "trade-api")
    mine = chief.get("/api/v1/tasks", params={"status": "all"}).json()
    assert {task["section"] for task in mine["data"]} == {"foreign-trade"}
    other = site.tasks["general-doc"]
    assert chief.get(f"/api/v1/tasks/{other}").status_code == 403
    detail = office.get(f"/api/v1/tasks/{other}").json()
    assert detail["explanation"][0].startswith("起算日")
    assert detail["clock_events"][0]["kind"] == "start"
    assert office.get("/api/v1/tasks/999999").status_code == 404
    bad = office.get("/api/v1/tasks", params={"status": "late"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "status"
    unknown = office.get("/api/v1/tasks", params={"section": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "section"


def test_complete_and_extend(site: Any) -> None:
    office = api(site)
    task_id = site.tasks["general-doc"]
    refused = office.post(f"/api/v1/tasks/{task_id}/complete", json={"evidence": "ftp://x"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "evidence"
    done = office.post(
        f"/api/v1/tasks/{task_id}/complete",
        json={
            "evidence": "https://www.xm.gov.cn/zwgk/zcjd/1.html",
            "done_at": "2026-11-20T10:00:00+08:00",
        },
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["timeliness"] == "late"
    twice = office.post(
        f"/api/v1/tasks/{task_id}/complete", json={"evidence": "https://www.xm.gov.cn/1.html"}
    )
    assert twice.status_code == 422
    request_task = site.tasks["request-reply"]
    chief = api(site, "trade-api")
    assert (
        chief.post(
            f"/api/v1/tasks/{request_task}/extend", json={"amount": 5, "approver": "李办公"}
        ).status_code
        == 403
    )
    too_long = office.post(
        f"/api/v1/tasks/{request_task}/extend", json={"amount": 25, "approver": "李办公"}
    )
    assert too_long.status_code == 422
    assert too_long.json()["error"]["field"] == "amount"
    extended = office.post(
        f"/api/v1/tasks/{request_task}/extend",
        json={"amount": 10, "approver": "李办公", "reason": "征求第三方意见"},
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["extended_by"] == 10
    needs = chief.post(
        f"/api/v1/tasks/{request_task}/complete", json={"evidence": "https://www.xm.gov.cn/1.html"}
    )
    assert needs.status_code == 422
    assert needs.json()["error"]["field"] == "outcome_code"
    with Session(site.engine) as session:
        task = session.get(Task, request_task)
        assert task is not None
        assert task.status == "open"


def test_ics_feed_per_section_and_person(site: Any) -> None:
    from db.context import Actor
    from db.engine import session_scope
    from db.users import create_api_token, resolve_scope

    client = site.client()
    feed = client.get(f"/ics/{site.tokens['trade-feed']}.ics")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    text = feed.content.decode()
    assert text.count("BEGIN:VEVENT") == 2  # the request's two duties, not 综合科's
    assert "DTSTART;VALUE=DATE:" in text
    with session_scope(site.engine) as session:
        scope = resolve_scope(
            session,
            role="leader",
            agency_code="xm-commerce",
            section_code=None,
            person_name="赵局长",
        )
        secret = create_api_token(
            session,
            name="leader-feed",
            purpose="feed",
            role="leader",
            scope=scope,
            actor=Actor.system("t"),
            at=site.at,
        ).secret
    whole = client.get(f"/ics/{secret}.ics").content.decode()
    assert whole.count("BEGIN:VEVENT") == 4  # a person without a section follows the agency
    assert client.get("/ics/not-a-token.ics").status_code == 404
    assert client.get(f"/ics/{site.tokens['cms']}.ics").status_code == 404  # API token ≠ feed
