"""``deploy/``: the compose file and the Kubernetes manifests are valid by their published
schemas (the compose specification, Kubernetes 1.37's OpenAPI, both checked offline), and
agree with the code — every ``DOZVIL_*`` they set is a setting, every command and option they
run exists, every port and path they name is the one the program uses, and the image copies
every package the project installs.

Nothing here starts a container: this machine has no container runtime or cluster (the
processes themselves are tested in ``tests/integration/cli/test_deploy_processes.py``).
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import ValidationError

from cli.main import build_app
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.37.0"
IMAGE = "dozvil"
Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> Doc:
    doc: Doc = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    return doc


def manifests() -> list[Doc]:
    docs: list[Doc] = []
    for resource in kustomization()["resources"]:
        docs += load_all(DEPLOY / resource)
    return docs


def by_kind(kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def dozvil_containers() -> dict[str, Doc]:
    """Every container of Dozvil's image, by ``<workload>/<container>``."""
    found = {}
    for doc in manifests():
        if doc["kind"] in ("Deployment", "Job", "StatefulSet"):
            spec = pod_spec(doc)
            for c in spec.get("initContainers", []) + spec["containers"]:
                if c["image"] == IMAGE:
                    found[f"{doc['metadata']['name']}/{c['name']}"] = c
    return found


def compose() -> Doc:
    doc: Doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def config_map() -> dict[str, str]:
    data: dict[str, str] = by_kind("ConfigMap")["dozvil-config"]["data"]
    return data


SETTINGS = {f"DOZVIL_{name.upper()}" for name in Settings.model_fields}


# --- by the published schemas -------------------------------------------------------------


