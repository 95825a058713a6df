"""The obligation catalog: schema checks, the built-in YAML, overrides and error lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from obligations.catalog import (
    BasisStatus,
    Catalog,
    EscalationStep,
    EscalationTarget,
    EventType,
    Feed,
    Obligation,
    ResponsibleMode,
    Trigger,
    builtin_catalog,
    load_catalog,
    parse_catalog_text,
    validate_path,
)
from obligations.clocks import Deadline, compute_due, start
from obligations.errors import CatalogError
from obligations.periods import Recurrence, parse_period
from obligations.rules import Unit
from obligations.workdays import WorkdayCalendar, default_calendar

TZ = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalog"
BAD = FIXTURES / "bad"
D = dt.date

BUILTIN_CODES = {
    "policy-interpretation",
    "proactive-disclosure",
    "request-reply",
    "request-correction-notice",
    "credit-publicity",
    "sentiment-major-info",
    "sentiment-major-press",
    "sentiment-response",
    "budget-disclosure",
    "final-accounts-disclosure",
    "spending-quarterly",
    "monthly-info-report",
    "monthly-self-inspection",
    "wechat-weekly",
    "suggestion-reply",
    "annual-report",
    "website-annual-report",
    "inquiry-reply",
}

# Defaults that are local practice, not national law (DOMAIN.md: "local values are defaults").
LOCAL_CODES = {
    "policy-interpretation",
    "spending-quarterly",
    "monthly-info-report",
    "monthly-self-inspection",
    "wechat-weekly",
    "suggestion-reply",
    "inquiry-reply",
}


@pytest.fixture(scope="module")
def calendar() -> WorkdayCalendar:
    return default_calendar()


def minimal(**changes: Any) -> dict[str, Any]:
    """A valid event-triggered obligation as raw data, with ``changes`` applied."""
    data: dict[str, Any] = {
        "code": "local-duty",
        "title": {"zh": "本地事项", "en": "A local duty"},
        "basis": ["本局内部规定"],
        "basis_status": "internal",
        "trigger": {"event": "document_published"},
        "deadline": {"unit": "working_day", "amount": 3},
        "responsible": {"mode": "from_event"},
    }
    data.update(changes)
    return data


def due(obligation: Obligation, at: dt.datetime, calendar: WorkdayCalendar) -> Deadline:
    return compute_due(obligation.deadline, [start(at)], calendar=calendar, tz=TZ)


def local(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), TZ)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(action: Any, *args: Any) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        action(*args)
    return caught.value.problems


# --------------------------------------------------------------------------- built-in catalog


def test_builtin_catalog_has_every_duty_of_the_domain_table() -> None:
    catalog = load_catalog()
    assert set(catalog) == BUILTIN_CODES
    assert all(item.enabled for item in catalog.values())


@pytest.mark.parametrize("code", sorted(BUILTIN_CODES))
def test_every_builtin_obligation_cites_a_basis(code: str) -> None:
    obligation = builtin_catalog()[code]
    assert obligation.basis
    assert all(citation.strip() for citation in obligation.basis)
    assert obligation.title.zh
    assert obligation.title.en
    assert Feed.TIMELINESS in obligation.feeds


def test_local_defaults_are_marked_local_not_national() -> None:
    catalog = builtin_catalog()
    assert {
        code for code, item in catalog.items() if item.basis_status is not BasisStatus.NATIONAL
    } == LOCAL_CODES


def test_builtin_shapes_follow_the_domain_table() -> None:
    catalog = builtin_catalog()
    reply = catalog["request-reply"]
    assert reply.deadline.pausable
    assert reply.deadline.extension is not None
    assert (reply.deadline.extension.max_total, reply.deadline.extension.max_times) == (20, 1)
    assert set(reply.feeds) == {Feed.TABLE3, Feed.TIMELINESS}
    assert {Feed.TABLE2_LICENSING, Feed.TABLE2_PENALTY} <= set(catalog["credit-publicity"].feeds)
    assert Feed.ANNUAL_REPORT in catalog["annual-report"].feeds
    assert catalog["annual-report"].responsible.sections == ("office",)
    assert catalog["annual-report"].deadline.roll_forward is False
    assert catalog["monthly-info-report"].responsible.mode is ResponsibleMode.ALL
    assert catalog["monthly-info-report"].quota is not None
    assert catalog["monthly-info-report"].quota.min_items == 2
    for item in catalog.values():
        if item.trigger.event is not None:
            assert item.responsible.mode is ResponsibleMode.FROM_EVENT, item.code
    hourly = {code for code, item in catalog.items() if item.deadline.unit is Unit.HOUR}
    assert hourly == {"sentiment-major-info", "sentiment-major-press", "sentiment-response"}
    assert all(catalog[code].immediate for code in hourly)
    assert not any(item.immediate for code, item in catalog.items() if code not in hourly)


# (code, start, expected due date, basis of the regime used or None)
EVENT_CASES = [
    ("request-reply", D(2019, 5, 14), D(2019, 6, 4), "《政府信息公开条例》（2008）第二十四条"),
    ("request-reply", D(2019, 5, 15), D(2019, 6, 13), None),  # 端午 2019-06-07 skipped
    ("request-reply", D(2024, 9, 27), D(2024, 10, 30), None),  # 国庆 + two make-up days
    ("request-correction-notice", D(2024, 9, 27), D(2024, 10, 12), None),  # Sat 调休上班
    ("proactive-disclosure", D(2024, 9, 27), D(2024, 10, 30), None),
    ("policy-interpretation", D(2024, 9, 27), D(2024, 10, 8), None),  # DOMAIN.md example
    ("credit-publicity", D(2024, 9, 27), D(2024, 10, 12), None),
    ("inquiry-reply", D(2024, 9, 27), D(2024, 10, 10), None),
    ("budget-disclosure", D(2024, 9, 11), D(2024, 10, 8), None),  # day 20 = 10-01, rolls
    ("final-accounts-disclosure", D(2024, 9, 20), D(2024, 10, 10), None),
    ("suggestion-reply", D(2024, 3, 15), D(2024, 6, 17), None),  # 06-15 Sat rolls to Mon
    ("suggestion-reply", D(2024, 1, 31), D(2024, 4, 30), None),  # no 31 April (Art.202)
]

HOUR_CASES = [
    ("sentiment-major-info", dt.datetime(2024, 10, 1, 15, 0, tzinfo=TZ)),
    ("sentiment-major-press", dt.datetime(2024, 10, 2, 10, 0, tzinfo=TZ)),
    ("sentiment-response", dt.datetime(2024, 10, 3, 10, 0, tzinfo=TZ)),
]

# (code, period key, expected due date, basis of the regime used or None)
RECURRING_CASES = [
    ("monthly-info-report", "2024-09", D(2024, 10, 12), None),  # 5th WD is Sat 调休上班
    ("monthly-self-inspection", "2024-09", D(2024, 10, 10), None),
    ("spending-quarterly", "2024-Q3", D(2024, 10, 15), None),
    ("spending-quarterly", "2024-Q4", D(2025, 1, 15), None),
    ("wechat-weekly", "2024-W39", D(2024, 9, 29), None),  # Sunday, no roll-forward
    ("annual-report", "2018", D(2019, 3, 31), "《政府信息公开条例》（2008）第三十一条"),
    ("annual-report", "2019", D(2020, 1, 31), None),
    ("annual-report", "2026", D(2027, 1, 31), None),
    ("website-annual-report", "2024", D(2025, 1, 31), None),
]


def test_the_due_date_tables_cover_every_builtin_obligation() -> None:
    covered = {case[0] for case in [*EVENT_CASES, *HOUR_CASES, *RECURRING_CASES]}
    assert covered == BUILTIN_CODES


@pytest.mark.parametrize(("code", "received", "expected", "regime"), EVENT_CASES)
def test_event_rules_give_the_expected_due_date(
    calendar: WorkdayCalendar, code: str, received: dt.date, expected: dt.date, regime: str | None
) -> None:
    deadline = due(builtin_catalog()[code], local(received), calendar)
    assert deadline.due_date == expected
    assert (deadline.regime.basis if deadline.regime else None) == regime
    assert not deadline.provisional


@pytest.mark.parametrize(("code", "expected"), HOUR_CASES)
def test_hour_rules_count_wall_clock_hours_through_holidays(
    calendar: WorkdayCalendar, code: str, expected: dt.datetime
) -> None:
    deadline = due(builtin_catalog()[code], local(D(2024, 10, 1), 10), calendar)
    assert deadline.due_at == expected


@pytest.mark.parametrize(("code", "key", "expected", "regime"), RECURRING_CASES)
def test_recurring_rules_count_from_the_period_end(
    calendar: WorkdayCalendar, code: str, key: str, expected: dt.date, regime: str | None
) -> None:
    obligation = builtin_catalog()[code]
    period = parse_period(key)
    assert obligation.trigger.every is period.kind
    deadline = due(obligation, local(period.last, 0), calendar)
    assert deadline.due_date == expected
    assert (deadline.regime.basis if deadline.regime else None) == regime


def test_request_reply_2008_regime_caps_the_extension_at_15(calendar: WorkdayCalendar) -> None:
    deadline = due(builtin_catalog()["request-reply"], local(D(2019, 5, 14)), calendar)
    assert deadline.rule.amount == 15
    assert deadline.rule.extension is not None
    assert deadline.rule.extension.max_total == 15


def test_a_working_day_count_into_2027_is_provisional(calendar: WorkdayCalendar) -> None:
    deadline = due(builtin_catalog()["request-reply"], local(D(2026, 12, 10)), calendar)
    assert deadline.due_date == D(2027, 1, 8)
    assert deadline.provisional
    assert 2027 in deadline.provisional_years


def test_annual_report_2026_rolled_forward_by_an_agency_is_provisional(
    calendar: WorkdayCalendar, tmp_path: Path
) -> None:
    # The built-in rule ends on 2027-01-31 whatever the 2027 notice says (no roll-forward);
    # an agency that rolls it forward depends on the 2027 calendar, which is an estimate.
    write(tmp_path, "annual.yaml", "code: annual-report\ndeadline: {roll_forward: true}\n")
    obligation = load_catalog(tmp_path)["annual-report"]
    deadline = due(obligation, local(D(2026, 12, 31), 0), calendar)
    assert deadline.due_date == D(2027, 2, 1)  # 2027-01-31 is a Sunday
    assert deadline.provisional
    assert deadline.provisional_years == (2027,)


# --------------------------------------------------------------------------- catalog helpers


def test_for_event_matches_type_and_when_attributes() -> None:
    catalog = builtin_catalog()

    def codes(event: EventType | str, **attributes: str) -> list[str]:
        return [item.code for item in catalog.for_event(event, attributes)]

    assert set(codes(EventType.REQUEST_RECEIVED)) == {"request-reply", "request-correction-notice"}
    assert codes("sentiment_detected", severity="major") == [
        "sentiment-major-info",
        "sentiment-major-press",
    ]
    assert codes(EventType.SENTIMENT_DETECTED, severity="other") == ["sentiment-response"]
    assert codes(EventType.SENTIMENT_DETECTED) == []
    assert codes(EventType.APPROVAL_RECEIVED, kind="budget") == ["budget-disclosure"]
    assert codes(EventType.APPROVAL_RECEIVED, kind="final_accounts", unit="x") == [
        "final-accounts-disclosure"
    ]
    assert codes(EventType.DOCUMENT_PUBLISHED) == ["policy-interpretation"]


def test_for_event_rejects_an_unknown_event_type() -> None:
    problems = problems_of(builtin_catalog().for_event, "document_signed")
    assert problems[0].startswith("unknown event type 'document_signed'; known: document_published")


def test_recurring_lists_enabled_recurring_obligations() -> None:
    catalog = builtin_catalog()
    assert {item.code for item in catalog.recurring()} == {
        "spending-quarterly",
        "monthly-info-report",
        "monthly-self-inspection",
        "wechat-weekly",
        "annual-report",
        "website-annual-report",
    }
    assert [item.code for item in catalog.recurring(Recurrence.WEEK)] == ["wechat-weekly"]


def test_get_names_the_known_codes() -> None:
    catalog = builtin_catalog()
    assert catalog.get("request-reply").code == "request-reply"
    assert catalog.get("nope", None) is None
    problems = problems_of(catalog.get, "request-replies")
    assert problems == [
        f"unknown obligation 'request-replies'; known: {', '.join(sorted(catalog))}"
    ]
    with pytest.raises(KeyError):
        catalog["request-replies"]


def test_catalog_is_immutable_and_keeps_definition_order() -> None:
    catalog = builtin_catalog()
    with pytest.raises(TypeError):
        catalog["x"] = catalog["request-reply"]  # type: ignore[index]
    rebuilt = Catalog(catalog.values())
    assert list(rebuilt) == list(catalog)
    assert rebuilt == catalog
    with pytest.raises(CatalogError):
        Catalog([catalog["request-reply"], catalog["request-reply"]])


def test_origin_names_the_defining_file_and_line() -> None:
    assert builtin_catalog().origin("request-reply") == ("obligations/catalog/requests.yaml:6",)


def test_event_type_labels() -> None:
    assert EventType.REQUEST_RECEIVED.label("zh") == "收到申请"
    assert EventType.SENTIMENT_DETECTED.label() == "舆情"
    assert EventType.DECISION_MADE.label("en") == "licensing or penalty decision made"
    assert all(kind.label("zh") and kind.label("en") for kind in EventType)


def test_feed_keys_are_the_fixed_set() -> None:
    assert {feed.value for feed in Feed} == {
        "timeliness",
        "table3",
        "table2.regulation",
        "table2.normative",
        "table2.licensing",
        "table2.penalty",
        "table2.enforcement",
        "table2.fees",
        "interpretations",
        "responses",
        "annual_report",
    }


# --------------------------------------------------------------------------- schema


def test_defaults_follow_the_deadline_unit() -> None:
    daily = Obligation.model_validate(minimal())
    assert [(stage.before, stage.unit) for stage in daily.reminders] == [
        (3, Unit.WORKING_DAY),
        (1, Unit.WORKING_DAY),
        (0, Unit.WORKING_DAY),
    ]
    assert daily.escalation == (
        EscalationStep(after=1, to=EscalationTarget.OFFICE),
        EscalationStep(after=5, to=EscalationTarget.LEADER),
    )
    assert daily.immediate is False
    assert daily.feeds == (Feed.TIMELINESS,)
    hourly = Obligation.model_validate(minimal(deadline={"unit": "hour", "amount": 5}))
    assert all(stage.unit is Unit.HOUR for stage in hourly.reminders)
    assert hourly.immediate is True


@pytest.mark.parametrize(
    ("changes", "loc", "fragment"),
    [
        ({"trigger": {"event": "request_received", "every": "month"}}, ("trigger",), "exactly one"),
        ({"trigger": {}}, ("trigger",), "exactly one"),
        ({"trigger": {"every": "month", "when": {"kind": "x"}}}, ("trigger",), "'when'"),
        ({"trigger": {"every": "fortnight"}}, ("trigger", "every"), "'week'"),
        (
            {"deadline": {"unit": "fixed_date", "month": 1, "day": 31, "years": 1}},
            ("deadline",),
            "recurring trigger",
        ),
        (
            {"trigger": {"every": "month"}, "responsible": {"mode": "from_event"}},
            ("responsible",),
            "recurring duty",
        ),
        ({"responsible": {"mode": "all", "sections": ["office"]}}, ("responsible",), "'listed'"),
        (
            {"responsible": {"mode": "listed", "sections": ["Office!"]}},
            ("responsible", "sections", 0),
            "pattern",
        ),
        ({"quota": {"min_items": 2}}, ("quota",), "recurring trigger"),
        (
            {"reminders": [{"before": 1, "unit": "day"}]},
            ("reminders", 0, "unit"),
            "'working_day' or 'hour'",
        ),
        ({"reminders": [{"before": 1}, {"before": 1}]}, ("reminders",), "same time"),
        (
            {"escalation": [{"after": 5, "to": "leader"}, {"after": 1, "to": "office"}]},
            ("escalation",),
            "increasing",
        ),
        ({"escalation": [{"after": 1, "to": "mayor"}]}, ("escalation", 0, "to"), "'office'"),
        ({"feeds": ["timeliness", "timeliness"]}, ("feeds",), "twice"),
        ({"basis": ["  "]}, ("basis", 0), "at least 2"),
        ({"code": "x"}, ("code",), "pattern"),
        ({"title": {"zh": "只有中文"}}, ("title", "en"), "required"),
        ({"basis_status": "statutory"}, ("basis_status",), "'national'"),
    ],
)
def test_schema_rejects(changes: dict[str, Any], loc: tuple[Any, ...], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Obligation.model_validate(minimal(**changes))
    errors = [
        error for error in caught.value.errors() if error["type"] != "default_factory_not_called"
    ]
    assert errors[0]["loc"] == loc  # a failed item may also fail its list's length check
    assert all(error["loc"][0] == loc[0] for error in errors)
    assert fragment in errors[0]["msg"]


def test_trigger_matching_and_hashing() -> None:
    trigger = Trigger(event=EventType.SENTIMENT_DETECTED, when={"severity": "major"})
    assert trigger.matches(EventType.SENTIMENT_DETECTED, {"severity": "major", "place": "x"})
    assert not trigger.matches(EventType.SENTIMENT_DETECTED, {"severity": "other"})
    assert not trigger.matches(EventType.REQUEST_RECEIVED, {"severity": "major"})
    assert hash(trigger) == hash(
        Trigger(event=EventType.SENTIMENT_DETECTED, when={"severity": "major"})
    )
    assert not Trigger(every=Recurrence.MONTH).matches(EventType.REQUEST_RECEIVED, {})


def test_obligations_are_frozen() -> None:
    obligation = builtin_catalog()["request-reply"]
    with pytest.raises(ValidationError):
        obligation.enabled = False


# --------------------------------------------------------------------------- overrides


def test_override_folder_merges_disables_and_adds(calendar: WorkdayCalendar) -> None:
    builtin = builtin_catalog()
    catalog = load_catalog(FIXTURES / "good")

    interpretation = catalog["policy-interpretation"]
    assert interpretation.deadline.amount == 0
    assert interpretation.deadline.unit is Unit.WORKING_DAY  # untouched fields are kept
    assert interpretation.basis == builtin["policy-interpretation"].basis
    assert due(interpretation, local(D(2024, 9, 27)), calendar).due_date == D(2024, 9, 27)

    assert catalog["wechat-weekly"].enabled is False
    assert "wechat-weekly" not in {item.code for item in catalog.recurring()}

    added = catalog["leader-interpretation"]
    assert added.basis_status is BasisStatus.INTERNAL
    assert list(catalog)[-1] == "leader-interpretation"
    assert added in catalog.recurring(Recurrence.YEAR)

    report = catalog["annual-report"]
    assert report.deadline.day == 26
    assert report.deadline.regimes == builtin["annual-report"].deadline.regimes
    assert due(report, local(D(2025, 12, 31), 0), calendar).due_date == D(2026, 1, 26)
    assert catalog.origin("annual-report")[-1] == f"{FIXTURES / 'good' / '20-annual-report.yaml'}:2"

    assert len(catalog) == len(builtin) + 1
    assert builtin["policy-interpretation"].deadline.amount == 3  # the built-in is untouched


def test_override_null_resets_a_field_to_its_default(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "code: monthly-info-report\nquota: null\n")
    assert load_catalog(tmp_path)["monthly-info-report"].quota is None


def test_unit_dependent_defaults_follow_an_overridden_unit(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "code: proactive-disclosure\ndeadline: {unit: hour, amount: 48}\n")
    obligation = load_catalog(tmp_path)["proactive-disclosure"]
    assert obligation.immediate
    assert all(stage.unit is Unit.HOUR for stage in obligation.reminders)


def test_later_override_files_layer_onto_earlier_ones(tmp_path: Path) -> None:
    write(
        tmp_path,
        "10-new.yaml",
        "code: local-duty\ntitle: {zh: 本地事项, en: A local duty}\nbasis: [本局内部规定]\n"
        "basis_status: internal\ntrigger: {event: message_received}\n"
        "deadline: {unit: working_day, amount: 3}\nresponsible: {mode: from_event}\n",
    )
    write(tmp_path, "20-change.yaml", "code: local-duty\ndeadline: {amount: 10}\n")
    write(tmp_path, "notes.txt", "not a catalog file")
    catalog = load_catalog(tmp_path)
    assert catalog["local-duty"].deadline.amount == 10
    assert [item.code for item in catalog.for_event("message_received")] == [
        "inquiry-reply",
        "local-duty",
    ]


def test_validate_path_returns_what_the_folder_defines_or_changes() -> None:
    catalog = builtin_catalog()
    changed = catalog.validate_path(FIXTURES / "good")
    assert [item.code for item in changed] == [
        "policy-interpretation",
        "wechat-weekly",
        "leader-interpretation",
        "annual-report",
    ]
    single = catalog.validate_path(FIXTURES / "good" / "20-annual-report.yaml")
    assert [item.deadline.day for item in single] == [26]
    assert "leader-interpretation" not in catalog


def test_validate_path_reports_a_missing_or_empty_path(tmp_path: Path) -> None:
    catalog = builtin_catalog()
    assert problems_of(catalog.validate_path, tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: no such file or folder"
    ]
    assert problems_of(catalog.validate_path, tmp_path) == [
        f"{tmp_path}: no *.yaml files in this folder"
    ]
    assert problems_of(load_catalog, tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a directory"]


# --------------------------------------------------------------------------- error lines

# (fixture, exact "file:line: field: " prefixes, in order)
BAD_FILES = [
    ("syntax.yaml", ["3: YAML syntax error: "]),
    ("unknown-field.yaml", ["9: owner: Extra inputs are not permitted"]),
    ("wrong-type.yaml", ["9: deadline.amount: Input should be a valid integer"]),
    ("negative-amount.yaml", ["9: deadline.amount: Input should be greater than or equal to 0"]),
    ("unknown-event.yaml", ["7: trigger.event: Input should be 'document_published'"]),
    ("missing-basis.yaml", ["1: basis: Field required"]),
    ("listed-without-sections.yaml", ["8: responsible: mode 'listed' needs at least one section"]),
    ("hour-workday-reminders.yaml", ["9: reminders: an hour deadline needs hour reminders"]),
    (
        "duplicate-code.yaml",
        ["10: obligations.1.code: duplicate code 'local-twice': also defined at line 2"],
    ),
    ("unknown-feed.yaml", ["11: feeds.1: Input should be 'timeliness'"]),
    (
        "several-problems.yaml",
        [
            "4: obligations.0.basis: ",
            "5: obligations.0.basis_status: ",
            "16: obligations.1.responsible: a recurring duty has no event",
            "17: obligations.1.quota.min_items: ",
            "19: obligations.2.code: String should match pattern",
            "23: obligations.2.trigger: give exactly one of 'event'",
        ],
    ),
]


@pytest.mark.parametrize(("name", "prefixes"), BAD_FILES)
def test_bad_file_problems_name_file_line_and_field(name: str, prefixes: list[str]) -> None:
    path = BAD / name
    problems = problems_of(builtin_catalog().validate_path, path)
    assert len(problems) == len(prefixes), problems
    for problem, prefix in zip(problems, prefixes, strict=True):
        assert problem.startswith(f"{path}:{prefix}"), problem


def test_the_bad_fixture_folder_reports_every_file_at_once() -> None:
    problems = problems_of(builtin_catalog().validate_path, BAD)
    assert len(problems) == sum(len(prefixes) for _, prefixes in BAD_FILES)
    assert {problem.split(":", 1)[0] for problem in problems} == {
        str(BAD / name) for name, _ in BAD_FILES
    }


def test_parse_catalog_text_uses_the_source_label() -> None:
    text = (BAD / "negative-amount.yaml").read_text(encoding="utf-8")
    assert problems_of(lambda: parse_catalog_text(text, source="local.yaml")) == [
        "local.yaml:9: deadline.amount: Input should be greater than or equal to 0"
    ]


def test_merged_override_problems_point_into_the_override_file() -> None:
    folder = FIXTURES / "bad-override"
    problems = problems_of(load_catalog, folder)
    assert problems == [
        f"{folder / '10-merge.yaml'}:4: deadline.amount: Input should be greater than or equal to 0",
        f"{folder / '10-merge.yaml'}:6: reminders.0.unit: a reminder stage counts in "
        "'working_day' or 'hour', not 'minute'",
        f"{folder / '20-new.yaml'}:2: obligations.0.basis: Field required",
    ]


def test_problems_across_override_folders_are_collected(tmp_path: Path) -> None:
    write(tmp_path / "a", "x.yaml", "code: request-reply\ndeadline: {unit: fortnight}\n")
    write(tmp_path / "b", "y.yaml", "code: annual-report\nenabled: maybe\n")
    problems = problems_of(load_catalog, tmp_path / "a", tmp_path / "b")
    assert [problem.split(": ", 2)[:2] for problem in problems] == [
        [f"{tmp_path / 'a' / 'x.yaml'}:2", "deadline.unit"],
        [f"{tmp_path / 'b' / 'y.yaml'}:2", "enabled"],
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- code: a\n- code: b\n", "x.yaml:1: (document): expected one obligation"),
        ("obligations: {code: a}\n", "x.yaml:1: obligations: expected a list"),
        ("version: 2\nobligations: []\n", "x.yaml:1: version: unexpected key beside 'obligations'"),
        (
            "obligations:\n  - just a string\n",
            "x.yaml:2: obligations.0: Input should be a valid dictionary",
        ),
    ],
)
def test_file_shape_problems(text: str, expected: str) -> None:
    problems = problems_of(lambda: parse_catalog_text(text, source="x.yaml"))
    assert problems[0].startswith(expected), problems


def test_an_empty_file_defines_nothing() -> None:
    assert parse_catalog_text("# nothing yet\n", source="x.yaml") == []
    assert parse_catalog_text("obligations: []\n", source="x.yaml") == []


def test_builtin_parse_round_trips_through_parse_catalog_text() -> None:
    folder = Path(__file__).resolve().parents[2] / "obligations" / "catalog"
    parsed = [
        item
        for path in sorted(folder.glob("*.yaml"))
        for item in parse_catalog_text(path.read_text(encoding="utf-8"), source=str(path))
    ]
    assert {item.code for item in parsed} == BUILTIN_CODES


def test_module_validate_path_layers_onto_the_builtin_catalog() -> None:
    assert [item.code for item in validate_path(FIXTURES / "good" / "20-annual-report.yaml")] == [
        "annual-report"
    ]
    base = Catalog([builtin_catalog()["request-reply"]])
    problems = problems_of(
        lambda: validate_path(FIXTURES / "good" / "20-annual-report.yaml", base=base)
    )
    assert problems[0].startswith(
        f"{FIXTURES / 'good' / '20-annual-report.yaml'}:2: title: Field required"
    )
