"""The command line end to end: calendar, obligations, deadline, events, spawn, tasks, audit.

Each command is run through typer's runner against a fresh SQLite file (GONGKAI_DATABASE_URL);
bad input must give one readable line per problem on stderr, exit code 1, and change nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongkai.cli import app
from gongkai.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
DEMO_ORG = ROOT / "gongkai" / "examples" / "demo-org.yaml"
NOTICE_2027 = ROOT / "tests" / "fixtures" / "notices" / "2027-fictional.yaml"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run ``gongkai …`` on a fresh SQLite database; returns (exit code, stdout, stderr)."""
    database = tmp_path / "gongkai.db"
    monkeypatch.setenv("GONGKAI_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("GONGKAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GONGKAI_CATALOG_DIRS", raising=False)
    get_settings.cache_clear()
    from gongkai.cli import obligations_cmd

    obligations_cmd.catalog.cache_clear()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.stdout, result.stderr

    run.database = database  # type: ignore[attr-defined]
    yield run
    get_settings.cache_clear()


def as_json(output: str) -> Any:
    return json.loads(output)


def rows(database: Path, table: str) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# --- calendar -------------------------------------------------------------------------------


def test_is_workday_on_a_make_up_sunday(cli: Any) -> None:
    code, out, _ = cli("calendar", "is-workday", "2024-09-29", "--json")
    assert code == 0
    data = as_json(out)
    assert data["workday"] is True
    assert data["kind"] == "makeup"
    assert data["holiday"] == "国庆节"
    code, out, _ = cli("calendar", "is-workday", "2024-09-29")
    assert "调休上班" in out


def test_add_working_days_prints_the_explanation(cli: Any) -> None:
    code, out, _ = cli("calendar", "add", "2024-09-27", "3", "--json")
    assert code == 0
    data = as_json(out)
    assert data["due_date"] == "2024-10-08"
    assert data["provisional"] is False
    assert any("调休上班" in line for line in data["explanation"])
    code, out, _ = cli("calendar", "add", "2026-12-20", "20", "--lang", "en")
    assert code == 0
    assert "PROVISIONAL" in out
    assert "working day" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("calendar", "is-workday", "2024-13-01"), "DATE: '2024-13-01' is not a date"),
        (("calendar", "is-workday", "1999-01-01"), "outside the calendar's range"),
        (("calendar", "add", "2040-12-20", "20"), "outside the calendar's range"),
        (("calendar", "add", "yesterday", "3"), "DATE: 'yesterday' is not a date"),
        (("calendar", "load", "no-such-file.yaml"), "cannot read notice file"),
        (
            ("deadline", "no-such-duty", "--start", "2026-11-20"),
            "unknown obligation 'no-such-duty'",
        ),
        (
            ("deadline", "request-reply", "--start", "2026-11-20", "--extend", "5"),
            "--extend needs --approver",
        ),
        (
            (
                "deadline",
                "request-reply",
                "--start",
                "2026-11-20",
                "--extend",
                "25",
                "--approver",
                "王主任",
            ),
            "the cap is 20 working days",
        ),
        (
            ("deadline", "request-reply", "--start", "2026-11-20", "--pause", "2026-11-25"),
            "must be FROM..TO",
        ),
        (
            (
                "deadline",
                "policy-interpretation",
                "--start",
                "2026-11-20",
                "--pause",
                "2026-11-23..2026-11-24",
            ),
            "cannot be paused",
        ),
        (("obligations", "show", "nope"), "unknown obligation 'nope'"),
        (("obligations", "validate", "tests/fixtures/catalog/bad-override"), "deadline.amount"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(cli: Any, args: tuple[str, ...], message: str) -> None:
    code, _, err = cli(*args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_coverage_and_loading_a_notice(cli: Any) -> None:
    code, out, _ = cli("calendar", "coverage", "--json", "--from", "2025", "--to", "2027")
    assert code == 0
    statuses = {row["year"]: row["status"] for row in as_json(out)}
    assert statuses == {2025: "official", 2026: "official", 2027: "provisional"}
    code, out, err = cli("calendar", "load", str(NOTICE_2027), "--json")
    assert code == 0, err
    loaded = as_json(out)
    assert loaded["year"] == 2027
    assert loaded["changed_days"]
    code, out, _ = cli("calendar", "coverage", "--json", "--from", "2027", "--to", "2027")
    assert as_json(out)[0]["status"] == "official"


def test_bad_notice_is_refused_and_nothing_stored(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "2027.yaml"
    bad.write_text(
        NOTICE_2027.read_text(encoding="utf-8").replace("year: 2027", "year: 2027\nfoo: 1"), "utf-8"
    )
    code, _, err = cli("calendar", "load", str(bad))
    assert code == 1
    assert "foo" in err
    assert rows(cli.database, "calendar_notice") == 0


# --- obligations and deadlines ----------------------------------------------------------------


def test_obligations_list_and_show(cli: Any) -> None:
    code, out, _ = cli("obligations", "list", "--json")
    assert code == 0
    codes = {row["code"] for row in as_json(out)}
    assert {"request-reply", "policy-interpretation", "annual-report"} <= codes
    code, out, _ = cli("obligations", "show", "request-reply")
    assert "第三十三条" in out
    code, out, _ = cli("obligations", "validate", "tests/fixtures/catalog/good", "--json")
    assert code == 0
    assert as_json(out)["valid"] is True


def test_deadline_with_pause_and_extension(cli: Any) -> None:
    code, out, _ = cli(
        "deadline",
        "request-reply",
        "--start",
        "2026-11-20T10:00",
        "--pause",
        "2026-11-25..2026-12-01",
        "--extend",
        "10",
        "--approver",
        "王主任",
        "--json",
    )
    assert code == 0, out
    data = as_json(out)
    assert data["due_date"] == "2027-01-08"
    assert data["provisional"] is True
    assert data["extended_by"] == 10


def test_deadline_regime_2008(cli: Any) -> None:
    code, out, _ = cli("deadline", "request-reply", "--start", "2019-05-14", "--json")
    assert code == 0
    assert as_json(out)["due_date"] == "2019-06-04"


# --- the ledger -------------------------------------------------------------------------------


@pytest.fixture
def org(cli: Any) -> Any:
    code, _, err = cli("org", "import", str(DEMO_ORG))
    assert code == 0, err
    return cli


def test_event_spawn_task_and_audit_round_trip(org: Any) -> None:
    code, out, err = org(
        "event",
        "add",
        "request_received",
        "--agency",
        "demo-commerce",
        "--at",
        "2026-10-09T10:00",
        "--section",
        "foreign-trade",
        "--title",
        "申请公开外贸数据",
        "--external-id",
        "YSQ-2026-001",
        "--attr",
        "applicant_type=natural_person",
        "--attr",
        "channel=in_person",
        "--json",
    )
    assert code == 0, err
    event = as_json(out)
    assert event["created"] is True
    reply = next(t for t in event["tasks"] if t["obligation"] == "request-reply")
    assert reply["due_date"] == "2026-11-05"  # Sat 10-10 is a make-up working day
    code, out, _ = org(
        "event",
        "add",
        "request_received",
        "--agency",
        "demo-commerce",
        "--at",
        "2026-10-09T10:00",
        "--section",
        "foreign-trade",
        "--external-id",
        "YSQ-2026-001",
        "--attr",
        "applicant_type=natural_person",
        "--attr",
        "channel=in_person",
        "--json",
    )
    assert as_json(out)["created"] is False
    tasks_before = rows(org.database, "task")

    code, out, err = org("spawn", "--through", "2026-11-30", "--agency", "demo-commerce", "--json")
    assert code == 0, err
    assert as_json(out)["created"] > 0
    code, out, _ = org("spawn", "--through", "2026-11-30", "--agency", "demo-commerce", "--json")
    assert as_json(out)["created"] == 0
    assert rows(org.database, "task") > tasks_before

    task_id = str(reply["id"])
    code, out, err = org("task", "extend", task_id, "10", "--approver", "王主任", "--json")
    assert code == 0, err
    assert as_json(out)["due_date"] == "2026-11-19"
    code, out, err = org(
        "task",
        "done",
        task_id,
        "--evidence",
        "https://www.example.gov.cn/ysq/1.html",
        "--outcome",
        "disclosed",
        "--service-date",
        "2026-11-16",
        "--at",
        "2026-11-16T16:00",
        "--json",
    )
    assert code == 0, err
    done = as_json(out)
    assert done["status"] == "done"
    assert done["timeliness"] == "extended_on_time"
    code, out, _ = org("task", "show", task_id, "--json")
    shown = as_json(out)
    assert [entry["action"] for entry in shown["audit"]] == ["create", "extend", "complete"]
    assert shown["explanation"][0].startswith("起算日 2026-10-09")
    code, out, _ = org("task", "list", "--status", "done", "--json")
    assert [row["id"] for row in as_json(out)] == [int(task_id)]
    code, out, _ = org("audit", "verify", "--json")
    assert code == 0
    assert as_json(out)["ok"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("event", "add", "party", "--agency", "demo-commerce"), "unknown event type 'party'"),
        (
            (
                "event",
                "add",
                "request_received",
                "--agency",
                "demo-commerce",
                "--section",
                "foreign-trade",
                "--attr",
                "applicant_type=alien",
                "--attr",
                "channel=in_person",
            ),
            "applicant_type='alien'",
        ),
        (
            ("event", "add", "request_received", "--agency", "nope", "--attr", "channel=in_person"),
            "unknown agency",
        ),
        (
            (
                "event",
                "add",
                "document_published",
                "--agency",
                "demo-commerce",
                "--section",
                "attic",
            ),
            "unknown section 'attic'",
        ),
        (
            (
                "event",
                "add",
                "document_published",
                "--agency",
                "demo-commerce",
                "--attr",
                "doc_kind",
            ),
            "must be KEY=VALUE",
        ),
        (
            (
                "event",
                "add",
                "document_published",
                "--agency",
                "demo-commerce",
                "--section",
                "general",
                "--at",
                "2050-01-01",
            ),
            "in the future",
        ),
        (("event", "add", "document_published", "--section", "general"), "several agencies"),
        (("spawn", "--through", "2026-13-01"), "--through: '2026-13-01' is not a date"),
        (("spawn", "--through", "2026-11-30", "--obligation", "nope"), "unknown obligation 'nope'"),
        (("task", "show", "999999"), "task 999999 does not exist"),
        (("task", "done", "999999", "--evidence", "https://x.cn/1"), "task 999999 does not exist"),
        (("task", "list", "--status", "late"), "--status 'late' is not one of"),
    ],
)
def test_ledger_bad_input_changes_nothing(org: Any, args: tuple[str, ...], message: str) -> None:
    before = {table: rows(org.database, table) for table in ("event", "task", "audit_entry")}
    code, _, err = org(*args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert {table: rows(org.database, table) for table in before} == before


def test_task_operation_errors_change_nothing(org: Any) -> None:
    code, out, _ = org(
        "event",
        "add",
        "document_published",
        "--agency",
        "demo-commerce",
        "--section",
        "general",
        "--at",
        "2026-11-20T10:00",
        "--title",
        "关于促进外贸的若干措施",
        "--json",
    )
    task_id = str(as_json(out)["tasks"][0]["id"])
    before = rows(org.database, "audit_entry")
    for args, message in [
        (("task", "done", task_id, "--evidence", "www.example.gov.cn/1"), "not an http(s) URL"),
        (("task", "pause", task_id, "--reason", "征求意见"), "cannot be paused"),
        (("task", "resume", task_id), "must be paused"),
        (("task", "reopen", task_id, "--reason", "误操作"), "cannot reopen"),
        (("task", "extend", task_id, "1", "--approver", "王主任"), "cannot be extended"),
    ]:
        code, _, err = org(*args)
        assert code == 1, args
        assert message in err, (args, err)
    assert rows(org.database, "audit_entry") == before


def test_audit_verify_detects_tampering(org: Any) -> None:
    code, _, _ = org("audit", "verify")
    assert code == 0
    with sqlite3.connect(org.database) as connection:
        connection.execute("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2")
    code, _, err = org("audit", "verify")
    assert code == 1
    assert "seq 2" in err
    assert "content was changed" in err
