"""The organisation: agencies (机关), sections (科室), people (人员) and their chat addresses.

An organisation file (YAML or CSV) is read into :class:`OrgFile`, a set of input schemas kept
apart from the tables. Every problem of the whole file is collected and raised at once as
:class:`~db.errors.ImportRowsError`, each line naming the place a user fixes it:

- YAML: ``org.yaml:14: agencies.0.people.3.role: Input should be 'chief', …``
- CSV:  ``org.csv:row 5: role: Input should be 'chief', …`` (rows as a spreadsheet numbers
  them: the header is row 1)

:func:`import_org` then upserts the file, keyed by agency code, (agency, section code),
(agency, person name) and (person, channel). Importing the same file twice changes nothing
and writes no audit entry; every created or changed row gets one audit entry with its state
before and after. Rows missing from the file are never deleted, only reported. Everything is
validated (and permission-checked) before the first write, and the caller's transaction makes
the import all-or-nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor, PermissionDenied
from db.errors import ImportRowsError, NotFoundError
from db.models import Agency, ChatAddress, Person, Role, Section
from obligations.yamlsource import YamlDocument, YamlSyntaxError, parse_yaml

#: Agency and section codes: what URLs, file names and the CLI's --agency/--section accept.
SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
_SLUG = re.compile(SLUG_PATTERN)
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
#: A numeric chat id (negative for groups) or a public ``@channel`` name.
_TELEGRAM = re.compile(r"^(?:-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")

#: Channels an organisation file gives addresses for, in this order (console needs none).
FILE_CHANNELS: tuple[str, ...] = ("telegram", "wecom", "dingtalk", "feishu", "email")
#: Roles that belong to a section and therefore must name one.
SECTION_ROLES = frozenset({Role.CHIEF, Role.STAFF})

CSV_COLUMNS: tuple[str, ...] = (
    "agency_code",
    "agency_name",
    "section_code",
    "section_name",
    "person",
    "role",
    *FILE_CHANNELS,
)
#: Columns a CSV file may add to :data:`CSV_COLUMNS`.
CSV_OPTIONAL_COLUMNS: tuple[str, ...] = ("timezone",)

Loc = tuple[int | str, ...]


# --------------------------------------------------------------------------- input schemas


class _Input(BaseModel):
    # YAML reads an unquoted chat id as a number; it is an address, kept as text.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True)


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise PydanticCustomError(
            "code",
            "a code is 1-63 lower-case letters, digits or '-', starting with a letter "
            "(e.g. foreign-trade)",
        )
    return value


class SectionIn(_Input):
    """A 科室 as the file declares it."""

    code: str
    name: str = Field(min_length=1, max_length=200)

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        return _slug(value)


class PersonIn(_Input):
    """A person, their role, their section (by code) and where they are reached."""

    name: str = Field(min_length=1, max_length=100)
    role: Role
    section: str | None = Field(default=None, min_length=1, max_length=64, validate_default=True)
    telegram: str | None = Field(default=None, min_length=1, max_length=500)
    wecom: str | None = Field(default=None, min_length=1, max_length=500)
    dingtalk: str | None = Field(default=None, min_length=1, max_length=500)
    feishu: str | None = Field(default=None, min_length=1, max_length=500)
    email: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("section")
    @classmethod
    def _section_for_section_roles(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if value is None and role in SECTION_ROLES:
            raise PydanticCustomError(
                "section_required", "a {role} must name their section", {"role": str(role)}
            )
        return value

    @field_validator("telegram")
    @classmethod
    def _telegram_chat(cls, value: str | None) -> str | None:
        if value is not None and not _TELEGRAM.match(value):
            raise PydanticCustomError(
                "telegram_chat", "not a Telegram chat id (a number such as 123456789, or @channel)"
            )
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise PydanticCustomError("email", "not an e-mail address (name@example.org)")
        return value

    def addresses(self) -> dict[str, str]:
        """Channel → address for the channels this person has one for."""
        found = {channel: getattr(self, channel) for channel in FILE_CHANNELS}
        return {channel: address for channel, address in found.items() if address is not None}


class AgencyIn(_Input):
    """An agency with its sections and people."""

    code: str
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    sections: list[SectionIn] = Field(default_factory=list)
    people: list[PersonIn] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        return _slug(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a directory
            raise PydanticCustomError(
                "timezone", "unknown time zone '{zone}' (e.g. Asia/Shanghai)", {"zone": value}
            ) from None
        return value


class OrgFile(_Input):
    """A whole organisation file: one or more agencies."""

    agencies: list[AgencyIn] = Field(min_length=1)


# --------------------------------------------------------------------------- cross checks


@dataclass(frozen=True)
class _Issue:
    """A problem at ``loc``; ``first`` is where the clashing earlier entry sits, if any."""

    loc: Loc
    message: str
    first: Loc | None = None


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _cross_issues(data: Any) -> list[_Issue]:
    """Problems between entries: duplicates, and people in a section the agency lacks.

    Works on the raw data, so these are found even where some entries fail validation.
    """
    issues: list[_Issue] = []
    agency_codes: dict[str, Loc] = {}
    agencies = _items(data.get("agencies")) if isinstance(data, dict) else []
    for a, agency in agencies:
        base: Loc = ("agencies", a)
        code = _text(agency.get("code"))
        label = code or f"#{a + 1}"
        if code is not None:
            if code in agency_codes:
                issues.append(
                    _Issue((*base, "code"), f"duplicate agency {code!r}", agency_codes[code])
                )
            else:
                agency_codes[code] = (*base, "code")
        section_codes: dict[str, Loc] = {}
        for s, section in _items(agency.get("sections")):
            section_code = _text(section.get("code"))
            if section_code is None:
                continue
            where: Loc = (*base, "sections", s, "code")
            if section_code in section_codes:
                message = f"duplicate section {section_code!r} in agency {label!r}"
                issues.append(_Issue(where, message, section_codes[section_code]))
            else:
                section_codes[section_code] = where
        names: dict[str, Loc] = {}
        for p, person in _items(agency.get("people")):
            name = _text(person.get("name"))
            if name is not None:
                where = (*base, "people", p, "name")
                if name in names:
                    message = f"duplicate person {name!r} in agency {label!r}"
                    issues.append(_Issue(where, message, names[name]))
                else:
                    names[name] = where
            section_code = _text(person.get("section"))
            if section_code is not None and section_code not in section_codes:
                message = f"section {section_code!r} is not a section of agency {label!r}"
                issues.append(_Issue((*base, "people", p, "section"), message))
    return issues


# --------------------------------------------------------------------------- locating problems


@dataclass(frozen=True)
class _Problem:
    order: int
    text: str


class _YamlPlaces:
    def __init__(self, document: YamlDocument) -> None:
        self.document = document

    def order(self, loc: Loc) -> int:
        return self.document.line_of(loc)

    def where(self, loc: Loc) -> str:
        field_name = ".".join(str(part) for part in loc) or "(document)"
        return f"{self.document.source}:{self.document.line_of(loc)}: {field_name}"

    def place(self, loc: Loc) -> str:
        return f"line {self.document.line_of(loc)}"


#: Field of the input schema → CSV column.
_AGENCY_COLUMNS = {"code": "agency_code", "name": "agency_name", "timezone": "timezone"}
_SECTION_COLUMNS = {"code": "section_code", "name": "section_name"}
_PERSON_COLUMNS = {"name": "person", "role": "role", "section": "section_code"}


class _CsvPlaces:
    """Maps a location in the built data back to the row and column it came from."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.agency_rows: dict[int, int] = {}
        self.section_rows: dict[tuple[int, int], int] = {}
        self.person_rows: dict[tuple[int, int], int] = {}

    def _row_column(self, loc: Loc) -> tuple[int, str]:
        parts = list(loc)
        if len(parts) >= 2 and parts[0] == "agencies" and isinstance(parts[1], int):
            a = parts[1]
            rest = parts[2:]
            if len(rest) >= 2 and rest[0] in ("sections", "people") and isinstance(rest[1], int):
                rows = self.section_rows if rest[0] == "sections" else self.person_rows
                columns = _SECTION_COLUMNS if rest[0] == "sections" else _PERSON_COLUMNS
                row = rows.get((a, rest[1]), 2)
                name = str(rest[2]) if len(rest) > 2 else ""
                return row, columns.get(name, name) or "(row)"
            name = str(rest[0]) if rest else ""
            return self.agency_rows.get(a, 2), _AGENCY_COLUMNS.get(name, name) or "(row)"
        return 2, ".".join(str(part) for part in loc) or "(rows)"

    def order(self, loc: Loc) -> int:
        return self._row_column(loc)[0]

    def where(self, loc: Loc) -> str:
        row, column = self._row_column(loc)
        return f"{self.source}:row {row}: {column}"

    def place(self, loc: Loc) -> str:
        return f"row {self._row_column(loc)[0]}"


