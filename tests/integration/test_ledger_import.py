"""``gongkai import ledger``: past requests and duties from the Excel / CSV templates.

The sample rows in tests/fixtures/ledger/ are copied into the shipped templates
(gongkai/examples/) and imported into the ``bureau`` agency on SQLite and PostgreSQL; "today"
is the ``at`` fixture, Fri 2026-11-27.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db.audit import verify_chain
from db.context import Actor
from db.engine import session_scope
from db.errors import ImportRowsError
from db.ledger_import import (
    DUTY_COLUMNS,
    REQUEST_COLUMNS,
    LedgerFile,
    LedgerImportResult,
    import_ledger,
    parse_ledger_csv,
    read_ledger,
)
from db.models import AuditEntry, ClockEventRow, Event, Section, Task
from db.spawn import record_event, spawn_recurring

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ledger"
EXAMPLES = ROOT / "gongkai" / "examples"
XLSX_TEMPLATE = EXAMPLES / "ledger-template.xlsx"
REQUESTS_TEMPLATE = EXAMPLES / "ledger-template.csv"
DUTIES_TEMPLATE = EXAMPLES / "duties-template.csv"
REQUESTS = "依申请公开台账"
DUTIES = "公开事项台账"

Rows = list[dict[str, str]]


# --------------------------------------------------------------------------- helpers


def sample(name: str) -> Rows:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def filled_csv(directory: Path, template: Path, rows: Rows, name: str) -> Path:
    """The shipped CSV template with ``rows`` appended under its two header rows."""
    text = template.read_text(encoding="utf-8-sig")
    keys = list(csv.reader(io.StringIO(text)))[1]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([row.get(key, "") for key in keys])
    path = directory / name
    path.write_text("\ufeff" + text + buffer.getvalue(), encoding="utf-8", newline="")
    return path


def _typed(value: str, kind: str) -> Any:
    """What a clerk's spreadsheet holds: dates in date cells, numbers in number cells."""
    if not value:
        return None
    if kind in ("date", "datetime"):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if " " in value else parsed.date()
    if kind == "int":
        return int(value)
    return value


def filled_xlsx(directory: Path, requests: Rows, duties: Rows, name: str = "台账.xlsx") -> Path:
    """The shipped workbook with rows typed into both sheets from row 3 on."""
    workbook = openpyxl.load_workbook(XLSX_TEMPLATE)
    for sheet_name, columns, rows in (
        (REQUESTS, REQUEST_COLUMNS, requests),
        (DUTIES, DUTY_COLUMNS, duties),
    ):
        sheet = workbook[sheet_name]
        kinds = {column.key: column.kind for column in columns}
        keys = [cell.value for cell in sheet[2]]
        for offset, row in enumerate(rows):
            for index, key in enumerate(keys, start=1):
                sheet.cell(row=3 + offset, column=index, value=_typed(row.get(key, ""), kinds[key]))
    path = directory / name
    workbook.save(path)
    return path


def run_import(
    engine: Engine, domain: Any, ledger: LedgerFile, at: dt.datetime, actor: Actor | None = None
) -> LedgerImportResult:
    with session_scope(engine) as session:
        return import_ledger(
            session,
            domain,
            ledger,
            agency_code="xm-commerce",
            actor=actor or Actor.system("import-test"),
            at=at,
        )


def import_samples(
    engine: Engine, domain: Any, at: dt.datetime, tmp_path: Path, fmt: str
) -> list[LedgerImportResult]:
    requests, duties = sample("requests-2026.csv"), sample("duties-2026.csv")
    if fmt == "xlsx":
        return [
            run_import(engine, domain, read_ledger(filled_xlsx(tmp_path, requests, duties)), at)
        ]
    return [
        run_import(
            engine,
            domain,
            read_ledger(filled_csv(tmp_path, REQUESTS_TEMPLATE, requests, "申请.csv")),
            at,
        ),
        run_import(
            engine,
            domain,
            read_ledger(filled_csv(tmp_path, DUTIES_TEMPLATE, duties, "事项.csv")),
            at,
        ),
    ]


def counts(engine: Engine) -> tuple[int, int, int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Task)).one(),
            session.exec(select(func.count()).select_from(Event)).one(),
            session.exec(select(func.count()).select_from(ClockEventRow)).one(),
            session.exec(select(func.count()).select_from(AuditEntry)).one(),
        )


Key = tuple[str, str, str]
State = tuple[str, dt.date | None, str | None, int | None]


