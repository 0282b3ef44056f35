"""Prometheus metrics of the service: cases by state and overdue (Temporal visibility counts,
refreshed at most every :data:`REFRESH_SECONDS`), the ledger's size, and request latency by
route (an action's route times the workflow update, which includes the ledger append). The ledger
append's own latency is measured where it happens, in the worker's activity
(``dozvil_ledger_append_seconds``, :mod:`activities.ledger`), and exported with these when the
worker runs in the same process (``dozvil up``) or on the worker's own metrics port.
"""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram
from prometheus_client.registry import Collector
from temporalio.client import Client

from ledger.store.sql import SqlLedger
from service import visibility
from workflows.lifecycle import State

REFRESH_SECONDS = 10.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.cases = Gauge(
            "dozvil_cases", "Licence cases by state", ["state"], registry=self.registry
        )
        self.overdue = Gauge(
            "dozvil_cases_overdue", "Cases with a deadline passed now", registry=self.registry
        )
        self.ledger_size = Gauge(
            "dozvil_ledger_entries",
            "Entries in the ledger's latest checkpoint",
            registry=self.registry,
        )
        self.requests = Histogram(
            "dozvil_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(_Shared())
        self._refreshed = -REFRESH_SECONDS
        self._lock = asyncio.Lock()

    async def refresh(self, client: Client, ledger: SqlLedger, *, now: float) -> None:
        async with self._lock:
            if now - self._refreshed < REFRESH_SECONDS:
                return
            counts = await asyncio.gather(
                *(client.count_workflows(visibility.in_state(state)) for state in State),
                client.count_workflows(visibility.OVERDUE),
            )
            for state, count in zip(State, counts, strict=False):
                self.cases.labels(state=state.value).set(count.count)
            self.overdue.set(counts[-1].count)
            size = await asyncio.to_thread(lambda: ledger.latest_checkpoint().checkpoint.size)
            self.ledger_size.set(size)
            self._refreshed = now


class _Shared(Collector):
    """The process's default registry (where the worker's activity metrics live)."""

    def collect(self):  # type: ignore[no-untyped-def]
        yield from REGISTRY.collect()
