"""``gongkai obligations list | show | validate``: the obligation catalog."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from rich.table import Table

from gongkai.cli._common import JSON_OPTION, LANG_OPTION, console, emit, new_app
from gongkai.settings import get_settings
from obligations.catalog import Catalog, Obligation, load_catalog

app = new_app("公开事项目录 Obligation catalog")


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The built-in catalog merged with the agency's override directories."""
    return load_catalog(*get_settings().catalog_dirs)


def _trigger(obligation: Obligation, lang: str) -> str:
    trigger = obligation.trigger
    if trigger.every is not None:
        return {
            "zh": {"week": "每周", "month": "每月", "quarter": "每季度", "year": "每年"},
            "en": {"week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "yearly"},
        }[lang][trigger.every.value]
    assert trigger.event is not None
    text = trigger.event.label(lang)
    if trigger.when:
        text += " (" + ", ".join(f"{key}={value}" for key, value in trigger.when.items()) + ")"
    return text


def _summary(obligation: Obligation, lang: str) -> dict[str, Any]:
    return {
        "code": obligation.code,
        "title": obligation.title.zh if lang == "zh" else obligation.title.en,
        "trigger": _trigger(obligation, lang),
        "rule": obligation.deadline.describe(lang),
        "basis_status": obligation.basis_status,
        "enabled": obligation.enabled,
    }


@app.command("list")
def list_obligations(as_json: bool = JSON_OPTION, lang: str | None = LANG_OPTION) -> None:
    """列出公开事项 List every obligation."""
    language = lang or get_settings().language
    rows = [_summary(obligation, language) for obligation in catalog().values()]

    def human() -> None:
        table = Table("代码 code", "名称 title", "触发 trigger", "时限 rule", "依据 basis")
        for row in rows:
            table.add_row(
                row["code"],
                row["title"],
                row["trigger"],
                row["rule"],
                str(row["basis_status"]),
                style="" if row["enabled"] else "dim",
            )
        console.print(table)

    emit(rows, as_json=as_json, human=human)


@app.command("show")
def show(code: str, as_json: bool = JSON_OPTION, lang: str | None = LANG_OPTION) -> None:
    """查看公开事项 Show one obligation with its legal basis."""
    language = lang or get_settings().language
    obligation = catalog().get(code)

    def human() -> None:
        summary = _summary(obligation, language)
        console.print(f"[bold]{obligation.code}[/] {obligation.title.zh} / {obligation.title.en}")
        console.print(f"  触发 trigger: {summary['trigger']}")
        console.print(f"  时限 rule: {summary['rule']}")
        rule = obligation.deadline
        if rule.extension is not None:
            console.print(
                f"  延期 extension: ≤{rule.extension.max_total}{rule.unit.label(language)}, "
                f"≤{rule.extension.max_times}次"
            )
        console.print(f"  中止计时 pausable: {'是' if rule.pausable else '否'}")
        for regime in rule.regimes:
            console.print(f"  {regime.before} 之前 before: {regime.basis}")
        console.print(f"  依据 basis ({obligation.basis_status}):")
        for basis in obligation.basis:
            console.print(f"    - {basis}")

    emit(obligation, as_json=as_json, human=human)


@app.command("validate")
def validate(path: Path, as_json: bool = JSON_OPTION) -> None:
    """校验目录文件 Validate a YAML file or directory of obligations."""
    obligations = catalog().validate_path(path)
    data = {"path": str(path), "valid": True, "obligations": [item.code for item in obligations]}

    def human() -> None:
        console.print(f"[green]OK[/] {path}: {len(obligations)} 个公开事项 obligations valid")

    emit(data, as_json=as_json, human=human)
