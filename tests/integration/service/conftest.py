"""The running stack every service test takes (see :mod:`tests.integration.service.stack`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.integration.service.stack import Stack, running_stack


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Stack]:
    async with running_stack(dev_env, task_queue, tmp_path) as running:
        yield running
