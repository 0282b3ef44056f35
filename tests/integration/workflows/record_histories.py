"""Record the Temporal histories that ``test_replay.py`` replays, so that a change to the
workflow code that would break a case already running fails the suite.

    .venv/bin/python -m tests.integration.workflows.record_histories [NAME ...] [--force]

Runs each scenario on a fresh dev server with a real ledger and writes its history to
``histories/<scenario>.json``. Payloads are recorded without the codec (test data only), so the
replay needs no key. Re-record only for a deliberate, versioned change (``workflow.patched``):
the committed histories are what running cases look like.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.integration.workflows.harness import APPLICANT, OFFICER, Authority, Case
from tests.temporal_env import start_dev_server

HISTORIES = Path(__file__).resolve().parent / "histories"


async def issued(case: Case) -> str:
    await case.act("request_information", OFFICER, data={"missing": ["EUC annex"]})
    await case.act("provide_information", APPLICANT)
    await case.issue()
    return "issued"


async def refused_after_disagreement(case: Case) -> str:
    await case.act("accept_complete", OFFICER)
    await case.until("in_review")
    await case.findings({"defence_finding": "objection"})
    await case.signed("collegial_resolution", "collegium", {"resolution": "refuse"})
    await case.signed("refuse", "official-a", {"decision": "refuse"}, {"criteria": ["EU-CP-1"]})
    await case.signed("countersign", "official-b", {"decision": "countersign"})
    return "refused"


async def withdrawn(case: Case) -> str:
    await case.act("withdraw", APPLICANT, data={"reason": "contract cancelled"})
    return "withdrawn"


async def licence_in_use(case: Case) -> str:
    """post-issuance-v1: shipments, a delivery verified, suspended and reinstated."""
    await case.issue()
    await case.ship("S-1", [{"line": 1, "quantity": 10, "value": "300000.00"}])
    await case.verify_delivery("S-1")
    await case.signed("suspend", "official-a", {"decision": "suspend"}, {"reason": "defence"})
    await case.signed("reinstate", "official-b", {"decision": "reinstate"})
    await case.ship("S-2", [{"line": 1, "quantity": 5, "value": "150000.00"}])
    return "issued"


async def appealed(case: Case) -> str:
    """post-issuance-v1: a refusal appealed, approved and issued."""
    await refused_after_disagreement(case)
    await case.until("refused")
    await case.act("appeal", APPLICANT, data={"grounds": "new end-user certificate"})
    await case.signed("approve", "official-a", {"decision": "approve"})
    await case.signed("countersign", "official-b", {"decision": "countersign"})
    return "issued"


#: Each scenario drives a case and says the state to wait for. The histories ``issued`` and
#: ``refused_after_disagreement`` were recorded before ``post-issuance-v1`` (those cases ended
#: at issuance or refusal) and must not be recorded again: they stand for cases still running
#: under the old code. The recorder writes only histories that are missing, unless forced.
SCENARIOS: dict[str, Callable[[Case], Awaitable[str]]] = {
    "issued": issued,
    "refused_after_disagreement": refused_after_disagreement,
    "withdrawn": withdrawn,
    "v2_licence_in_use": licence_in_use,
    "v2_appealed": appealed,
}


async def record(names: list[str], force: bool) -> None:
    HISTORIES.mkdir(exist_ok=True)
    env: WorkflowEnvironment = await start_dev_server(pydantic_data_converter)
    try:
        for name in names:
            target = HISTORIES / f"{name}.json"
            if target.exists() and not force:
                print(f"kept {name}: already recorded (--force to record it again)")
                continue
            with tempfile.TemporaryDirectory() as tmp:
                authority = Authority.create(Path(tmp))
                queue = f"record-{name}"
                async with authority.worker(env, queue) as client:
                    assert isinstance(client, Client)
                    case = await authority.start(client, queue)
                    state = await SCENARIOS[name](case)
                    await case.until(state)
                    history = await case.handle.fetch_history()
                authority.ledger.engine.dispose()
            target.write_text(history.to_json(), encoding="utf-8")
            print(f"recorded {name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    force = "--force" in args
    chosen = [a for a in args if a != "--force"] or list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        sys.exit(f"unknown scenarios {unknown}; known: {sorted(SCENARIOS)}")
    asyncio.run(record(chosen, force))
