"""WeCom (企业微信) group robot: markdown messages to ``/cgi-bin/webhook/send?key=KEY``.

The address is the robot's key (or the whole webhook URL, from which the key is taken).
Markdown content is limited to 4,096 bytes, so a long digest becomes numbered parts.

Result codes: ``93000`` invalid webhook URL (the robot was deleted or the key is wrong) →
permanent; ``45009`` api freq out of limit (a robot takes about 20 messages a minute) →
transient after a minute; everything else → transient.
"""

from __future__ import annotations

import httpx

from notifier.base import Delivery, Message
from notifier.channels.webhook import ErrorCodes, numbered, post_json, split_utf8, token_from
from notifier.render import render_markdown

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
#: markdown.content may hold 4,096 bytes; the reserve leaves room for the "(2/3)" heading.
MAX_BYTES = 4096
RESERVE = 256

CODES = ErrorCodes(
    service="WeCom",
    permanent=frozenset({93000}),
    throttled=frozenset({45009}),
)


class WeComChannel:
    """Posts markdown digests to a WeCom group robot."""

    kind = "wecom"

    def __init__(self, client: httpx.AsyncClient, *, base_url: str = DEFAULT_BASE_URL) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/cgi-bin/webhook/send"

    async def send(self, address: str, message: Message) -> Delivery:
        key = token_from(address, query_key="key")
        parts = numbered(message.title, split_utf8(render_markdown(message), MAX_BYTES - RESERVE))
        for part in parts:
            await post_json(
                self.client,
                self.url,
                {"msgtype": "markdown", "markdown": {"content": part}},
                CODES,
                params={"key": key},
            )
        return Delivery(
            channel=self.kind,
            address=address,
            detail=f"{len(parts)} parts" if len(parts) > 1 else "",
        )
