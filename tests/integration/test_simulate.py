"""The simulation: realistic events through the real jobs, deterministic for a seed.

A full year takes about half a minute, so these tests simulate a few weeks or months;
benchmarks/bench_simulate.py measures the whole year.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from db.context import Actor, Domain
from db.engine import make_engine
from db.migrate import upgrade
from db.models import AuditHead, ClockEventRow, Delivery, Event, OutboxMessage, Section, Task
from db.org import parse_org_yaml
from flows.embedded import Jobs
from flows.simulate import (
    PROFILES,
    Scenario,
    SimulatedClock,
    Simulation,
    SimulationReport,
    import_organisation,
)
from notifier.channels.console import ConsoleChannel

TZ = ZoneInfo("Asia/Shanghai")
GONGKAI = Path(sys.executable).parent / "gongkai"
DEMO_ORG = Path(__file__).resolve().parents[2] / "gongkai" / "examples" / "demo-org.yaml"


def simulate(
    path: Path,
    domain: Domain,
    *,
    start: dt.date,
    until: dt.date,
    seed: int = 7,
    scenario: Scenario | None = None,
) -> tuple[Engine, SimulationReport]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    org = parse_org_yaml(DEMO_ORG.read_text(encoding="utf-8"), str(DEMO_ORG))
    import_organisation(engine, org, start=start, tz=TZ)
    jobs = Jobs(
        engine=engine,
        domain=lambda: domain,
        channels={"console": ConsoleChannel()},
        worker="simulate",
        actor=Actor.system("simulate"),
    )
    simulation = Simulation(
        jobs,
        clock=SimulatedClock(dt.datetime.combine(start, dt.time(), TZ)),
        scenario=scenario or Scenario(seed=seed),
    )
    report = simulation.run(start=start, until=dt.datetime.combine(until, dt.time(), TZ))
    return engine, report


@pytest.fixture(scope="module")
def spring(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, SimulationReport]:
    """Two and a half months of the demo organisation, March to mid-May (两会 suggestions)."""
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    path = tmp_path_factory.mktemp("spring") / "demo.db"
    engine, report = simulate(path, domain, start=dt.date(2026, 3, 1), until=dt.date(2026, 5, 16))
    yield engine, report
    engine.dispose()


def test_events_come_at_the_seed_rates(spring: tuple[Engine, SimulationReport]) -> None:
    _, report = spring
    events = report.events
    # ~126 requests a year for the commerce bureau, half that for the 4-section market
    # bureau: (126 + 63) × 2.5/12 ≈ 39.
    assert 20 <= events["request_received"] <= 60
    assert 1 <= events["document_published"] <= 10  # ~13 interpretations a year (+ half)
    assert 15 <= events["decision_made"] <= 60  # 双公示, ~100 a year
    assert events["suggestion_assigned"] >= 5  # assigned after the 两会, March to April
    assert events["approval_received"] == 0  # budgets in February, final accounts in July
    assert report.sweeps >= 50  # every working-day morning (and hourly around sentiments)
    assert report.messages > 0


def test_requests_have_realistic_applicants_and_channels(
    spring: tuple[Engine, SimulationReport],
) -> None:
    engine, _ = spring
    with Session(engine) as session:
        events = session.exec(select(Event).where(Event.type == "request_received")).all()
    applicants = Counter(event.attributes["applicant_type"] for event in events)
    channels = Counter(event.attributes["channel"] for event in events)
    assert applicants.most_common(1)[0][0] == "natural_person"
    assert channels.most_common(1)[0][0] == "online"
    online = [event for event in events if event.attributes["channel"] == "online"]
    assert all("confirmed_on" in event.attributes for event in online)  # 条例第三十一条


def test_done_tasks_have_evidence_and_requests_their_outcome(
    spring: tuple[Engine, SimulationReport],
) -> None:
    engine, report = spring
    with Session(engine) as session:
        done = session.exec(select(Task).where(Task.status == "done")).all()
        replies = [task for task in done if task.obligation_code == "request-reply"]
    assert len(done) == report.actions["complete"]
    assert all(task.evidence_url and ".example.gov.cn/" in task.evidence_url for task in done)
    assert replies
    assert all(task.outcome_code and task.service_date for task in replies)


def test_sections_finish_early_on_time_or_late_by_profile(
    spring: tuple[Engine, SimulationReport],
) -> None:
    engine, report = spring
    with Session(engine) as session:
        sections = {section.id: section for section in session.exec(select(Section)).all()}
        agencies = {1: "demo-commerce", 2: "demo-market", 3: "demo-gov"}
        rows = session.exec(
            select(Task.section_id, Task.timeliness, Task.working_days_margin).where(
                Task.status == "done"
            )
        ).all()
    late: Counter[str] = Counter()
    total: Counter[str] = Counter()
    early = 0
    for section_id, timeliness, margin in rows:
        section = sections[section_id]
        profile = report.profiles[f"{agencies[section.agency_id]}/{section.code}"]
        total[profile] += 1
        late[profile] += timeliness == "late"
        early += (margin or 0) > 0
    assert early > 0
    assert late["slipping"] / total["slipping"] > 0.25  # reliably late
    assert late["diligent"] / total["diligent"] < 0.1
    assert report.timeliness["late"] > 0
    assert report.timeliness["on_time"] > 0


def test_requests_are_extended_paused_and_corrected_through_the_ledger(
    spring: tuple[Engine, SimulationReport],
) -> None:
    engine, report = spring
    assert report.actions["extend"] >= 1
    assert report.actions["pause"] >= 1
    assert report.actions["cancel"] >= 1  # 补正告知 not needed
    with Session(engine) as session:
        kinds = Counter(row.kind for row in session.exec(select(ClockEventRow)).all())
        unneeded = session.exec(
            select(func.count())
            .select_from(Task)
            .where(
                Task.obligation_code == "request-correction-notice",
                Task.cancel_reason == "申请内容明确，无需补正",
            )
        ).one()
    assert kinds["extend"] == report.actions["extend"]
    assert kinds["pause"] == report.actions["pause"]
    assert unneeded >= 1


def test_every_section_gets_its_monthly_report(spring: tuple[Engine, SimulationReport]) -> None:
    engine, _ = spring
    with Session(engine) as session:
        sections = session.exec(select(Section.id)).all()  # every agency, demo-gov included
        reported = set(
            session.exec(
                select(Task.section_id).where(
                    Task.obligation_code == "monthly-info-report", Task.period_key == "2026-03"
                )
            ).all()
        )
        quarterly = session.exec(
            select(Task.period_key).where(Task.obligation_code == "spending-quarterly")
        ).all()
    assert set(sections) == reported
    assert "2026-Q1" in quarterly


def test_digests_were_delivered_on_the_console(spring: tuple[Engine, SimulationReport]) -> None:
    engine, report = spring
    with Session(engine) as session:
        sent = session.exec(
            select(func.count()).select_from(Delivery).where(Delivery.outcome == "sent")
        ).one()
        channels = set(session.exec(select(Delivery.channel)).all())
        rows_sent = session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        ).one()
    assert report.messages > 0
    assert sent == rows_sent >= report.messages  # one delivery record per outbox row
    assert channels == {"console"}  # the demo's chat addresses are made up


def fingerprint(engine: Engine) -> str:
    """Tasks, events and the audit chain's head: equal iff the two databases are alike."""
    with Session(engine) as session:
        tasks = session.exec(
            select(
                Task.obligation_code,
                Task.section_id,
                Task.status,
                Task.due_at,
                Task.done_at,
                Task.timeliness,
                Task.evidence_url,
                Task.outcome_code,
            ).order_by(col(Task.id))
        ).all()
        events = session.exec(
            select(Event.type, Event.external_id, Event.occurred_at, Event.attributes).order_by(
                col(Event.id)
            )
        ).all()
        head = session.exec(select(AuditHead.hash)).one()
    text = json.dumps(
        [[list(map(str, row)) for row in tasks], [list(map(str, row)) for row in events], head]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_same_seed_gives_the_same_database(tmp_path: Path, domain: Domain) -> None:
    start, until = dt.date(2026, 1, 1), dt.date(2026, 1, 24)
    first, _ = simulate(tmp_path / "a.db", domain, start=start, until=until, seed=11)
    second, _ = simulate(tmp_path / "b.db", domain, start=start, until=until, seed=11)
    other, _ = simulate(tmp_path / "c.db", domain, start=start, until=until, seed=12)
    try:
        assert fingerprint(first) == fingerprint(second)
        assert fingerprint(first) != fingerprint(other)
    finally:
        for engine in (first, second, other):
            engine.dispose()


def test_named_profiles_are_kept(tmp_path: Path, domain: Domain) -> None:
    scenario = Scenario(seed=3, profiles={"demo-commerce/finance": "slipping"})
    engine, report = simulate(
        tmp_path / "p.db",
        domain,
        start=dt.date(2026, 1, 1),
        until=dt.date(2026, 1, 3),
        scenario=scenario,
    )
    engine.dispose()
    assert report.profiles["demo-commerce/finance"] == "slipping"
    assert set(report.profiles.values()) <= set(PROFILES)


def test_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(dt.datetime(2026, 1, 1, tzinfo=TZ))
    clock.advance(dt.datetime(2026, 1, 2, tzinfo=TZ))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(dt.datetime(2026, 1, 1, tzinfo=TZ))


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GONGKAI_")}
    env.update({"GONGKAI_DATA_DIR": "data", "NO_COLOR": "1"})
    return subprocess.run(
        [str(GONGKAI), "simulate", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_simulates_into_the_data_dir_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--from", "2026-01-01", "--to", "2026-01-10", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["database"] == "data/gongkai-demo.db"
    assert data["events"]["request_received"] >= 1
    assert (tmp_path / "data" / "gongkai-demo.db").exists()
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'gongkai-demo.db'}")
    with Session(engine) as session:
        from db.models import User

        logins = sorted(user.username for user in session.exec(select(User)).all())
    engine.dispose()
    assert logins == ["chief", "gov", "leader", "office"]

    again = run_cli(tmp_path, "--from", "2026-01-01", "--to", "2026-01-10")
    assert again.returncode == 1
    assert "exists; use --overwrite" in again.stderr
    assert "Traceback" not in again.stderr

    backwards = run_cli(tmp_path, "--from", "2026-02-01", "--to", "2026-01-10", "--db", "x.db")
    assert backwards.returncode == 1
    assert "is before --from" in backwards.stderr
