"""DingTalk (钉钉) custom robot: markdown to ``/robot/send?access_token=TOKEN``, signed.

A robot secured with 加签 needs, on every request, ``timestamp`` (milliseconds) and
``sign`` = base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")) as query
parameters; the signature is URL-encoded once (httpx encodes ``+ / =``). The server refuses
a timestamp more than an hour away from its clock, so the timestamp is real wall time from
an injected ``clock`` (a transport detail, not a business time).

The address is the access token (or the webhook URL). Secrets never live in addresses
(they are shown on the dashboard and in ``org show``): they come from settings, as a
token → secret mapping.

Result codes: ``300001``/``300005`` token does not exist, ``310000`` signature mismatch,
keyword or IP whitelist refused → permanent (an ``invalid timestamp`` under 310000 is clock
skew → transient); ``130101`` send too fast (20 a minute) → transient after a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

import httpx

from notifier.base import Delivery, Message
from notifier.channels.webhook import ErrorCodes, numbered, post_json, split_utf8, token_from
from notifier.render import render_markdown

DEFAULT_BASE_URL = "https://oapi.dingtalk.com"
MAX_BYTES = 18_000

CODES = ErrorCodes(
    service="DingTalk",
    permanent=frozenset({300001, 300005, 310000, 400102}),
    throttled=frozenset({130101}),
    transient_hints=("timestamp",),
)


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: base64 of HMAC-SHA256 keyed with the secret over "timestamp\\nsecret"."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel:
    """Posts markdown digests to a DingTalk custom robot, signing when a secret is known."""

    kind = "dingtalk"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = DEFAULT_BASE_URL,
        secrets: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/robot/send"
        self.secrets = dict(secrets or {})
        self.clock = clock

    def params(self, token: str) -> dict[str, str]:
        params = {"access_token": token}
        secret = self.secrets.get(token)
        if secret:
            stamp = int(self.clock() * 1000)
            params.update(timestamp=str(stamp), sign=sign(secret, stamp))
        return params

    async def send(self, address: str, message: Message) -> Delivery:
        token = token_from(address, query_key="access_token")
        parts = numbered(message.title, split_utf8(render_markdown(message), MAX_BYTES))
        for part in parts:
            await post_json(
                self.client,
                self.url,
                {"msgtype": "markdown", "markdown": {"title": message.title, "text": part}},
                CODES,
                params=self.params(token),
            )
        return Delivery(
            channel=self.kind,
            address=address,
            detail=f"{len(parts)} parts" if len(parts) > 1 else "",
        )
