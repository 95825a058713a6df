"""Obligation definitions (义务/公开事项): the schema, the built-in YAML catalog and overrides.

An :class:`Obligation` says what starts a duty (an event, or a recurring period), how long it
may take (a :class:`~obligations.rules.DeadlineRule`), which sections (科室) answer for it,
when to remind and escalate, which statistics it feeds, and on what legal basis.

The built-in definitions live in ``obligations/catalog/*.yaml``. An agency adds override
folders: each ``*.yaml`` file there, read in name order, either defines a new obligation or
names an existing ``code`` and changes only the fields it gives, e.g.::

    code: policy-interpretation
    deadline: {amount: 0}        # 解读 the same day instead of within 3 working days

Overrides are deep-merged: mappings merge key by key, lists and scalars replace, and
``null`` resets a field to its default. The merged definition is validated again.

Every problem is one line ``file:line: field.path: message``; :class:`CatalogError` carries
all problems of all files at once, so a user fixes a folder in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from obligations.errors import CatalogError
from obligations.periods import Recurrence
from obligations.rules import DeadlineRule, Unit
from obligations.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml

__all__ = [
    "CODE_PATTERN",
    "BasisStatus",
    "Catalog",
    "EscalationStep",
    "EscalationTarget",
    "EventType",
    "Feed",
    "Obligation",
    "Quota",
    "ReminderStage",
    "Responsible",
    "ResponsibleMode",
    "Text",
    "Trigger",
    "builtin_catalog",
    "load_catalog",
    "parse_catalog_text",
    "validate_path",
]

CODE_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
SECTION_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"

_FROZEN = ConfigDict(extra="forbid", frozen=True)

_T = TypeVar("_T")


# --------------------------------------------------------------------------- vocabularies


class EventType(StrEnum):
    """What happened in the agency that starts an event-triggered duty."""

    DOCUMENT_PUBLISHED = "document_published"
    REQUEST_RECEIVED = "request_received"
    SUGGESTION_ASSIGNED = "suggestion_assigned"
    SENTIMENT_DETECTED = "sentiment_detected"
    DECISION_MADE = "decision_made"
    APPROVAL_RECEIVED = "approval_received"
    INFORMATION_FORMED = "information_formed"
    MESSAGE_RECEIVED = "message_received"

    def label(self, lang: str = "zh") -> str:
        return _EVENT_LABELS[lang][self]


_EVENT_LABELS = {
    "zh": {
        EventType.DOCUMENT_PUBLISHED: "文件公开",
        EventType.REQUEST_RECEIVED: "收到申请",
        EventType.SUGGESTION_ASSIGNED: "建议提案交办",
        EventType.SENTIMENT_DETECTED: "舆情",
        EventType.DECISION_MADE: "行政许可/处罚决定",
        EventType.APPROVAL_RECEIVED: "预决算批复",
        EventType.INFORMATION_FORMED: "信息形成或变更",
        EventType.MESSAGE_RECEIVED: "网上咨询/信箱来信",
    },
    "en": {
        EventType.DOCUMENT_PUBLISHED: "document published",
        EventType.REQUEST_RECEIVED: "request received",
        EventType.SUGGESTION_ASSIGNED: "suggestion or proposal assigned",
        EventType.SENTIMENT_DETECTED: "public-opinion incident detected",
        EventType.DECISION_MADE: "licensing or penalty decision made",
        EventType.APPROVAL_RECEIVED: "budget or final accounts approved",
        EventType.INFORMATION_FORMED: "information formed or changed",
        EventType.MESSAGE_RECEIVED: "online inquiry or mailbox message received",
    },
}


class BasisStatus(StrEnum):
    """Whether the deadline is national law, a local rule, or the agency's own practice.

    Anything not confirmed from a national text is ``local`` or ``internal``: a default an
    agency may change, never a statutory truth.
    """

    NATIONAL = "national"
    LOCAL = "local"
    INTERNAL = "internal"


class Feed(StrEnum):
    """A year-end statistic an obligation's closed tasks are counted in."""

    TIMELINESS = "timeliness"
    TABLE3 = "table3"  # 依申请公开, annual report table 三
    TABLE2_REGULATION = "table2.regulation"  # 规章
    TABLE2_NORMATIVE = "table2.normative"  # 行政规范性文件
    TABLE2_LICENSING = "table2.licensing"  # 行政许可
    TABLE2_PENALTY = "table2.penalty"  # 行政处罚
    TABLE2_ENFORCEMENT = "table2.enforcement"  # 行政强制
    TABLE2_FEES = "table2.fees"  # 行政事业性收费
    INTERPRETATIONS = "interpretations"  # 政策解读
    RESPONSES = "responses"  # 回应社会关切
    ANNUAL_REPORT = "annual_report"