def ledger_state(engine: Engine) -> dict[Key, State]:
    """(obligation, section, period or event id) → (status, due date, timeliness, margin)."""
    with Session(engine) as session:
        sections = {s.id: s.code for s in session.exec(select(Section)).all()}
        events = {e.id: e.external_id for e in session.exec(select(Event)).all()}
        return {
            (
                task.obligation_code,
                sections[task.section_id],
                task.period_key or str(events[task.event_id]),
            ): (task.status, task.due_date, task.timeliness, task.working_days_margin)
            for task in session.exec(select(Task)).all()
        }


def reply(
    engine: Engine, external_id: str, code: str = "request-reply"
) -> tuple[Task, Event, list[ClockEventRow]]:
    with Session(engine) as session:
        event = session.exec(select(Event).where(Event.external_id == external_id)).one()
        task = session.exec(
            select(Task).where(Task.event_id == event.id, Task.obligation_code == code)
        ).one()
        clock = list(
            session.exec(
                select(ClockEventRow)
                .where(ClockEventRow.task_id == task.id)
                .order_by(col(ClockEventRow.at), col(ClockEventRow.id))
            ).all()
        )
        return task, event, clock


D = dt.date
EXPECTED: dict[Key, State] = {
    # received Mon 03-02 in person, 20 working days → 03-30; answered 03-20 with 6 to spare
    ("request-reply", "foreign-trade", "2026-001"): ("done", D(2026, 3, 30), "on_time", 6),
    # online, confirmed 04-02: due 05-06, extended by 10 → 05-19; answered 05-12 within the extension
    ("request-reply", "foreign-investment", "2026-002"): (
        "done",
        D(2026, 5, 19),
        "extended_on_time",
        5,
    ),
    # signed post 05-06: due 06-02; answered 06-05, three working days late
    ("request-reply", "general", "2026-003"): ("done", D(2026, 6, 2), "late", -3),
    # still open: due 12-18, stays an open task
    ("request-reply", "foreign-trade", "2026-004"): ("open", D(2026, 12, 18), None, None),
    # letter confirmed 06-03, 补正 asked 06-05, corrected request 06-15 restarts the clock → 07-14
    ("request-reply", "foreign-trade", "2026-005"): ("done", D(2026, 7, 14), "on_time", 7),
    ("request-correction-notice", "foreign-trade", "2026-005"): (
        "done",
        D(2026, 6, 12),
        "on_time",
        5,
    ),
    # third party consulted 07-10..07-20: six working days do not count → 07-29 becomes 08-06
    ("request-reply", "general", "2026-006"): ("done", D(2026, 8, 6), "on_time", 1),
    ("monthly-info-report", "foreign-trade", "2026-03"): ("done", D(2026, 4, 8), "on_time", 2),
    ("monthly-info-report", "general", "2026-03"): ("done", D(2026, 4, 8), "late", -2),
    # DOMAIN.md's worked example: published Fri 2024-09-27 → due 10-08 across National Day
    ("policy-interpretation", "general", "厦商〔2024〕12号"): (
        "done",
        D(2024, 10, 8),
        "on_time",
        0,
    ),
    ("annual-report", "office", "2025"): ("done", D(2026, 1, 31), "on_time", 8),
    ("monthly-self-inspection", "office", "2026-10"): ("open", D(2026, 11, 4), None, None),
    # the rule gives 06-22; the ledger's 06-19 is kept (以台账为准)
    ("credit-publicity", "foreign-investment", "XK-2026-031"): (
        "done",
        D(2026, 6, 19),
        "on_time",
        0,
    ),
    ("sentiment-major-info", "office", "YQ-2026-07"): ("done", D(2026, 8, 3), "on_time", 0),
    ("sentiment-major-press", "office", "YQ-2026-07"): ("done", D(2026, 8, 4), "late", 0),
}


