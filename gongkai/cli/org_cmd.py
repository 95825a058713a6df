"""``gongkai org import | show``: agencies, sections (科室), people and their chat addresses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from db.engine import session_scope
from db.org import ImportSummary, OrgFile, import_org, org_overview, parse_org_csv, parse_org_yaml
from gongkai import runtime
from gongkai.cli._common import JSON_OPTION, UserError, console, emit, new_app
from gongkai.settings import get_settings

app = new_app("组织机构 Organisation: agencies, sections, people")

#: File suffix → parser of that format.
PARSERS: dict[str, Callable[[str, str], OrgFile]] = {
    ".yaml": parse_org_yaml,
    ".yml": parse_org_yaml,
    ".csv": parse_org_csv,
}

ROLE_LABELS = {
    "chief": "科长",
    "staff": "科员",
    "office": "办公室",
    "leader": "分管领导",
    "gov_office": "政务公开办",
}
ENTITY_LABELS = {
    "agency": "机关 agency",
    "section": "科室 section",
    "person": "人员 person",
    "chat_address": "通知地址 address",
}


def read_org_file(path: Path) -> OrgFile:
    """Parse a .yaml/.yml/.csv organisation file; any problem is a line naming the place."""
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        suffix = path.suffix or "(none)"
        raise UserError(f"{path}: unknown file type {suffix!r}: use .yaml, .yml or .csv")
    try:
        # utf-8-sig: spreadsheet programs save CSV with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc.__class__.__name__}") from None
    return parser(text, str(path))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{entity} {count}" for entity, count in counts.items() if count) or "-"


def _difference(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    before = before or {}
    changed = [key for key, value in after.items() if before.get(key) != value]
    return ", ".join(f"{key}: {before.get(key)} → {after[key]}" for key in changed)


def _print_summary(path: Path, summary: ImportSummary) -> None:
    console.print(f"[bold]{escape(str(path))}[/]")
    console.print(f"  新增 created: {_counts(summary.created)}")
    console.print(f"  更新 updated: {_counts(summary.updated)}")
    console.print(f"  未变 unchanged: {_counts(summary.unchanged)}")
    updates = [change for change in summary.changes if change.action == "update"]
    if updates:
        table = Table("类型 entity", "对象 key", "变化 change")
        for change in updates:
            entity = ENTITY_LABELS.get(change.entity, change.entity)
            table.add_row(
                entity, escape(change.key), escape(_difference(change.before, change.after))
            )
        console.print(table)
    if not summary.changed:
        console.print("[green]无变化 Nothing changed[/]")
    if summary.not_in_file:
        console.print("文件中没有（保留未删除）Not in the file (kept):")
        for missing in summary.not_in_file:
            console.print(
                f"  - {ENTITY_LABELS.get(missing.entity, missing.entity)} {escape(missing.key)}"
            )


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., metavar="FILE", help="demo-org.yaml / .yml / .csv"),
    as_json: bool = JSON_OPTION,
) -> None:
    """导入组织机构 Import agencies, sections and people (re-importing changes nothing)."""
    org = read_org_file(path)
    engine = runtime.engine_for(get_settings())
    with session_scope(engine) as session:
        summary = import_org(session, org, actor=runtime.cli_actor(), at=runtime.now())
    emit(
        {"file": str(path), **summary.as_dict()},
        as_json=as_json,
        human=lambda: _print_summary(path, summary),
    )


def _person_line(person: dict[str, Any]) -> str:
    role = person["role"]
    text = f"{escape(person['name'])} [cyan]{ROLE_LABELS.get(role, role)} {role}[/]"
    if not person["active"]:
        text += " [dim](停用 inactive)[/]"
    for channel in person["channels"]:
        style = "" if channel["enabled"] else "[dim strike]"
        close = "" if channel["enabled"] else "[/]"
        text += f"  {style}{channel['channel']}: {escape(channel['address'])}{close}"
    return text


def _print_tree(agencies: list[dict[str, Any]]) -> None:
    if not agencies:
        console.print("没有机关 No agencies: gongkai org import FILE")
        return
    for agency in agencies:
        tree = Tree(
            f"[bold]{escape(agency['name'])}[/] {agency['code']} [dim]{agency['timezone']}[/]"
        )
        for section in agency["sections"]:
            label = f"{escape(section['name'])} [dim]{section['code']}[/]"
            if not section["active"]:
                label += " [dim](停用 inactive)[/]"
            branch = tree.add(label)
            for person in section["people"]:
                branch.add(_person_line(person))
        if agency["without_section"]:
            branch = tree.add("[dim]不属于科室 no section[/]")
            for person in agency["without_section"]:
                branch.add(_person_line(person))
        console.print(tree)


@app.command("show")
def show(
    agency: str | None = typer.Option(None, "--agency", help="Agency code"),
    as_json: bool = JSON_OPTION,
) -> None:
    """查看组织机构 Show agencies, sections, people and their channels."""
    engine = runtime.engine_for(get_settings())
    with session_scope(engine) as session:
        agencies = org_overview(session, runtime.cli_actor(), agency_code=agency)
    emit(agencies, as_json=as_json, human=lambda: _print_tree(agencies))
