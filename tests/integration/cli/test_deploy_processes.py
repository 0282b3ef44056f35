"""``dozvil setup``, ``dozvil worker`` and ``dozvil serve`` as a deployment runs them (see
``deploy/``): separate processes configured by environment alone, against a Temporal server
of their own (the dev server, standing in for the cluster, with no search attributes until
``setup`` registers them) and the ledger in PostgreSQL when ``DOZVIL_TEST_POSTGRES_URL`` is
set, else SQLite. ``dozvil demo`` plays a whole case through them; SIGTERM stops each cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from cli.up import dev_server_binary
from tests.conftest import POSTGRES_URL, fresh_postgres_schema
from tests.integration.cli.test_up_and_demo import DOZVIL, free_ports
from workflows.search_attributes import ALL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ORIGIN = "deploy.test/ledger"
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 40  # the worker's shutdown grace is 30 s; it has no activity running


@dataclass
class Cluster:
    """A Temporal server with two namespaces: ``default`` and ``other``."""

    address: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("cluster")
    port, http_port = free_ports(2)
    # fmt: off
    args = [
        str(dev_server_binary()), "server", "start-dev", "--headless",
        "--ip", "127.0.0.1", "--port", str(port), "--http-port", str(http_port),
        "--db-filename", str(home / "temporal.db"), "--namespace", "other",
        "--log-level", "error",
    ]
    # fmt: on
    with open(home / "temporal.log", "wb") as log:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    address = f"127.0.0.1:{port}"
    try:
        asyncio.run(_wait_for_temporal(address))
        yield Cluster(address, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_for_temporal(address: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            await Client.connect(address)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _attributes(address: str, namespace: str) -> dict[str, str]:
    """Dozvil's search attributes the namespace has, by type."""
    client = await Client.connect(address, namespace=namespace)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {
        k: IndexedValueType.Name(v)
        for k, v in listed.custom_attributes.items()
        if k.startswith("Dozvil")  # the dev server has some custom attributes of its own
    }


