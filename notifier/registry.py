"""The channels mapping the deliver step uses, built from explicit values.

The composition root (``gongkai``) reads its settings and calls :func:`build_channels`;
nothing here reads settings or the environment. The result is a read-only mapping of
channel kind → channel that also owns the HTTP clients it created: close it with
``await channels.aclose()`` (or ``async with``).

Which channels exist:

- ``console`` always (the outbox and delivery tables are the record; STYLE.md 6);
- ``wecom``, ``dingtalk``, ``feishu`` always: a robot needs no installation-wide secret,
  only its key in the person's address (and, for signed robots, a secret by key);
- ``telegram`` when a bot token is given;
- ``email`` when an SMTP host is given.

A person whose address names a channel that is not configured is reached on their next
address (the deliver step skips kinds missing from the mapping).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType

import httpx

from notifier.base import Channel
from notifier.channels.console import ConsoleChannel
from notifier.channels.dingtalk import DEFAULT_BASE_URL as DINGTALK_URL
from notifier.channels.dingtalk import DingTalkChannel
from notifier.channels.email import EmailChannel
from notifier.channels.feishu import DEFAULT_BASE_URL as FEISHU_URL
from notifier.channels.feishu import FeishuChannel
from notifier.channels.telegram import TelegramChannel, make_bot
from notifier.channels.wecom import DEFAULT_BASE_URL as WECOM_URL
from notifier.channels.wecom import WeComChannel
from notifier.ratelimit import RateLimiter

#: Every kind gongkai knows, with its Chinese name (for the dashboard and messages).
KINDS: dict[str, str] = {
    "telegram": "Telegram",
    "wecom": "企业微信",
    "dingtalk": "钉钉",
    "feishu": "飞书",
    "email": "电子邮件",
    "console": "控制台",
}

#: Webhook robots answer within a few seconds or not at all.
ROBOT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class Channels(Mapping[str, Channel]):
    """Channel kind → channel, plus the resources to close when done."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        clients: tuple[httpx.AsyncClient, ...] = (),
        telegram: TelegramChannel | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._clients = clients
        self._telegram = telegram

    def __getitem__(self, kind: str) -> Channel:
        return self._channels[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        if self._telegram is not None:
            await self._telegram.aclose()

    async def __aenter__(self) -> Channels:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def build_channels(
    *,
    telegram_token: str | None = None,
    telegram_base_url: str | None = None,
    telegram_rate_per_second: float = 25.0,
    telegram_limiter: RateLimiter | None = None,
    wecom_base_url: str = WECOM_URL,
    dingtalk_base_url: str = DINGTALK_URL,
    dingtalk_secrets: Mapping[str, str] | None = None,
    feishu_base_url: str = FEISHU_URL,
    feishu_secrets: Mapping[str, str] | None = None,
    smtp_host: str | None = None,
    smtp_port: int = 25,
    smtp_user: str | None = None,
    smtp_password: str | None = None,
    smtp_sender: str = "gongkai@localhost",
    smtp_starttls: bool = False,
    smtp_ssl: bool = False,
    smtp_local_hostname: str | None = None,
    http_client: httpx.AsyncClient | None = None,
    console: ConsoleChannel | None = None,
) -> Channels:
    """Every configured channel (see the module docstring for which ones exist).

    ``telegram_limiter`` lets the interactive bot share the digests' rate budget (one bot
    token, one budget); without it a limiter at ``telegram_rate_per_second`` is made.
    ``http_client`` is used by the robots when given (and then not closed here).
    """
    owned: tuple[httpx.AsyncClient, ...] = ()
    if http_client is None:
        http_client = httpx.AsyncClient(timeout=ROBOT_TIMEOUT, follow_redirects=False)
        owned = (http_client,)
    channels: dict[str, Channel] = {
        "console": console or ConsoleChannel(),
        "wecom": WeComChannel(http_client, base_url=wecom_base_url),
        "dingtalk": DingTalkChannel(
            http_client, base_url=dingtalk_base_url, secrets=dingtalk_secrets
        ),
        "feishu": FeishuChannel(http_client, base_url=feishu_base_url, secrets=feishu_secrets),
    }
    telegram: TelegramChannel | None = None
    if telegram_token:
        limiter = telegram_limiter or RateLimiter(telegram_rate_per_second)
        telegram = TelegramChannel(
            make_bot(telegram_token, base_url=telegram_base_url), limiter=limiter
        )
        channels["telegram"] = telegram
    if smtp_host:
        channels["email"] = EmailChannel(
            host=smtp_host,
            port=smtp_port,
            sender=smtp_sender,
            user=smtp_user,
            password=smtp_password,
            starttls=smtp_starttls,
            use_ssl=smtp_ssl,
            local_hostname=smtp_local_hostname,
        )
    return Channels(channels, clients=owned, telegram=telegram)