class ResponsibleMode(StrEnum):
    ALL = "all"  # every section gets its own task
    LISTED = "listed"  # the sections named in ``sections``
    FROM_EVENT = "from_event"  # the section the event names (e.g. the drafting section)


class EscalationTarget(StrEnum):
    OFFICE = "office"  # 办公室
    LEADER = "leader"  # 分管领导


# --------------------------------------------------------------------------- parts


class Text(BaseModel):
    """A text in Chinese and English."""

    model_config = _FROZEN

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def localized(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


class Trigger(BaseModel):
    """What starts the duty: exactly one of ``event`` (optionally filtered by ``when``)
    or ``every`` (a recurring period; the clock starts on the period's last day)."""

    model_config = _FROZEN

    event: EventType | None = None
    when: dict[str, str] = Field(default_factory=dict)
    every: Recurrence | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.event is None) == (self.every is None):
            raise PydanticCustomError(
                "trigger_kind",
                "give exactly one of 'event' (an event type) or 'every' "
                "(week, month, quarter or year)",
            )
        if self.when and self.event is None:
            raise PydanticCustomError("trigger_when", "'when' only applies to event triggers")
        return self

    def __hash__(self) -> int:
        return hash((self.event, tuple(sorted(self.when.items())), self.every))

    def matches(self, event: EventType, attributes: Mapping[str, str]) -> bool:
        """True for an event of this type whose attributes include every ``when`` pair."""
        if self.event is None or self.event != event:
            return False
        return all(attributes.get(key) == value for key, value in self.when.items())


SectionCode = Annotated[str, StringConstraints(pattern=SECTION_PATTERN)]


class Responsible(BaseModel):
    """Which sections (科室) get a task: all of them, the listed ones, or the event's."""

    model_config = _FROZEN

    mode: ResponsibleMode
    sections: tuple[SectionCode, ...] = ()

    @model_validator(mode="after")
    def _sections_iff_listed(self) -> Responsible:
        if self.mode is ResponsibleMode.LISTED and not self.sections:
            raise PydanticCustomError(
                "sections_missing", "mode 'listed' needs at least one section code in 'sections'"
            )
        if self.mode is not ResponsibleMode.LISTED and self.sections:
            raise PydanticCustomError(
                "sections_unused",
                "'sections' only applies to mode 'listed', not {mode}",
                {"mode": self.mode.value},
            )
        if len(set(self.sections)) != len(self.sections):
            raise PydanticCustomError("sections_repeated", "a section is listed twice")
        return self


class ReminderStage(BaseModel):
    """Remind ``before`` working days (or hours, for hour duties) before the due moment.

    ``before: 0`` is the due day itself (for hour duties: the due instant).
    """

    model_config = _FROZEN

    before: int = Field(ge=0, le=1000)
    unit: Unit = Unit.WORKING_DAY
    label: str | None = None

    @field_validator("unit", mode="before")
    @classmethod
    def _stage_unit(cls, value: Any) -> Any:
        # A StrEnum member equals its string, so this accepts "hour" and Unit.HOUR alike.
        if value not in (Unit.WORKING_DAY, Unit.HOUR):
            raise PydanticCustomError(
                "stage_unit",
                "a reminder stage counts in 'working_day' or 'hour', not {unit}",
                {"unit": repr(value)},
            )
        return value


