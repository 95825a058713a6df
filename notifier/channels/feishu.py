"""Feishu (飞书) custom bot: a card with the digest to ``/open-apis/bot/v2/hook/TOKEN``.

A bot with 签名校验 needs ``timestamp`` (seconds) and ``sign`` in the JSON body, where
``sign`` = base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg="")) — note the key/message
order is the reverse of DingTalk's. The timestamp must be within an hour of Feishu's clock;
it comes from an injected ``clock``.

The address is the hook token (or the whole hook URL); secrets come from settings as a
token → secret mapping, never from addresses.

Result codes (``code``/``msg``; older answers use ``StatusCode``/``StatusMessage``):
``19001`` invalid hook token, ``19021`` signature mismatch, ``19024`` keyword missing →
permanent; ``9499`` too many requests and ``11232`` frequency limited → transient after a
minute. Feishu answers 19021 with one text for a wrong secret and for a clock more than an
hour off; a wrong secret is by far the likelier (servers keep NTP time), and disabling the
address tells the office, who can fix it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from notifier.base import Delivery, Message
from notifier.channels.webhook import ErrorCodes, numbered, post_json, split_utf8, token_from
from notifier.render import render_markdown

DEFAULT_BASE_URL = "https://open.feishu.cn"
#: A request body may hold 20 KB; the card's markdown stays well below.
MAX_BYTES = 16_000

CODES = ErrorCodes(
    service="Feishu",
    permanent=frozenset({19001, 19021, 19024}),
    throttled=frozenset({9499, 11232}),
    code_fields=("code", "StatusCode"),
    message_fields=("msg", "StatusMessage"),
)


def sign(secret: str, timestamp: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed with "timestamp\\nsecret" over an empty message."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def card(title: str, markdown: str, *, urgent: bool = False) -> dict[str, Any]:
    """An interactive card: the title in the header, the digest as one markdown element."""
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "template": "red" if urgent else "blue",
            "title": {"tag": "plain_text", "content": title},
        },
        "elements": [{"tag": "markdown", "content": markdown}],
    }


class FeishuChannel:
    """Posts digests as cards to a Feishu custom bot, signing when a secret is known."""

    kind = "feishu"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        secrets: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.base = base_url.rstrip("/") + "/open-apis/bot/v2/hook/"
        self.secrets = dict(secrets or {})
        self.clock = clock

    def payload(self, token: str, title: str, markdown: str, urgent: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "msg_type": "interactive",
            "card": card(title, markdown, urgent=urgent),
        }
        secret = self.secrets.get(token)
        if secret:
            stamp = int(self.clock())
            body.update(timestamp=str(stamp), sign=sign(secret, stamp))
        return body

    async def send(self, address: str, message: Message) -> Delivery:
        token = token_from(address)
        # The card header carries the title; the markdown's own "### title" line would repeat it.
        _, _, body = render_markdown(message).partition("\n")
        parts = numbered(message.title, split_utf8(body, MAX_BYTES))
        for part in parts:
            await post_json(
                self.client,
                self.base + token,
                self.payload(token, message.title, part, message.urgent),
                CODES,
            )
        return Delivery(
            channel=self.kind,
            address=address,
            detail=f"{len(parts)} parts" if len(parts) > 1 else "",
        )