class _PlainPlaces:
    """For an :class:`OrgFile` built in code: the field path is the place."""

    def order(self, loc: Loc) -> int:
        return 0

    def where(self, loc: Loc) -> str:
        return ".".join(str(part) for part in loc) or "(document)"

    def place(self, loc: Loc) -> str:
        return ".".join(str(part) for part in loc)


_Places = _YamlPlaces | _CsvPlaces | _PlainPlaces


def _issue_problems(issues: Iterable[_Issue], places: _Places) -> list[_Problem]:
    problems = []
    for issue in issues:
        message = issue.message
        if issue.first is not None:
            message += f" (first at {places.place(issue.first)})"
        problems.append(_Problem(places.order(issue.loc), f"{places.where(issue.loc)}: {message}"))
    return problems


def _validate(data: Any, places: _Places, extra: Sequence[_Problem] = ()) -> OrgFile:
    """The validated file, or every problem (schema and cross checks) in file order."""
    problems = list(extra)
    org: OrgFile | None = None
    try:
        org = OrgFile.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            if item["type"] == "default_factory_not_called":
                continue
            loc: Loc = tuple(item["loc"])
            problems.append(_Problem(places.order(loc), f"{places.where(loc)}: {item['msg']}"))
    problems.extend(_issue_problems(_cross_issues(data), places))
    if problems or org is None:
        problems.sort(key=lambda problem: problem.order)  # stable: same line keeps its order
        raise ImportRowsError([problem.text for problem in problems])
    return org


