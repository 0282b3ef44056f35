"""Record the Temporal histories that ``test_replay.py`` replays, so that a change to the
workflow code that would break a case already running fails the suite.

    .venv/bin/python -m tests.integration.workflows.record_histories

Runs each scenario on a fresh dev server with a real ledger and writes its history to
``histories/<scenario>.json``. Payloads are recorded without the codec (test data only), so the
replay needs no key. Re-record only for a deliberate, versioned change (``workflow.patched``):
the committed histories are what running cases look like.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.integration.workflows.harness import APPLICANT, OFFICER, Authority, Case
from tests.temporal_env import start_dev_server
from workflows.licence_case import LicenceCase

HISTORIES = Path(__file__).resolve().parent / "histories"


async def issued(case: Case) -> None:
    await case.act("request_information", OFFICER, data={"missing": ["EUC annex"]})
    await case.act("provide_information", APPLICANT)
    await case.act("accept_complete", OFFICER)
    while await case.handle.query(LicenceCase.state) != "in_review":
        await asyncio.sleep(0.05)
    await case.findings()
    await case.signed("approve", "official-a", {"decision": "approve"})
    await case.signed("countersign", "official-b", {"decision": "countersign"})


async def refused_after_disagreement(case: Case) -> None:
    await case.act("accept_complete", OFFICER)
    while await case.handle.query(LicenceCase.state) != "in_review":
        await asyncio.sleep(0.05)
    await case.findings({"defence_finding": "objection"})
    await case.signed("collegial_resolution", "collegium", {"resolution": "refuse"})
    await case.signed("refuse", "official-a", {"decision": "refuse"}, {"criteria": ["EU-CP-1"]})
    await case.signed("countersign", "official-b", {"decision": "countersign"})


async def withdrawn(case: Case) -> None:
    await case.act("withdraw", APPLICANT, data={"reason": "contract cancelled"})


SCENARIOS: dict[str, Callable[[Case], Awaitable[None]]] = {
    "issued": issued,
    "refused_after_disagreement": refused_after_disagreement,
    "withdrawn": withdrawn,
}


async def record() -> None:
    HISTORIES.mkdir(exist_ok=True)
    env: WorkflowEnvironment = await start_dev_server(pydantic_data_converter)
    try:
        for name, scenario in SCENARIOS.items():
            with tempfile.TemporaryDirectory() as tmp:
                authority = Authority.create(Path(tmp))
                queue = f"record-{name}"
                async with authority.worker(env, queue) as client:
                    assert isinstance(client, Client)
                    case = await authority.start(client, queue)
                    await scenario(case)
                    await case.handle.result()
                    history = await case.handle.fetch_history()
                authority.ledger.engine.dispose()
            (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
            print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
