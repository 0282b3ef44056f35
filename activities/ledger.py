"""Activities that touch the ledger: case transitions, the exporter register, the licence.

Every append carries an idempotency key the workflow derives from the case id and the
transition's number, so a retried activity (worker crash, timeout, lost reply) returns the
entry already written instead of writing a second one. A refusal by the ledger (a bad or
replayed statement, a key conflict, malformed data) is final: it fails the activity without
retries, and the workflow's update fails with nothing written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import Histogram
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ledger.entry import Actor as LedgerActor
from ledger.errors import LedgerError
from ledger.keys import LOG_KEY_ROTATE
from ledger.receipts import build_receipt
from ledger.store.sql import AppendRequest, AppendResult, SqlLedger
from workflows.models import (
    Actor,
    AppendInput,
    LicenceDocument,
    LicenceInput,
    Recorded,
    RegistryChange,
)

log = structlog.get_logger("dozvil.activities.ledger")

#: How long a ledger append takes in the worker (the append itself, retries apart).
APPEND_SECONDS = Histogram(
    "dozvil_ledger_append_seconds", "Ledger append latency in the worker", ["kind"]
)

#: Log-level event registering an exporter with the authority (``data.exporter_id``).
EXPORTER_REGISTER = "exporter.register"


def refused(exc: LedgerError) -> ApplicationError:
    """A ledger refusal as a final activity failure, typed by the ledger's error class."""
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)


def recorded(result: AppendResult) -> Recorded:
    entry = result.entries[0]
    return Recorded(
        seq=entry.seq,
        event=entry.event,
        from_state=entry.from_state,
        to_state=entry.to_state,
        actor=Actor(id=entry.actor.id, role=entry.actor.role),
        time=entry.time,
        checkpoint_size=result.checkpoint.checkpoint.size,
    )


def register_exporter(ledger: SqlLedger, exporter_id: str, actor: LedgerActor) -> int:
    """Record an exporter in the register (idempotent); returns the entry's seq."""
    result = ledger.append(
        AppendRequest(
            idempotency_key=f"{EXPORTER_REGISTER}/{exporter_id}",
            case_id=None,
            event=EXPORTER_REGISTER,
            actor=actor,
            data={"exporter_id": exporter_id},
        )
    )
    return result.entries[0].seq


class LedgerActivities:
    """The ledger activities, bound to one store (the worker opens it once)."""

    def __init__(self, ledger: SqlLedger) -> None:
        self._ledger = ledger

    @activity.defn(name="ledger.append")
    async def append(self, request: AppendInput) -> Recorded:
        append = AppendRequest(
            idempotency_key=request.idempotency_key,
            case_id=request.case_id,
            event=request.event,
            actor=LedgerActor(request.actor.id, request.actor.role),
            from_state=request.from_state,
            to_state=request.to_state,
            statement=request.statement,
            data=request.data,
            confidential=request.confidential,
        )
        result = await self._append(append, "case")
        done = recorded(result)
        log.info(
            "transition recorded" if not result.replayed[0] else "transition already recorded",
            transition=done.event,
            seq=done.seq,
            to_state=done.to_state,
            checkpoint_size=done.checkpoint_size,
        )
        return done

    @activity.defn(name="registry.append")
    async def registry_append(self, change: RegistryChange) -> Recorded:
        """A log-level register entry (exporter, actor key); the ledger checks its data."""
        append = AppendRequest(
            idempotency_key=change.idempotency_key,
            case_id=None,
            event=change.event,
            actor=LedgerActor(change.actor.id, change.actor.role),
            data=change.data,
        )
        return recorded(await self._append(append, "register"))

    async def _append(self, append: AppendRequest, kind: str) -> AppendResult:
        """One append off the event loop, timed by ``kind``; a refusal is a non-retryable
        failure naming its reason (retrying cannot change the ledger's answer)."""
        try:
            with APPEND_SECONDS.labels(kind=kind).time():
                return await asyncio.to_thread(self._ledger.append, append)
        except LedgerError as exc:
            log.warning("ledger refused the entry", kind=kind, step=append.event, error=str(exc))
            raise refused(exc) from exc

    @activity.defn(name="exporter.registered")
    async def exporter_registered(self, exporter_id: str) -> bool:
        return await asyncio.to_thread(self._registered, exporter_id)

    def _registered(self, exporter_id: str) -> bool:
        for seq in self._ledger.case_seqs(None):
            entry = self._ledger.entry(seq)
            if entry.event == EXPORTER_REGISTER and entry.data.get("exporter_id") == exporter_id:
                return True
        return False

    @activity.defn(name="licence.document")
    async def licence_document(self, licence: LicenceInput) -> LicenceDocument:
        """The licence document: the receipt of the issuance entry (inclusion proof and the
        signed checkpoint), which customs verify offline with the log's public key, and the
        openings of its confidential fields (the ceilings). ``licence/`` prints and checks it."""
        return await asyncio.to_thread(self._document, licence)

    def _document(self, licence: LicenceInput) -> LicenceDocument:
        entry = self._ledger.entry(licence.issuance_seq)
        if entry.case_id != licence.case_id or entry.event != "licence_issued":
            raise ApplicationError(
                f"entry {licence.issuance_seq} is not the issuance of case {licence.case_id}",
                type="NotAnIssuance",
                non_retryable=True,
            )
        try:
            receipt: dict[str, Any] = build_receipt(
                self._ledger,
                self._ledger,
                self._initial_key(),
                licence.case_id,
                seqs=[licence.issuance_seq],
            )
            # The openings of the entry's confidential fields (the ceilings): the holder shows
            # them, and anyone checks them against the entry's commitments.
            openings = {
                field: opening.to_json()
                for field, opening in self._ledger.openings(licence.issuance_seq).items()
            }
        except LedgerError as exc:
            raise refused(exc) from exc
        return LicenceDocument(
            licence_number=str(entry.data["licence_number"]), receipt=receipt, openings=openings
        )

    def _initial_key(self) -> str:
        """The log's first verifier key: the old key of its first rotation, or the current."""
        for seq in self._ledger.case_seqs(None):
            entry = self._ledger.entry(seq)
            if entry.event == LOG_KEY_ROTATE:
                return str(entry.data["old_vkey"])
        signer = self._ledger.signer
        if signer is None:
            raise ApplicationError("the worker has no log key", non_retryable=True)
        return signer.verifier.vkey
