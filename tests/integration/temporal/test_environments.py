"""The session's Temporal fixtures: the time-skipping server skips a long timer at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

pytestmark = [pytest.mark.temporal, pytest.mark.asyncio(loop_scope="session")]


@workflow.defn
class WaitThreeDays:
    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(timedelta(days=3).total_seconds())
        return "done"


async def test_time_env_skips_timers(time_env: WorkflowEnvironment, task_queue: str) -> None:
    if not time_env.supports_time_skipping:
        pytest.skip("--workflow-environment chose a server without time skipping")
    started = time.monotonic()
    async with Worker(time_env.client, task_queue=task_queue, workflows=[WaitThreeDays]):
        result = await time_env.client.execute_workflow(
            WaitThreeDays.run, id=f"wait-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "done"
    assert time.monotonic() - started < 30
