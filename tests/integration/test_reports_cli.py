"""``gongkai report …`` end to end on a SQLite file: formats, bulletin message, lock, figures,
cases, and bad input as readable lines (no traceback)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from db import tasks as ledger
from db.context import Actor
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.models import Agency, Section, Task
from db.spawn import record_event
from gongkai.cli import app
from gongkai.settings import get_settings

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, domain: Any) -> Iterator[Any]:
    database = tmp_path / "gongkai.db"
    monkeypatch.setenv("GONGKAI_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("GONGKAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GONGKAI_CATALOG_DIRS", raising=False)
    get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    actor = Actor.system("test")
    at = dt.datetime(2026, 1, 20, 10, tzinfo=TZ)
    with session_scope(engine) as session:
        agency = Agency(
            code="xm", name="厦门市商务局", created_at=dt.datetime(2025, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        session.add(Section(agency_id=agency.id or 0, code="trade", name="外贸科"))
        session.flush()
        result = record_event(
            session,
            domain,
            agency_code="xm",
            event_type_name="request_received",
            occurred_at=dt.datetime(2025, 3, 3, 9, tzinfo=TZ),
            actor=actor,
            at=at,
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            section_code="trade",
            title="申请公开外贸数据",
        )
        reply = next(
            task_id
            for task_id in result.task_ids
            if (task := session.get(Task, task_id)) is not None
            and task.obligation_code == "request-reply"
        )
        ledger.complete(
            session,
            reply,
            domain,
            actor=actor,
            at=at,
            evidence="https://www.example.gov.cn/ysq/1",
            done_at=dt.datetime(2025, 3, 20, 16, tzinfo=TZ),
            outcome_code="disclosed",
            service_date=dt.date(2025, 3, 20),
        )
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        outcome = runner.invoke(app, list(args))
        return outcome.exit_code, outcome.stdout, outcome.stderr

    run.engine = engine  # type: ignore[attr-defined]
    run.reply = reply  # type: ignore[attr-defined]
    yield run
    engine.dispose()
    get_settings.cache_clear()


def test_year_report_in_every_format(cli: Any, tmp_path: Path) -> None:
    code, out, err = cli("report", "year", "2025", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["figures"]["table3"]["rows"][0]["values"]["total"] == 1
    assert data["figures"]["requests"]["on_time_rate"]["basis"].startswith("分母")
    for fmt in ("xlsx", "docx", "html"):
        target = tmp_path / f"report.{fmt}"
        code, out, err = cli(
            "report", "year", "2025", "--format", fmt, "--out", str(target), "--no-charts"
        )
        assert code == 0, err
        assert target.stat().st_size > 1000
    code, out, _ = cli("report", "year", "2019", "--format", "json")
    assert code == 0
    assert json.loads(out)["figures"]["empty"] is True


def test_month_bulletin_as_chat_message(cli: Any) -> None:
    code, out, err = cli("report", "month", "2025-03", "--message")
    assert code == 0, err
    assert out.startswith("【厦门市商务局2025年3月政务公开月度通报】")
    code, out, err = cli("report", "month", "2025-13")
    assert code == 1
    assert "is not a month" in err


def test_figures_cases_and_lock(cli: Any) -> None:
    code, _, err = cli("report", "figure", "set", "2025", "table2.fees.amount", "2.5")
    assert code == 0, err
    code, _, err = cli("report", "figure", "set", "2025", "table2.fees", "2.5")
    assert code == 1
    assert "unknown figure 'table2.fees'" in err
    code, out, err = cli(
        "report",
        "case",
        "add",
        "--kind",
        "review",
        "--filed",
        "2025-04-01",
        "--result",
        "upheld",
        "--closed",
        "2025-06-01",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["created"] is True
    code, out, _ = cli("report", "year", "2025")
    figures = json.loads(out)["figures"]
    assert figures["table2"]["fees_amount"] == 2.5
    assert figures["table4"]["values"]["review"]["upheld"] == 1
    code, out, err = cli("report", "lock", "2025", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["created"] is True
    code, _, err = cli("report", "figure", "set", "2025", "table2.fees.amount", "3")
    assert code == 1
    assert "year 2025 is locked" in err
    code, out, _ = cli("report", "year", "2025")
    assert json.loads(out)["figures"]["locked"]["digest"]
    code, _, err = cli("report", "lock", "2026")
    assert code == 1
    assert "not over" in err


def test_unlock_needs_a_reason_and_reopens_the_year(cli: Any) -> None:
    code, out, err = cli("report", "lock", "2025", "--json")
    assert code == 0, err
    digest = json.loads(out)[0]["digest"]
    code, _, err = cli("report", "unlock", "2025", "--reason", "   ")
    assert code == 1
    assert "give the reason" in err
    assert "Traceback" not in err
    code, out, err = cli("report", "unlock", "2025", "--reason", "更正表三数据", "--json")
    assert code == 0, err
    assert json.loads(out) == {"agency": "xm", "year": 2025, "unlocked": True, "digest": digest}
    code, _, err = cli("report", "figure", "set", "2025", "table2.fees.amount", "3")
    assert code == 0, err
    code, _, err = cli("report", "unlock", "2025", "--reason", "again")
    assert code == 1
    assert "year 2025 is not locked" in err
    code, out, _ = cli("audit", "log", "--json")
    unlocks = [entry for entry in json.loads(out) if entry.get("action") == "unlock"]
    assert len(unlocks) == 1
    assert unlocks[0]["before"]["digest"] == digest
    assert unlocks[0]["after"] == {"reason": "更正表三数据"}
    code, _, err = cli("audit", "verify")
    assert code == 0, err


def test_inconsistent_ledger_prints_the_offending_tasks(cli: Any) -> None:
    with cli.engine.begin() as connection:
        connection.execute(
            text("UPDATE task SET outcome_code = NULL WHERE id = :id"), {"id": cli.reply}
        )
    code, out, err = cli("report", "year", "2025", "--format", "json")
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert f"task {cli.reply}" in err
    assert "ledger is inconsistent" in err


def test_evidence_workbook_from_the_command_line(cli: Any, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    target = tmp_path / "out" / "evidence.xlsx"
    code, out, err = cli("report", "evidence", "2025", "--section", "trade", "--out", str(target))
    assert code == 0, err
    assert "evidence.xlsx" in out
    book = load_workbook(target, read_only=True)
    tasks = [list(row) for row in book["任务明细"].iter_rows(values_only=True)]
    reply = next(row for row in tasks[1:] if row[0] == cli.reply)
    assert reply[9] == "按时"
    assert reply[11] == "https://www.example.gov.cn/ysq/1"
    summary = [list(row) for row in book["各科室"].iter_rows(values_only=True)]
    classes = [row[9] for row in tasks[1:]]
    total = summary[-1]
    assert total[0] == "合计"
    assert (total[1], total[2], total[5]) == (
        len(classes),
        classes.count("按时"),
        classes.count("逾期未办结"),
    )
    assert total[7] == f"{classes.count('按时') / (len(classes) - classes.count('未到期')):.0%}"
    code, _, err = cli("report", "evidence", "2025", "--section", "nope")
    assert code == 1
    assert "unknown section 'nope'" in err
    code, _, err = cli("report", "evidence", "2025", "--lang", "fr")
    assert code == 1
    assert "--lang" in err
    code, _, err = cli("report", "evidence", "1999")
    assert code == 1
    assert "year 1999" in err
