"""What the WeCom, DingTalk and Feishu robot channels share: one JSON POST, errors sorted.

The three services answer HTTP 200 for most refusals and put the reason in the body
(``errcode``/``errmsg``, Feishu ``code``/``msg``), so the body decides first and the HTTP
status only when there is no usable body:

- a code the service documents for a dead or misconfigured robot (bad key, bad signature,
  deleted robot) → :class:`PermanentDeliveryError`: the address is disabled, the office told;
- a throttling code, HTTP 429 → :class:`TransientDeliveryError` with ``retry_after``;
- timeouts, connection errors, 5xx, anything unknown → transient.

Error texts never contain the webhook URL: its key is a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from notifier.base import PermanentDeliveryError, TransientDeliveryError

#: Robots allow about 20 messages a minute; after a throttling answer wait this long.
THROTTLE_SECONDS = 60.0
#: Keys and tokens of the three services are hex, UUIDs or similar: nothing that could
#: change the path or query of the request.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass(frozen=True)
class ErrorCodes:
    """How one service reports the outcome in its JSON body."""

    service: str
    permanent: frozenset[int]
    throttled: frozenset[int] = frozenset()
    code_fields: tuple[str, ...] = ("errcode",)
    message_fields: tuple[str, ...] = ("errmsg",)
    #: Messages of otherwise-permanent codes that are really transient (clock skew …).
    transient_hints: tuple[str, ...] = field(default=())

    def code_of(self, body: Mapping[str, Any]) -> int | None:
        for name in self.code_fields:
            value = body.get(name)
            if isinstance(value, int):
                return value
        return None

    def message_of(self, body: Mapping[str, Any]) -> str:
        for name in self.message_fields:
            value = body.get(name)
            if isinstance(value, str) and value:
                return value[:300]
        return ""


def token_from(address: str, *, query_key: str | None = None) -> str:
    """The robot's key/token; a whole webhook URL pasted as the address is accepted too.

    Only the token is kept: messages always go to the configured base URL, never to a
    host named in an address (an address is data, not a place to send requests to).
    """
    text = address.strip()
    token = text
    if "://" in text:
        parts = urlsplit(text)
        if query_key is not None:
            token = (parse_qs(parts.query).get(query_key) or [""])[0]
        else:
            token = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if not _TOKEN.match(token):
        raise PermanentDeliveryError("the robot address is not a webhook key or webhook URL")
    return token


def retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 1.0)
    except ValueError:
        return None


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    codes: ErrorCodes,
    *,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``payload``; return the service's JSON answer or raise a delivery error."""
    service = codes.service
    try:
        response = await client.post(url, params=params, json=dict(payload))
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{service} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{service} unreachable ({type(exc).__name__})") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    code = codes.code_of(body) if isinstance(body, dict) else None
    if code is None:
        if status == 429:
            raise TransientDeliveryError(
                f"{service} HTTP 429", retry_after=retry_after_header(response) or THROTTLE_SECONDS
            )
        # No usable answer (a proxy's error page, a wrong base URL): our side or theirs,
        # never proof that the robot is gone.
        raise TransientDeliveryError(f"{service} answered HTTP {status} without a result code")
    assert isinstance(body, dict)
    if code == 0 and status < 300:
        return body
    message = codes.message_of(body)
    detail = f"{service} {code}: {message}" if message else f"{service} {code}"
    lowered = message.lower()
    if code in codes.throttled or status == 429:
        raise TransientDeliveryError(
            detail, retry_after=retry_after_header(response) or THROTTLE_SECONDS
        )
    if code in codes.permanent and not any(hint in lowered for hint in codes.transient_hints):
        raise PermanentDeliveryError(detail)
    raise TransientDeliveryError(detail)


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Parts of at most ``max_bytes`` UTF-8 bytes, split between lines where possible.

    The robots count bytes, not characters (WeCom markdown: 4,096 bytes; a Chinese
    character takes three).
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line.encode()) > max_bytes:
            if current:
                parts.append(current)
                current = ""
            cut = _cut(line, max_bytes)
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) > max_bytes:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts or [""]


def _cut(line: str, max_bytes: int) -> int:
    """The longest prefix length of ``line`` that fits ``max_bytes`` (never mid-character)."""
    size = 0
    for index, char in enumerate(line):
        size += len(char.encode())
        if size > max_bytes:
            return max(index, 1)
    return len(line)


def numbered(title: str, parts: list[str]) -> list[str]:
    """Continuation parts repeat the title with "(2/3)" so each message stands on its own."""
    if len(parts) <= 1:
        return parts
    total = len(parts)
    return [
        parts[0],
        *(f"**{title}（{i}/{total}）**\n{part}" for i, part in enumerate(parts[1:], 2)),
    ]
