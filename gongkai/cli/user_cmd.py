"""``gongkai user add | passwd | list | token | tokens | revoke``: dashboard logins and API tokens.

Passwords are read from a hidden prompt (asked twice) or, for scripts, from standard input
with ``--password-stdin``; they never appear on the command line, where ``ps`` and the shell
history would show them. A token is printed once, when it is made; only its hash is kept.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.table import Table
from sqlmodel import Session, select

from db.engine import session_scope
from db.models import Agency, Section
from db.users import (
    LOGIN_ROLES,
    TOKEN_PURPOSES,
    add_user,
    create_api_token,
    list_tokens,
    list_users,
    resolve_scope,
    revoke_token,
    set_password,
)
from gongkai.cli._common import JSON_OPTION, UserError, console, emit, new_app
from gongkai.cli._ledger import open_ledger
from gongkai.runtime import now

app = new_app("登录用户与接口令牌 Dashboard users and API tokens")

ROLE_HELP = "office | chief | staff | leader | gov_office"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UserError("--password-stdin: standard input gave no password")
        return password
    first: str = typer.prompt("密码 Password", hide_input=True)
    second: str = typer.prompt("再输一次 Again", hide_input=True)
    if first != second:
        raise UserError("the two passwords differ")
    return first


def _check_role(role: str) -> str:
    if role not in LOGIN_ROLES:
        raise UserError(f"--role {role!r} is not one of {ROLE_HELP}")
    return role


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name"),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    agency: str | None = typer.Option(None, "--agency", help="Agency code (needed with several)"),
    section: str | None = typer.Option(None, "--section", help="Section code (chief, staff)"),
    person: str | None = typer.Option(None, "--person", help="The person this login is"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """添加登录用户 Add a dashboard login (the password is hashed with argon2)."""
    _check_role(role)
    ledger = open_ledger()
    password = _read_password(password_stdin)
    with session_scope(ledger.engine) as session:
        scope = resolve_scope(
            session, role=role, agency_code=agency, section_code=section, person_name=person
        )
        user = add_user(
            session,
            username=username,
            password=password,
            role=role,
            scope=scope,
            actor=ledger.actor,
            at=now(),
        )
        data = {"id": user.id, "username": user.username, "role": user.role}
    emit(
        data, as_json=as_json, human=lambda: console.print(f"已添加 Added user {username} ({role})")
    )


@app.command("passwd")
def passwd(
    username: str = typer.Argument(..., help="Login name"),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """重设密码 Set a new password (ends the user's open sessions)."""
    ledger = open_ledger()
    password = _read_password(password_stdin)
    with session_scope(ledger.engine) as session:
        set_password(session, username=username, password=password, actor=ledger.actor, at=now())
    console.print(f"已更新 Password of {username} changed")


def _names(session: Session) -> tuple[dict[int | None, str], dict[int | None, str]]:
    agencies = {agency.id: agency.code for agency in session.exec(select(Agency)).all()}
    sections = {section.id: section.code for section in session.exec(select(Section)).all()}
    return agencies, sections


@app.command("list")
def list_(as_json: bool = JSON_OPTION) -> None:
    """列出登录用户 List logins (never their password hashes)."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        agencies, sections = _names(session)
        rows = [
            {
                "username": user.username,
                "role": user.role,
                "agency": agencies.get(user.agency_id),
                "section": sections.get(user.section_id),
                "active": user.active,
            }
            for user in list_users(session)
        ]

    def human() -> None:
        table = Table("用户 user", "角色 role", "机关 agency", "科室 section", "启用 active")
        for row in rows:
            table.add_row(
                str(row["username"]),
                str(row["role"]),
                str(row["agency"] or ""),
                str(row["section"] or ""),
                "✓" if row["active"] else "✗",
            )
        console.print(table)

    emit(rows, as_json=as_json, human=human)


@app.command("token")
def token(
    name: str = typer.Argument(..., help="What the token is for, e.g. cms"),
    purpose: str = typer.Option("api", "--purpose", help="api (REST) | feed (ICS calendar)"),
    role: str = typer.Option("office", "--role", help=ROLE_HELP),
    agency: str | None = typer.Option(None, "--agency", help="Agency code"),
    section: str | None = typer.Option(None, "--section", help="Section code (feeds, chiefs)"),
    person: str | None = typer.Option(None, "--person", help="Person (a personal feed)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """生成接口令牌 Make an API or calendar-feed token; it is printed only this once."""
    _check_role(role)
    if purpose not in TOKEN_PURPOSES:
        raise UserError(f"--purpose {purpose!r} is not one of {', '.join(TOKEN_PURPOSES)}")
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        scope = resolve_scope(
            session, role=role, agency_code=agency, section_code=section, person_name=person
        )
        new = create_api_token(
            session,
            name=name,
            purpose=purpose,
            role=role,
            scope=scope,
            actor=ledger.actor,
            at=now(),
        )
        data: dict[str, Any] = {
            "id": new.token.id,
            "name": name,
            "purpose": purpose,
            "token": new.secret,
        }
    if purpose == "feed":
        data["url"] = f"{ledger.settings.base_url.rstrip('/')}/ics/{new.secret}.ics"

    def human() -> None:
        console.print(f"令牌 Token {data['id']} ({purpose}) — 只显示这一次 shown only this once:")
        console.print(data.get("url") or new.secret, markup=False)

    emit(data, as_json=as_json, human=human)


@app.command("tokens")
def tokens(as_json: bool = JSON_OPTION) -> None:
    """列出令牌 List tokens (names and scopes, never the tokens)."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        rows = [
            {
                "id": item.id,
                "name": item.name,
                "purpose": item.purpose,
                "role": item.role,
                "revoked": item.revoked,
                "last_used_at": item.last_used_at,
            }
            for item in list_tokens(session)
        ]

    def human() -> None:
        table = Table(
            "id", "名称 name", "用途 purpose", "角色 role", "吊销 revoked", "最近使用 last used"
        )
        for row in rows:
            table.add_row(
                str(row["id"]),
                str(row["name"]),
                str(row["purpose"]),
                str(row["role"]),
                "✓" if row["revoked"] else "",
                str(row["last_used_at"] or ""),
            )
        console.print(table)

    emit(rows, as_json=as_json, human=human)


@app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="Token id from `gongkai user tokens`")) -> None:
    """吊销令牌 Revoke a token at once."""
    ledger = open_ledger()
    with session_scope(ledger.engine) as session:
        revoke_token(session, token_id=token_id, actor=ledger.actor, at=now())
    console.print(f"已吊销 Token {token_id} revoked")