# --------------------------------------------------------------------------- parsing


def parse_org_yaml(text: str, source: str) -> OrgFile:
    """Validate an organisation YAML text; raises ImportRowsError with every problem."""
    try:
        document = parse_yaml(text, source=source)
    except YamlSyntaxError as exc:
        raise ImportRowsError([str(exc)]) from None
    return _validate(document.data, _YamlPlaces(document))


def parse_org_csv(text: str, source: str) -> OrgFile:
    """Validate an organisation CSV text (one row per person); raises ImportRowsError.

    A row with an empty ``person`` only declares a section. The agency and section names may
    be given on any of their rows but must not disagree.
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    header_problems = _csv_header_problems(header, source)
    if header_problems:
        raise ImportRowsError(header_problems)
    places = _CsvPlaces(source)
    builder = _CsvBuilder(places)
    for row_number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            builder.problem(
                row_number, "(row)", f"{len(cells)} cells but the header has {len(header)}"
            )
            continue
        values = {name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(header)}
        builder.add_row(row_number, values)
    if not builder.agencies and not builder.problems:
        raise ImportRowsError([f"{source}:row 2: (rows): the file lists no agency"])
    return _validate(builder.data(), places, builder.problems)


def _csv_header_problems(header: list[str], source: str) -> list[str]:
    if not any(header):
        return [
            f"{source}:row 1: (header): empty file; expected the header {','.join(CSV_COLUMNS)}"
        ]
    problems = [
        f"{source}:row 1: {column}: missing column"
        for column in CSV_COLUMNS
        if column not in header
    ]
    known = {*CSV_COLUMNS, *CSV_OPTIONAL_COLUMNS}
    seen: set[str] = set()
    for column in header:
        if column not in known:
            problems.append(f"{source}:row 1: {column or '(empty)'}: unknown column")
        elif column in seen:
            problems.append(f"{source}:row 1: {column}: column appears twice")
        seen.add(column)
    return problems


@dataclass
class _CsvSection:
    index: int
    data: dict[str, Any]
    name_row: int | None = None


@dataclass
class _CsvAgency:
    index: int
    data: dict[str, Any]
    name_row: int | None = None
    sections: dict[str, _CsvSection] = field(default_factory=dict)
    people: list[dict[str, Any]] = field(default_factory=list)


class _CsvBuilder:
    """Turns rows into the nested shape of :class:`OrgFile`, remembering each entry's row."""

    def __init__(self, places: _CsvPlaces) -> None:
        self.places = places
        self.agencies: dict[str, _CsvAgency] = {}
        self.problems: list[_Problem] = []

    def problem(self, row: int, column: str, message: str) -> None:
        self.problems.append(_Problem(row, f"{self.places.source}:row {row}: {column}: {message}"))

    def _first_name(
        self, row: int, column: str, what: str, value: str, current: Any, current_row: int | None
    ) -> bool:
        """Whether ``value`` is the first name given for ``what``; a different one is a problem."""
        if not value:
            return False
        if current is None:
            return True
        if current != value:
            self.problem(
                row, column, f"{what} is named {value!r} here but {current!r} at row {current_row}"
            )
        return False

    def add_row(self, row: int, values: Mapping[str, str]) -> None:
        code = values["agency_code"]
        if not code:
            self.problem(row, "agency_code", "Field required")
            return
        agency = self.agencies.get(code)
        if agency is None:
            agency = _CsvAgency(index=len(self.agencies), data={"code": code})
            self.agencies[code] = agency
            self.places.agency_rows[agency.index] = row
        name = values["agency_name"]
        what = f"agency {code!r}"
        if self._first_name(
            row, "agency_name", what, name, agency.data.get("name"), agency.name_row
        ):
            agency.data["name"], agency.name_row = name, row
            self.places.agency_rows[agency.index] = row
        zone = values.get("timezone", "")
        if zone and agency.data.setdefault("timezone", zone) != zone:
            known = agency.data["timezone"]
            self.problem(row, "timezone", f"agency {code!r} has time zone {known!r} on another row")
        section_code = values["section_code"]
        if section_code:
            self._add_section(agency, row, section_code, values["section_name"])
        elif values["section_name"]:
            self.problem(row, "section_code", "a section name needs its section code")
        if values["person"]:
            self._add_person(agency, row, values)
            return
        if not section_code:
            self.problem(
                row, "person", "Field required (a row without a person declares a section)"
            )
        for column in ("role", *FILE_CHANNELS):
            if values[column]:
                self.problem(row, column, "given on a row without a person")

    def _add_section(self, agency: _CsvAgency, row: int, code: str, name: str) -> None:
        section = agency.sections.get(code)
        if section is None:
            section = _CsvSection(index=len(agency.sections), data={"code": code})
            agency.sections[code] = section
            self.places.section_rows[(agency.index, section.index)] = row
        what = f"section {code!r}"
        if self._first_name(
            row, "section_name", what, name, section.data.get("name"), section.name_row
        ):
            section.data["name"], section.name_row = name, row
            self.places.section_rows[(agency.index, section.index)] = row

    def _add_person(self, agency: _CsvAgency, row: int, values: Mapping[str, str]) -> None:
        entry: dict[str, Any] = {"name": values["person"]}
        if values["section_code"]:
            entry["section"] = values["section_code"]
        for column in ("role", *FILE_CHANNELS):
            if values[column]:
                entry[column] = values[column]
        self.places.person_rows[(agency.index, len(agency.people))] = row
        agency.people.append(entry)

    def data(self) -> dict[str, Any]:
        agencies = []
        for agency in self.agencies.values():
            sections = [section.data for section in agency.sections.values()]
            agencies.append({**agency.data, "sections": sections, "people": agency.people})
        return {"agencies": agencies}


