"""Orchestration: plain jobs (:mod:`flows.jobs`), their Prefect flows and deployments, the runners.

:mod:`flows.jobs` imports no Prefect: the embedded runner and the simulator use it without
paying Prefect's import. :mod:`flows.prefect_flows` wraps the same jobs as async flows;
:mod:`flows.deployments` registers them for the scaled topology.
"""
