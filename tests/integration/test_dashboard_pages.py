"""Dashboard pages and actions against a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from db.models import AuditEntry, ExtensionRequest, Task


def task_row(engine: Engine, task_id: int) -> Task:
    with Session(engine) as session:
        found = session.get(Task, task_id)
        assert found is not None
        return found


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("username", list(support.PERSONAS))
def test_every_role_sees_every_page_it_may(site: Any, username: str) -> None:
    client = support.logged_in(site, username)
    pages = [
        "/",
        "/board",
        "/calendar",
        "/calendar?month=2027-02",
        "/org",
        "/notices",
        "/extensions",
        "/account",
        "/deadline",
    ]
    if username in ("office", "gov"):
        pages.append("/users")
    if username not in ("trade", "invest"):
        pages.append("/events")
    if username == "gov":
        pages.append("/agencies")
    for url in pages:
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text[:500])
        assert "text/html" in answer.headers["content-type"]
        assert answer.headers["cache-control"] == "no-store"


def test_overview_counts_overdue_per_section_and_draws_the_trend(site: Any) -> None:
    client = support.logged_in(site, "office")
    page = client.get("/").text
    assert (
        'data-testid="overdue-total"><b>3</b>' in page
    )  # 2 request duties + 综合科's interpretation
    assert "外贸科" in page
    assert "综合科" in page
    assert 'id="trend-data"' in page
    assert "2026-11" in page
    assert "/static/vendor/htmx.min.js" in page


def test_overdue_board_filters_worst_first_and_exports(site: Any) -> None:
    client = support.logged_in(site, "office")
    board = client.get("/board").text
    rows = [line for line in board.splitlines() if "<tr data-task=" in line]
    assert len(rows) == 3
    # worst first: the request (due early November) before the interpretation (due 11-13)
    first_id = int(rows[0].split('data-task="')[1].split('"')[0])
    assert first_id in (site.tasks["request-reply"], site.tasks["request-correction-notice"])
    trade = site.sections["foreign-trade"]
    only_trade = client.get(f"/board?section={trade}").text
    assert only_trade.count("<tr data-task=") == 2
    by_obligation = client.get("/board?obligation=policy-interpretation").text
    assert by_obligation.count("<tr data-task=") == 1
    long_overdue = client.get("/board?days=11").text  # only the request duties
    assert long_overdue.count("<tr data-task=") == 2
    partial = client.get("/board?days=11", headers={"HX-Request": "true"}).text
    assert partial.lstrip().startswith('<div id="board-rows">')
    bad = client.get("/board?days=-3")
    assert bad.status_code == 400
    assert 'data-field="days"' in bad.text

    exported = client.get(f"/board.csv?section={trade}")
    assert exported.headers["content-disposition"].startswith("attachment")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][0] == "任务编号"
    assert len(lines) == 3
    workbook = client.get("/board.xlsx")
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert sheet.max_row == 4


def test_task_page_explains_the_due_date_and_lists_history(site: Any) -> None:
    client = support.logged_in(site, "trade")
    page = client.get(f"/tasks/{site.tasks['request-reply']}").text
    assert "起算日" in page
    assert "截止：" in page
    assert 'data-testid="clock-events"' in page
    assert 'data-testid="audit"' in page
    assert 'id="form-complete"' in page
    assert 'id="form-request_extension"' in page
    assert 'id="form-cancel"' not in page  # office only
    assert client.get("/tasks/99999999999").status_code == 400  # beyond any id: refused, no 500
    assert client.get("/tasks/999999").status_code == 404


def test_chief_cannot_open_or_change_another_sections_task(site: Any) -> None:
    client = support.logged_in(site, "trade")
    other = site.tasks["general-doc"]
    assert client.get(f"/tasks/{other}").status_code == 403
    mine = client.get(f"/tasks/{site.tasks['request-reply']}")
    token = support.csrf_of(mine.text)
    before = count(site.engine, AuditEntry)
    refused = client.post(
        f"/tasks/{other}/complete",
        data={"evidence": "https://www.example.gov.cn/a.html", "csrf_token": token},
    )
    assert refused.status_code == 403
    assert task_row(site.engine, other).status == "open"
    assert count(site.engine, AuditEntry) == before
    assert client.get(f"/sections/{site.sections['general']}").status_code == 403
    board = client.get(f"/board?section={site.sections['general']}")
    assert board.status_code == 400  # not a section this chief sees
    assert client.get("/agencies").status_code == 403


def test_leader_reads_but_cannot_act(site: Any) -> None:
    client = support.logged_in(site, "leader")
    task_id = site.tasks["general-doc"]
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert 'id="form-complete"' not in page.text
    answer = client.post(
        f"/tasks/{task_id}/complete",
        data={"evidence": "https://x.gov.cn/1", "csrf_token": support.csrf_of(page.text)},
    )
    assert answer.status_code == 403


def test_complete_with_evidence_and_refuse_a_bad_link(site: Any) -> None:
    client = support.logged_in(site, "office")
    task_id = site.tasks["general-doc"]
    url = f"/tasks/{task_id}"
    before = count(site.engine, AuditEntry)
    bad = support.post_form(client, url, f"{url}/complete", {"evidence": "javascript:alert(1)"})
    assert bad.status_code == 422
    assert 'data-field="evidence"' in bad.text
    assert task_row(site.engine, task_id).status == "open"
    assert count(site.engine, AuditEntry) == before
    done = support.post_form(
        client, url, f"{url}/complete", {"evidence": "https://www.xm.gov.cn/zwgk/1.html"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == url
    task = task_row(site.engine, task_id)
    assert task.status == "done"
    assert task.timeliness == "late"
    assert "已标记完成" in client.get(url).text


def test_request_reply_needs_outcome_and_service_date(site: Any) -> None:
    client = support.logged_in(site, "trade")
    task_id = site.tasks["request-reply"]
    url = f"/tasks/{task_id}"
    refused = support.post_form(
        client, url, f"{url}/complete", {"evidence": "https://www.xm.gov.cn/ysq/1.html"}
    )
    assert refused.status_code == 422
    assert 'data-field="outcome"' in refused.text
    done = support.post_form(
        client,
        url,
        f"{url}/complete",
        {
            "evidence": "https://www.xm.gov.cn/ysq/1.html",
            "outcome": "disclosed",
            "service_date": "2026-11-26",
        },
    )
    assert done.status_code == 303
    assert task_row(site.engine, task_id).outcome_code == "disclosed"


def test_extension_request_then_office_approval(site: Any) -> None:
    task_id = site.tasks["request-reply"]
    url = f"/tasks/{task_id}"
    chief = support.logged_in(site, "trade")
    due_before = task_row(site.engine, task_id).due_date
    too_much = support.post_form(
        chief, url, f"{url}/request_extension", {"amount": "999", "reason": "x"}
    )
    assert too_much.status_code == 422
    assert 'data-field="amount"' in too_much.text
    over_cap = support.post_form(
        chief, url, f"{url}/request_extension", {"amount": "25", "reason": "x"}
    )
    assert over_cap.status_code == 422
    assert "between 1 and 20" in over_cap.text
    asked = support.post_form(
        chief, url, f"{url}/request_extension", {"amount": "10", "reason": "需征求第三方意见"}
    )
    assert asked.status_code == 303
    office = support.logged_in(site, "office")
    queue = office.get("/extensions").text
    assert "需征求第三方意见" in queue
    page = office.get(url).text
    assert 'id="form-decide_extension"' in page
    with Session(site.engine) as session:
        request = session.exec(select(ExtensionRequest)).one()
    approved = support.post_form(
        office,
        url,
        f"{url}/decide_extension",
        {"request_id": str(request.id), "decision": "approve"},
    )
    assert approved.status_code == 303, approved.text
    task = task_row(site.engine, task_id)
    assert task.extended_by == 10
    assert task.due_date is not None
    assert due_before is not None
    assert task.due_date > due_before
    with Session(site.engine) as session:
        assert session.exec(select(ExtensionRequest)).one().status == "approved"


def test_pause_resume_restart_cancel_reopen(site: Any) -> None:
    office = support.logged_in(site, "office")
    assert (
        'id="form-pause"'
        not in office.get(f"/tasks/{site.tasks['request-correction-notice']}").text
    )
    task_id = site.tasks["request-reply"]  # pausable (条例第三十二条), restartable (第三十条)
    url = f"/tasks/{task_id}"
    for action, data, status in [
        ("pause", {"reason": "征求第三方意见"}, "paused"),
        ("resume", {}, "open"),
        ("restart", {"received": "2026-11-26T09:00"}, "open"),
        ("cancel", {"reason": "重复登记"}, "cancelled"),
        ("reopen", {"reason": "误撤销"}, "open"),
    ]:
        answer = support.post_form(office, url, f"{url}/{action}", data)
        assert answer.status_code == 303, (
            action,
            re.findall(r'action-errors">(.*?)</div></div>', answer.text),
        )
        assert task_row(site.engine, task_id).status == status, action
    refused = support.post_form(office, url, f"{url}/pause", {"reason": " "})
    assert refused.status_code == 422
    assert 'data-field="reason"' in refused.text


def test_register_events_from_the_form(site: Any) -> None:
    office = support.logged_in(site, "office")
    invest = site.sections["foreign-investment"]
    answer = support.post_form(
        office,
        "/events",
        "/events",
        {
            "type": "request_received",
            "title": "申请公开外资项目名单",
            "occurred_at": "2026-11-26T15:00",
            "section": str(invest),
            "external_id": "R-2026-002",
            "attr_request_received_applicant_type": "commercial_enterprise",
            "attr_request_received_channel": "online",
            "attr_request_received_confirmed_on": "2026-11-26",
        },
    )
    assert answer.status_code == 303, answer.text[:2000]
    again = support.post_form(
        office,
        "/events",
        "/events",
        {
            "type": "request_received",
            "title": "申请公开外资项目名单",
            "occurred_at": "2026-11-26T15:00",
            "section": str(invest),
            "external_id": "R-2026-002",
            "attr_request_received_applicant_type": "commercial_enterprise",
            "attr_request_received_channel": "online",
            "attr_request_received_confirmed_on": "2026-11-26",
        },
    )
    assert again.status_code == 303
    with Session(site.engine) as session:
        assert len(session.exec(select(Task).where(Task.section_id == invest)).all()) == 3
    for data, field in [
        (
            {"type": "sentiment_detected", "title": "舆情", "occurred_at": "2026-11-27T08:00"},
            "attr_sentiment_detected_severity",
        ),
        (
            {"type": "document_published", "title": "文件", "occurred_at": "2099-01-01T08:00"},
            "occurred_at",
        ),
        (
            {
                "type": "document_published",
                "title": "文件",
                "occurred_at": "2026-11-20T08:00",
                "section": "99999",
            },
            "section",
        ),
        ({"type": "document_published", "title": "", "occurred_at": "2026-11-20"}, "title"),
        ({"type": "no_such_type", "title": "x", "occurred_at": "2026-11-20"}, "type"),
    ]:
        before = count(site.engine, Task)
        refused = support.post_form(office, "/events", "/events", data)
        assert refused.status_code == 422, data
        assert f'data-field="{field}"' in refused.text, (field, refused.text[:3000])
        assert count(site.engine, Task) == before
    chief = support.logged_in(site, "trade")
    assert chief.get("/events").status_code == 403


def test_calendar_marks_holidays_makeup_days_provisional_years_and_deadlines(site: Any) -> None:
    client = support.logged_in(site, "office")
    october = client.get("/calendar?month=2026-10").text
    assert 'class="day holiday' in october
    assert "国庆节" in october
    assert 'class="day makeup' in october  # 2026-10-10 (Sat) 调休上班
    november = client.get("/calendar?month=2026-11").text
    assert "/board?due_on=" in november
    provisional = client.get("/calendar?month=2031-02").text
    assert 'class="flash warn"' in provisional
    assert client.get("/calendar?month=nonsense").status_code == 400


def test_org_page_masks_addresses_and_issues_a_bind_code(site: Any) -> None:
    from db.engine import session_scope
    from db.models import ChatAddress, Person

    with session_scope(site.engine) as session:
        person = session.exec(select(Person).where(Person.name == "王外贸")).one()
        session.add(
            ChatAddress(person_id=person.id or 0, channel="wecom", address="wecom-secret-key-123")
        )
        session.add(
            ChatAddress(person_id=person.id or 0, channel="email", address="wang@xm.gov.cn")
        )
        person_id = person.id
    office = support.logged_in(site, "office")
    page = office.get("/org").text
    assert "wecom-secret-key-123" not in page
    assert "w***@xm.gov.cn" in page
    issued = support.post_form(office, "/org", "/org/bind-code", {"person_id": str(person_id)})
    assert issued.status_code == 200
    assert 'data-testid="bind-code"' in issued.text
    chief = support.logged_in(site, "trade")
    refused = support.post_form(chief, "/org", "/org/bind-code", {"person_id": str(person_id)})
    assert refused.status_code == 403


NOTICE_2027 = """year: 2027
title: 国务院办公厅关于2027年部分节假日安排的通知
number: 国办发明电〔2026〕9号
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-06, to: 2027-02-13}
makeup_workdays:
  - {date: 2027-02-14, for: 春节}