# --------------------------------------------------------------------------- templates


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_ledger_template", ROOT / "scripts" / "make_ledger_template.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_templates_are_current(tmp_path: Path) -> None:
    """The templates in gongkai/examples/ are what the generator writes from the column specs."""
    written = load_generator().write_templates(tmp_path)
    assert [path.name for path in written] == [
        "ledger-template.xlsx",
        "ledger-template.csv",
        "duties-template.csv",
    ]
    for name in ("ledger-template.csv", "duties-template.csv"):
        assert (EXAMPLES / name).read_bytes() == (tmp_path / name).read_bytes()
    shipped, fresh = (
        openpyxl.load_workbook(XLSX_TEMPLATE),
        openpyxl.load_workbook(tmp_path / "ledger-template.xlsx"),
    )
    assert shipped.sheetnames == fresh.sheetnames == [REQUESTS, DUTIES, "填写说明", "选项"]
    for name, columns in ((REQUESTS, REQUEST_COLUMNS), (DUTIES, DUTY_COLUMNS)):
        for book in (shipped, fresh):
            sheet = book[name]
            assert [cell.value for cell in sheet[1]] == [column.zh for column in columns]
            assert [cell.value for cell in sheet[2]] == [column.key for column in columns]
        lists = {str(v.sqref): v.formula1 for v in shipped[name].data_validations.dataValidation}
        assert lists == {
            str(v.sqref): v.formula1 for v in fresh[name].data_validations.dataValidation
        }
    choices = shipped["选项"]
    assert choices.sheet_state == "hidden"
    columns = {
        choices.cell(row=1, column=i).value: [
            c.value for c in choices[openpyxl.utils.get_column_letter(i)][1:] if c.value
        ]
        for i in range(1, choices.max_column + 1)
    }
    assert columns["channel"] == ["当面提交", "邮寄签收", "平常信函", "网络", "传真", "电子邮件"]
    assert columns["applicant_type"] == [
        "自然人",
        "商业企业",
        "科研机构",
        "社会公益组织",
        "法律服务机构",
        "其他",
    ]
    assert columns["outcome"][:3] == ["予以公开", "部分公开", "不予公开：属于国家秘密"]
    assert len(columns["outcome"]) == 21
    assert "monthly-info-report" in columns["obligation"]
    assert "request-reply" not in columns["obligation"]


def test_empty_templates_import_nothing(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime
) -> None:
    for path in (XLSX_TEMPLATE, REQUESTS_TEMPLATE, DUTIES_TEMPLATE):
        result = run_import(engine, domain, read_ledger(path), at)
        assert result.created == result.closed == result.present == 0
    assert counts(engine) == (0, 0, 0, 0)


# --------------------------------------------------------------------------- importing


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_import_filled_template(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path, fmt: str
) -> None:
    results = import_samples(engine, domain, at, tmp_path, fmt)

    summaries = {sheet.sheet: sheet for result in results for sheet in result.sheets}
    assert (
        summaries[REQUESTS].created,
        summaries[REQUESTS].open,
        summaries[REQUESTS].on_time,
        summaries[REQUESTS].extended_on_time,
        summaries[REQUESTS].late,
    ) == (6, 1, 3, 1, 1)
    assert (
        summaries[DUTIES].created,
        summaries[DUTIES].open,
        summaries[DUTIES].on_time,
        summaries[DUTIES].late,
    ) == (8, 1, 5, 2)
    assert ledger_state(engine) == EXPECTED

    task, event, clock = reply(engine, "2026-002")
    assert event.attributes == {
        "applicant_type": "commercial_enterprise",
        "channel": "online",
        "confirmed_on": "2026-04-02",
    }
    assert event.title == "申请公开外资项目清单"
    assert task.start_date == D(2026, 4, 2)  # 条例第三十一条: the day both sides confirmed
    assert task.outcome_code == "partial"
    assert task.service_date == D(2026, 5, 12)
    assert task.evidence_url == "https://oa.example.gov.cn/ysq/2026-002"
    assert task.extended is True
    assert task.extended_by == 10
    assert [(row.kind, row.amount, row.approver) for row in clock] == [
        ("start", 0, None),
        ("extend", 10, "李办公"),
    ]

    task, _, _ = reply(engine, "2026-003")
    assert task.outcome_code == "refused.state_secret"  # from the label 不予公开：属于国家秘密
    notice, _, _ = reply(engine, "2026-005", "request-correction-notice")
    assert (notice.done_at, notice.evidence_url) == (dt.datetime(2026, 6, 5, tzinfo=TZ), None)
    _, _, clock = reply(engine, "2026-005")
    assert [row.kind for row in clock] == ["start", "restart"]
    assert clock[1].at.astimezone(TZ).date() == D(2026, 6, 15)
    _, _, clock = reply(engine, "2026-006")
    assert [(row.kind, row.at.astimezone(TZ).date()) for row in clock] == [
        ("start", D(2026, 7, 1)),
        ("pause", D(2026, 7, 10)),
        ("resume", D(2026, 7, 20)),
    ]

    task, _, _ = reply(engine, "2026-004")
    assert task.status == "open"
    assert task.next_action_at is not None  # the sweep reminds about it like any live request
    assert task.outcome_code is None
    with Session(engine) as session:
        pinned = session.exec(select(Task).where(Task.obligation_code == "credit-publicity")).one()
        assert pinned.rule["deadline"]["unit"] == "day"
        assert pinned.rule["deadline"]["label"] == "以台账为准：2026-06-19（规则为 2026-06-22）"
        interpretation = session.exec(
            select(Task).where(Task.obligation_code == "policy-interpretation")
        ).one()
        assert interpretation.rule["deadline"]["amount"] == 3  # the catalog's rule, unpinned
        # the policy document's tasks are the ledger's rows only: no other spawns
        assert session.exec(select(func.count()).select_from(Task)).one() == len(EXPECTED)
        _, problems = verify_chain(session)
        assert problems == []


