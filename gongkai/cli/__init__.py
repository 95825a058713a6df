"""The ``gongkai`` command line (typer + rich). Every command takes ``--json``."""

from __future__ import annotations

import logging
import os
import sys

from gongkai.cli import (
    audit_cmd,
    calendar_cmd,
    db_cmd,
    deadline_cmd,
    deploy_cmd,
    event_cmd,
    import_cmd,
    obligations_cmd,
    org_cmd,
    person_cmd,
    report_cmd,
    serve_cmd,
    simulate_cmd,
    task_cmd,
    user_cmd,
)
from gongkai.cli._common import new_app, show_error

app = new_app("gongkai 公开 — 政务公开事项时限管理 disclosure-duty tracker")
app.add_typer(calendar_cmd.app, name="calendar")
app.add_typer(obligations_cmd.app, name="obligations")
app.command("deadline")(deadline_cmd.deadline)
app.add_typer(event_cmd.app, name="event")
app.command("spawn")(event_cmd.spawn)
app.add_typer(task_cmd.app, name="task")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(org_cmd.app, name="org")
app.add_typer(import_cmd.app, name="import")
app.add_typer(db_cmd.app, name="db")
app.add_typer(user_cmd.app, name="user")
app.add_typer(person_cmd.app, name="person")
app.add_typer(report_cmd.app, name="report")
app.command("serve")(serve_cmd.serve)
app.command("simulate")(simulate_cmd.simulate)
app.command("deploy")(deploy_cmd.deploy)


def main() -> None:
    # python-telegram-bot puts the token in URLs and httpx logs URLs at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        app()
    except Exception as exc:  # a bug, not a user error: still one line unless asked for more
        if os.environ.get("GONGKAI_DEBUG"):
            raise
        show_error(
            f"internal error {type(exc).__name__}: {exc} (set GONGKAI_DEBUG=1 for the traceback)"
        )
        sys.exit(2)
