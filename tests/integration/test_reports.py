"""Year-end statistics and the monthly bulletin compiled from a ledger (SQLite and PostgreSQL).

The ledger is written through its own operations (record_event, complete, cancel …) for
the ``bureau`` fixture's agency; "now" is the fixture's 2026-11-27, so 2024 and 2025 are
past years.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import statistics
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from db import tasks as ledger
from db.cases import record_case, set_figure
from db.context import Actor, Domain
from db.engine import session_scope
from db.models import Agency, Section
from db.spawn import record_event
from reports.bulletin import bulletin_message, compile_month
from reports.compile import compile_year
from reports.errors import LedgerInconsistent, ScopeError
from reports.model import YearReport
from reports.render import render_month, render_year
from reports.scope import resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
CODE = "xm-commerce"


def moment(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), TZ)


def request(
    session: Session,
    domain: Domain,
    actor: Actor,
    at: dt.datetime,
    *,
    received: str,
    applicant: str = "natural_person",
    channel: str = "in_person",
    confirmed: str | None = None,
    section: str = "foreign-trade",
    agency: str = CODE,
) -> int:
    """Register a request; returns its reply task (the one feeding table 三)."""
    attributes = {"applicant_type": applicant, "channel": channel}
    if confirmed:
        attributes["confirmed_on"] = confirmed
    result = record_event(
        session,
        domain,
        agency_code=agency,
        event_type_name="request_received",
        occurred_at=moment(received, 9),
        actor=actor,
        at=at,
        attributes=attributes,
        section_code=section,
        title=f"申请 {received} {applicant}",
    )
    from db.models import Task

    for task_id in result.task_ids:
        task = session.get(Task, task_id)
        assert task is not None
        if task.obligation_code == "request-reply":
            return task_id
    raise AssertionError("no reply task")


def answer(
    session: Session,
    domain: Domain,
    actor: Actor,
    at: dt.datetime,
    task_id: int,
    *,
    on: str,
    outcome: str = "disclosed",
) -> None:
    ledger.complete(
        session,
        task_id,
        domain,
        actor=actor,
        at=at,
        evidence=f"https://www.example.gov.cn/ysq/{task_id}",
        done_at=moment(on, 16),
        outcome_code=outcome,
        service_date=dt.date.fromisoformat(on),
    )


def year(engine: Engine, at: dt.datetime, number: int, **scope: Any) -> YearReport:
    with session_scope(engine) as session:
        found = resolve_scope(session, Actor.system("test"), **scope)
        return compile_year(session, year=number, at=at, tz=TZ, scope=found)


# --------------------------------------------------------------------------- table 三


def test_table3_counts_new_results_and_carry_over_across_years(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        # Received in 2024, answered in 2025: carried over into 2025.
        old = request(session, domain, system, at, received="2024-12-20")
        answer(session, domain, system, at, old, on="2025-01-10")
        # Received and answered in 2025, a company, partly disclosed.
        partial = request(
            session, domain, system, at, received="2025-03-03", applicant="commercial_enterprise"
        )
        answer(session, domain, system, at, partial, on="2025-03-20", outcome="partial")
        # Refused to protect a third party, a law firm.
        refused = request(
            session, domain, system, at, received="2025-05-06", applicant="legal_service_org"
        )
        answer(session, domain, system, at, refused, on="2025-05-20", outcome="refused.third_party")
        # Received late in 2025 and still open: carried into 2026.
        request(
            session, domain, system, at, received="2025-12-25", applicant="research_institution"
        )
        # Arrived online on 31 December, confirmed on 5 January: a 2026 request (Art.31).
        request(
            session,
            domain,
            system,
            at,
            received="2025-12-31",
            channel="online",
            confirmed="2026-01-05",
            applicant="public_interest_org",
        )
        # Registered by mistake and cancelled: not a request.
        mistake = request(session, domain, system, at, received="2025-06-01")
        ledger.cancel(session, mistake, domain, actor=system, at=at, reason="重复登记")

    report = year(engine, at, 2025)
    table = report.figures.table3
    assert report.layout == "2021"
    assert table.value("new") == 3
    assert table.value("new", "commercial_enterprise") == 1
    assert table.value("new", "research_institution") == 1
    assert table.value("carried_in") == 1
    assert table.value("carried_in", "natural_person") == 1
    assert table.value("disclosed") == 1
    assert table.value("partial") == 1
    assert table.value("refused.third_party", "legal_service_org") == 1
    assert table.value("total") == 3
    assert table.value("carried_out") == 1
    assert table.value("carried_out", "research_institution") == 1
    assert all(check.ok for check in table.checks)
    assert [check.label for check in table.checks][:2] == ["自然人", "商业企业"]

    before = year(engine, at, 2024).figures.table3
    assert (before.value("new"), before.value("total"), before.value("carried_out")) == (1, 0, 1)
    after = year(engine, at, 2026).figures.table3
    assert after.value("carried_in") == 1
    assert after.value("new", "public_interest_org") == 1
    summary = report.figures.requests
    assert summary.received == 3
    assert summary.received_by_channel["in_person"] == 3
    assert summary.closed == 3
    assert summary.on_time_rate.denominator == 3
    assert "全年共受理依申请公开3件" in " ".join(report.figures.sentences)


def test_2019_trial_layout_has_one_row_for_other_handling(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        for received, outcome in [
            ("2020-03-02", "other.fee_unpaid"),
            ("2020-04-01", "other.no_correction"),
            ("2020-05-06", "unavailable.not_held"),
        ]:
            task_id = request(session, domain, system, at, received=received)
            answer(session, domain, system, at, task_id, on=received[:8] + "20", outcome=outcome)
    report = year(engine, at, 2020)
    table = report.figures.table3
    assert report.layout == "2019"
    keys = [row.key for row in table.rows]
    assert "other" in keys
    assert not any(key.startswith("other.") for key in keys)
    assert table.value("other") == 2
    assert table.value("unavailable.not_held") == 1
    # The same outcomes in 2021 have their own rows.
    with session_scope(engine) as session:
        task_id = request(session, domain, system, at, received="2021-03-01")
        answer(session, domain, system, at, task_id, on="2021-03-15", outcome="other.fee_unpaid")
    later = year(engine, at, 2021).figures.table3
    assert later.layout == "2021"
    assert later.value("other.fee_unpaid") == 1


def test_closed_request_without_outcome_is_listed_not_counted(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        task_id = request(session, domain, system, at, received="2025-03-03")
        answer(session, domain, system, at, task_id, on="2025-03-20")
        # A closed request that lost its outcome code (e.g. an old import).
        session.connection().execute(
            text("UPDATE task SET outcome_code = NULL WHERE id = :id"), {"id": task_id}
        )
    with pytest.raises(LedgerInconsistent) as caught:
        year(engine, at, 2025)
    assert caught.value.problems
    assert f"task {task_id}" in caught.value.problems[0]
    assert "outcome" in caught.value.problems[0]


# --------------------------------------------------------------------------- timeliness


def _tasks_with_margins(
    session: Session, domain: Domain, system: Actor, at: dt.datetime
) -> list[int]:
    """Interpretations of documents published in March 2025, done on various days."""
    done_days = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-07", "2025-03-12", "2025-03-04"]
    ids = []
    for number, done in enumerate(done_days):
        result = record_event(
            session,
            domain,
            agency_code=CODE,
            event_type_name="document_published",
            occurred_at=moment("2025-03-03", 9),
            actor=system,
            at=at,
            attributes={"doc_kind": "normative", "channel": "website"},
            section_code="general" if number % 2 else "foreign-trade",
            title=f"文件{number}",
        )
        task_id = result.task_ids[0]
        ledger.complete(
            session,
            task_id,
            domain,
            actor=system,
            at=at,
            evidence=f"https://www.example.gov.cn/jd/{number}",
            done_at=moment(done, 15),
        )
        ids.append(task_id)
    return ids


def test_timeliness_counts_rates_and_medians_are_sql_aggregates(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        ids = _tasks_with_margins(session, domain, system, at)
        open_overdue = record_event(
            session,
            domain,
            agency_code=CODE,
            event_type_name="document_published",
            occurred_at=moment("2025-03-10", 9),
            actor=system,
            at=at,
            attributes={"doc_kind": "policy"},
            section_code="general",
            title="未解读",
        ).task_ids[0]
        margins = [
            row[0]
            for row in session.connection().execute(
                text(
                    "SELECT working_days_margin FROM task WHERE id IN ({})".format(
                        ",".join(map(str, ids))
                    )
                )
            )
        ]
        if engine.dialect.name == "postgresql":
            expected = (
                session.connection()
                .execute(
                    text(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY working_days_margin) "
                        "FROM task WHERE status = 'done' AND obligation_code = 'policy-interpretation'"
                    )
                )
                .scalar_one()
            )
        else:
            expected = statistics.median(margins)
    report = year(engine, at, 2025)
    rows = {row.obligation: row for row in report.figures.timeliness.by_obligation}
    interpretation = rows["policy-interpretation"]
    assert interpretation.due == 7
    assert interpretation.open_overdue == 1
    assert interpretation.on_time + interpretation.late == 6
    assert interpretation.late == sum(1 for margin in margins if margin < 0)
    assert interpretation.median_margin == pytest.approx(float(expected))
    assert interpretation.worst_margin == min(margins)
    rate = interpretation.on_time_rate
    assert rate.denominator == 7
    assert rate.numerator == interpretation.on_time
    assert "分母" in rate.basis
    assert {row.section for row in report.figures.timeliness.by_section} >= {
        "general",
        "foreign-trade",
    }
    march = [row for row in report.figures.timeliness.by_month if row.month == 3]
    assert march[0].due == 7
    detail = [
        row for row in report.figures.timeliness.detail if row.obligation == "policy-interpretation"
    ]
    assert sum(row.due for row in detail) == 7
    assert open_overdue not in ids


def test_monthly_bulletin_ranks_sections_and_reads_as_a_message(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        _tasks_with_margins(session, domain, system, at)
        record_event(
            session,
            domain,
            agency_code=CODE,
            event_type_name="document_published",
            occurred_at=moment("2025-03-10", 9),
            actor=system,
            at=at,
            attributes={"doc_kind": "policy"},
            section_code="general",
            title="未解读的文件",
        )
    with session_scope(engine) as session:
        scope = resolve_scope(session, system)
        bulletin = compile_month(session, year=2025, month=3, at=at, tz=TZ, scope=scope)
    assert [row.rank for row in bulletin.ranking] == list(range(1, len(bulletin.ranking) + 1))
    rates = [row.on_time_rate.value for row in bulletin.ranking]
    assert rates == sorted(rates, reverse=True)
    assert bulletin.overdue
    assert bulletin.overdue[0].title.endswith("未解读的文件")
    message = bulletin_message(bulletin)
    assert message.startswith("【厦门市商务局2025年3月政务公开月度通报】")
    assert "科室排名" in message
    assert "未解读的文件" in message
    assert len(bulletin_message(bulletin, limit=120)) <= 120
    for fmt in ("json", "html", "xlsx", "docx"):
        assert render_month(bulletin, fmt, charts=fmt != "docx")


# --------------------------------------------------------------------------- tables 二 and 四


def test_table2_from_events_and_figures_and_table4_from_cases(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        for kind, channel in [
            ("normative", "website"),
            ("normative", "gazette"),
            ("regulation", None),
        ]:
            attributes = {"doc_kind": kind}
            if channel:
                attributes["channel"] = channel
            record_event(
                session,
                domain,
                agency_code=CODE,
                event_type_name="document_published",
                occurred_at=moment("2025-06-02"),
                actor=system,
                at=at,
                attributes=attributes,
                section_code="general",
                title=kind,
            )
        for kind in ["licensing", "licensing", "penalty", "enforcement"]:
            record_event(
                session,
                domain,
                agency_code=CODE,
                event_type_name="decision_made",
                occurred_at=moment("2025-07-01"),
                actor=system,
                at=at,
                attributes={"kind": kind},
                section_code="foreign-trade",
                title=kind,
            )
        set_figure(
            session,
            agency_code=CODE,
            year=2025,
            key="table2.normative.in_force",
            value=12,
            actor=system,
            at=at,
        )
        set_figure(
            session,
            agency_code=CODE,
            year=2025,
            key="table2.fees.amount",
            value=1.25,
            actor=system,
            at=at,
        )
        # Table 四: decided in 2025, pending over the year end, decided in 2024 (not counted).
        record_case(
            session,
            agency_code=CODE,
            kind="review",
            filed_on=dt.date(2025, 2, 1),
            result="upheld",
            closed_on=dt.date(2025, 4, 1),
            actor=system,
            at=at,
            tz=TZ,
        )
        record_case(
            session,
            agency_code=CODE,
            kind="litigation_direct",
            filed_on=dt.date(2025, 11, 1),
            actor=system,
            at=at,
            tz=TZ,
        )
        record_case(
            session,
            agency_code=CODE,
            kind="litigation_after_review",
            filed_on=dt.date(2024, 3, 1),
            result="corrected",
            closed_on=dt.date(2025, 1, 15),
            actor=system,
            at=at,
            tz=TZ,
        )
        record_case(
            session,
            agency_code=CODE,
            kind="review",
            filed_on=dt.date(2024, 3, 1),
            result="other",
            closed_on=dt.date(2024, 9, 1),
            actor=system,
            at=at,
            tz=TZ,
        )
    figures = year(engine, at, 2025).figures
    table2 = figures.table2
    assert (table2.regulation.made, table2.normative.made) == (1, 2)
    assert table2.normative.in_force == 12
    assert table2.normative.repealed is None
    assert "table2.normative.repealed" in table2.missing
    assert (table2.licensing, table2.penalty, table2.enforcement) == (2, 1, 1)
    assert table2.fees_amount == pytest.approx(1.25)
    assert any("尚未登记" in note for note in figures.notes)
    table4 = figures.table4.values
    assert table4["review"] == {"upheld": 1, "corrected": 0, "other": 0, "pending": 0, "total": 1}
    assert table4["litigation_direct"]["pending"] == 1
    assert table4["litigation_after_review"]["corrected"] == 1
    documents = {row.key: row for row in figures.channels.rows}["documents"]
    assert documents.values["website"] == 1
    assert documents.values["gazette"] == 1
    assert documents.values["other"] == 1
    assert documents.unrecorded == 1
    # The 2024 report shows the case filed in 2024 and decided in 2025 as pending.
    earlier = year(engine, at, 2024).figures.table4.values
    assert earlier["litigation_after_review"]["pending"] == 1
    assert earlier["review"]["other"] == 1


# --------------------------------------------------------------------------- scope, empty, output


def test_empty_year_is_a_valid_report_that_says_so(
    engine: Engine, at: dt.datetime, bureau: dict[str, Any]
) -> None:
    report = year(engine, at, 2019)
    assert report.figures.empty
    assert "没有任何数据" in report.figures.notes[0]
    assert report.figures.table3.value("total") == 0
    assert all(check.ok for check in report.figures.table3.checks)
    assert report.figures.timeliness.total.on_time_rate.value is None
    data = json.loads(render_year(report, "json"))
    assert data["figures"]["empty"] is True
    for fmt in ("html", "xlsx", "docx"):
        assert render_year(report, fmt)


def test_whole_government_sums_its_agencies_and_compares_them(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        other = Agency(code="xm-finance", name="厦门市财政局", created_at=moment("2024-01-01"))
        session.add(other)
        session.flush()
        session.add(Section(agency_id=other.id or 0, code="budget", name="预算科"))
        session.flush()
        for agency, section, received in [
            (CODE, "foreign-trade", "2025-03-03"),
            (CODE, "general", "2025-04-01"),
            ("xm-finance", "budget", "2025-05-06"),
        ]:
            task_id = request(
                session, domain, system, at, received=received, section=section, agency=agency
            )
            answer(session, domain, system, at, task_id, on=received[:8] + "20")
    with (
        session_scope(engine) as session,
        pytest.raises(ScopeError, match="--agency CODE or --all"),
    ):
        resolve_scope(session, system)
    whole = year(engine, at, 2025, everyone=True)
    assert whole.government
    assert whole.figures.table3.value("new") == 3
    assert [item.agency for item in whole.agencies] == ["xm-commerce", "xm-finance"]
    assert sum(item.table3.value("new") for item in whole.agencies) == 3
    comparison = {row.agency: row for row in whole.comparison}
    assert comparison["xm-commerce"].requests_received == 2
    assert comparison["xm-finance"].requests_received == 1
    total = whole.figures.timeliness.total
    assert total.due == sum(item.timeliness.total.due for item in whole.agencies)
    single = year(engine, at, 2025, agency_code="xm-finance")
    assert not single.government
    assert single.figures.table3.value("new") == 1
    book = render_year(whole, "xlsx", charts=False)
    from openpyxl import load_workbook

    sheets = load_workbook(io.BytesIO(book)).sheetnames
    assert "各单位对比" in sheets


def test_renderers_lay_out_the_official_tables(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    with session_scope(engine) as session:
        task_id = request(session, domain, system, at, received="2025-03-03")
        answer(session, domain, system, at, task_id, on="2025-03-20")
        _tasks_with_margins(session, domain, system, at)
    report = year(engine, at, 2025)
    from docx import Document
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(render_year(report, "xlsx")))
    sheet = book["表三 依申请公开"]
    merged = {str(item) for item in sheet.merged_cells.ranges}
    assert "A2:C4" in merged  # the label block with the 勾稽关系 note
    assert "D2:J2" in merged  # 申请人情况 over the seven columns
    assert "E3:I3" in merged  # 法人或其他组织 over its five columns
    assert "勾稽关系" in str(sheet["A2"].value)
    assert sheet["A5"].value.startswith("一、本年新收")
    assert sheet["J5"].value == 1
    assert "图表" in book.sheetnames
    assert "A1:O1" not in merged
    table4 = {str(item) for item in book["表四 复议诉讼"].merged_cells.ranges}
    assert {"A2:E2", "F2:O2", "F3:J3", "K3:O3"} <= table4

    document = Document(io.BytesIO(render_year(report, "docx")))
    headings = [
        p.text
        for p in document.paragraphs
        if p.style is not None and p.style.name.startswith("Heading")
    ]
    assert [h[:2] for h in headings if h[:1] in "一二三四五六"] == [
        "一、",
        "二、",
        "三、",
        "四、",
        "五、",
        "六、",
    ]
    texts = "\n".join(p.text for p in document.paragraphs)
    assert "全年共受理依申请公开1件，办结1件，按时办结率100%" in texts
    assert len(document.inline_shapes) >= 1  # charts as images
    assert len(document.tables) >= 5

    page = render_year(report, "html").decode("utf-8")
    assert '<table class="gk" id="table3">' in page
    assert 'rowspan="3"' in page
    assert "data:image/png;base64," in page
    fragment = render_year(report, "html", charts=False, fragment=True).decode("utf-8")
    assert fragment.startswith('<section class="gongkai-report">')
    assert "<html" not in fragment


def test_flow_hooks_compile_each_agency_and_give_chat_messages(
    engine: Engine, domain: Domain, at: dt.datetime, system: Actor, bureau: dict[str, Any]
) -> None:
    from flows.jobs import bulletin_job, find_report_hook, year_report_job
    from reports import hooks

    assert find_report_hook("bulletin") is hooks.bulletin
    assert find_report_hook("year_report") is hooks.year_report
    with session_scope(engine) as session:
        _tasks_with_margins(session, domain, system, at)
    month = moment("2025-04-01", 8)
    result = bulletin_job(engine, domain, at=month, build=hooks.bulletin)
    assert result.month == "2025-03"
    assert list(result.messages) == [CODE]
    assert result.messages[CODE].startswith("【厦门市商务局2025年3月政务公开月度通报】")
    assert result.as_rows()[0]["due"] == 6
    yearly = year_report_job(engine, domain, at=moment("2026-01-02", 8), build=hooks.year_report)
    assert yearly.year == 2025
    assert yearly.as_rows()[0]["checks"] == "ok"