def test_every_kubernetes_manifest_is_valid() -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {
        "Namespace", "ConfigMap", "StatefulSet", "Job", "Deployment", "Service",
    }  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The check does find a mistake: a misspelt field, a string where a number goes.
    broken = copy.deepcopy(by_kind("Deployment")["dozvil-worker"])
    pod_spec(broken)["containers"][0]["imagePullPolicy_"] = "Always"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    broken = copy.deepcopy(by_kind("Deployment")["dozvil-worker"])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_manifests_with_the_image() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert len(docs) == len(manifests()) + 1  # and the generated postgresql-init ConfigMap
    image = kustomization()["images"][0]
    images = set(re.findall(r"image: (\S+)", rendered.stdout))
    assert f"{image['newName']}:{image['newTag']}" in images
    assert IMAGE not in images  # every use of the image was replaced
    assert all(d["metadata"].get("namespace") == "dozvil" for d in docs if d["kind"] != "Namespace")


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    checker = str(Path(sys.executable).with_name("check-jsonschema"))
    return subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_file_is_valid(tmp_path: Path) -> None:
    done = check_compose(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = compose()
    broken["services"]["worker"]["depends_on"]["setup"]["condition"] = "finished"
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    refused = check_compose(tmp_path / "compose.yaml")
    assert refused.returncode == 1 and "condition" in refused.stdout, refused.stdout


# --- agreeing with the code ---------------------------------------------------------------


def compose_dozvil_services() -> dict[str, Doc]:
    return {n: s for n, s in compose()["services"].items() if s.get("image", "").startswith(IMAGE)}


def test_every_dozvil_variable_is_a_setting() -> None:
    named: dict[str, set[str]] = {"configmap": set(config_map())}
    for name, service in compose_dozvil_services().items():
        named[f"compose {name}"] = set(service["environment"])
    for where, container in dozvil_containers().items():
        named[where] = {e["name"] for e in container.get("env", [])}
    for where, names in named.items():
        unknown = {n for n in names if n.startswith("DOZVIL_")} - SETTINGS
        assert not unknown, f"{where} sets {unknown}, which no setting reads"
    assert set(compose_dozvil_services()) == {"setup", "worker", "service"}


def command_options(command: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dozvil")), command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_command_and_option_run_exists() -> None:
    commands = {c.name for c in build_app(Settings(_env_file=None)).registered_commands}
    runs: dict[str, list[str]] = {
        f"compose {n}": s["command"] for n, s in compose_dozvil_services().items()
    }
    for where, container in dozvil_containers().items():
        if "args" in container:
            runs[where] = container["args"]
    assert {argv[0] for argv in runs.values()} == {"setup", "worker", "serve"}
    for where, argv in runs.items():
        assert argv[0] in commands, f"{where} runs `dozvil {argv[0]}`, which does not exist"
        helptext = command_options(argv[0])
        for option in (a for a in argv[1:] if a.startswith("--")):
            assert option in helptext, f"{where}: `dozvil {argv[0]}` has no {option}"
    # The image's default command too.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["dozvil"]' in dockerfile and 'CMD ["serve"]' in dockerfile


def test_ports_probes_and_key_paths_match_the_configuration() -> None:
    config = config_map()
    service = pod_spec(by_kind("Deployment")["dozvil-service"])["containers"][0]
    assert service["ports"][0]["containerPort"] == int(config["DOZVIL_HTTP_PORT"])
    openapi = (ROOT / "docs" / "openapi.json").read_text()
    for probe in ("readinessProbe", "livenessProbe"):
        assert f'"{service[probe]["httpGet"]["path"]}"' in openapi
    worker = pod_spec(by_kind("Deployment")["dozvil-worker"])["containers"][0]
    metrics = {e["name"]: e.get("value") for e in worker["env"]}["DOZVIL_WORKER_METRICS_PORT"]
    assert worker["ports"][0]["containerPort"] == int(metrics)

    log_key, payload_keys = config["DOZVIL_LOG_KEY_FILE"], config["DOZVIL_PAYLOAD_KEYS"]
    for name in ("dozvil-setup", "dozvil-worker", "dozvil-service"):
        doc = by_kind("Job").get(name) or by_kind("Deployment")[name]
        spec = pod_spec(doc)
        main = spec["containers"][0]
        mounts = {m["mountPath"] for m in main["volumeMounts"]}
        assert str(Path(payload_keys).parent) in mounts, name
        copies = " ".join(spec["initContainers"][0]["command"])
        assert payload_keys in copies, name
        # Only the processes that sign checkpoints have the log key.
        assert (log_key in copies) == (name != "dozvil-service"), name
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert config["DOZVIL_DATA_DIR"] in mounts  # writable, under a read-only root
    uid = re.search(r"--uid (\d+)", (DEPLOY / "Dockerfile").read_text())
    assert uid and pod_spec(by_kind("Deployment")["dozvil-worker"])["securityContext"][
        "runAsUser"
    ] == int(uid.group(1))


def test_temporal_and_postgresql_are_where_the_configuration_says() -> None:
    values: Doc = yaml.safe_load((DEPLOY / "kubernetes" / "temporal-values.yaml").read_text())
    config = config_map()
    namespace = kustomization()["namespace"]
    pg = f"postgresql.{namespace}.svc.cluster.local"
    assert "postgresql" in by_kind("Service")
    stores = values["server"]["config"]["persistence"]
    assert {stores[s]["sql"]["host"] for s in ("default", "visibility")} == {pg}
    created = [n["name"] for n in values["server"]["config"]["namespaces"]["namespace"]]
    assert config["DOZVIL_TEMPORAL_NAMESPACE"] in created
    assert config["DOZVIL_TEMPORAL_ADDRESS"] == "temporal-frontend.temporal.svc.cluster.local:7233"
    # The database roles the init script creates are the ones the chart and the URL use.
    init = (DEPLOY / "postgresql" / "init-databases.sh").read_text()
    assert {stores[s]["sql"]["user"] for s in stores} == {"temporal"}
    assert "CREATE ROLE temporal LOGIN CREATEDB" in init
    assert "CREATE DATABASE dozvil OWNER dozvil" in init
    url = compose()["x-dozvil"]["environment"]["DOZVIL_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://dozvil:") and url.endswith(
        "@postgresql:5432/dozvil"
    )


def test_the_image_copies_every_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in setuptools["py-modules"]}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            copied |= set(line.split()[1:-1])
    assert packages | modules | {"pyproject.toml", "README.md"} <= copied
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied <= allowed, f".dockerignore leaves out {copied - allowed}"
    assert "'.[postgres]'" in dockerfile  # the production database driver