def test_reimport_creates_nothing(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    path = filled_xlsx(tmp_path, sample("requests-2026.csv"), sample("duties-2026.csv"))
    first = run_import(engine, domain, read_ledger(path), at)
    assert (first.created, first.present) == (14, 0)
    before = counts(engine)

    again = run_import(engine, domain, read_ledger(path), at + dt.timedelta(days=3))
    assert (again.created, again.closed, again.present) == (0, 0, 14)
    assert {row.action for row in again.rows} == {"present"}
    assert counts(engine) == before
    assert ledger_state(engine) == EXPECTED


def test_later_ledger_closes_open_tasks(
    engine: Engine, bureau: Any, domain: Any, system: Actor, at: dt.datetime, tmp_path: Path
) -> None:
    """Rows already in gongkai as open tasks are closed once the ledger records them done."""
    with session_scope(engine) as session:
        spawned = spawn_recurring(
            session,
            domain,
            since=D(2026, 10, 1),
            through=D(2026, 10, 31),
            actor=system,
            at=at,
            obligation_codes=["monthly-self-inspection"],
        )
        assert spawned.created == 1
    requests = [row for row in sample("requests-2026.csv") if row["external_id"] == "2026-004"]
    run_import(
        engine,
        domain,
        parse_ledger_csv(
            filled_csv(tmp_path, REQUESTS_TEMPLATE, requests, "r.csv").read_text("utf-8-sig"),
            "r.csv",
        ),
        at,
    )

    requests[0].update(
        answered_on="2026-11-26",
        outcome="予以公开",
        evidence_url="https://oa.example.gov.cn/ysq/2026-004",
    )
    duties = [
        {
            "obligation": "monthly-self-inspection",
            "section": "办公室",
            "period": "2026-10",
            "done_on": "2026-11-04",
            "evidence_url": "https://www.example.gov.cn/zwgk/zc/202611.html",
        }
    ]
    result = run_import(engine, domain, read_ledger(filled_xlsx(tmp_path, requests, duties)), at)

    assert (result.created, result.closed, result.present) == (0, 2, 0)
    state = ledger_state(engine)
    assert state["request-reply", "foreign-trade", "2026-004"] == (
        "done",
        D(2026, 12, 18),
        "on_time",
        16,
    )
    assert state["monthly-self-inspection", "office", "2026-10"] == (
        "done",
        D(2026, 11, 4),
        "on_time",
        0,
    )


def test_duty_of_an_event_recorded_live(
    engine: Engine, bureau: Any, domain: Any, system: Actor, at: dt.datetime, tmp_path: Path
) -> None:
    """A date-only ledger row finds the event recorded live at 10:00 and closes its open task."""
    with session_scope(engine) as session:
        record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="document_published",
            occurred_at=dt.datetime(2026, 6, 1, 10, tzinfo=TZ),
            actor=system,
            at=at,
            external_id="厦商〔2026〕3号",
            section_code="general",
            title="关于支持跨境电商发展的通知",
        )
    done = {
        "obligation": "policy-interpretation",
        "section": "general",
        "event_id": "厦商〔2026〕3号",
        "event_date": "2026-06-02",
        "done_on": "2026-06-03",
        "evidence_url": "https://www.example.gov.cn/zcjd/0603.html",
    }
    with pytest.raises(ImportRowsError) as caught:
        run_import(
            engine, domain, read_ledger(filled_csv(tmp_path, DUTIES_TEMPLATE, [done], "d.csv")), at
        )
    assert caught.value.problems == [
        "d.csv:公开事项台账:row 3: 事件日期: event '厦商〔2026〕3号' is already in gongkai at 2026-06-01 10:00; "
        "the ledger says 2026-06-02"
    ]

    done["event_date"] = "2026-06-01"
    other_section = done | {"section": "外贸科", "done_on": "", "evidence_url": ""}
    path = filled_csv(tmp_path, DUTIES_TEMPLATE, [done, other_section], "d.csv")
    result = run_import(engine, domain, read_ledger(path), at)
    assert (result.created, result.closed) == (1, 1)
    state = ledger_state(engine)
    assert state["policy-interpretation", "general", "厦商〔2026〕3号"] == (
        "done",
        D(2026, 6, 4),
        "on_time",
        1,
    )
    assert state["policy-interpretation", "foreign-trade", "厦商〔2026〕3号"] == (
        "open",
        D(2026, 6, 4),
        None,
        None,
    )
    with Session(engine) as session:
        added = session.exec(
            select(Task).where(Task.section_id == bureau["sections"]["foreign-trade"].id)
        ).one()
        assert added.title == "政策解读：关于支持跨境电商发展的通知"


