"""Benchmark: compiling a year's report over 100 000 and 1 000 000 closed tasks on SQLite.

    .venv/bin/python benchmarks/bench_reports.py                     # 100k and 1M
    .venv/bin/python benchmarks/bench_reports.py --sizes 20000 --keep /tmp/bench.db

Each size gets a fresh SQLite file (WAL, migrated to head like ``gongkai serve``), one
agency with ``--sections`` sections, and that many *closed* tasks of one year, filled by
``INSERT … SELECT`` from a recursive CTE (no Python rows). The tasks are spread over the
catalog's duties (requests with their events and outcome codes, 双公示 decisions, documents,
information, interpretations, responses, monthly and weekly duties) and carry their real
rule snapshots (1–2 KB of JSON each, as spawned tasks do), so the file is as large as a real
one. Then ``ANALYZE``, and timed on a warm page cache:

1. ``json``: compiling the year (every query) and rendering it as JSON — target < 5 s at 1M;
2. all four formats: compiling once and rendering json, html, xlsx and docx (charts
   included) — target < 15 s at 1M;
3. for information: the monthly bulletin (December) as JSON.

It ends with the ratio of the 1M time to the 100k time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from db.context import Actor
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.models import Agency, Section
from obligations.catalog import builtin_catalog
from reports.bulletin import compile_month
from reports.compile import compile_year
from reports.model import YearReport
from reports.render import FORMATS, render_month, render_year
from reports.scope import resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2025
AT = dt.datetime(2026, 1, 20, 10, 0, tzinfo=TZ)
JSON_TARGET_S = 5.0
ALL_TARGET_S = 15.0

#: 20 slots: each task i takes slot i % 20 → (obligation code, event type or None).
SLOTS: list[tuple[str, str | None]] = [
    ("request-reply", "request_received"),
    ("request-correction-notice", "request_received"),
    ("credit-publicity", "decision_made"),
    ("credit-publicity", "decision_made"),
    ("credit-publicity", "decision_made"),
    ("proactive-disclosure", "information_formed"),
    ("proactive-disclosure", "information_formed"),
    ("proactive-disclosure", "information_formed"),
    ("policy-interpretation", "document_published"),
    ("policy-interpretation", "document_published"),
    ("inquiry-reply", "message_received"),
    ("inquiry-reply", "message_received"),
    ("sentiment-response", "sentiment_detected"),
    ("monthly-info-report", None),
    ("monthly-info-report", None),
    ("monthly-info-report", None),
    ("monthly-info-report", None),
    ("wechat-weekly", None),
    ("monthly-self-inspection", None),
    ("suggestion-reply", "suggestion_assigned"),
]


def say(message: str) -> None:
    print(message, flush=True)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def sizes(value: str) -> list[int]:
    try:
        found = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list") from None
    if not found or any(size <= 0 for size in found):
        raise argparse.ArgumentTypeError(f"{value!r}: give positive counts")
    return found


def new_engine(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def fill(engine: Engine, count: int, sections: int) -> None:
    """One agency, ``sections`` sections, ``count`` closed tasks of YEAR (and their events)."""
    catalog = builtin_catalog()
    with session_scope(engine) as session:
        agency = Agency(
            code="bench", name="基准测试局", created_at=dt.datetime(2024, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        session.add_all(
            Section(agency_id=agency.id or 0, code=f"s{n:03d}", name=f"第{n}科")
            for n in range(1, sections + 1)
        )
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE bench_slot (slot INTEGER PRIMARY KEY, code TEXT, "
            "event_type TEXT, rule TEXT, title TEXT)"
        )
        for slot, (code, event_type) in enumerate(SLOTS):
            obligation = catalog[code]
            connection.execute(
                text("INSERT INTO bench_slot VALUES (:slot, :code, :event_type, :rule, :title)"),
                {
                    "slot": slot,
                    "code": code,
                    "event_type": event_type,
                    "rule": json.dumps(obligation.model_dump(mode="json"), ensure_ascii=False),
                    "title": obligation.title.zh,
                },
            )
        # Events first (id = the task's number), for the slots that have one.
        connection.exec_driver_sql(
            f"""
            INSERT INTO event (id, agency_id, type, external_id, occurred_at, section_id, title,
                               attributes, recorded_at, recorded_by)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}),
            d(i, slot, due) AS (
                SELECT i, i % 20, date('{YEAR}-01-01', '+' || ((i * 7) % 365) || ' days') FROM n
            )
            SELECT d.i, 1, s.event_type, 'b' || d.i,
                   date(d.due, '-20 days') || ' 01:00:00.000000', NULL, s.title,
                   CASE s.event_type
                     WHEN 'request_received' THEN json_object(
                       'applicant_type', CASE d.i % 6 WHEN 0 THEN 'commercial_enterprise'
                         WHEN 1 THEN 'research_institution' WHEN 2 THEN 'public_interest_org'
                         WHEN 3 THEN 'legal_service_org' WHEN 4 THEN 'other'
                         ELSE 'natural_person' END,
                       'channel', 'online', 'confirmed_on', date(d.due, '-20 days'))
                     WHEN 'decision_made' THEN json_object('kind',
                       CASE d.i % 3 WHEN 0 THEN 'licensing' WHEN 1 THEN 'penalty'
                         ELSE 'enforcement' END)
                     WHEN 'document_published' THEN json_object(
                       'doc_kind', CASE d.i % 4 WHEN 0 THEN 'normative' ELSE 'policy' END,
                       'channel', 'website')
                     WHEN 'information_formed' THEN json_object('channel',
                       CASE d.i % 5 WHEN 0 THEN 'website' WHEN 1 THEN 'wechat'
                         WHEN 2 THEN 'weibo' WHEN 3 THEN 'gazette' ELSE 'other' END)
                     WHEN 'sentiment_detected' THEN json_object('severity', 'other')
                     WHEN 'message_received' THEN json_object('box', 'consultation')
                     ELSE json_object('source', 'npc') END,
                   '{YEAR + 1}-01-10 02:00:00.000000', 'bench'
            FROM d JOIN bench_slot s ON s.slot = d.slot
            WHERE s.event_type IS NOT NULL
            """
        )
        connection.exec_driver_sql(
            f"""
            INSERT INTO task (agency_id, section_id, obligation_code, dedupe_key, event_id,
                period_key, title, rule, status, start_date, due_date, due_at, provisional,
                extended_by, next_action_at, stage_done, claimed_by, claim_expires_at,
                created_at, closed_at, done_at, evidence_url, outcome_code, service_date,
                timeliness, working_days_margin, extended, cancel_reason, version)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}),
            d(i, slot, due, margin, klass) AS (
                SELECT i, i % 20, date('{YEAR}-01-01', '+' || ((i * 7) % 365) || ' days'),
                       CASE WHEN i % 10 < 7 THEN (i / 20) % 9
                            WHEN i % 10 = 7 THEN (i / 20) % 3
                            ELSE -1 - (i / 20) % 15 END,
                       CASE WHEN i % 10 < 7 THEN 'on_time'
                            WHEN i % 10 = 7 THEN 'extended_on_time'
                            ELSE 'late' END
                FROM n
            )
            SELECT 1, 1 + (d.i * 13) % {sections}, s.code, 'bench|' || d.i,
                   CASE WHEN s.event_type IS NOT NULL THEN d.i END,
                   NULL, s.title, s.rule, 'done', date(d.due, '-20 days'), d.due,
                   d.due || ' 16:00:00.000000', 0, 0, NULL, -1, NULL, NULL,
                   date(d.due, '-20 days') || ' 02:00:00.000000',
                   date(d.due, (-d.margin) || ' days') || ' 08:00:00.000000',
                   date(d.due, (-d.margin) || ' days') || ' 08:00:00.000000',
                   'https://www.example.gov.cn/zwgk/' || d.i || '.html',
                   CASE WHEN s.code = 'request-reply' THEN
                     CASE d.i % 7 WHEN 0 THEN 'partial' WHEN 1 THEN 'refused.third_party'
                       WHEN 2 THEN 'unavailable.not_held' WHEN 3 THEN 'not_handled.repeated'
                       WHEN 4 THEN 'other.no_correction' ELSE 'disclosed' END END,
                   CASE WHEN s.code = 'request-reply' THEN date(d.due, (-d.margin) || ' days') END,
                   d.klass, d.margin, d.klass = 'extended_on_time', NULL, 1
            FROM d JOIN bench_slot s ON s.slot = d.slot
            """
        )
        connection.exec_driver_sql("ANALYZE")


def _filled(engine: Engine, count: int) -> bool:
    with engine.connect() as connection:
        return bool(connection.exec_driver_sql("SELECT count(*) FROM task").scalar_one() == count)


def timed(label: str, work: Callable[[], object]) -> float:
    """Wall seconds of ``work()``; the process's CPU seconds are printed beside them (other
    processes on a shared machine inflate the wall time, not the CPU time)."""
    cpu = os.times()
    began = time.perf_counter()
    work()
    seconds = time.perf_counter() - began
    after = os.times()
    used = (after.user - cpu.user) + (after.system - cpu.system)
    say(f"    {label:<34} {seconds:7.2f} s  (cpu {used:5.2f} s)")
    return seconds


def bench(path: Path, count: int, sections: int, *, reuse: bool = False) -> tuple[float, float]:
    say(f"\n[{count:,} closed tasks of {YEAR}, {sections} sections] {path}")
    if reuse and path.exists():
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        say("    reusing the filled file")
    else:
        engine = new_engine(path)
    try:
        began = time.perf_counter()
        if not (reuse and _filled(engine, count)):
            fill(engine, count, sections)
        size = sum(
            Path(f"{path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
        say(
            f"    fill (INSERT … SELECT, ANALYZE)    {time.perf_counter() - began:7.2f} s, {size / 1e6:,.0f} MB"
        )
        actor = Actor.system("bench")
        outputs: dict[str, int] = {}

        def compile_report() -> YearReport:
            with session_scope(engine) as session:
                scope = resolve_scope(session, actor)
                return compile_year(session, year=YEAR, at=AT, tz=TZ, scope=scope)

        compile_report()  # warm the page cache once, as a server that has run a while
        compiled: list[YearReport] = []

        def json_only() -> None:
            report = compile_report()
            outputs["json"] = len(render_year(report, "json"))
            compiled.append(report)

        json_seconds = timed("json (compile + render)", json_only)

        def all_formats() -> None:
            report = compile_report()
            for fmt in FORMATS:
                outputs[fmt] = len(render_year(report, fmt))

        all_seconds = timed("all four formats (compile once)", all_formats)
        report = compiled[0]
        for fmt in FORMATS:
            timed(
                f"  render {fmt} only ({outputs[fmt] / 1e3:,.0f} KB)",
                functools.partial(render_year, report, fmt),
            )

        def month() -> None:
            with session_scope(engine) as session:
                scope = resolve_scope(session, actor)
                render_month(
                    compile_month(session, year=YEAR, month=12, at=AT, tz=TZ, scope=scope), "json"
                )

        timed("monthly bulletin (json)", month)
        total = report.figures.timeliness.total
        table3 = report.figures.table3
        say(
            f"    check: {total.due:,} tasks due, on-time rate {total.on_time_rate.percent()}, "
            f"table 三 new {table3.value('new'):,} / answered {table3.value('total'):,}"
        )
        assert total.due == count, (total.due, count)
        say(
            f"    targets: json < {JSON_TARGET_S:.0f} s {verdict(json_seconds < JSON_TARGET_S)}, "
            f"all four < {ALL_TARGET_S:.0f} s {verdict(all_seconds < ALL_TARGET_S)}"
        )
        return json_seconds, all_seconds
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=sizes, default=[100_000, 1_000_000])
    parser.add_argument("--sections", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="Keep the last database at this path")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="Folder of filled files r<size>.db to reuse (filled and kept when missing)",
    )
    args = parser.parse_args(argv)
    results: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-reports-") as folder:
        for count in args.sizes:
            path = (
                args.keep
                if args.keep and count == args.sizes[-1]
                else Path(folder) / f"r{count}.db"
            )
            if args.reuse:
                args.reuse.mkdir(parents=True, exist_ok=True)
                path = args.reuse / f"r{count}.db"
            results[count] = bench(path, count, args.sections, reuse=args.reuse is not None)
            if path != args.keep and args.reuse is None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
    if len(results) > 1:
        small, large = min(results), max(results)
        say(
            f"\nratio {large:,} / {small:,} tasks: json x{results[large][0] / results[small][0]:.1f}, "
            f"all four formats x{results[large][1] / results[small][1]:.1f} "
            f"(tasks x{large / small:.0f})"
        )
    largest = results[max(results)]
    ok = largest[0] < JSON_TARGET_S and largest[1] < ALL_TARGET_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
