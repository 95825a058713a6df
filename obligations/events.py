"""What an event must say, and when the clock of a request starts (条例 Art.31).

Each event type has a small set of attributes with allowed values (an applicant type, a
receipt channel, a severity …). :func:`validate_attributes` refuses anything else with one
line naming the attribute, so a typo never silently spawns the wrong duty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from obligations.catalog import EventType
from obligations.errors import ObligationsError

REGIME_2019_START = dt.date(2019, 5, 15)

APPLICANT_TYPES = {
    "natural_person": ("自然人", "natural person"),
    "commercial_enterprise": ("商业企业", "commercial enterprise"),
    "research_institution": ("科研机构", "research institution"),
    "public_interest_org": ("社会公益组织", "public-interest organisation"),
    "legal_service_org": ("法律服务机构", "legal service organisation"),
    "other": ("其他", "other"),
}

RECEIPT_CHANNELS = {
    "in_person": ("当面提交", "in person"),
    "post_signed": ("邮寄（需签收）", "post, signed for"),
    "post_unsigned": ("平常信函", "ordinary letter"),
    "online": ("互联网渠道", "online"),
    "fax": ("传真", "fax"),
    "email": ("电子邮件", "e-mail"),
}

#: Channels where the receipt date is the day both sides confirm (Art.31 ②③).
CONFIRMATION_CHANNELS = frozenset({"post_unsigned", "online", "fax", "email"})

PUBLICATION_CHANNELS = {
    "website": ("政府网站", "government website"),
    "wechat": ("政务微信", "government WeChat"),
    "weibo": ("政务微博", "government Weibo"),
    "gazette": ("政府公报", "government gazette"),
    "other": ("其他", "other"),
}


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    allowed: tuple[str, ...] | None  # None: free text
    required: bool = False


EVENT_ATTRIBUTES: dict[EventType, tuple[AttributeSpec, ...]] = {
    EventType.DOCUMENT_PUBLISHED: (
        AttributeSpec("doc_kind", ("regulation", "normative", "policy", "other")),
        AttributeSpec("channel", tuple(PUBLICATION_CHANNELS)),
        AttributeSpec("doc_number", None),
    ),
    EventType.REQUEST_RECEIVED: (
        AttributeSpec("applicant_type", tuple(APPLICANT_TYPES), required=True),
        AttributeSpec("channel", tuple(RECEIPT_CHANNELS), required=True),
        AttributeSpec("confirmed_on", None),
        AttributeSpec("applicant", None),
    ),
    EventType.SUGGESTION_ASSIGNED: (
        AttributeSpec("source", ("npc", "cppcc")),
        AttributeSpec("number", None),
    ),
    EventType.SENTIMENT_DETECTED: (
        AttributeSpec("severity", ("major", "other"), required=True),
        AttributeSpec("occurred_at", None),
        AttributeSpec("channel", tuple(PUBLICATION_CHANNELS)),
    ),
    EventType.DECISION_MADE: (
        AttributeSpec("kind", ("licensing", "penalty", "enforcement"), required=True),
        AttributeSpec("number", None),
    ),
    EventType.APPROVAL_RECEIVED: (
        AttributeSpec("kind", ("budget", "final_accounts"), required=True),
    ),
    EventType.INFORMATION_FORMED: (
        AttributeSpec("category", None),
        AttributeSpec("channel", tuple(PUBLICATION_CHANNELS)),
    ),
    EventType.MESSAGE_RECEIVED: (
        AttributeSpec("box", ("consultation", "director_mailbox", "complaint")),
        AttributeSpec("channel", tuple(PUBLICATION_CHANNELS)),
    ),
}


def event_type(value: str) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        known = ", ".join(item.value for item in EventType)
        raise ObligationsError(f"unknown event type {value!r}; known: {known}") from None


def validate_attributes(kind: EventType, attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes cleaned of blanks; unknown names and values are refused."""
    specs = {spec.name: spec for spec in EVENT_ATTRIBUTES[kind]}
    cleaned: dict[str, str] = {}
    for name, raw in attributes.items():
        value = str(raw).strip()
        if not value:
            continue
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(specs) or "(none)"
            raise ObligationsError(f"{kind.value}: unknown attribute {name!r}; known: {known}")
        if spec.allowed is not None and value not in spec.allowed:
            raise ObligationsError(
                f"{kind.value}: {name}={value!r} is not one of {', '.join(spec.allowed)}"
            )
        cleaned[name] = value
    for spec in specs.values():
        if spec.required and spec.name not in cleaned:
            choices = f" ({', '.join(spec.allowed)})" if spec.allowed else ""
            raise ObligationsError(f"{kind.value}: attribute {spec.name!r} is required{choices}")
    if kind is EventType.REQUEST_RECEIVED:
        confirmed = _confirmed(cleaned)
        if cleaned["channel"] in CONFIRMATION_CHANNELS and confirmed is None:
            raise ObligationsError(
                f"request_received via {cleaned['channel']}: give confirmed_on "
                "(the day both sides confirmed, 条例第三十一条)"
            )
    return cleaned


def _confirmed(attributes: Mapping[str, str]) -> dt.date | None:
    value = attributes.get("confirmed_on")
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ObligationsError(
            f"request_received: confirmed_on={value!r} is not a date (YYYY-MM-DD)"
        ) from None


def receipt_date(channel: str, arrived: dt.date, confirmed: dt.date | None) -> dt.date:
    """收到申请之日 (条例 Art.31): in person → the day handed in; signed post → the day
    signed for (``arrived``); ordinary letter, online, fax, e-mail → the day both sides
    confirmed, which must then be given and cannot precede arrival."""
    if channel not in RECEIPT_CHANNELS:
        raise ObligationsError(
            f"unknown receipt channel {channel!r}; known: {', '.join(RECEIPT_CHANNELS)}"
        )
    if channel not in CONFIRMATION_CHANNELS:
        return arrived
    if confirmed is None:
        raise ObligationsError(
            f"request_received via {channel}: give confirmed_on (the day both sides confirmed, 条例第三十一条)"
        )
    if confirmed < arrived:
        raise ObligationsError(
            f"confirmed_on {confirmed} is before the request arrived ({arrived})"
        )
    return confirmed


def request_start(
    attributes: Mapping[str, str], arrived_at: dt.datetime, tz: dt.tzinfo
) -> dt.datetime:
    """The instant a request's clock starts: the local start of its receipt date."""
    arrived = arrived_at.astimezone(tz).date()
    day = receipt_date(attributes["channel"], arrived, _confirmed(attributes))
    if day == arrived:
        return arrived_at
    return dt.datetime.combine(day, dt.time(), tz)


def regime_of(received: dt.date) -> str:
    """Which 条例 governs a request: "2008" before 2019-05-15, else "2019"."""
    return "2019" if received >= REGIME_2019_START else "2008"