def test_request_id_reused_as_event_id(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    duty = {
        "obligation": "policy-interpretation",
        "section": "general",
        "event_id": REQUEST["external_id"],
        "event_date": "2026-03-02",
        "title": "文件",
    }
    with pytest.raises(ImportRowsError) as caught:
        run_import(engine, domain, read_ledger(filled_xlsx(tmp_path, [REQUEST], [duty])), at)
    assert caught.value.problems == [
        "台账.xlsx:公开事项台账:row 3: 事件编号: '2026-101' is also a 申请编号 on the 依申请公开台账 sheet"
    ]
    assert counts(engine) == (0, 0, 0, 0)


def test_ledger_contradicting_an_open_task_is_refused(
    engine: Engine, bureau: Any, domain: Any, system: Actor, at: dt.datetime, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=dt.datetime(2026, 11, 2, 9, tzinfo=TZ),
            actor=system,
            at=at,
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            external_id="2026-010",
            section_code="foreign-trade",
        )
    before = counts(engine)
    row = {
        "external_id": "2026-010",
        "received_on": "2026-11-02",
        "channel": "当面提交",
        "applicant_type": "自然人",
        "section": "foreign-trade",
        "extended": "是",
        "extension_days": "5",
        "extension_approver": "李办公",
        "answered_on": "2026-11-26",
        "outcome": "予以公开",
    }
    path = filled_csv(tmp_path, REQUESTS_TEMPLATE, [row], "r.csv")
    with pytest.raises(ImportRowsError) as caught:
        run_import(engine, domain, read_ledger(path), at)
    assert caught.value.problems == [
        "r.csv:依申请公开台账:row 3: 申请编号: request '2026-010' is open in gongkai (task 1) due 2026-11-30, but this "
        "row's dates give 2026-12-07: record the extension, pause or 补正 in gongkai, or correct the row"
    ]
    assert counts(engine) == before


def test_evidence_is_optional_for_past_requests(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    """A reply letter rarely has a public link: imported history is stored without one."""
    row = {
        "external_id": "2025-017",
        "received_on": "2025-12-01",
        "channel": "邮寄签收",
        "applicant_type": "自然人",
        "section": "general",
        "answered_on": "2025-12-19",
        "outcome": "not_handled.petition",
    }
    run_import(
        engine, domain, read_ledger(filled_csv(tmp_path, REQUESTS_TEMPLATE, [row], "r.csv")), at
    )
    task, _, _ = reply(engine, "2025-017")
    assert (task.status, task.evidence_url, task.outcome_code, task.timeliness) == (
        "done",
        None,
        "not_handled.petition",
        "on_time",
    )


# --------------------------------------------------------------------------- refusals

REQUEST = {
    "external_id": "2026-101",
    "received_on": "2026-03-02",
    "channel": "当面提交",
    "applicant_type": "自然人",
    "section": "foreign-trade",
    "title": "申请公开统计数据",
    "answered_on": "2026-03-20",
    "outcome": "予以公开",
    "evidence_url": "https://oa.example.gov.cn/ysq/2026-101",
}
DUTY = {
    "obligation": "monthly-info-report",
    "section": "foreign-trade",
    "period": "2026-03",
    "done_on": "2026-04-03",
    "evidence_url": "https://www.example.gov.cn/zwgk/1.html",
}

BAD_ROWS = [
    pytest.param(
        "duties",
        {"obligation": "monthly-report"},
        "事项代码",
        "unknown obligation 'monthly-report'; known: ",
        id="unknown-obligation",
    ),
    pytest.param(
        "requests",
        {"section": "宣传科"},
        "承办科室",
        "unknown section '宣传科' in agency xm-commerce; known: office 办公室, general 综合科",
        id="unknown-section",
    ),
    pytest.param(
        "duties",
        {"section": "finance-x"},
        "责任科室",
        "unknown section 'finance-x'",
        id="unknown-duty-section",
    ),
    pytest.param(
        "requests",
        {"received_on": "2003-12-31", "answered_on": "2004-01-20"},
        "收到日期",
        "date 2003-12-31 is outside the calendar's range 2004-01-01..2040-12-31",
        id="before-calendar",
    ),
    pytest.param(
        "duties",
        {
            "obligation": "policy-interpretation",
            "period": "",
            "event_date": "2003-06-02",
            "title": "旧文件",
            "done_on": "2004-01-05",
        },
        "事件日期",
        "date 2003-06-02 is outside the calendar's range",
        id="event-before-calendar",
    ),
    pytest.param(
        "requests",
        {"received_on": "2026-12-01", "answered_on": "", "outcome": "", "evidence_url": ""},
        "收到日期",
        "2026-12-01 is in the future (today is 2026-11-27)",
        id="future",
    ),
    pytest.param(
        "duties",
        {"evidence_url": "www.example.gov.cn/zwgk/1.html"},
        "佐证链接",
        "evidence 'www.example.gov.cn/zwgk/1.html' is not an http(s) URL",
        id="bad-url",
    ),
    pytest.param(
        "requests",
        {"evidence_url": "oa/ysq/101"},
        "佐证链接",
        "is not an http(s) URL",
        id="bad-request-url",
    ),
    pytest.param(
        "duties",
        {"evidence_url": ""},
        "佐证链接",
        "required when 完成日期 is given",
        id="done-without-evidence",
    ),
    pytest.param(
        "requests",
        {"outcome": "全部公开"},
        "办理结果",
        "'全部公开' is not an outcome of table 三",
        id="unknown-outcome",
    ),
    pytest.param(
        "requests",
        {"outcome": ""},
        "办理结果",
        "required when 答复送达日期 is given",
        id="answered-without-outcome",
    ),
    pytest.param(
        "requests",
        {
            "extended": "是",
            "extension_days": "25",
            "extension_approver": "李办公",
            "answered_on": "2026-04-20",
        },
        "延期工作日数",
        "extension of 25 working days refused: the cap is 20 working days, 20 left",
        id="extension-over-cap",
    ),
    pytest.param(
        "requests",
        {
            "received_on": "2018-03-05",
            "extended": "是",
            "extension_days": "20",
            "extension_approver": "李办公",
            "answered_on": "2018-04-20",
        },
        "延期工作日数",
        "the cap is 15 working days",
        id="extension-over-2008-cap",
    ),
    pytest.param(
        "requests",
        {"extended": "是"},
        "延期工作日数",
        "是否延期 is 是: give the extension",
        id="extended-without-days",
    ),
    pytest.param(
        "requests",
        {"extension_days": "5"},
        "延期批准人",
        "needs the name of the person who approved it",
        id="extension-without-approver",
    ),
    pytest.param(
        "requests",
        {"answered_on": "2026-03-01"},
        "答复送达日期",
        "2026-03-01 is before the request was received (2026-03-02)",
        id="answered-before-received",
    ),
    pytest.param(
        "requests",
        {"channel": "网络"},
        "确认日期",
        "required for 网络",
        id="online-without-confirmation",
    ),
    pytest.param(
        "requests",
        {"channel": "飞鸽传书"},
        "收到渠道",
        "'飞鸽传书' is not a receipt channel",
        id="unknown-channel",
    ),
    pytest.param(
        "requests",
        {"applicant_type": "外国人"},
        "申请人类型",
        "'外国人' is not an applicant type",
        id="unknown-applicant",
    ),
    pytest.param(
        "requests",
        {"received_on": "2026-02-30"},
        "收到日期",
        "'2026-02-30' is not a valid date",
        id="no-such-day",
    ),
    pytest.param(
        "requests",
        {"corrected_on": "2026-03-10"},
        "补正后收到日期",
        "needs 补正告知日期",
        id="corrected-without-notice",
    ),
    pytest.param(
        "requests",
        {"paused_from": "2026-03-05"},
        "中止计时结束",
        "give both",
        id="pause-without-end",
    ),
    pytest.param(
        "duties",
        {"due_on": "2026-04-09"},
        "应完成日期",
        "the ledger says 2026-04-09 but the rule of monthly-info-report (次月第5个工作日前报送（本地默认）) gives "
        "2026-04-08: correct the date, or write 以台账为准 in 截止依据 to keep the ledger's",
        id="due-differs",
    ),
    pytest.param(
        "duties",
        {"due_override": "以台账为准"},
        "截止依据",
        "以台账为准 needs 应完成日期",
        id="override-without-due",
    ),
    pytest.param(
        "duties",
        {"period": "2026-Q1"},
        "期间",
        "2026-Q1 is a quarter, but this duty recurs every month",
        id="period-kind",
    ),
    pytest.param(
        "duties", {"period": ""}, "期间", "required for a monthly duty", id="period-missing"
    ),
    pytest.param(
        "duties",
        {"done_on": "2026-02-27"},
        "完成日期",
        "2026-02-27 is before the duty began (2026-03-01)",
        id="done-before-period",
    ),
    pytest.param(
        "duties",
        {"obligation": "annual-report", "section": "general", "period": "2025"},
        "责任科室",
        "annual-report is the duty of office, not general",
        id="not-responsible",
    ),
    pytest.param(
        "duties",
        {"obligation": "request-reply"},
        "事项代码",
        "list requests on the 依申请公开台账 sheet",
        id="request-on-duties-sheet",
    ),
    pytest.param(
        "duties",
        {
            "obligation": "sentiment-major-info",
            "section": "office",
            "period": "",
            "event_date": "2026-08-03",
            "event_attributes": "severity=major",
            "title": "舆情",
            "done_on": "2026-08-03 12:00",
        },
        "事件日期",
        "counts hours: give the time too",
        id="hour-without-time",
    ),
    pytest.param(
        "duties",
        {
            "obligation": "credit-publicity",
            "period": "",
            "event_date": "2026-06-10",
            "title": "许可",
            "done_on": "2026-06-12",
        },
        "事件属性",
        "attribute 'kind' is required (licensing, penalty, enforcement)",
        id="missing-attribute",
    ),
    pytest.param(
        "duties",
        {
            "obligation": "policy-interpretation",
            "period": "",
            "event_date": "2026-06-10",
            "done_on": "2026-06-12",
        },
        "标题",
        "give 事件编号 or 标题",
        id="event-without-key",
    ),
]


@pytest.mark.parametrize(("kind", "change", "column", "message"), BAD_ROWS)
def test_bad_row_is_refused_and_nothing_written(
    engine: Engine,
    bureau: Any,
    domain: Any,
    at: dt.datetime,
    tmp_path: Path,
    kind: str,
    change: dict[str, str],
    column: str,
    message: str,
) -> None:
    template, base, sheet = (
        (REQUESTS_TEMPLATE, REQUEST, REQUESTS)
        if kind == "requests"
        else (DUTIES_TEMPLATE, DUTY, DUTIES)
    )
    path = filled_csv(tmp_path, template, [base | change], "ledger.csv")
    with pytest.raises(ImportRowsError) as caught:
        run_import(engine, domain, read_ledger(path), at)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    prefix = f"ledger.csv:{sheet}:row 3: {column}: "
    assert problems[0].startswith(prefix), problems[0]
    assert message in problems[0]
    assert counts(engine) == (0, 0, 0, 0)


def test_the_good_rows_pass(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    """The base rows of the refusal cases are valid: each case fails for its own reason."""
    result = run_import(
        engine, domain, read_ledger(filled_csv(tmp_path, REQUESTS_TEMPLATE, [REQUEST], "r.csv")), at
    )
    assert result.created == 1
    result = run_import(
        engine, domain, read_ledger(filled_csv(tmp_path, DUTIES_TEMPLATE, [DUTY], "d.csv")), at
    )
    assert result.created == 1


def test_every_bad_row_is_listed_and_nothing_written(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    requests = [
        REQUEST,
        REQUEST | {"external_id": "2026-102", "section": "宣传科"},
        REQUEST | {"external_id": "2026-103"},
        REQUEST | {"external_id": "2026-104", "received_on": "2041-01-02", "outcome": "大部分公开"},
        REQUEST | {"external_id": "2026-103"},
    ]
    duties = [DUTY, DUTY | {"obligation": "no-such-duty"}, DUTY]
    path = filled_xlsx(tmp_path, requests, duties, "台账.xlsx")
    with pytest.raises(ImportRowsError) as caught:
        run_import(engine, domain, read_ledger(path), at)
    assert [line.split(": ", 2)[:2] for line in caught.value.problems] == [
        ["台账.xlsx:依申请公开台账:row 4", "承办科室"],
        ["台账.xlsx:依申请公开台账:row 6", "收到日期"],
        ["台账.xlsx:依申请公开台账:row 6", "办理结果"],
        ["台账.xlsx:依申请公开台账:row 7", "申请编号"],
        ["台账.xlsx:公开事项台账:row 4", "事项代码"],
        ["台账.xlsx:公开事项台账:row 5", "事项代码"],
    ]
    assert "'2026-103' repeats row 5" in caught.value.problems[3]
    assert (
        "the same duty (monthly-info-report, foreign-trade, 2026-03) as row 3"
        in caught.value.problems[5]
    )
    assert counts(engine) == (0, 0, 0, 0)


def test_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "申请.csv"
    path.write_text(
        "申请编号,收到日期,申请人类型,承办科室,联系电话,序号,备注（内部）\n2026-1,2026-03-02,自然人,general,123,1,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRowsError) as caught:
        read_ledger(path)
    assert caught.value.problems == [
        "申请.csv:依申请公开台账:row 1: 联系电话: unknown column; rename it to one of 申请编号、收到日期、收到渠道、确认日期、"
        "申请人类型、申请人、承办科室、申请内容、补正告知日期、补正后收到日期、中止计时开始、中止计时结束、是否延期、延期工作日数、"
        "延期批准人、答复送达日期、办理结果、佐证链接、备注 (or to 备注), or delete it",
        "申请.csv:依申请公开台账:row 1: 收到渠道: required column is missing",
    ]


def test_gbk_csv_with_title_row_and_variant_headers(
    engine: Engine, bureau: Any, domain: Any, at: dt.datetime, tmp_path: Path
) -> None:
    """A clerk's own export: GBK, a title row, 收到日期（年月日）, no key row, dates as 2026/3/2."""
    path = tmp_path / "2026年依申请公开台账.csv"
    text = (
        "2026年依申请公开台账,,,,,,,\n"
        "序号,编号,收到日期（年月日）,申请方式,申请人类别,办理科室,答复日期,办理结果,佐证\n"
        "1,YSQ-1,2026/3/2,当面,公民,外贸科,2026年3月20日,1.属于国家秘密,http://oa.example.gov.cn/1\n"
    )
    path.write_bytes(text.encode("gb18030"))
    result = run_import(engine, domain, read_ledger(path), at)
    assert result.rows[0].row == 3
    task, event, _ = reply(engine, "YSQ-1")
    assert event.attributes == {"applicant_type": "natural_person", "channel": "in_person"}
    assert (task.outcome_code, task.timeliness, task.evidence_url) == (
        "refused.state_secret",
        "on_time",
        "http://oa.example.gov.cn/1",
    )


def test_unknown_file_type_and_workbook_without_ledger_sheets(tmp_path: Path) -> None:
    from db.errors import LedgerError

    with pytest.raises(LedgerError, match=r"unknown file type '\.xls'"):
        read_ledger(tmp_path / "old.xls")
    openpyxl.Workbook().save(tmp_path / "other.xlsx")  # one sheet, "Sheet"
    with pytest.raises(ImportRowsError) as caught:
        read_ledger(tmp_path / "other.xlsx")
    assert caught.value.problems == [
        "other.xlsx: no sheet named 依申请公开台账 or 公开事项台账 (sheets: Sheet)"
    ]


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated SQLite file named by GONGKAI_DATABASE_URL, with the bureau's agency."""
    from db.models import Agency
    from gongkai import runtime
    from gongkai.settings import get_settings

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("GONGKAI_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    engine = runtime.engine_for(get_settings())
    with session_scope(engine) as session:
        agency = Agency(
            code="xm-commerce", name="厦门市商务局", created_at=dt.datetime(2026, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        for code, name in [
            ("office", "办公室"),
            ("general", "综合科"),
            ("foreign-trade", "外贸科"),
            ("foreign-investment", "外资科"),
        ]:
            session.add(Section(agency_id=agency.id or 0, code=code, name=name))
    yield engine
    get_settings.cache_clear()


def test_cli_import_ledger(cli_database: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gongkai.cli import app

    runner = CliRunner()
    path = filled_xlsx(tmp_path, sample("requests-2026.csv")[:3], sample("duties-2026.csv")[:2])

    dry = runner.invoke(app, ["import", "ledger", str(path), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["created"] == 5
    assert counts(cli_database)[0] == 0

    done = runner.invoke(app, ["import", "ledger", str(path), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["imported"], data["created"], data["already_present"]) == (True, 5, 0)
    assert [row["timeliness"] for row in data["rows"]] == [
        "on_time",
        "extended_on_time",
        "late",
        "on_time",
        "late",
    ]
    assert counts(cli_database)[0] == 5

    again = runner.invoke(app, ["import", "ledger", str(path), "--agency", "xm-commerce"])
    assert again.exit_code == 0, again.output
    assert "已导入 Imported" in again.stdout
    assert counts(cli_database)[0] == 5

    bad = filled_csv(
        tmp_path,
        REQUESTS_TEMPLATE,
        [REQUEST | {"section": "宣传科"}, REQUEST | {"external_id": "X", "outcome": "?"}],
        "bad.csv",
    )
    refused = runner.invoke(app, ["import", "ledger", str(bad)])
    assert refused.exit_code == 1
    lines = refused.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "错误 Error: bad.csv:依申请公开台账:row 3: 承办科室: unknown section '宣传科'"
    )
    assert lines[1].startswith(
        "错误 Error: bad.csv:依申请公开台账:row 4: 办理结果: '?' is not an outcome"
    )
    as_json = runner.invoke(app, ["import", "ledger", str(bad), "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][0].startswith(
        "bad.csv:依申请公开台账:row 3: 承办科室:"
    )
    assert counts(cli_database)[0] == 5
