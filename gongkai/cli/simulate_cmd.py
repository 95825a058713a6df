"""``gongkai simulate``: a year of the demo organisation on a simulated clock, into SQLite.

The simulation itself lives in :mod:`flows.simulate`; this module picks the database, the
organisation file and the dates, shows progress by simulated month and prints the summary.
``gongkai serve --demo`` uses :func:`simulate_into` to build its database on first start.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gongkai.cli._common import JSON_OPTION, UserError, console, emit, parse_date
from gongkai.runtime import now
from gongkai.settings import Settings, get_settings

if TYPE_CHECKING:
    from flows.simulate import SimulationReport

log = logging.getLogger("gongkai.simulate")

DEMO_DB_NAME = "gongkai-demo.db"
#: Dashboard logins created in a database simulated with the built-in demo organisation.
DEMO_PASSWORD = "gongkai-demo"
DEMO_LOGINS = (
    # username, role, agency, person
    ("office", "office", "demo-commerce", "乙示例"),
    ("chief", "chief", "demo-commerce", "丁示例"),
    ("leader", "leader", "demo-commerce", "丑示例"),
    ("gov", "gov_office", None, None),
)


def demo_org_path() -> Path:
    return Path(str(resources.files("gongkai") / "examples" / "demo-org.yaml"))


def demo_db_path(settings: Settings) -> Path:
    return settings.data_dir / DEMO_DB_NAME


def simulate_into(
    settings: Settings,
    *,
    path: Path,
    start: dt.date,
    until: dt.datetime,
    seed: int = 1,
    org_path: Path | None = None,
    pace: float | None = None,
    overwrite: bool = False,
    on_progress: Callable[[dt.datetime], None] | None = None,
) -> SimulationReport:
    """Create ``path`` (SQLite), import the organisation and simulate ``start`` … ``until``."""
    # Imported here: the scheduler, the flows and the simulation are not needed by other commands.
    from db.context import Actor
    from flows.embedded import Jobs
    from flows.simulate import (
        Scenario,
        SimulatedClock,
        Simulation,
        database_is_empty,
        import_organisation,
    )
    from gongkai.cli.org_cmd import read_org_file
    from gongkai.runtime import domain_for, engine_for
    from notifier.channels.console import ConsoleChannel

    org_file = org_path or demo_org_path()
    org = read_org_file(org_file)
    _fresh_file(path, overwrite=overwrite)
    target = settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    engine = engine_for(target)
    if not database_is_empty(engine):
        raise UserError(f"{path} already holds an organisation; use --overwrite to start over")
    domain = domain_for(target, engine)
    import_organisation(engine, org, start=start, tz=domain.tz)
    jobs = Jobs(
        engine=engine,
        domain=lambda: domain,
        channels={"console": ConsoleChannel()},
        worker="simulate",
        dashboard_url=settings.base_url,
        lang=settings.language,
        actor=Actor.system("simulate"),
    )
    simulation = Simulation(
        jobs,
        clock=SimulatedClock(dt.datetime.combine(start, dt.time(), domain.tz)),
        scenario=Scenario(seed=seed),
        pace=pace,
    )
    with _quiet_console_channel():
        report = simulation.run(start=start, until=until, on_progress=on_progress)
    if org_path is None:
        _demo_logins(engine, at=until)
    return report


def _fresh_file(path: Path, *, overwrite: bool) -> None:
    if path.exists():
        if not overwrite:
            raise UserError(f"{path} exists; use --overwrite to replace it (or --db another path)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def _quiet_console_channel() -> Iterator[None]:
    """A year of digests would flood the terminal; the outbox and delivery tables keep them."""
    logger = logging.getLogger("gongkai.console")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _demo_logins(engine: Any, *, at: dt.datetime) -> None:
    from db.context import Actor
    from db.engine import session_scope
    from db.errors import LedgerError
    from db.users import add_user, resolve_scope

    actor = Actor.system("simulate")
    try:
        with session_scope(engine) as session:
            for username, role, agency, person in DEMO_LOGINS:
                scope = resolve_scope(
                    session, role=role, agency_code=agency, section_code=None, person_name=person
                )
                add_user(
                    session,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    scope=scope,
                    actor=actor,
                    at=at,
                )
    except LedgerError as exc:
        log.warning("demo logins not created: %s", exc)


@contextmanager
def month_progress(
    start: dt.date, until: dt.datetime, tz: dt.tzinfo
) -> Iterator[Callable[[dt.datetime], None]]:
    """A rich progress bar advancing by simulated month; yields the ``on_progress`` callback."""
    last = (until - dt.timedelta(microseconds=1)).astimezone(tz).date()  # until is exclusive
    total = (last.year - start.year) * 12 + last.month - start.month + 1
    progress = Progress(
        TextColumn("[bold]模拟 simulating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} 月 months"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task(start.strftime("%Y-%m"), total=total)

    def on_progress(at: dt.datetime) -> None:
        local = at.astimezone(tz).date()
        done = (local.year - start.year) * 12 + local.month - start.month
        progress.update(task, completed=done, description=local.strftime("%Y-%m-%d"))

    with progress:
        yield on_progress
        progress.update(task, completed=total, description=last.strftime("%Y-%m-%d"))


def simulate(
    start: str | None = typer.Option(
        None, "--from", help="First simulated day (default: 1 January of this year)"
    ),
    to: str | None = typer.Option(
        None, "--to", help="Last simulated day, inclusive (default: 31 December of this year)"
    ),
    seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives the same data"),
    db: Path | None = typer.Option(
        None, "--db", help=f"SQLite file to create (default: DATA_DIR/{DEMO_DB_NAME})"
    ),
    org: Path | None = typer.Option(
        None, "--org", help="Organisation file (.yaml/.csv; default: the demo organisation)"
    ),
    speed: float | None = typer.Option(
        None,
        "--speed",
        min=1.0,
        help="Pace: simulated seconds per real second (86400 = a day a second); "
        "default: as fast as possible",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file"),
    as_json: bool = JSON_OPTION,
) -> None:
    """模拟一年 Simulate a year of duties, events and reminders on a simulated clock."""
    settings = get_settings()
    tz = settings.tz
    today = now().astimezone(tz).date()
    first = parse_date(start, name="--from") if start else dt.date(today.year, 1, 1)
    last = parse_date(to, name="--to") if to else dt.date(first.year, 12, 31)
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    path = db or demo_db_path(settings)
    progress = month_progress(first, until, tz) if not as_json else _no_progress()
    with progress as on_progress:
        report = simulate_into(
            settings,
            path=path,
            start=first,
            until=until,
            seed=seed,
            org_path=org,
            pace=speed,
            overwrite=overwrite,
            on_progress=on_progress,
        )
    data = {"database": str(path), **report.as_dict()}
    emit(data, as_json=as_json, human=lambda: print_report(report, path))


@contextmanager
def _no_progress() -> Iterator[Callable[[dt.datetime], None] | None]:
    yield None


def print_report(report: SimulationReport, path: Path) -> None:
    days = (report.until - report.start).days
    console.print(
        f"模拟完成 Simulated {report.start:%Y-%m-%d} … {report.until:%Y-%m-%d %H:%M} "
        f"({days} days, seed {report.seed}) in {report.wall_seconds:.1f} s → {path}"
    )
    table = Table("", "", title=None, show_header=False)
    table.add_row("事件 events", _join(report.events))
    table.add_row("任务 tasks", _join(report.tasks))
    table.add_row("结果 timeliness", _join(report.timeliness))
    table.add_row("逾期未办 open overdue", str(report.open_overdue))
    table.add_row("操作 actions", _join(report.actions))
    table.add_row(
        "提醒 reminders",
        f"{report.sweeps} sweeps, {report.stages} stages, {report.outbox_rows} outbox rows, "
        f"{report.messages} messages",
    )
    slipping = sorted(key for key, name in report.profiles.items() if name == "slipping")
    table.add_row("常逾期科室 late sections", ", ".join(slipping) or "-")
    for agency, reason in sorted(report.spawn_failures.items()):
        table.add_row(f"[yellow]未生成 spawn skipped[/] {agency}", reason)
    console.print(table)


def _join(counts: Any) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "-"
