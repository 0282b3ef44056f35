"""``Registry``: the authority's register of exporters and actor keys, as one long-running
workflow (id :data:`REGISTRY_ID`).

The service and the command line never append to the ledger themselves; a registration, key
rotation or revocation is an update to this workflow, whose activity appends the log-level
entry (``exporter.register``, ``actor_key.register|rotate|revoke``). The entry's idempotency key
comes from its content, so a repeated request returns the entry already written. The workflow
keeps no state of its own (the ledger is the register) and continues as new when its history
grows long.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.lifecycle import REGISTRY_EVENTS
    from workflows.models import Recorded, RegistryChange

REGISTRY_ID = "dozvil-registry"
#: An append takes milliseconds; retried until it succeeds (a refusal is final).
APPEND_TIMEOUT = timedelta(seconds=10)
APPEND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


@workflow.defn(name="Registry")
class Registry:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._recorded = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._lock.locked()
        )
        workflow.continue_as_new()

    @workflow.update
    async def record(self, change: RegistryChange) -> Recorded:
        async with self._lock:  # one append at a time, in the order the updates came
            try:
                recorded: Recorded = await workflow.execute_activity(
                    "registry.append",
                    change,
                    result_type=Recorded,
                    start_to_close_timeout=APPEND_TIMEOUT,
                    retry_policy=APPEND_RETRY,
                )
            except Exception as exc:
                cause = getattr(exc, "cause", None)
                message = str(cause) if cause is not None else str(exc)
                kind = getattr(cause, "type", None) or "LedgerRefused"
                raise ApplicationError(message, type=kind) from exc
            self._recorded += 1
            return recorded

    @record.validator
    def _validate(self, change: RegistryChange) -> None:
        role = REGISTRY_EVENTS.get(change.event)
        if role is None:
            raise ValueError(
                f"{change.event!r} is not a register event ({sorted(REGISTRY_EVENTS)})"
            )
        if change.actor.role != role:
            raise ValueError(f"{change.event} is for the {role} role, not {change.actor.role!r}")

    @workflow.query
    def recorded(self) -> int:
        """Register entries recorded by this run."""
        return self._recorded
