"""A licence case under test: a real ledger (SQLite in a tmp dir), registered exporter and actor
keys, a worker on the given Temporal environment, and the people and services who act, each
signing with its own key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

import worker as dozvil_worker
from activities.ledger import register_exporter
from ledger.canonical import canonicalize
from ledger.entry import Actor as LedgerActor
from ledger.keys import ACTOR_KEY_REGISTER, register_data
from ledger.note import Signer
from ledger.statements import sign_statement
from ledger.store.sql import AppendRequest, SqlLedger
from runtime.settings import Settings
from service.case_config import case_config
from workflows.licence_case import LicenceCase
from workflows.lifecycle import Role
from workflows.models import (
    Action,
    Actor,
    Application,
    CaseConfig,
    CaseStart,
    CaseView,
    Goods,
    LicenceKind,
    Party,
    PartyRole,
    Procedure,
    Recorded,
)

ORIGIN = "dozvil.test/ledger"
EXPORTER = "motor-ua-001"
APPLICANT = Actor(id="applicant-1", role=Role.APPLICANT)
OFFICER = Actor(id="officer-1", role=Role.LICENSING_OFFICER)
SIGNERS: dict[str, Role] = {
    "sbu": Role.SECURITY_SERVICE,
    "mod-ua": Role.MINISTRY_OF_DEFENCE,
    "mfa-ua": Role.MINISTRY_OF_FOREIGN_AFFAIRS,
    "euc-pl": Role.IMPORTING_STATE_AUTHORITY,
    "collegium": Role.COLLEGIAL_BODY,
    "official-a": Role.SIGNING_OFFICIAL,
    "official-b": Role.SIGNING_OFFICIAL,
    "customs-ua": Role.CUSTOMS,
}
AGENCY_FOR = {
    "security_finding": "sbu",
    "defence_finding": "mod-ua",
    "foreign_affairs_finding": "mfa-ua",
    "euc_authenticated": "euc-pl",
}


def application(*, end_user: str = "Polish Armed Forces", destination: str = "PL") -> Application:
    return Application(
        exporter_id=EXPORTER,
        procedure=Procedure.MILITARY,
        kind=LicenceKind.INDIVIDUAL,
        goods=[
            Goods(
                rating="ML10",
                description="Ударний БПЛА «Лютий»",
                quantity=40,
                unit="pcs",
                value=Decimal("1200000.00"),
                currency="EUR",
            )
        ],
        parties=[
            Party(role=PartyRole.CONSIGNEE, name="Agencja Uzbrojenia", country="PL"),
            Party(role=PartyRole.END_USER, name=end_user, country=destination),
        ],
        end_use="Обладнання для збройних сил держави-отримувача",
        destination=destination,
        euc_reference="EUC-PL-2026-0042",
        euc_sha256="ab" * 32,
    )


@dataclass
class Case:
    """One case and everyone who acts on it."""

    handle: WorkflowHandle[LicenceCase, Any]
    case_id: str
    keys: dict[str, Ed25519PrivateKey]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def statement(self, issuer: str, step: str, finding: dict[str, Any]) -> dict[str, Any]:
        return sign_statement(
            self.keys[issuer],
            issuer=issuer,
            case_id=self.case_id,
            step=step,
            finding=finding,
            time=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )

    async def act(
        self,
        event: str,
        actor: Actor,
        *,
        statement: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        confidential: dict[str, Any] | None = None,
    ) -> Recorded:
        action = Action(
            event=event,
            actor=actor,
            statement=statement,
            data=data or {},
            confidential=confidential or {},
        )
        return await self.handle.execute_update(LicenceCase.act, action)

    async def signed(
        self,
        event: str,
        issuer: str,
        finding: dict[str, Any],
        data: dict[str, Any] | None = None,
        confidential: dict[str, Any] | None = None,
    ) -> Recorded:
        actor = Actor(id=issuer, role=SIGNERS[issuer])
        return await self.act(
            event,
            actor,
            statement=self.statement(issuer, event, finding),
            data=data,
            confidential=confidential,
        )

    async def ship(self, shipment_id: str, lines: list[dict[str, Any]]) -> Recorded:
        """Customs record a shipment: the lines travel confidential, their hash signed."""
        digest = hashlib.sha256(canonicalize(lines)).hexdigest()
        finding = {"shipment_id": shipment_id, "declaration": f"UA-CD-{shipment_id}"}
        return await self.signed(
            "shipment_recorded",
            "customs-ua",
            {**finding, "lines_sha256": digest},
            confidential={"lines": lines},
        )

    async def verify_delivery(self, shipment_id: str) -> Recorded:
        return await self.signed(
            "delivery_verified", "euc-pl", {"shipment_id": shipment_id, "dvc": "DVC-PL-1"}
        )

    async def issue(self, conditions: dict[str, Any] | None = None) -> CaseView:
        """Through completeness, screening, the four findings and the decision to issuance."""
        await self.act("accept_complete", OFFICER)
        await self.until("in_review")
        await self.findings()
        data = {"conditions": conditions} if conditions else None
        await self.signed("approve", "official-a", {"decision": "approve"}, data=data)
        await self.signed("countersign", "official-b", {"decision": "countersign"})
        return await self.until("issued")

    async def until(self, state: str, seconds: float = 15) -> CaseView:
        """Wait until the case is in ``state`` (the workflow's own transitions take a moment);
        for ``issued``, until its licence document is made too."""
        for _ in range(int(seconds / 0.05)):
            view = await self.handle.query(LicenceCase.view)
            if view.state == state and (state != "issued" or view.licence_number):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"case {self.case_id} is {view.state}, not {state}")

    async def findings(self, opinions: dict[str, str] | None = None) -> None:
        for event, agency in AGENCY_FOR.items():
            opinion = (opinions or {}).get(event, "no_objection")
            await self.signed(event, agency, {"opinion": opinion})


@dataclass
class Authority:
    """The ledger, the keys and the worker settings of one test."""

    ledger: SqlLedger
    signer: Signer
    settings: Settings
    keys: dict[str, Ed25519PrivateKey]
    started: list[Case] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path, *, denied: list[str] | None = None) -> Authority:
        signer = Signer.generate(ORIGIN)
        key_file = folder / "log.key"
        key_file.write_text(signer.skey + "\n")
        key_file.chmod(0o600)
        lists: list[Path] = []
        if denied is not None:
            listed = folder / "denied.json"
            parties = [{"name": n, "country": "RU", "reason": "sanctioned"} for n in denied]
            document = {"source": "test-denied", "published": "2026-11-01", "parties": parties}
            listed.write_text(json.dumps(document, ensure_ascii=False))
            lists.append(listed)
        settings = Settings(
            data_dir=folder,
            log_origin=ORIGIN,
            screening_lists=",".join(str(p) for p in lists),
            embargoed_destinations="KP,IR",
        )
        ledger = SqlLedger.open(settings.ledger_url, signer)
        ledger.init(ORIGIN)
        registrar = LedgerActor("registrar-1", "registrar")
        register_exporter(ledger, EXPORTER, registrar)
        keys = {name: Ed25519PrivateKey.generate() for name in SIGNERS}
        ledger.append_batch(
            [
                AppendRequest(
                    idempotency_key=f"register/{name}",
                    case_id=None,
                    event=ACTOR_KEY_REGISTER,
                    actor=registrar,
                    data=register_data(name, role.value, keys[name].public_key()),
                )
                for name, role in SIGNERS.items()
            ]
        )
        return cls(ledger, signer, settings, keys)

    @asynccontextmanager
    async def worker(self, env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Client]:
        async with dozvil_worker.build_worker(
            env.client, self.settings, self.ledger, task_queue=task_queue
        ):
            try:
                yield env.client
            finally:
                await self._end_running()

    async def _end_running(self) -> None:
        """Terminate the cases a test leaves running (an issued licence lives for years): on
        the time-skipping server a timer of theirs firing with no worker would stop time."""
        for case in self.started:
            description = await case.handle.describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                await case.handle.terminate("the test is over")
        self.started.clear()

    async def start(
        self,
        client: Client,
        task_queue: str,
        *,
        app: Application | None = None,
        config: CaseConfig | None = None,
        publish: bool = True,
    ) -> Case:
        case_id = f"UA-2026-{uuid.uuid4().hex[:8]}"
        start = CaseStart(
            case_id=case_id,
            applicant=APPLICANT,
            application=app or application(),
            config=config or case_config(self.settings),
            publish_search_attributes=publish,
        )
        handle = await client.start_workflow(
            LicenceCase.run, start, id=case_id, task_queue=task_queue
        )
        case = Case(handle, case_id, self.keys)
        self.started.append(case)
        return case