def check_org(org: OrgFile) -> None:
    """The cross checks for an :class:`OrgFile` built in code (the parsers run them already)."""
    _validate(org.model_dump(), _PlainPlaces())


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class OrgChange:
    """One row created or updated by an import (each has one audit entry)."""

    entity: str  # agency | section | person | chat_address
    action: str  # create | update
    key: str  # demo-commerce / demo-commerce/foreign-trade / demo-commerce/张示例/telegram
    before: dict[str, Any] | None
    after: dict[str, Any]


@dataclass(frozen=True)
class NotInFile:
    """A row of an imported agency that the file no longer lists; it is kept as it is."""

    entity: str  # section | person | chat_address
    key: str


ENTITIES: tuple[str, ...] = ("agency", "section", "person", "chat_address")


@dataclass
class ImportSummary:
    """What an import did: counts per entity, the changes, and what the file left out."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    changes: list[OrgChange] = field(default_factory=list)
    not_in_file: list[NotInFile] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def _agency_state(agency: Agency) -> dict[str, Any]:
    return {"code": agency.code, "name": agency.name, "timezone": agency.timezone}


def _section_state(agency: Agency, section: Section) -> dict[str, Any]:
    return {
        "agency": agency.code,
        "code": section.code,
        "name": section.name,
        "active": section.active,
    }


def _person_state(agency: Agency, person: Person, section_code: str | None) -> dict[str, Any]:
    return {
        "agency": agency.code,
        "name": person.name,
        "role": person.role,
        "section": section_code,
        "active": person.active,
    }


def _address_state(agency: Agency, person: Person, address: ChatAddress) -> dict[str, Any]:
    return {
        "agency": agency.code,
        "person": person.name,
        "channel": address.channel,
        "address": address.address,
        "enabled": address.enabled,
    }


class _Importer:
    def __init__(self, session: Session, *, actor: Actor, at: dt.datetime) -> None:
        self.session = session
        self.actor = actor
        self.at = at
        self.audit = AuditWriter(session)
        self.summary = ImportSummary()

    def record(
        self,
        entity: str,
        key: str,
        entity_id: int | None,
        agency_id: int | None,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        if before == after:
            self.summary.unchanged[entity] += 1
            return
        action = "create" if before is None else "update"
        counts = self.summary.created if before is None else self.summary.updated
        counts[entity] += 1
        self.summary.changes.append(OrgChange(entity, action, key, before, after))
        self.audit.write(
            at=self.at,
            actor=self.actor.name,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            agency_id=agency_id,
            before=before,
            after=after,
        )

    def agency(self, item: AgencyIn, existing: Agency | None) -> None:
        agency = existing
        before = None if agency is None else _agency_state(agency)
        if agency is None:
            agency = Agency(
                code=item.code, name=item.name, timezone=item.timezone, created_at=self.at
            )
        else:
            agency.name, agency.timezone = item.name, item.timezone
        self.session.add(agency)
        self.session.flush()
        assert agency.id is not None
        self.record("agency", agency.code, agency.id, agency.id, before, _agency_state(agency))
        sections = self.sections(agency, item)
        self.people(agency, item, sections)

    def sections(self, agency: Agency, item: AgencyIn) -> dict[str, Section]:
        assert agency.id is not None
        rows = self.session.exec(
            select(Section).where(col(Section.agency_id) == agency.id).order_by(col(Section.id))
        ).all()
        known = {section.code: section for section in rows}
        for section_in in item.sections:
            section = known.get(section_in.code)
            before = None if section is None else _section_state(agency, section)
            if section is None:
                section = Section(agency_id=agency.id, code=section_in.code, name=section_in.name)
                known[section.code] = section
            else:
                section.name, section.active = section_in.name, True
            self.session.add(section)
            self.session.flush()
            key = f"{agency.code}/{section.code}"
            self.record(
                "section", key, section.id, agency.id, before, _section_state(agency, section)
            )
        listed = {section_in.code for section_in in item.sections}
        for section in rows:
            if section.code not in listed:
                self.summary.not_in_file.append(
                    NotInFile("section", f"{agency.code}/{section.code} {section.name}")
                )
        return known

    def people(self, agency: Agency, item: AgencyIn, sections: Mapping[str, Section]) -> None:
        assert agency.id is not None
        rows = self.session.exec(
            select(Person).where(col(Person.agency_id) == agency.id).order_by(col(Person.id))
        ).all()
        known = {person.name: person for person in rows}
        code_of = {section.id: code for code, section in sections.items()}
        addresses = self._addresses([person.id for person in rows if person.id is not None])
        for person_in in item.people:
            person = known.get(person_in.name)
            section = sections[person_in.section] if person_in.section is not None else None
            section_id = None if section is None else section.id
            before = None
            if person is None:
                person = Person(
                    agency_id=agency.id,
                    section_id=section_id,
                    name=person_in.name,
                    role=person_in.role.value,
                )
            else:
                before = _person_state(agency, person, code_of.get(person.section_id))
                person.section_id, person.role, person.active = (
                    section_id,
                    person_in.role.value,
                    True,
                )
            self.session.add(person)
            self.session.flush()
            assert person.id is not None
            after = _person_state(agency, person, person_in.section)
            self.record(
                "person", f"{agency.code}/{person.name}", person.id, agency.id, before, after
            )
            self.chat_addresses(agency, person, person_in, addresses.get(person.id, {}))
        listed = {person_in.name for person_in in item.people}
        for person in rows:
            if person.name not in listed:
                self.summary.not_in_file.append(NotInFile("person", f"{agency.code}/{person.name}"))

    def _addresses(self, person_ids: list[int]) -> dict[int, dict[str, ChatAddress]]:
        found: dict[int, dict[str, ChatAddress]] = {}
        if not person_ids:
            return found
        rows = self.session.exec(
            select(ChatAddress)
            .where(col(ChatAddress.person_id).in_(person_ids))
            .order_by(col(ChatAddress.id))
        ).all()
        for row in rows:
            found.setdefault(row.person_id, {})[row.channel] = row
        return found

    def chat_addresses(
        self, agency: Agency, person: Person, person_in: PersonIn, known: Mapping[str, ChatAddress]
    ) -> None:
        assert person.id is not None
        wanted = person_in.addresses()
        for channel, value in wanted.items():
            address = known.get(channel)
            before = None if address is None else _address_state(agency, person, address)
            if address is None:
                address = ChatAddress(person_id=person.id, channel=channel, address=value)
            elif address.address != value:
                # A new address replaces one a channel may have disabled (blocked bot, bounce).
                address.address, address.enabled, address.disabled_reason = value, True, None
            self.session.add(address)
            self.session.flush()
            key = f"{agency.code}/{person.name}/{channel}"
            self.record(
                "chat_address",
                key,
                address.id,
                agency.id,
                before,
                _address_state(agency, person, address),
            )
        for channel in known:
            if channel not in wanted:
                self.summary.not_in_file.append(
                    NotInFile("chat_address", f"{agency.code}/{person.name}/{channel}")
                )


def import_org(session: Session, org: OrgFile, *, actor: Actor, at: dt.datetime) -> ImportSummary:
    """Upsert the file's agencies, sections, people and addresses; see the module docstring.

    Raises ImportRowsError (cross checks of an OrgFile built in code) or PermissionDenied
    before anything is written: a new agency needs the government office (or the system), an
    existing one its own office.
    """
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    check_org(org)
    codes = [item.code for item in org.agencies]
    existing = {
        agency.code: agency
        for agency in session.exec(select(Agency).where(col(Agency.code).in_(codes))).all()
    }
    for item in org.agencies:
        agency = existing.get(item.code)
        if agency is None:
            if not actor.all_agencies:
                raise PermissionDenied(f"{actor.name} may not create agency {item.code!r}")
            continue
        assert agency.id is not None
        actor.check_write(agency.id, office_only=True)
    importer = _Importer(session, actor=actor, at=at)
    for item in org.agencies:
        importer.agency(item, existing.get(item.code))
    return importer.summary


# --------------------------------------------------------------------------- overview


def org_overview(
    session: Session, actor: Actor, *, agency_code: str | None = None
) -> list[dict[str, Any]]:
    """Agencies → sections → people with their roles and channels, as the actor may see them.

    The government office and the system see every agency, anyone else only their own. An
    agency asked for by code that the actor may not see is reported as not found.
    """
    statement = select(Agency).order_by(col(Agency.code))
    if not actor.all_agencies:
        statement = statement.where(col(Agency.id) == actor.agency_id)
    if agency_code is not None:
        statement = statement.where(col(Agency.code) == agency_code)
    agencies = session.exec(statement).all()
    if agency_code is not None and not agencies:
        raise NotFoundError(f"no agency {agency_code!r}")
    ids = [agency.id for agency in agencies]
    sections = session.exec(
        select(Section).where(col(Section.agency_id).in_(ids)).order_by(col(Section.id))
    ).all()
    people = session.exec(
        select(Person).where(col(Person.agency_id).in_(ids)).order_by(col(Person.id))
    ).all()
    addresses = session.exec(
        select(ChatAddress)
        .where(col(ChatAddress.person_id).in_([person.id for person in people]))
        .order_by(col(ChatAddress.id))
    ).all()
    channels: dict[int, list[dict[str, Any]]] = {}
    order = {channel: index for index, channel in enumerate(FILE_CHANNELS)}
    for address in sorted(
        addresses, key=lambda row: (order.get(row.channel, len(order)), row.channel)
    ):
        channels.setdefault(address.person_id, []).append(
            {"channel": address.channel, "address": address.address, "enabled": address.enabled}
        )

    def person_view(person: Person) -> dict[str, Any]:
        assert person.id is not None
        return {
            "name": person.name,
            "role": person.role,
            "active": person.active,
            "channels": channels.get(person.id, []),
        }

    by_section: dict[int | None, list[Person]] = {}
    for person in people:
        by_section.setdefault(person.section_id, []).append(person)
    result = []
    for agency in agencies:
        agency_sections = [section for section in sections if section.agency_id == agency.id]
        section_ids = {section.id for section in agency_sections}
        result.append(
            {
                "code": agency.code,
                "name": agency.name,
                "timezone": agency.timezone,
                "sections": [
                    {
                        "code": section.code,
                        "name": section.name,
                        "active": section.active,
                        "people": [
                            person_view(person) for person in by_section.get(section.id, [])
                        ],
                    }
                    for section in agency_sections
                ],
                "without_section": [
                    person_view(person)
                    for person in people
                    if person.agency_id == agency.id and person.section_id not in section_ids
                ],
            }
        )
    return result