class EscalationStep(BaseModel):
    """Tell ``to`` once a task is ``after`` units overdue (working days; hours for hour duties)."""

    model_config = _FROZEN

    after: int = Field(ge=0, le=1000)
    to: EscalationTarget


class Quota(BaseModel):
    """At least ``min_items`` items per period and section (e.g. 2 政务信息 a month)."""

    model_config = _FROZEN

    min_items: int = Field(ge=1, le=10_000)


Citation = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2)]

WORKDAY_REMINDERS = (
    ReminderStage(before=3),
    ReminderStage(before=1),
    ReminderStage(before=0),
)
HOUR_REMINDERS = (
    ReminderStage(before=4, unit=Unit.HOUR),
    ReminderStage(before=1, unit=Unit.HOUR),
)
WORKDAY_ESCALATION = (
    EscalationStep(after=1, to=EscalationTarget.OFFICE),
    EscalationStep(after=5, to=EscalationTarget.LEADER),
)
HOUR_ESCALATION = (
    EscalationStep(after=0, to=EscalationTarget.OFFICE),
    EscalationStep(after=2, to=EscalationTarget.LEADER),
)


def _is_hourly(data: Mapping[str, Any]) -> bool:
    deadline = data.get("deadline")
    return isinstance(deadline, DeadlineRule) and deadline.unit is Unit.HOUR


def _default_reminders(data: dict[str, Any]) -> tuple[ReminderStage, ...]:
    return HOUR_REMINDERS if _is_hourly(data) else WORKDAY_REMINDERS


def _default_escalation(data: dict[str, Any]) -> tuple[EscalationStep, ...]:
    return HOUR_ESCALATION if _is_hourly(data) else WORKDAY_ESCALATION


def _default_immediate(data: dict[str, Any]) -> bool:
    return _is_hourly(data)


# --------------------------------------------------------------------------- obligation


