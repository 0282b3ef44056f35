"""The Dozvil worker: runs the licence workflows and their activities.

``python -m worker`` (or ``dozvil worker``) connects to the configured Temporal address,
namespace and task queue with the payload codec, opens the ledger, registers every workflow
and activity, and runs until SIGTERM or SIGINT, when it stops polling, lets running activities
finish and exits. Logs go through structlog — JSON lines in production
(``DOZVIL_LOG_FORMAT=json``), readable lines locally — and every line logged for a case
carries ``case_id`` (the workflow id).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

import structlog
from prometheus_client import start_http_server
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from activities.ledger import LedgerActivities
from activities.lists import load_list
from activities.screening import ScreeningActivities
from ledger.keyfile import load_signer
from ledger.store.sql import SqlLedger
from runtime.settings import Settings
from runtime.temporal import connect, exit_process
from workflows.licence_case import LicenceCase
from workflows.registry import Registry

log = structlog.get_logger("dozvil.worker")


def configure_logging(json_lines: bool, stream: TextIO | None = None) -> None:
    """structlog for our lines and for the SDK's (stdlib) ones, one format for both, to
    ``stream`` (standard error by default)."""

    def case_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        # The SDK puts the workflow id of its workflow and activity log lines in these extras.
        for extra in ("temporal_workflow", "temporal_activity"):
            info = event.pop(extra, None)
            if isinstance(info, dict) and "workflow_id" in info:
                event.setdefault("case_id", info["workflow_id"])
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        case_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ])
    )  # fmt: skip
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    # The SDK also copies the whole workflow info into the message; case_id says it.
    workflow.logger.workflow_info_on_message = False


class _CaseIdInterceptor(Interceptor):
    """Binds ``case_id`` for everything an activity logs through structlog."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindCaseId(next)


class _BindCaseId(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            case_id=info.workflow_id, activity=info.activity_type, attempt=info.attempt
        ):
            return await super().execute_activity(input)


def open_ledger(settings: Settings) -> SqlLedger:
    """The ledger the worker appends to, signing with the log key from its file."""
    ledger = SqlLedger.open(settings.ledger_url, load_signer(settings.key_path))
    ledger.latest_checkpoint()  # fails now, clearly, if the ledger was never initialised
    return ledger


def screening(settings: Settings) -> ScreeningActivities:
    """The screening activity over every configured list file. Each entry of
    ``DOZVIL_SCREENING_LISTS`` is a path (format detected from the file: EU or UN XML, US CSL
    JSON or CSV, Dozvil JSON) or ``format:path`` with format ``eu``, ``un``, ``us-csl`` or
    ``dozvil-json``; a file that cannot be read stops the worker with the file named."""
    specs = [s.strip() for s in settings.screening_lists.split(",") if s.strip()]
    lists = [load_list(spec) for spec in specs]
    return ScreeningActivities(lists, settings.embargoed, settings.screening_threshold)


def build_worker(
    client: Client, settings: Settings, ledger: SqlLedger, *, task_queue: str | None = None
) -> Worker:
    """A worker with every workflow and activity of Dozvil registered."""
    ledger_activities = LedgerActivities(ledger)
    screen = screening(settings)
    activities: Sequence[Any] = [
        ledger_activities.append,
        ledger_activities.registry_append,
        ledger_activities.exporter_registered,
        ledger_activities.licence_document,
        screen.screen,
    ]
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[LicenceCase, Registry],
        activities=activities,
        interceptors=[_CaseIdInterceptor()],
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
    )


async def run(settings: Settings) -> None:
    client = await connect(settings)
    ledger = open_ledger(settings)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port)  # dozvil_ledger_append_seconds, ...
    worker = build_worker(client, settings, ledger)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        task_queue=settings.task_queue,
        ledger=settings.ledger_url,
    )
    async with worker:
        await stop.wait()
        log.info("stopping: no new tasks; running activities may finish")
    ledger.engine.dispose()
    log.info("worker stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format == "json")
    asyncio.run(run(settings))
    exit_process(0)  # everything is stopped; skip the teardown the SDK's threads can abort


if __name__ == "__main__":
    main()
