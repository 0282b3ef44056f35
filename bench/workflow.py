"""Workflow benchmark: licence cases driven to issuance per second on the Temporal dev server.

Two runs on one dev server, in the same process and the same way:

* **dozvil** — the real worker (``worker.build_worker``): every transition appended to a SQLite
  ledger (WAL, ``synchronous=FULL``) and every payload encrypted by the codec;
* **bare** — the very same ``LicenceCase`` workflow, updates, statements and timers, with
  activities of the same names that keep nothing (no ledger) and a client without the codec.

Each case: start, request and provide information, completeness, screening, four signed agency
findings, approval, countersignature, issuance and its licence document. The figure is cases
completed per second with ``--concurrency`` cases in flight; the target is >= 0.8x the bare rate.

    .venv/bin/python bench/workflow.py [--cases 200] [--concurrency 20]
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run as a script: the repository root first on sys.path
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import asyncio
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as dozvil_worker
from activities.ledger import register_exporter
from ledger.entry import Actor as LedgerActor
from ledger.keys import ACTOR_KEY_REGISTER, register_data
from ledger.note import Signer
from ledger.statements import sign_statement
from ledger.store.sql import AppendRequest, SqlLedger
from runtime.codec import data_converter
from runtime.settings import Settings
from workflows import search_attributes
from workflows.licence_case import LicenceCase
from workflows.models import (
    Action,
    Actor,
    AppendInput,
    Application,
    CaseStart,
    Goods,
    LicenceDocument,
    LicenceInput,
    LicenceKind,
    Party,
    PartyRole,
    Procedure,
    Recorded,
    ScreeningInput,
    ScreeningResult,
)

ORIGIN = "dozvil.bench/ledger"
EXPORTER = "bench-exporter"
OFFICER = Actor(id="officer-1", role="licensing_officer")
APPLICANT = Actor(id="applicant-1", role="applicant")
SIGNERS = {
    "security_finding": ("sbu", "security_service"),
    "defence_finding": ("mod-ua", "ministry_of_defence"),
    "foreign_affairs_finding": ("mfa-ua", "ministry_of_foreign_affairs"),
    "euc_authenticated": ("euc-pl", "importing_state_authority"),
    "approve": ("official-a", "signing_official"),
    "countersign": ("official-b", "signing_official"),
}
APPLICATION = Application(
    exporter_id=EXPORTER,
    procedure=Procedure.MILITARY,
    kind=LicenceKind.INDIVIDUAL,
    goods=[
        Goods(
            rating="ML10",
            description="БПЛА",
            quantity=40,
            unit="pcs",
            value=Decimal("1200000.00"),
            currency="EUR",
        )
    ],
    parties=[Party(role=PartyRole.END_USER, name="Armed Forces", country="PL")],
    end_use="armed forces",
    destination="PL",
    euc_reference="EUC-1",
    euc_sha256="ab" * 32,
)


class BareActivities:
    """The workflow's activities by name, keeping nothing: the baseline's."""

    def __init__(self) -> None:
        self._seq = 0

    @activity.defn(name="ledger.append")
    async def append(self, request: AppendInput) -> Recorded:
        self._seq += 1
        return Recorded(
            seq=self._seq,
            event=request.event,
            from_state=request.from_state,
            to_state=request.to_state,
            actor=request.actor,
            time=datetime.now(UTC).isoformat(),
            checkpoint_size=self._seq + 1,
        )

    @activity.defn(name="exporter.registered")
    async def exporter_registered(self, exporter_id: str) -> bool:
        return True

    @activity.defn(name="screening.screen")
    async def screen(self, request: ScreeningInput) -> ScreeningResult:
        return ScreeningResult(flags=[], lists=[])

    @activity.defn(name="licence.document")
    async def licence_document(self, licence: LicenceInput) -> LicenceDocument:
        return LicenceDocument(licence_number=f"L-{licence.case_id}", receipt={})


async def drive(client: Client, task_queue: str, keys: dict[str, Ed25519PrivateKey]) -> None:
    """One case from application to issued licence."""
    case_id = f"B-{uuid.uuid4().hex[:12]}"
    start = CaseStart(case_id=case_id, applicant=APPLICANT, application=APPLICATION)
    handle = await client.start_workflow(LicenceCase.run, start, id=case_id, task_queue=task_queue)
    for event, actor, data in (
        ("request_information", OFFICER, {"missing": ["EUC annex"]}),
        ("provide_information", APPLICANT, {}),
        ("accept_complete", OFFICER, {}),
    ):
        await handle.execute_update(LicenceCase.act, Action(event=event, actor=actor, data=data))
    while await handle.query(LicenceCase.state) != "in_review":
        await asyncio.sleep(0.01)
    for event, (issuer, role) in SIGNERS.items():
        finding = {"opinion": "no_objection"} if event.endswith(("finding", "ed")) else {}
        statement = sign_statement(
            keys[issuer],
            issuer=issuer,
            case_id=case_id,
            step=event,
            finding=finding or {"decision": event},
            time=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )
        action = Action(event=event, actor=Actor(id=issuer, role=role), statement=statement)
        await handle.execute_update(LicenceCase.act, action)
    # The countersignature's update issues the licence before it returns; the case lives on
    # (shipments, expiry), but for the bench it is done.
    state = await handle.query(LicenceCase.state)
    if state != "issued":
        raise RuntimeError(f"{case_id} is {state}, not issued")


async def timed(cases: int, concurrency: int, run_one: Callable[[], Awaitable[None]]) -> float:
    """Cases per second with ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run_one()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(cases)))
    return cases / (time.perf_counter() - started)