class Obligation(BaseModel):
    """One duty definition. Defaults follow the deadline's unit: hour duties (舆情) get
    hour reminders and escalation and are delivered immediately, not in the daily digest."""

    model_config = _FROZEN

    code: str = Field(pattern=CODE_PATTERN)
    title: Text
    basis: tuple[Citation, ...] = Field(min_length=1)
    basis_status: BasisStatus
    trigger: Trigger
    deadline: DeadlineRule
    responsible: Responsible
    reminders: tuple[ReminderStage, ...] = Field(default_factory=_default_reminders)
    escalation: tuple[EscalationStep, ...] = Field(default_factory=_default_escalation)
    quota: Quota | None = None
    feeds: tuple[Feed, ...] = (Feed.TIMELINESS,)
    immediate: bool = Field(default_factory=_default_immediate)
    enabled: bool = True
    description: Text | None = None

    @field_validator("deadline")
    @classmethod
    def _deadline_fits_trigger(cls, deadline: DeadlineRule, info: ValidationInfo) -> DeadlineRule:
        trigger = info.data.get("trigger")
        if deadline.unit is Unit.FIXED_DATE and isinstance(trigger, Trigger) and trigger.event:
            raise PydanticCustomError(
                "fixed_date_event",
                "a fixed_date deadline needs a recurring trigger ('every'), not an event",
            )
        return deadline

    @field_validator("responsible")
    @classmethod
    def _responsible_fits_trigger(
        cls, responsible: Responsible, info: ValidationInfo
    ) -> Responsible:
        trigger = info.data.get("trigger")
        recurring = isinstance(trigger, Trigger) and trigger.every is not None
        if recurring and responsible.mode is ResponsibleMode.FROM_EVENT:
            raise PydanticCustomError(
                "from_event_recurring",
                "a recurring duty has no event to name a section: use mode 'all' or 'listed'",
            )
        return responsible

    @field_validator("reminders")
    @classmethod
    def _reminders_fit_deadline(
        cls, reminders: tuple[ReminderStage, ...], info: ValidationInfo
    ) -> tuple[ReminderStage, ...]:
        if _is_hourly(info.data):
            for index, stage in enumerate(reminders):
                if stage.unit is not Unit.HOUR:
                    raise PydanticCustomError(
                        "stage_not_hourly",
                        "an hour deadline needs hour reminders: stage {index} counts in {unit}",
                        {"index": index, "unit": stage.unit.value},
                    )
        keys = [(stage.before, stage.unit) for stage in reminders]
        if len(set(keys)) != len(keys):
            raise PydanticCustomError("stage_repeated", "two reminder stages have the same time")
        return reminders

    @field_validator("escalation")
    @classmethod
    def _escalation_ordered(cls, steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        afters = [step.after for step in steps]
        if any(later <= earlier for earlier, later in pairwise(afters)):
            raise PydanticCustomError(
                "escalation_order", "escalation steps must be listed by increasing 'after'"
            )
        return steps

    @field_validator("quota")
    @classmethod
    def _quota_needs_period(cls, quota: Quota | None, info: ValidationInfo) -> Quota | None:
        trigger = info.data.get("trigger")
        if quota is not None and isinstance(trigger, Trigger) and trigger.every is None:
            raise PydanticCustomError(
                "quota_event", "a quota counts items per period: it needs a recurring trigger"
            )
        return quota

    @field_validator("feeds")
    @classmethod
    def _feeds_unique(cls, feeds: tuple[Feed, ...]) -> tuple[Feed, ...]:
        if len(set(feeds)) != len(feeds):
            raise PydanticCustomError("feed_repeated", "a statistic is listed twice")
        return feeds

    @property
    def is_recurring(self) -> bool:
        return self.trigger.every is not None

    def matches(self, event: EventType, attributes: Mapping[str, str]) -> bool:
        """True if this obligation is enabled and an ``event`` with ``attributes`` starts it."""
        return self.enabled and self.trigger.matches(event, attributes)


# --------------------------------------------------------------------------- catalog

_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})
_MISSING: Any = object()


class Catalog(Mapping[str, Obligation]):
    """An immutable mapping code → :class:`Obligation`, in definition order."""

    __slots__ = ("_items", "_origins")

    def __init__(
        self,
        obligations: Iterable[Obligation] = (),
        *,
        origins: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        items: dict[str, Obligation] = {}
        for obligation in obligations:
            if obligation.code in items:
                raise CatalogError([f"duplicate obligation code {obligation.code!r}"])
            items[obligation.code] = obligation
        found = origins or {}
        self._items: Mapping[str, Obligation] = MappingProxyType(items)
        self._origins: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {code: tuple(found.get(code, ())) for code in items}
        )

    def __getitem__(self, code: str) -> Obligation:
        return self._items[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} obligations: {', '.join(self)})"

    @overload
    def get(self, key: str, /) -> Obligation: ...

    @overload
    def get(self, key: str, default: Obligation | _T, /) -> Obligation | _T: ...

    def get(self, key: str, default: Any = _MISSING, /) -> Any:
        """The obligation ``key``; unknown codes raise CatalogError unless a default is given."""
        if key in self._items:
            return self._items[key]
        if default is not _MISSING:
            return default
        known = ", ".join(sorted(self._items)) or "(none)"
        raise CatalogError([f"unknown obligation {key!r}; known: {known}"])

    def origin(self, code: str) -> tuple[str, ...]:
        """The ``file:line`` places that defined ``code`` and then changed it, in order."""
        self.get(code)
        return self._origins[code]

    def for_event(
        self, event: EventType | str, attributes: Mapping[str, str] = _NO_ATTRIBUTES
    ) -> list[Obligation]:
        """The enabled obligations an event of this type and these attributes starts."""
        try:
            kind = EventType(event)
        except ValueError:
            known = ", ".join(item.value for item in EventType)
            raise CatalogError([f"unknown event type {event!r}; known: {known}"]) from None
        return [item for item in self._items.values() if item.matches(kind, attributes)]

    def recurring(self, every: Recurrence | None = None) -> list[Obligation]:
        """The enabled recurring obligations (of one recurrence if ``every`` is given)."""
        return [
            item
            for item in self._items.values()
            if item.enabled
            and item.trigger.every is not None
            and (every is None or item.trigger.every is every)
        ]

    def with_overrides(self, *override_dirs: Path | str) -> Catalog:
        """This catalog with each folder's ``*.yaml`` files layered on, in name order."""
        builder = _Builder(self)
        for directory in override_dirs:
            path = Path(directory)
            if not path.is_dir():
                builder.problems.append(f"{path}: not a directory")
                continue
            for file in _yaml_files(path):
                builder.add_path(file, merge=True)
        return builder.finish()

    def validate_path(self, path: Path | str) -> list[Obligation]:
        """Check an override file or folder against this catalog (``obligations validate``).

        Returns the obligations the path defines or changes, as they would be after merging.
        """
        target = Path(path)
        if target.is_dir():
            files = _yaml_files(target)
            if not files:
                raise CatalogError([f"{target}: no *.yaml files in this folder"])
        elif target.is_file():
            files = [target]
        else:
            raise CatalogError([f"{target}: no such file or folder"])
        builder = _Builder(self)
        codes: list[str] = []
        for file in files:
            codes.extend(item.code for item in builder.add_path(file, merge=True))
        builder.finish()
        return [builder.items[code] for code in dict.fromkeys(codes)]


