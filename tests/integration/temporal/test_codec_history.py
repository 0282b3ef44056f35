"""What Temporal stores is ciphertext: a workflow's history holds none of its case data.

A tiny workflow takes a pydantic model carrying a distinctive string, hands it to an activity
(whose first attempt fails with the string in its message) and returns it. Its history, read by
a client without the codec as Temporal's UI and CLI read it, must not hold the string anywhere:
not in the JSON, not in the raw protobuf bytes (where an unencrypted payload would show it
verbatim, whereas the JSON shows payload data in base64). The same run without the codec shows
the string in both, so the check does find plaintext when there is some.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from runtime.codec import ENCODING
    from tests.temporal_env import plain_client

pytestmark = [pytest.mark.temporal, pytest.mark.asyncio(loop_scope="session")]

SECRET = "Ukroboronprom-SECRET-42"


class Consignment(BaseModel):
    end_user: str
    quantity: int


@activity.defn
async def screen_end_user(consignment: Consignment) -> Consignment:
    if activity.info().attempt == 1:  # the history keeps this failure as the last one
        raise ApplicationError(f"end user {consignment.end_user} is not screened yet")
    return consignment.model_copy(update={"quantity": consignment.quantity + 1})


@workflow.defn(sandboxed=True)
class ScreenWorkflow:
    @workflow.run
    async def run(self, consignment: Consignment) -> Consignment:
        return await workflow.execute_activity(
            screen_end_user,
            consignment,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )


async def run_and_fetch(client: Client, task_queue: str) -> tuple[Consignment, WorkflowHistory]:
    async with Worker(
        client, task_queue=task_queue, workflows=[ScreenWorkflow], activities=[screen_end_user]
    ):
        handle = await client.start_workflow(
            ScreenWorkflow.run,
            Consignment(end_user=SECRET, quantity=12),
            id=f"codec-history-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )
        result = await handle.result()
    history = await plain_client(client).get_workflow_handle(handle.id).fetch_history()
    return result, history


def records_last_failure(history: WorkflowHistory) -> bool:
    return any(
        e.activity_task_started_event_attributes.HasField("last_failure") for e in history.events
    )


def raw_bytes(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


async def test_history_holds_no_plaintext(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    result, history = await run_and_fetch(dev_env.client, task_queue)
    assert result == Consignment(end_user=SECRET, quantity=13)

    assert SECRET not in history.to_json()
    assert SECRET.encode() not in raw_bytes(history)
    assert raw_bytes(history).count(ENCODING) >= 4  # input, activity input and result, result
    if not dev_env.supports_time_skipping:  # Temporal keeps the failed attempt's message
        assert records_last_failure(history)

    # The codec client reads the result back; a client without it cannot.
    handle_id = history.workflow_id
    handle = dev_env.client.get_workflow_handle(handle_id, result_type=Consignment)
    assert await handle.result() == result
    with pytest.raises(Exception, match="binary/encrypted"):
        await plain_client(dev_env.client).get_workflow_handle(handle_id).result()


async def test_without_the_codec_the_check_finds_plaintext(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    _, history = await run_and_fetch(client, task_queue)
    assert SECRET.encode() in raw_bytes(history)  # the payloads
    if records_last_failure(history):  # the dev server does, the time-skipping server does not
        assert SECRET in history.to_json()  # the failure message
