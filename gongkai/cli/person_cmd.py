"""``gongkai person bind-code NAME``: a one-time code to bind a chat to a person."""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape
from sqlmodel import select

from db.bindings import DEFAULT_CODE_TTL, issue_bind_code, person_by_name
from db.engine import session_scope
from db.models import Agency
from db.queries import single_agency_code
from db.spawn import agency_by_code
from gongkai.cli._common import JSON_OPTION, console, emit, new_app
from gongkai.cli._ledger import open_ledger
from gongkai.runtime import now

app = new_app("人员 People: chat binding codes")

DEFAULT_HOURS = int(DEFAULT_CODE_TTL.total_seconds() // 3600)


@app.command("bind-code")
def bind_code(
    name: str = typer.Argument(..., metavar="NAME", help="The person's name as in the org file"),
    agency: str | None = typer.Option(None, "--agency", help="Agency code (needed with several)"),
    hours: int = typer.Option(DEFAULT_HOURS, "--hours", min=1, max=24 * 30, help="Valid for"),
    as_json: bool = JSON_OPTION,
) -> None:
    """绑定码 A one-time code; the person sends ``/start CODE`` to the Telegram bot.

    Only the code's hash is stored: it is shown this once. A new code voids the person's
    earlier unused ones.
    """
    ledger = open_ledger()
    at = now()
    with session_scope(ledger.engine) as session:
        code = agency or single_agency_code(session)
        found: Agency = agency_by_code(session, code)
        person = person_by_name(session, found.id or 0, name)
        issued = issue_bind_code(
            session, person.id or 0, actor=ledger.actor, at=at, ttl=dt.timedelta(hours=hours)
        )
        agency_name = session.exec(select(Agency.name).where(Agency.id == found.id)).one()
    expires = issued.expires_at.astimezone(ledger.settings.tz)
    data = {
        "agency": code,
        "person": issued.person,
        "code": issued.code,
        "expires_at": issued.expires_at,
        "telegram": f"/start {issued.code}",
    }

    def human() -> None:
        console.print(f"{escape(agency_name)} · {escape(issued.person)}")
        console.print(f"  绑定码 code: [bold]{issued.code}[/]")
        console.print(f"  有效期至 valid until: {expires:%Y-%m-%d %H:%M %Z}")
        console.print(
            f"  请在 Telegram 中向机器人发送 Send to the bot: [bold]/start {issued.code}[/]"
        )

    emit(data, as_json=as_json, human=human)