"""


def test_notice_upload_moves_tasks_and_refuses_bad_files(site: Any) -> None:
    office = support.logged_in(site, "office")
    page = office.get("/notices")
    token = support.csrf_of(page.text)
    bad = office.post(
        "/notices",
        data={"csrf_token": token},
        files={"notice": ("bad.yaml", b"year: 2027\ntitle: x\n", "text/yaml")},
    )
    assert bad.status_code == 422
    assert 'data-field="notice"' in bad.text
    big = office.post(
        "/notices",
        data={"csrf_token": token},
        files={"notice": ("big.yaml", b"#" * (300 * 1024), "text/yaml")},
    )
    assert big.status_code == 413
    good = office.post(
        "/notices",
        data={"csrf_token": token},
        files={"notice": ("2027.yaml", NOTICE_2027.encode(), "text/yaml")},
    )
    assert good.status_code == 200, good.text[:2000]
    assert 'data-testid="notice-result"' in good.text
    assert "国务院办公厅关于2027年部分节假日安排的通知" in office.get("/notices").text
    chief = support.logged_in(site, "trade")
    refused = chief.post(
        "/notices",
        data={"csrf_token": support.csrf_of(chief.get("/notices").text)},
        files={"notice": ("2027.yaml", NOTICE_2027.encode(), "text/yaml")},
    )
    assert refused.status_code == 403


def test_section_page_and_its_calendar_feed_link(site: Any) -> None:
    chief = support.logged_in(site, "trade")
    trade = site.sections["foreign-trade"]
    page = chief.get(f"/sections/{trade}")
    assert page.status_code == 200
    assert "申请公开2025年外贸统计" in page.text
    made = support.post_form(chief, f"/sections/{trade}", f"/sections/{trade}/feed", {})
    assert made.status_code == 200
    url = made.text.split('data-testid="feed-url">')[1].split("<")[0]
    feed = chief.get(url.replace("http://127.0.0.1:8000", ""))
    assert feed.status_code == 200
    assert b"BEGIN:VCALENDAR" in feed.content
    assert "申请公开2025年外贸统计".encode() in feed.content


def test_gov_office_ranks_agencies(site: Any) -> None:
    client = support.logged_in(site, "gov")
    page = client.get("/agencies")
    assert page.status_code == 200
    assert "厦门市商务局" in page.text
    assert client.get("/?agency=xm-commerce").status_code == 200
    assert client.get("/?agency=nope").status_code == 404


def test_english_switch(site: Any) -> None:
    client = support.logged_in(site, "office")
    switched = client.get("/lang/en?next=/board")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/board"
    assert "Overdue board" in client.get("/board").text
    away = client.get("/lang/en?next=https://evil.example/")
    assert away.headers["location"] == "/"
