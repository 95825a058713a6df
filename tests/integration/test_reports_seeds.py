"""Ledgers rebuilt from the seed documents compile to the figures the agencies published
(tests/fixtures/reports/README.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from db.context import Actor, Domain
from db.engine import session_scope
from db.ledger_import import import_ledger, parse_ledger_csv
from db.models import Agency, Section
from db.spawn import record_event
from obligations.catalog import Catalog, EventType
from reports.compile import compile_year
from reports.model import YearReport
from reports.render import render_year
from reports.scope import resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"


def add_agency(
    engine: Engine, code: str, name: str, created: dt.date, sections: list[tuple[str, str]]
) -> None:
    with session_scope(engine) as session:
        agency = Agency(
            code=code, name=name, created_at=dt.datetime.combine(created, dt.time(), TZ)
        )
        session.add(agency)
        session.flush()
        for section_code, section_name in sections:
            session.add(Section(agency_id=agency.id or 0, code=section_code, name=section_name))


def compile_for(engine: Engine, year: int, at: dt.datetime) -> YearReport:
    with session_scope(engine) as session:
        scope = resolve_scope(session, Actor.system("test"))
        return compile_year(session, year=year, at=at, tz=TZ, scope=scope)


def test_seed_002_qingdao_xihaian_2018_compiles_to_its_published_table(
    engine: Engine, domain: Domain
) -> None:
    add_agency(
        engine,
        "qd-xha-commerce",
        "青岛西海岸新区商务局",
        dt.date(2018, 1, 1),
        [
            ("office", "办公室"),
            ("foreign-investment", "外资科"),
            ("foreign-trade", "外贸科"),
            ("commerce", "商贸流通科"),
        ],
    )
    filled = dt.datetime(2019, 1, 16, 10, 0, tzinfo=TZ)  # 填报日期 2019.1.16
    for name in (
        "seed-002-qingdao-xihaian-2018-requests.csv",
        "seed-002-qingdao-xihaian-2018-duties.csv",
    ):
        path = FIXTURES / name
        with session_scope(engine) as session:
            import_ledger(
                session,
                domain,
                parse_ledger_csv(path.read_text(encoding="utf-8"), str(path)),
                agency_code="qd-xha-commerce",
                actor=Actor.system("seed"),
                at=filled,
            )
    report = compile_for(engine, 2018, filled)
    figures = report.figures
    # 三、依申请公开情况: 收到申请数 14, all 网络申请; 办结 14: 按时 14, 延期 0.
    requests = figures.requests
    assert requests.received == 14
    assert requests.received_by_channel["online"] == 14
    assert sum(requests.received_by_channel.values()) == 14
    assert requests.closed == 14
    assert (requests.on_time, requests.extended_on_time, requests.late) == (14, 0, 0)
    assert requests.on_time_rate.value == 1.0
    assert requests.carried_out == 0
    # 申请答复数 14 by outcome (mapped onto table 三's rows, 2019 trial layout).
    table = figures.table3
    assert table.layout == "2019"
    assert table.value("new") == 14
    assert table.value("disclosed") == 3
    assert table.value("partial") == 2
    assert table.value("refused.third_party") == 2
    assert table.value("unavailable.not_held") == 1 + 5
    assert table.value("other") == 1
    assert table.value("total") == 14
    assert all(check.ok for check in table.checks)
    # 一、主动公开情况 41 by channel; 二、回应解读 2 (解读稿件 1, 回应 1).
    rows = {row.key: row for row in figures.channels.rows}
    information = rows["information"]
    assert information.total == 41
    assert information.values == {"website": 6, "wechat": 14, "weibo": 0, "gazette": 2, "other": 19}
    assert rows["interpretations"].total == 1
    assert rows["responses"].total == 1
    # 四、五 行政复议 / 行政诉讼 0.
    assert all(row["total"] == 0 for row in figures.table4.values.values())
    assert "全年共受理依申请公开14件，办结14件，按时办结率100%" in " ".join(figures.sentences)
    assert render_year(report, "xlsx", charts=False)


def test_seed_001_sanming_2017_compiles_to_its_published_table(
    engine: Engine, domain: Domain
) -> None:
    add_agency(engine, "sm-commerce", "三明市商务局", dt.date(2017, 1, 1), [("office", "办公室")])
    published = dt.datetime(2018, 1, 15, 15, 13, tzinfo=TZ)  # 时间:2018-01-15 15:13
    # The 2017 ledger did not track interpretation deadlines: record the documents only.
    historical = Domain(
        catalog=Catalog(
            item
            for item in domain.catalog.values()
            if item.trigger.event is not EventType.DOCUMENT_PUBLISHED
        ),
        calendar=domain.calendar,
        tz=domain.tz,
    )
    with (FIXTURES / "seed-001-sanming-2017-documents.csv").open(encoding="utf-8") as handle:
        documents = list(csv.DictReader(handle))
    with session_scope(engine) as session:
        for row in documents:
            record_event(
                session,
                historical,
                agency_code="sm-commerce",
                event_type_name="document_published",
                occurred_at=dt.datetime.combine(
                    dt.date.fromisoformat(row["published_on"]), dt.time(9), TZ
                ),
                actor=Actor.system("seed"),
                at=published,
                attributes={
                    "doc_kind": "other",
                    "channel": row["channel"],
                    "doc_number": row["doc_number"],
                },
                external_id=row["doc_number"],
                section_code=row["section"],
                title=row["title"],
            )
    figures = compile_for(engine, 2017, published).figures
    assert not figures.empty
    documents_row = {row.key: row for row in figures.channels.rows}["documents"]
    assert documents_row.total == 97  # 主动公开文件数 97
    assert documents_row.values["website"] == 97  # 其中：政府网站公开数 97
    assert documents_row.values["gazette"] == 0  # 政府公报公开数 0
    assert figures.requests.received == 0  # 受理依申请公开信息总数 0
    assert figures.table3.value("total") == 0  # 对申请的答复总数 0
    assert all(check.ok for check in figures.table3.checks)
    assert figures.table4.total("review") == 0  # 行政复议数 0
    assert (
        figures.table4.total("litigation_direct") + figures.table4.total("litigation_after_review")
        == 0
    )
    assert "全年未收到政府信息公开申请。" in figures.sentences
