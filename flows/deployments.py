"""The Prefect deployments of the scaled topology: which flow, which schedule, which work pool.

``gongkai deploy`` registers :data:`DEPLOYMENTS` with :func:`register`; ``deploy/prefect.yaml``
describes the same list for ``prefect deploy --all`` (a test keeps the two equal). Schedules
are cron expressions in the agency's zone (Asia/Shanghai by default). Entrypoints are module
paths (``flows.prefect_flows.sweep_flow``): a process worker imports the installed gongkai
package, so nothing is pulled, built or pushed.

In this topology Prefect owns every schedule and ``gongkai serve --orchestrator prefect``
starts no APScheduler jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import (
    ConcurrencyLimitConfig,
    ConcurrencyLimitStrategy,
    WorkPool,
)
from prefect.deployments.runner import EntrypointType
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron

from flows.errors import FlowError
from flows.prefect_flows import (
    bulletin_flow,
    deliver_flow,
    intake_flow,
    spawn_flow,
    sweep_flow,
    year_report_flow,
)

DEFAULT_WORK_POOL = "gongkai"
DEPLOYMENT_NAME = "gongkai"
DEFAULT_TIMEZONE = "Asia/Shanghai"
TAGS = ("gongkai",)
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: a flow, its cron schedule (None: run on demand), its parameters.

    ``single``: at most one run at a time; a run due while the previous one still works is
    cancelled (the next tick catches up), which also keeps one Telegram sender at a time.
    """

    flow: Flow[Any, Any]
    cron: str | None
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    single: bool = False

    @property
    def full_name(self) -> str:
        """``flow/deployment``, as ``run_deployment`` and ``prefect deployment run`` take it."""
        return f"{self.flow.name}/{DEPLOYMENT_NAME}"

    @property
    def entrypoint(self) -> str:
        return f"{self.flow.fn.__module__}.{self.flow.fn.__name__}"


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        spawn_flow, "0 1 * * *", "每日 01:00 生成周期任务 Daily spawn of recurring tasks"
    ),
    DeploymentSpec(
        sweep_flow,
        "* * * * *",
        "每分钟巡检并发送提醒 Sweep due tasks and deliver digests every minute",
        {"deliver": True},
        single=True,
    ),
    DeploymentSpec(
        deliver_flow, None, "按需发送 Delivery pass on demand (the sweep delivers every minute)"
    ),
    DeploymentSpec(
        intake_flow, None, "登记事件 Record an event: run_deployment with an idempotency key"
    ),
    DeploymentSpec(
        bulletin_flow, "0 8 1 * *", "每月1日 08:00 月度通报 Monthly bulletin of the month before"
    ),
    DeploymentSpec(
        year_report_flow, "0 8 2 1 *", "每年1月2日 08:00 年度报告统计 Annual report statistics"
    ),
)


def by_flow_name(name: str) -> DeploymentSpec:
    for spec in DEPLOYMENTS:
        if spec.flow.name == name:
            return spec
    known = ", ".join(spec.flow.name for spec in DEPLOYMENTS)
    raise FlowError(f"no deployment for flow {name!r}; known: {known}")


async def ensure_work_pool(name: str) -> WorkPool:
    """The process work pool ``name``, created when missing (another type is refused)."""
    async with get_client() as client:
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            pool = await client.read_work_pool(name)
    if pool.type != "process":
        raise FlowError(f"work pool {name!r} has type {pool.type!r}; gongkai needs a process pool")
    return pool


@dataclass(frozen=True)
class Registered:
    """A deployment as registered: its id, name, entrypoint and schedule."""

    id: UUID
    name: str
    entrypoint: str
    cron: str | None
    timezone: str


async def register(
    *,
    work_pool: str = DEFAULT_WORK_POOL,
    timezone: str = DEFAULT_TIMEZONE,
    paused: bool = False,
) -> list[Registered]:
    """Create or update every deployment on the Prefect API in ``PREFECT_API_URL``."""
    await ensure_work_pool(work_pool)
    registered: list[Registered] = []
    for spec in DEPLOYMENTS:
        deployment = await spec.flow.ato_deployment(
            name=DEPLOYMENT_NAME,
            schedules=[Cron(spec.cron, timezone=timezone)] if spec.cron else [],
            parameters=dict(spec.parameters),
            description=spec.description,
            tags=list(TAGS),
            paused=paused,
            concurrency_limit=ONE_AT_A_TIME if spec.single else None,
            work_pool_name=work_pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        deployment_id = await deployment.aapply(work_pool_name=work_pool)
        registered.append(
            Registered(deployment_id, spec.full_name, spec.entrypoint, spec.cron, timezone)
        )
    return registered
