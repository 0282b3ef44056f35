"""The worker killed with SIGKILL at random moments while 20 cases run, and restarted: every
case still ends issued, the ledger verifies, and each transition is in it exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ledger.verify import verify_log
from tests.integration.workflows.harness import AGENCY_FOR, APPLICANT, OFFICER, Authority, Case
from workflows.licence_case import LicenceCase
from workflows.models import Action, Actor

REPO = Path(__file__).resolve().parents[3]
CASES = 20
KILLS = 5  # each costs the cases in flight an activity timeout (10 s)


class Worker:
    """``python -m worker`` in a process of its own, killed and restarted at will."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker"], cwd=REPO, env=self.env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


async def act(case: Case, n: int, action: Action) -> None:
    """An update with a stable id (the server runs it once), retried while no worker runs."""
    for _ in range(600):
        try:
            await case.handle.execute_update(LicenceCase.act, action, id=f"{case.case_id}/{n}")
            return
        except RPCError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{case.case_id}: update {n} never ran")


async def until_state(handle: WorkflowHandle[LicenceCase, object], state: str) -> None:
    for _ in range(1200):
        try:
            if await handle.query(LicenceCase.state) == state:
                return
        except RPCError:
            pass  # no worker to answer right now
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} never reached {state}")


async def drive(case: Case) -> None:
    """One case from application to issued licence, as its people and services would."""
    steps: list[Action] = [
        Action(event="request_information", actor=OFFICER, data={"missing": ["EUC"]}),
        Action(event="provide_information", actor=APPLICANT),
        Action(event="accept_complete", actor=OFFICER),
    ]
    for n, action in enumerate(steps):
        await act(case, n, action)
    await until_state(case.handle, "in_review")
    signed = [(event, agency, {"opinion": "no_objection"}) for event, agency in AGENCY_FOR.items()]
    signed += [
        ("approve", "official-a", {"decision": "approve"}),
        ("countersign", "official-b", {"decision": "countersign"}),
    ]
    for n, (event, issuer, finding) in enumerate(signed, start=len(steps)):
        role = "signing_official" if issuer.startswith("official") else AGENCY_ROLE[issuer]
        statement = case.statement(issuer, event, finding)
        actor = Actor(id=issuer, role=role)
        await act(case, n, Action(event=event, actor=actor, statement=statement))
    await until_state(case.handle, "issued")


AGENCY_ROLE = {
    "sbu": "security_service",
    "mod-ua": "ministry_of_defence",
    "mfa-ua": "ministry_of_foreign_affairs",
    "euc-pl": "importing_state_authority",
}


@pytest.mark.slow
async def test_killing_the_worker_loses_and_repeats_nothing(
    dev_env: WorkflowEnvironment, task_queue: str, payload_keys_file: Path, tmp_path: Path
) -> None:
    authority = Authority.create(tmp_path)
    env = {
        **os.environ,
        "DOZVIL_DATA_DIR": str(tmp_path),
        "DOZVIL_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DOZVIL_TASK_QUEUE": task_queue,
        "DOZVIL_PAYLOAD_KEYS": str(payload_keys_file),
        "DOZVIL_SCREENING_LISTS": authority.settings.screening_lists,
        "DOZVIL_EMBARGOED_DESTINATIONS": authority.settings.embargoed_destinations,
        "DOZVIL_LOG_FORMAT": "json",
    }
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    rng = random.Random(20261125)
    cases = [await authority.start(dev_env.client, task_queue) for _ in range(CASES)]
    driving = asyncio.gather(*(drive(c) for c in cases))
    try:
        for _ in range(KILLS):
            await asyncio.wait([driving], timeout=rng.uniform(0.5, 2.0))
            if driving.done():
                break
            worker.kill()  # SIGKILL: mid-activity, mid-task, mid-append
            worker.start()
        await driving
    finally:
        code = worker.stop()
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert worker.kills >= 3, "the cases finished before the worker was killed often enough"

    # Every log line about a case names it; every case's transitions were logged.
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]
    about_cases = [line for line in lines if "seq" in line or "case_id" in line]
    assert about_cases and all(line.get("case_id") for line in about_cases)
    assert {line["case_id"] for line in about_cases} >= {case.case_id for case in cases}

    ledger = authority.ledger
    verify_log(ledger, authority.signer.verifier.vkey)
    for case in cases:
        entries = [ledger.entry(s) for s in ledger.case_seqs(case.case_id)]
        counts = Counter(e.event for e in entries)
        assert entries[-1].event == "licence_issued", case.case_id
        repeated = {event: n for event, n in counts.items() if n > 1}
        assert repeated == {}, f"{case.case_id}: recorded more than once: {repeated}"
        keys = [e.idempotency_key for e in entries]
        assert keys == [f"{case.case_id}/{i}" for i in range(1, len(keys) + 1)]