def authority(folder: Path) -> tuple[SqlLedger, Settings, dict[str, Ed25519PrivateKey]]:
    signer = Signer.generate(ORIGIN)
    settings = Settings(data_dir=folder, log_origin=ORIGIN, embargoed_destinations="KP")
    ledger = SqlLedger.open(settings.ledger_url, signer)
    ledger.init(ORIGIN)
    registrar = LedgerActor("registrar-1", "registrar")
    register_exporter(ledger, EXPORTER, registrar)
    keys = {issuer: Ed25519PrivateKey.generate() for issuer, _ in SIGNERS.values()}
    ledger.append_batch(
        [
            AppendRequest(
                idempotency_key=f"register/{issuer}",
                case_id=None,
                event=ACTOR_KEY_REGISTER,
                actor=registrar,
                data=register_data(issuer, role, keys[issuer].public_key()),
            )
            for issuer, role in SIGNERS.values()
        ]
    )
    return ledger, settings, keys


async def main_async(cases: int, concurrency: int) -> None:
    temporal = Path(sys.executable).parent / "temporal"
    with (
        tempfile.TemporaryDirectory(prefix="dozvil-bench-") as tmp,
        (Path(tmp) / "worker.log").open("w") as log_file,
    ):
        # The worker logs as in production (JSON lines), to a file rather than the terminal.
        dozvil_worker.configure_logging(json_lines=True, stream=log_file)
        ledger, settings, keys = authority(Path(tmp))
        env = await WorkflowEnvironment.start_local(
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=str(temporal),
            dev_server_startup_timeout=timedelta(seconds=60),
        )
        try:
            target, namespace = env.client.service_client.config.target_host, env.client.namespace
            # The same pydantic payload converter for both; only dozvil's has the codec.
            plain = await Client.connect(
                target, namespace=namespace, data_converter=pydantic_data_converter
            )
            coded = await Client.connect(
                target, namespace=namespace, data_converter=data_converter(settings)
            )
            rates: dict[str, float] = {}
            warm = max(2, concurrency // 4)
            for name in ("bare", "dozvil", "bare", "dozvil"):  # interleaved: same conditions
                queue = f"bench-{name}-{uuid.uuid4().hex[:8]}"
                client = coded if name == "dozvil" else plain
                if name == "dozvil":
                    worker = dozvil_worker.build_worker(coded, settings, ledger, task_queue=queue)
                else:
                    bare = BareActivities()
                    worker = Worker(
                        plain,
                        task_queue=queue,
                        workflows=[LicenceCase],
                        activities=[
                            bare.append,
                            bare.exporter_registered,
                            bare.screen,
                            bare.licence_document,
                        ],
                    )
                run_one = partial(drive, client, queue, keys)
                async with worker:
                    await timed(warm, concurrency, run_one)
                    cpu = time.process_time()
                    rate = await timed(cases, concurrency, run_one)
                    cpu_ms = (time.process_time() - cpu) / cases * 1000
                rates[name] = max(rates.get(name, 0.0), rate)
                print(
                    f"  {name}: {rate:,.1f} cases/s; this process (client and worker) "
                    f"{cpu_ms:,.0f} ms CPU a case",
                    flush=True,
                )
        finally:
            await env.shutdown()
            ledger.engine.dispose()
    ratio = rates["dozvil"] / rates["bare"]
    verdict = "PASS" if ratio >= 0.8 else "MISS"
    print(f"machine: nproc={os.cpu_count()}, python {platform.python_version()}")
    print(f"command: bench/workflow.py --cases {cases} --concurrency {concurrency}")
    print("figure | ledger | baseline | ratio | target | result")
    print(
        f"cases to issuance/s, dev server | {rates['dozvil']:,.1f} | {rates['bare']:,.1f} "
        f"(bare: no ledger, no codec) | {ratio:.2f}x | >= 0.80x | {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per measured run")
    parser.add_argument("--concurrency", type=int, default=20, help="cases in flight")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.cases, args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