# --------------------------------------------------------------------------- loading


def parse_catalog_text(text: str, *, source: str) -> list[Obligation]:
    """Validate complete obligation definitions from one YAML text.

    The text holds one obligation mapping or a list under ``obligations:``. All problems are
    raised together as a :class:`CatalogError`.
    """
    builder = _Builder(None)
    obligations = builder.add_text(text, source=source, merge=False)
    builder.finish()
    return obligations


@lru_cache(maxsize=1)
def builtin_catalog() -> Catalog:
    """The obligations shipped in ``obligations/catalog/*.yaml`` (read once per process)."""
    folder = resources.files("obligations").joinpath("catalog")
    builder = _Builder(None)
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            text = entry.read_text(encoding="utf-8")
            builder.add_text(text, source=f"obligations/catalog/{entry.name}", merge=False)
    return builder.finish()


def load_catalog(*override_dirs: Path | str) -> Catalog:
    """The built-in catalog with each override folder layered on (see the module docstring)."""
    if not override_dirs:
        return builtin_catalog()
    return builtin_catalog().with_overrides(*override_dirs)


def validate_path(path: Path | str, *, base: Catalog | None = None) -> list[Obligation]:
    """``obligations validate PATH``: check a file or folder layered onto ``base``.

    ``base`` defaults to the built-in catalog, so partial overrides of built-in codes pass.
    Returns the obligations the path defines or changes; raises :class:`CatalogError`.
    """
    return (base if base is not None else builtin_catalog()).validate_path(path)


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(
        (path for path in folder.iterdir() if path.suffix == ".yaml" and path.is_file()),
        key=lambda path: path.name,
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    """One obligation mapping as written, with where it sits in its file."""

    document: YamlDocument
    prefix: tuple[int | str, ...]
    raw: Any

    def line(self, *fields: str) -> int:
        return self.document.line_of([*self.prefix, *fields])

    def field(self, *fields: str) -> str:
        return ".".join(str(part) for part in (*self.prefix, *fields)) or "(document)"

    def problem(self, message: str, *fields: str) -> str:
        return f"{self.document.source}:{self.line(*fields)}: {self.field(*fields)}: {message}"

    def problems(self, error: ValidationError) -> list[str]:
        """``file:line: field: message`` per problem, as :meth:`YamlDocument.problems` does.

        Pydantic also reports every default that depends on the deadline's unit as "not
        called" when any other field failed; those lines say nothing to a user and are left out.
        """
        lines = []
        for item in error.errors():
            if item["type"] == "default_factory_not_called":
                continue
            loc = [*self.prefix, *item["loc"]]
            field = ".".join(str(part) for part in loc) or "(document)"
            lines.append(
                f"{self.document.source}:{self.document.line_of(loc)}: {field}: {item['msg']}"
            )
        return lines


def _entries(document: YamlDocument) -> tuple[list[_Entry], list[str]]:
    """Split a document into obligation entries; shape problems are returned, not raised."""
    data = document.data
    source = document.source
    if data is None:
        return [], []
    if isinstance(data, dict) and "obligations" in data:
        problems = [
            f"{source}:{document.line_of([key])}: {key}: unexpected key beside 'obligations'"
            for key in data
            if key != "obligations"
        ]
        items = data["obligations"]
        if not isinstance(items, list):
            line = document.line_of(["obligations"])
            problems.append(f"{source}:{line}: obligations: expected a list of obligations")
            return [], problems
        entries = [_Entry(document, ("obligations", i), item) for i, item in enumerate(items)]
        return entries, problems
    if isinstance(data, dict):
        return [_Entry(document, (), data)], []
    return [], [
        f"{source}:{document.line_of([])}: (document): expected one obligation "
        "(a mapping with 'code') or a list under 'obligations:'"
    ]


def _deep_merge(base: Mapping[str, Any], override: Mapping[Any, Any]) -> dict[str, Any]:
    """``override`` onto ``base``: mappings merge, other values replace, ``None`` removes."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


class _Builder:
    """Accumulates obligations file by file and every problem found on the way."""

    def __init__(self, base: Catalog | None) -> None:
        self.items: dict[str, Obligation] = dict(base.items()) if base else {}
        self.origins: dict[str, list[str]] = (
            {code: list(base.origin(code)) for code in base} if base else {}
        )
        self.problems: list[str] = []

    def add_path(self, path: Path, *, merge: bool) -> list[Obligation]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{path}: cannot read: {exc}")
            return []
        return self.add_text(text, source=str(path), merge=merge)

    def add_text(self, text: str, *, source: str, merge: bool) -> list[Obligation]:
        """Validate one file's entries; with ``merge``, known codes are changed, not redefined."""
        try:
            document = parse_yaml(text, source=source)
        except YamlSyntaxError as exc:
            self.problems.append(str(exc))
            return []
        entries, problems = _entries(document)
        self.problems.extend(problems)
        added: list[Obligation] = []
        lines: dict[str, int] = {}
        for entry in entries:
            obligation = self._add_entry(entry, lines, merge=merge)
            if obligation is not None:
                added.append(obligation)
        return added

    def _add_entry(self, entry: _Entry, lines: dict[str, int], *, merge: bool) -> Obligation | None:
        raw = entry.raw
        code = raw.get("code") if isinstance(raw, dict) else None
        data = raw
        if isinstance(code, str):
            line = entry.line("code")
            if code in lines:
                message = f"duplicate code {code!r}: also defined at line {lines[code]}"
                self.problems.append(entry.problem(message, "code"))
                return None
            lines[code] = line
            if code in self.items:
                if not merge:
                    first = ", ".join(self.origins.get(code, ())) or "another file"
                    message = f"duplicate code {code!r}: already defined at {first}"
                    self.problems.append(entry.problem(message, "code"))
                    return None
                base = self.items[code].model_dump(mode="json", exclude_unset=True)
                data = _deep_merge(base, raw)
        try:
            obligation = Obligation.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(entry.problems(exc))
            return None
        self.items[obligation.code] = obligation
        place = f"{entry.document.source}:{entry.line('code')}"
        self.origins.setdefault(obligation.code, []).append(place)
        return obligation

    def finish(self) -> Catalog:
        if self.problems:
            raise CatalogError(self.problems)
        return Catalog(self.items.values(), origins=self.origins)
