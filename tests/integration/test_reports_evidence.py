"""考核佐证: the evidence workbook from the dashboard (scoped by role) and from the CLI."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
from openpyxl import load_workbook
from sqlmodel import Session, col, select

from db.engine import session_scope
from db.models import Task

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheets(body: bytes) -> dict[str, list[list[Any]]]:
    book = load_workbook(io.BytesIO(body), read_only=True)
    return {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in book.worksheets
    }


def due_2026(site: Any, section: str | None = None) -> set[int]:
    with Session(site.engine) as session:
        statement = select(Task.id).where(
            col(Task.due_date) >= dt.date(2026, 1, 1), col(Task.due_date) <= dt.date(2026, 12, 31)
        )
        if section is not None:
            statement = statement.where(col(Task.section_id) == site.sections[section])
        return {int(task_id) for task_id in session.exec(statement).all() if task_id is not None}


def test_office_exports_the_agency_with_every_task_and_its_clock(site: Any) -> None:
    with session_scope(site.engine) as session:
        task = session.get(Task, site.tasks["general-doc"])
        assert task is not None
        task.title = '=HYPERLINK("http://x","click")'
        session.add(task)
    office = support.logged_in(site, "office")
    assert 'data-testid="evidence-export"' in office.get("/").text
    answer = office.get("/evidence.xlsx", params={"year": "2026"})
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == XLSX
    assert 'filename="evidence-xm-commerce-2026.xlsx"' in answer.headers["content-disposition"]
    found = sheets(answer.content)
    assert list(found) == ["说明", "各科室", "任务明细", "计时记录"]
    tasks = found["任务明细"]
    assert tasks[0][:4] == ["任务编号", "科室", "公开事项", "任务"]
    listed = {row[0] for row in tasks[1:]}
    assert listed
    assert listed <= due_2026(site)
    assert site.tasks["general-doc"] in listed
    titles = {row[0]: row[3] for row in tasks[1:]}
    assert titles[site.tasks["general-doc"]].startswith("'=")  # shown, never evaluated
    classes = {row[9] for row in tasks[1:]}
    assert "逾期未办结" in classes
    clock = found["计时记录"]
    assert {row[0] for row in clock[1:]} <= listed
    assert any(row[1] == "start" for row in clock[1:])
    summary = found["各科室"]
    assert summary[-1][0] == "合计"
    assert summary[-1][1] == len(listed)  # the total counts exactly the listed tasks


def test_a_chief_gets_only_their_own_section(site: Any) -> None:
    chief = support.logged_in(site, "trade")
    answer = chief.get(
        "/evidence.xlsx",
        params={"year": "2026", "section": str(site.sections["foreign-investment"])},
    )
    assert answer.status_code == 200
    assert "foreign-trade" in answer.headers["content-disposition"]
    listed = {row[0] for row in sheets(answer.content)["任务明细"][1:]}
    assert listed == due_2026(site, "foreign-trade")
    assert (
        'data-testid="evidence-export"'
        in chief.get(f"/sections/{site.sections['foreign-trade']}").text
    )


def test_bad_years_and_scopes_are_refused(site: Any) -> None:
    office = support.logged_in(site, "office")
    assert office.get("/evidence.xlsx", params={"year": "2999"}).status_code == 422
    assert office.get("/evidence.xlsx", params={"year": "abc"}).status_code == 400
    assert office.get("/evidence.xlsx", params={"section": "999999"}).status_code == 404
    gov = support.logged_in(site, "gov")
    assert gov.get("/evidence.xlsx").status_code == 422  # which agency?
    assert gov.get("/evidence.xlsx", params={"agency": "xm-commerce"}).status_code == 200
    assert site.client().get("/evidence.xlsx").status_code == 303  # log in first


def test_progress_counts_every_task_once(site: Any, monkeypatch: Any) -> None:
    from zoneinfo import ZoneInfo

    from reports import evidence

    monkeypatch.setattr(evidence, "CHUNK", 1)  # one task per chunk: one call per task
    calls: list[tuple[int, int]] = []
    with Session(site.engine) as session:
        scope = evidence.evidence_scope(
            session, agency_id=_agency_id(site), year=2026, section_id=None
        )
        body = evidence.evidence_workbook(
            session,
            scope,
            at=site.at,
            tz=ZoneInfo("Asia/Shanghai"),
            lang="en",
            progress=lambda done, total: calls.append((done, total)),
        )
    listed = [row[0] for row in sheets(body)["tasks"][1:]]
    assert [done for done, _ in calls] == list(range(1, len(listed) + 1))
    assert {total for _, total in calls} == {len(listed)}


def _agency_id(site: Any) -> int:
    from db.models import Agency

    with Session(site.engine) as session:
        agency = session.exec(select(Agency).where(Agency.code == "xm-commerce")).one()
        assert agency.id is not None
        return agency.id
