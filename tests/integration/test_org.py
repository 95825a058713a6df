"""Importing the organisation (agencies → sections → people → chat addresses) and showing it.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture). The demo organisation in
gongkai/examples is the good input; tests/fixtures/org/bad holds one file per kind of mistake.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select
from typer.testing import CliRunner

import gongkai
from db.audit import AuditWriter, verify_chain
from db.context import Actor, PermissionDenied
from db.engine import session_scope
from db.errors import ImportRowsError, NotFoundError
from db.models import Agency, AuditEntry, ChatAddress, Person, Role, Section
from db.org import (
    AgencyIn,
    ImportSummary,
    OrgFile,
    PersonIn,
    SectionIn,
    import_org,
    org_overview,
    parse_org_csv,
    parse_org_yaml,
)

EXAMPLES = Path(gongkai.__file__).resolve().parent / "examples"
DEMO_YAML = EXAMPLES / "demo-org.yaml"
DEMO_CSV = EXAMPLES / "demo-org.csv"
BAD = Path(__file__).resolve().parents[1] / "fixtures" / "org" / "bad"

TABLES: tuple[type[SQLModel], ...] = (Agency, Section, Person, ChatAddress, AuditEntry)
#: The demo: 3 agencies, 9 + 5 + 1 sections, 12 + 6 + 1 people.
DEMO_CREATED = {"agency": 3, "section": 16, "person": 19, "chat_address": 40}


def parse(path: Path, text: str | None = None) -> OrgFile:
    content = path.read_text(encoding="utf-8") if text is None else text
    parser = parse_org_csv if path.suffix == ".csv" else parse_org_yaml
    return parser(content, str(path))


def load(engine: Engine, org: OrgFile, *, actor: Actor, at: dt.datetime) -> ImportSummary:
    with session_scope(engine) as session:
        return import_org(session, org, actor=actor, at=at)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            table.__name__: int(session.exec(select(func.count()).select_from(table)).one())
            for table in TABLES
        }


def overview(engine: Engine, actor: Actor, **kwargs: Any) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return org_overview(session, actor, **kwargs)


def agency_id(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        agency = session.exec(select(Agency).where(Agency.code == code)).one()
        assert agency.id is not None
        return agency.id


def audit_entries(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())


@pytest.fixture
def demo(engine: Engine, system: Actor, at: dt.datetime) -> ImportSummary:
    """The demo organisation imported once by the system."""
    return load(engine, parse(DEMO_YAML), actor=system, at=at)


# --------------------------------------------------------------------------- good imports


def test_demo_yaml_imports_every_agency_section_person_and_address(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    assert demo.created == DEMO_CREATED
    assert demo.updated == dict.fromkeys(DEMO_CREATED, 0)
    assert demo.not_in_file == []
    assert counts(engine) == {
        "Agency": 3,
        "Section": 16,
        "Person": 19,
        "ChatAddress": 40,
        "AuditEntry": sum(DEMO_CREATED.values()),
    }
    with Session(engine) as session:
        commerce = session.exec(select(Agency).where(Agency.code == "demo-commerce")).one()
        assert commerce.name == "示例市商务局"
        assert commerce.created_at == at
        assert verify_chain(session) == (sum(DEMO_CREATED.values()), [])

    agencies = {agency["code"]: agency for agency in overview(engine, system)}
    assert list(agencies) == ["demo-commerce", "demo-gov", "demo-market"]
    commerce_view = agencies["demo-commerce"]
    assert [section["name"] for section in commerce_view["sections"]] == [
        "办公室", "综合科", "外贸科", "外资科", "商贸流通科", "电子商务科", "财务科", "市场运行科", "对外经济合作科",
    ]  # fmt: skip
    for section in commerce_view["sections"]:
        assert [person["role"] for person in section["people"]].count("chief") == 1
    trade = next(s for s in commerce_view["sections"] if s["code"] == "foreign-trade")
    assert trade["people"][0] == {
        "name": "丁示例",
        "role": "chief",
        "active": True,
        "channels": [
            {"channel": "telegram", "address": "100000104", "enabled": True},
            {"channel": "email", "address": "waimao@demo-commerce.example", "enabled": True},
        ],
    }
    assert [(p["name"], p["role"]) for p in commerce_view["without_section"]] == [
        ("丑示例", "leader")
    ]
    pricing = next(s for s in agencies["demo-market"]["sections"] if s["code"] == "pricing")
    assert pricing["people"] == []
    gov_sections = {s["code"]: s for s in agencies["demo-gov"]["sections"]}
    assert gov_sections["office"]["people"] == []  # the annual report's listed section
    gov_people = gov_sections["disclosure"]["people"]
    assert [(p["name"], p["role"]) for p in gov_people] == [("申演示", "gov_office")]


def test_demo_csv_is_the_same_organisation_as_the_yaml(
    engine: Engine, system: Actor, at: dt.datetime
) -> None:
    from_yaml, from_csv = parse(DEMO_YAML), parse(DEMO_CSV)
    assert from_csv == from_yaml

    first = load(engine, from_csv, actor=system, at=at)
    assert first.created == DEMO_CREATED
    before = counts(engine)
    # The YAML finds nothing to change in what the CSV imported.
    again = load(engine, from_yaml, actor=system, at=at + dt.timedelta(hours=1))
    assert not again.changed
    assert again.unchanged == DEMO_CREATED
    assert counts(engine) == before


def test_reimport_changes_nothing_and_writes_no_audit_entry(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    before_counts = counts(engine)
    before_view = overview(engine, system)

    again = load(engine, parse(DEMO_YAML), actor=system, at=at + dt.timedelta(days=1))

    assert not again.changed
    assert again.changes == []
    assert again.created == dict.fromkeys(DEMO_CREATED, 0)
    assert again.unchanged == DEMO_CREATED
    assert counts(engine) == before_counts
    assert overview(engine, system) == before_view


def test_changed_role_is_updated_with_one_audit_entry(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    text = DEMO_YAML.read_text(encoding="utf-8")
    staff = "      - name: 戊示例\n        role: staff\n"
    assert staff in text
    changed = text.replace(staff, "      - name: 戊示例\n        role: chief\n")
    before = counts(engine)

    summary = load(engine, parse(DEMO_YAML, changed), actor=system, at=at)

    assert summary.updated == {"agency": 0, "section": 0, "person": 1, "chat_address": 0}
    assert summary.created == dict.fromkeys(DEMO_CREATED, 0)
    assert counts(engine) == {**before, "AuditEntry": before["AuditEntry"] + 1}
    entry = audit_entries(engine)[-1]
    assert (entry.action, entry.entity, entry.actor) == ("update", "person", "test")
    assert entry.agency_id == agency_id(engine, "demo-commerce")
    assert entry.before == {
        "agency": "demo-commerce", "name": "戊示例", "role": "staff", "section": "foreign-trade", "active": True,
    }  # fmt: skip
    assert entry.after == {**entry.before, "role": "chief"}
    with Session(engine) as session:
        person = session.exec(select(Person).where(Person.name == "戊示例")).one()
        assert person.role == "chief"
        assert verify_chain(session)[1] == []


def test_changed_names_and_addresses_get_one_audit_entry_each(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    with session_scope(engine) as session:  # a channel gave up on the old address
        address = session.exec(
            select(ChatAddress).where(ChatAddress.address == "waimao@demo-commerce.example")
        ).one()
        address.enabled, address.disabled_reason = False, "550 mailbox unavailable"
        session.add(address)
    text = (
        DEMO_YAML.read_text(encoding="utf-8")
        .replace("{code: foreign-trade, name: 外贸科}", "{code: foreign-trade, name: 对外贸易科}")
        .replace("waimao@demo-commerce.example", "waimao2@demo-commerce.example")
        .replace("name: 示例市市场监督管理局", "name: 示例市市场监管局")
    )
    before = counts(engine)

    summary = load(engine, parse(DEMO_YAML, text), actor=system, at=at)

    assert summary.updated == {"agency": 1, "section": 1, "person": 0, "chat_address": 1}
    assert [(c.entity, c.key) for c in summary.changes] == [
        ("section", "demo-commerce/foreign-trade"),
        ("chat_address", "demo-commerce/丁示例/email"),
        ("agency", "demo-market"),
    ]
    assert counts(engine)["AuditEntry"] == before["AuditEntry"] + 3
    email = summary.changes[1]
    assert email.before is not None
    assert (email.before["address"], email.before["enabled"]) == (
        "waimao@demo-commerce.example",
        False,
    )
    assert (email.after["address"], email.after["enabled"]) == (
        "waimao2@demo-commerce.example",
        True,
    )


def test_people_and_sections_missing_from_the_file_are_kept_and_reported(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    org = parse(DEMO_YAML)
    commerce = org.agencies[0]
    smaller = commerce.model_copy(
        update={
            "sections": [s for s in commerce.sections if s.code != "cooperation"],
            "people": [
                p.model_copy(update={"email": None}) if p.name == "甲示例" else p
                for p in commerce.people
                if p.name not in ("子示例", "丑示例")
            ],
        }
    )
    before = counts(engine)

    summary = load(engine, OrgFile(agencies=[smaller]), actor=system, at=at)

    assert not summary.changed
    assert counts(engine) == before
    assert [(m.entity, m.key) for m in summary.not_in_file] == [
        ("section", "demo-commerce/cooperation 对外经济合作科"),
        ("chat_address", "demo-commerce/甲示例/email"),
        ("person", "demo-commerce/子示例"),
        ("person", "demo-commerce/丑示例"),
    ]


# --------------------------------------------------------------------------- refused files

#: (fixture, the exact problems; {file} is the fixture's path)
REFUSED = [
    ("unknown-role.yaml", [
        "{file}:8: agencies.0.people.0.role: Input should be 'chief', 'staff', 'office', 'leader' or 'gov_office'",
    ]),
    ("chief-without-section.yaml", [
        "{file}:7: agencies.0.people.0.section: a chief must name their section",
    ]),
    ("section-not-in-agency.yaml", [
        "{file}:9: agencies.0.people.0.section: section 'foreign-trade' is not a section of agency 'bad-bureau'",
    ]),
    ("bad-email.yaml", [
        "{file}:10: agencies.0.people.0.email: not an e-mail address (name@example.org)",
    ]),
    ("duplicate-person.yaml", [
        "{file}:11: agencies.0.people.1.name: duplicate person '甲错误' in agency 'bad-bureau' (first at line 8)",
    ]),
    ("duplicate-section.yaml", [
        "{file}:7: agencies.0.sections.2.code: duplicate section 'office' in agency 'bad-bureau' (first at line 5)",
    ]),
    ("syntax.yaml", [
        "{file}:6: YAML syntax error: expected ',' or ']', but got '<scalar>'",
    ]),
    ("several-problems.yaml", [
        "{file}:3: agencies.0.code: a code is 1-63 lower-case letters, digits or '-', "
        "starting with a letter (e.g. foreign-trade)",
        "{file}:5: agencies.0.timezone: unknown time zone 'Mars/Olympus' (e.g. Asia/Shanghai)",
        "{file}:8: agencies.0.sections.1.code: duplicate section 'office' in agency 'Bad_Bureau' (first at line 7)",
        "{file}:10: agencies.0.people.0.section: a chief must name their section",
        "{file}:14: agencies.0.people.1.section: section 'general' is not a section of agency 'Bad_Bureau'",
        "{file}:15: agencies.0.people.1.telegram: not a Telegram chat id (a number such as 123456789, or @channel)",
        "{file}:16: agencies.0.people.1.email: not an e-mail address (name@example.org)",
        "{file}:17: agencies.0.people.2.name: duplicate person '甲错误' in agency 'Bad_Bureau' (first at line 10)",
        "{file}:19: agencies.0.people.2.phone: Extra inputs are not permitted",
        "{file}:21: agencies.1.name: String should have at least 1 character",
        "{file}:22: agencies.2.code: duplicate agency 'bad-bureau' (first at line 20)",
    ]),
    ("missing-column.csv", [
        "{file}:row 1: wecom: missing column",
    ]),
    ("bad-email.csv", [
        "{file}:row 3: email: not an e-mail address (name@example.org)",
    ]),
    ("duplicate-person.csv", [
        "{file}:row 4: person: duplicate person '甲错误' in agency 'bad-bureau' (first at row 2)",
    ]),
    ("several-problems.csv", [
        "{file}:row 3: agency_name: agency 'bad-bureau' is named '另一个名字' here but '错误示例局' at row 2",
        "{file}:row 3: section_name: section 'office' is named '综合科' here but '办公室' at row 2",
        "{file}:row 3: role: Input should be 'chief', 'staff', 'office', 'leader' or 'gov_office'",
        "{file}:row 4: section_code: a staff must name their section",
        "{file}:row 5: agency_code: Field required",
        "{file}:row 6: role: given on a row without a person",
        "{file}:row 6: section_name: Field required",
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "expected"), REFUSED, ids=[name for name, _ in REFUSED])
def test_bad_file_is_refused_with_every_problem_and_nothing_imported(
    engine: Engine,
    demo: ImportSummary,
    monkeypatch: pytest.MonkeyPatch,
    fixture: str,
    expected: list[str],
) -> None:
    path = BAD / fixture
    problems = [line.format(file=path) for line in expected]
    with pytest.raises(ImportRowsError) as caught:
        parse(path)
    assert caught.value.problems == problems

    before = counts(engine)
    result = invoke(monkeypatch, engine, "org", "import", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"错误 Error: {line}" for line in problems]
    assert counts(engine) == before


def test_unknown_file_suffix_is_one_line(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    path = BAD / "org.txt"
    result = invoke(monkeypatch, engine, "org", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"错误 Error: {path}: unknown file type '.txt': use .yaml, .yml or .csv"
    ]
    assert counts(engine) == dict.fromkeys(counts(engine), 0)


def test_org_built_in_code_gets_the_same_cross_checks(
    engine: Engine, demo: ImportSummary, system: Actor, at: dt.datetime
) -> None:
    org = OrgFile(
        agencies=[
            AgencyIn(
                code="demo-commerce",
                name="示例市商务局",
                sections=[SectionIn(code="office", name="办公室")],
                people=[PersonIn(name="新示例", role=Role.CHIEF, section="general")],
            )
        ]
    )
    before = counts(engine)
    with pytest.raises(ImportRowsError) as caught:
        load(engine, org, actor=system, at=at)
    assert caught.value.problems == [
        "agencies.0.people.0.section: section 'general' is not a section of agency 'demo-commerce'"
    ]
    assert counts(engine) == before


def test_a_failure_halfway_leaves_nothing_behind(
    engine: Engine, system: Actor, at: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's transaction makes the import all-or-nothing, even past validation."""
    real_write = AuditWriter.write
    calls: list[int] = []

    def failing_write(self: AuditWriter, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 30:  # inside the second agency
            raise RuntimeError("disk full")
        real_write(self, **kwargs)

    monkeypatch.setattr(AuditWriter, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        load(engine, parse(DEMO_YAML), actor=system, at=at)
    assert counts(engine) == dict.fromkeys(counts(engine), 0)


# --------------------------------------------------------------------------- permissions


def test_office_imports_its_own_agency_but_not_others(
    engine: Engine, demo: ImportSummary, at: dt.datetime
) -> None:
    commerce_id = agency_id(engine, "demo-commerce")
    office = Actor(name="乙示例", role="office", agency_id=commerce_id)
    chief = Actor(name="丁示例", role="chief", agency_id=commerce_id)
    org = parse(DEMO_YAML)
    before = counts(engine)

    with pytest.raises(PermissionDenied):
        load(engine, org, actor=office, at=at)  # lists demo-market and demo-gov too
    new_agency = OrgFile(agencies=[AgencyIn(code="demo-new", name="新局")])
    with pytest.raises(PermissionDenied):
        load(engine, new_agency, actor=office, at=at)
    own = OrgFile(agencies=[org.agencies[0]])
    with pytest.raises(PermissionDenied):
        load(engine, own, actor=chief, at=at)
    assert counts(engine) == before

    assert not load(engine, own, actor=office, at=at).changed


# --------------------------------------------------------------------------- overview


def test_overview_is_scoped_to_the_actors_agency(
    engine: Engine, demo: ImportSummary, system: Actor
) -> None:
    commerce_id = agency_id(engine, "demo-commerce")
    office = Actor(name="乙示例", role="office", agency_id=commerce_id)
    market_leader = Actor(name="未演示", role="leader", agency_id=agency_id(engine, "demo-market"))
    gov_office = Actor(name="申演示", role="gov_office", agency_id=agency_id(engine, "demo-gov"))

    assert [a["code"] for a in overview(engine, office)] == ["demo-commerce"]
    assert [a["code"] for a in overview(engine, market_leader)] == ["demo-market"]
    assert [a["code"] for a in overview(engine, gov_office)] == [
        "demo-commerce",
        "demo-gov",
        "demo-market",
    ]
    assert overview(engine, gov_office) == overview(engine, system)
    assert [a["code"] for a in overview(engine, system, agency_code="demo-market")] == [
        "demo-market"
    ]
    with pytest.raises(NotFoundError):
        overview(engine, office, agency_code="demo-market")  # exists, but not theirs


# --------------------------------------------------------------------------- CLI


def invoke(monkeypatch: pytest.MonkeyPatch, engine: Engine, *args: str) -> Any:
    """Run ``gongkai …`` against the test database."""
    from gongkai import runtime
    from gongkai.cli import app

    monkeypatch.setattr(runtime, "engine_for", lambda *_args, **_kwargs: engine)
    return CliRunner().invoke(app, list(args))


def test_cli_import_then_show(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(monkeypatch, engine, "org", "import", str(DEMO_CSV), "--json")
    assert result.exit_code == 0, result.output
    imported = json.loads(result.stdout)
    assert imported["file"] == str(DEMO_CSV)
    assert imported["created"] == DEMO_CREATED
    assert imported["changed"] is True
    assert imported["changes"][0] == {
        "entity": "agency",
        "action": "create",
        "key": "demo-commerce",
        "before": None,
        "after": {"code": "demo-commerce", "name": "示例市商务局", "timezone": "Asia/Shanghai"},
    }

    again = invoke(monkeypatch, engine, "org", "import", str(DEMO_YAML))
    assert again.exit_code == 0, again.output
    assert "无变化 Nothing changed" in again.stdout

    shown = invoke(monkeypatch, engine, "org", "show", "--agency", "demo-market", "--json")
    assert shown.exit_code == 0, shown.output
    agencies = json.loads(shown.stdout)
    assert [a["code"] for a in agencies] == ["demo-market"]
    assert [s["code"] for s in agencies[0]["sections"]] == [
        "office",
        "legal",
        "credit",
        "food-safety",
        "pricing",
    ]
    assert agencies[0]["without_section"][0]["name"] == "未演示"

    tree = invoke(monkeypatch, engine, "org", "show")
    assert tree.exit_code == 0, tree.output
    for text in (
        "示例市商务局",
        "对外经济合作科",
        "丁示例",
        "waimao@demo-commerce.example",
        "政务公开办",
    ):
        assert text in tree.stdout

    missing = invoke(monkeypatch, engine, "org", "show", "--agency", "no-such")
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == ["错误 Error: no agency 'no-such'"]