@pytest.fixture
def ledger_url(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL (a fresh schema) when the machine has it, else SQLite."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with fresh_postgres_schema() as url:
        yield url


def environment(home: Path, cluster: Cluster, ledger_url: str, http_port: int) -> dict[str, str]:
    """Only what a deployment sets: no data folder defaults are relied on for keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOZVIL_")}
    env.update(
        DOZVIL_DATA_DIR=str(home / "data"),
        DOZVIL_DATABASE_URL=ledger_url,
        DOZVIL_LOG_KEY_FILE=str(home / "secrets" / "log.key"),
        DOZVIL_LOG_ORIGIN=ORIGIN,
        DOZVIL_TEMPORAL_ADDRESS=cluster.address,
        DOZVIL_TASK_QUEUE=f"deploy-{uuid.uuid4().hex[:8]}",
        DOZVIL_HTTP_HOST="127.0.0.1",
        DOZVIL_HTTP_PORT=str(http_port),
        DOZVIL_LOG_FORMAT="json",
        COLUMNS="200",
    )
    return env


def run(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [DOZVIL, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def start(env: dict[str, str], command: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [DOZVIL, command], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


def stop(process: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM, as Kubernetes and compose stop a container; the seconds it took to stop."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        tail = log.read_text()[-3000:]
        raise AssertionError(f"did not stop in {STOP_TIMEOUT_S} s:\n{tail}") from None
    # uvicorn re-raises the signal once it has shut down, as a process without a handler
    # would exit; the worker exits 0.
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    lines = log.read_text().splitlines()
    assert any(done in lines[-1] for done in ("worker stopped", "Finished server process"))
    return time.monotonic() - started


def test_setup_worker_and_serve_run_a_case_end_to_end(
    cluster: Cluster, ledger_url: str, tmp_path: Path
) -> None:
    (http_port,) = free_ports(1)
    env = environment(tmp_path, cluster, ledger_url, http_port)
    key = Path(env["DOZVIL_LOG_KEY_FILE"])

    # No log key: setup refuses, and tells how to make one; nothing is created.
    refused = run(env, "setup", code=2)
    assert f"no log key at {key}" in refused.stderr
    assert f"dozvil ledger keys generate {key} --name {ORIGIN}" in refused.stderr
    assert asyncio.run(_attributes(cluster.address, "default")) == {}
    # The operator makes the key once, as the README says (a secret, mounted 0400 in k8s).
    key.parent.mkdir()
    vkey = run(env, "ledger", "keys", "generate", str(key), "--name", ORIGIN).stdout.strip()
    key.chmod(0o400)

    first = run(env, "setup", "--principals")
    assert f"log key     {vkey}" in first.stdout
    assert "registered DozvilDestination, DozvilExporter" in first.stdout
    assert asyncio.run(_attributes(cluster.address, "default")) == {
        k.name: IndexedValueType.Name(IndexedValueType.ValueType(int(k.indexed_value_type)))
        for k in ALL
    }
    tokens = Path(env["DOZVIL_DATA_DIR"]) / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    again = run(env, "setup")  # a second release: nothing to do, same key
    assert "search attributes already registered" in again.stdout
    assert f"log key     {vkey}" in again.stdout

    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "serve")}
    worker = start(env, "worker", logs["worker"])
    service = start(env, "serve", logs["serve"])
    try:
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert service.poll() is None, logs["serve"].read_text()[-3000:]
            assert worker.poll() is None, logs["worker"].read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, logs["serve"].read_text()[-3000:]
            time.sleep(0.2)

        demo = run(env, "demo", "--url", url)
        assert "licence verify" in demo.stdout, demo.stdout
        assert "FAIL" not in demo.stdout + demo.stderr
        checkpoint = run(env, "ledger", "checkpoint", "--url", url, "--key", vkey)
        assert checkpoint.stdout.startswith(f"{ORIGIN}\n")
        # Every line the worker and the service wrote is JSON (DOZVIL_LOG_FORMAT=json).
        for log in logs.values():
            lines = log.read_text().splitlines()
            assert lines and all(line.startswith("{") for line in lines), lines[:5]
    finally:
        seconds = {"serve": stop(service, logs["serve"]), "worker": stop(worker, logs["worker"])}
    print(f"stopped on SIGTERM in {seconds}")


def test_setup_refuses_what_the_operator_must_fix(
    cluster: Cluster, ledger_url: str, tmp_path: Path
) -> None:
    env = environment(tmp_path, cluster, ledger_url, 0)
    key = Path(env["DOZVIL_LOG_KEY_FILE"])
    key.parent.mkdir()
    run(env, "ledger", "keys", "generate", str(key), "--name", ORIGIN)

    key.chmod(0o644)
    insecure = run(env, "setup", code=2)
    assert f"log key {key}:" in insecure.stderr and "0644" in insecure.stderr
    key.chmod(0o600)

    # A namespace where DozvilState was registered as a number: listing by state would break.
    async def squat() -> None:
        client = await Client.connect(cluster.address, namespace="other")
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="other",
                search_attributes={"DozvilState": IndexedValueType.INDEXED_VALUE_TYPE_INT},
            )
        )

    asyncio.run(squat())
    clash = run(env | {"DOZVIL_TEMPORAL_NAMESPACE": "other"}, "setup", code=2)
    assert (
        "search attribute DozvilState is a INDEXED_VALUE_TYPE_INT in namespace 'other', "
        "want INDEXED_VALUE_TYPE_KEYWORD" in clash.stderr
    )

    (closed,) = free_ports(1)
    nobody = env | {"DOZVIL_TEMPORAL_ADDRESS": f"127.0.0.1:{closed}"}
    started = time.monotonic()
    gone = run(nobody, "setup", "--wait", "2", code=1)
    assert f"Temporal at 127.0.0.1:{closed}: still failing after the wait" in gone.stderr
    assert time.monotonic() - started < 30


def test_setup_generates_the_log_key_only_when_told(cluster: Cluster, tmp_path: Path) -> None:
    env = environment(tmp_path, cluster, f"sqlite:///{tmp_path / 'ledger.db'}", 0)
    key = Path(env["DOZVIL_LOG_KEY_FILE"])
    made = run(env, "setup", "--generate-log-key")
    assert f"created log key {key} (mode 0600): back it up" in made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    vkey = run(env, "ledger", "keys").stdout.split()[0]
    assert vkey.startswith(f"{ORIGIN}+") and f"log key     {vkey}" in made.stdout
    again = run(env, "setup", "--generate-log-key")  # kept, never replaced
    assert "created log key" not in again.stderr and f"log key     {vkey}" in again.stdout


def test_setup_waits_for_the_namespace_to_be_created(cluster: Cluster, tmp_path: Path) -> None:
    """The server's own setup (auto-setup, the Helm chart's job) may create the namespace after
    the frontend answers: ``setup`` waits for it instead of failing the release."""
    env = environment(tmp_path, cluster, f"sqlite:///{tmp_path / 'ledger.db'}", 0)
    env["DOZVIL_TEMPORAL_NAMESPACE"] = namespace = f"late-{uuid.uuid4().hex[:6]}"
    key = Path(env["DOZVIL_LOG_KEY_FILE"])
    key.parent.mkdir()
    run(env, "ledger", "keys", "generate", str(key), "--name", ORIGIN)
    setup = subprocess.Popen(
        [DOZVIL, "setup", "--wait", "60"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        assert setup.poll() is None, setup.communicate()

        async def create() -> None:
            client = await Client.connect(cluster.address)
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=namespace,
                    workflow_execution_retention_period=Duration(seconds=86400),
                )
            )

        asyncio.run(create())
        out, errors = setup.communicate(timeout=90)
    finally:
        if setup.poll() is None:
            setup.kill()
            setup.wait()
    assert setup.returncode == 0, errors
    assert f"waiting for namespace '{namespace}' on {cluster.address}" in errors
    assert "registered DozvilDestination" in out
    assert set(asyncio.run(_attributes(cluster.address, namespace))) == {k.name for k in ALL}
