"""The deployment files an operator starts from (deploy/compose, deploy/k8s, deploy/Containerfile) say only what the
node understands, configure a node production mode accepts, and pass the validators an operator would run.

No container engine or cluster runs here: the Kubernetes manifests are checked by kubeconform against the
Kubernetes 1.34 JSON Schemas (strict: an unknown field is refused), the compose file against the compose
specification's JSON Schema (both through deploy/validate.sh, installed by `make infra`), and the Containerfile
by Docker's own parser. Each validator is also shown a broken copy, which it refuses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr

from exchange.adapters.crypto.payload_crypto import PayloadCipher, new_key
from exchange.config import Settings
from exchange.entrypoints.cli import app as cli
from exchange.entrypoints.http.routes import health
from exchange.production import unsafe_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose"
VALIDATE = DEPLOY / "validate.sh"
NODE_IMAGE = "mpx-node:0.1.0"


def setting_names() -> dict[str, str]:
    """Every environment variable Settings reads (MPX_<field>, or the field's aliases), to its field."""
    names = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        for name in alias.choices if isinstance(alias, AliasChoices) else [f"MPX_{field_name.upper()}"]:
            names[name] = field_name
    return names


SETTINGS = setting_names()
# Given by the secret store only: every SecretStr setting, and the database URL (it carries the password)
SECRET_SETTINGS = {name for name, field in SETTINGS.items()
                   if Settings.model_fields[field].annotation is SecretStr or field == "database_url"}


def deployment_files() -> list[Path]:
    """The committed ones (not the secrets secrets.sh writes)."""
    files = [DEPLOY / "Containerfile", *COMPOSE.rglob("*"), *K8S.rglob("*")]
    return sorted(f for f in files if f.is_file() and "secrets" not in f.relative_to(DEPLOY).parts)


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def workloads() -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == "Deployment"]


def node_containers() -> list[dict[str, Any]]:
    """Every container running the node's image (county nodes, monitor, their migrations)."""
    return [c for d in workloads() for c in d["spec"]["template"]["spec"].get("initContainers", [])
            + d["spec"]["template"]["spec"]["containers"] if c["image"] == NODE_IMAGE]


def config_map(name: str) -> dict[str, str]:
    return next(doc["data"] for doc in manifests() if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name)


def compose() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def node_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == NODE_IMAGE}


def validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(VALIDATE), *map(str, args)], capture_output=True, text=True, timeout=120)


def validate_broken(kind: str, original: Path, replace: tuple[str, str], tmp: Path) -> str:
    """What the validator of `kind` says of a copy of `original` with one change (it must refuse the copy)."""
    text = original.read_text()
    assert replace[0] in text
    (tmp / original.name).write_text(text.replace(*replace, 1))
    result = validate(kind, tmp / original.name)
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


# A value of the right form for each secret a production node is given from the secret store
SECRET_EXAMPLES = {
    "DATABASE_URL": "postgresql+asyncpg://mpx:example-password@postgres:5432/mpx",
    "MPX_PAYLOAD_KEYS": f"p20270101:{new_key()}",
    "MPX_KAFKA_SASL_PASSWORD": "kafka-password-from-the-secret-store",
}


def secret_example(name: str) -> str:
    return SECRET_EXAMPLES.get(name, "x" * 43)  # tokens and the person-hash secret: 43 characters, as secrets makes


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a node given exactly `env` reads them (nothing of the test's own environment)."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


# --- the node understands every setting the files give it -------------------------------------------------------


def unknown_mpx_names(text: str) -> set[str]:
    return {name for name in re.findall(r"\bMPX_[A-Z0-9_]+\b", text) if name not in SETTINGS}


def test_every_mpx_name_in_the_deployment_files_is_a_setting_of_the_node():
    files = deployment_files()
    assert {f.relative_to(ROOT).as_posix() for f in files} >= {
        "deploy/Containerfile", "deploy/compose/compose.yaml", "deploy/compose/env/common.env",
        "deploy/k8s/config.yaml", "deploy/k8s/node-621227.yaml", "deploy/k8s/monitor.yaml"}
    assert {f.name: unknown_mpx_names(f.read_text()) for f in files} == {f.name: set() for f in files}


def test_a_misspelt_setting_is_caught():
    """The name check can fail: a variable the node does not read, added to an env file, is found."""
    text = (COMPOSE / "env" / "common.env").read_text() + "MPX_PAYLOAD_KEY=p1:abc\nMPX_METRIC_TOKEN=x\n"
    assert unknown_mpx_names(text) == {"MPX_PAYLOAD_KEY", "MPX_METRIC_TOKEN"}


def test_every_variable_a_node_container_is_given_is_a_setting():
    for container in node_containers():
        given = {e["name"] for e in container.get("env", [])}
        given |= {k for ref in container.get("envFrom", []) for k in config_map(ref["configMapRef"]["name"])}
        assert given - SETTINGS.keys() == set(), container["name"]
    for name, service in node_services().items():
        given = {k for f in service["env_file"] if not f.startswith("secrets/") for k in dotenv_values(COMPOSE / f)}
        assert given - SETTINGS.keys() == set(), name


# --- secrets come from the secret store, and production mode accepts what the files give ---------------------------


def test_secrets_are_never_written_into_the_manifests_only_referenced():
    for container in node_containers():
        for env in container.get("env", []):
            if env["name"] in SECRET_SETTINGS:
                assert "secretKeyRef" in env.get("valueFrom", {}), (container["name"], env["name"])
        for ref in container.get("envFrom", []):
            assert not SECRET_SETTINGS & set(config_map(ref["configMapRef"]["name"])), ref
    assert not any(doc["kind"] == "Secret" for doc in manifests())


@pytest.mark.parametrize("deployment", [d["metadata"]["name"] for d in workloads()])
def test_a_kubernetes_node_starts_in_production_with_what_its_manifest_gives(deployment, monkeypatch):
    spec = next(d for d in workloads() if d["metadata"]["name"] == deployment)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {k: v for ref in container["envFrom"] for k, v in config_map(ref["configMapRef"]["name"]).items()}
    for var in container["env"]:
        if var.get("valueFrom", {}).get("secretKeyRef", {}).get("optional"):
            continue  # absent from the Secret (the bootstrap key and its expiry), so absent from the container
        env[var["name"]] = var["value"] if "value" in var else secret_example(var["name"])
    settings = settings_from(env, monkeypatch)
    assert settings.env == "production" and settings.topic_replication == 3
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert unsafe_settings(settings) == []
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert settings.kafka_ssl_cafile is not None and str(settings.kafka_ssl_cafile.parent) in mounts


def test_without_its_secrets_a_kubernetes_node_would_be_refused(monkeypatch):
    """The production check above can fail: the same manifest less its secret references is unsafe."""
    container = next(d for d in workloads() if d["metadata"]["name"] == "mpx-node-621227")[
        "spec"]["template"]["spec"]["containers"][0]
    env = {**config_map("mpx-common"), **{v["name"]: v["value"] for v in container["env"] if "value" in v}}
    for kafka_login in ("MPX_KAFKA_SECURITY_PROTOCOL", "MPX_KAFKA_SASL_USERNAME", "MPX_KAFKA_SSL_CAFILE"):
        env.pop(kafka_login)  # SASL without its password is refused sooner, by Settings itself
    refused = {u.setting for u in unsafe_settings(settings_from(env, monkeypatch))}
    assert refused == {"MPX_PAYLOAD_KEYS", "MPX_PERSON_KEY_SECRET", "MPX_METRICS_TOKEN"}


def test_compose_secrets_made_by_secrets_sh_start_every_node_in_production(tmp_path, monkeypatch):
    """secrets.sh writes what each node needs; with the committed env files, production mode accepts every node,
    and each node's database URL is the role and database the PostgreSQL init script makes with its password."""
    shutil.copy(COMPOSE / "secrets.sh", tmp_path)
    subprocess.run(["bash", str(tmp_path / "secrets.sh")], check=True, capture_output=True, timeout=60)
    postgres = dotenv_values(tmp_path / "secrets" / "postgres.env")
    assert len(postgres["POSTGRES_PASSWORD"]) >= 32
    for name, service in node_services().items():
        env: dict[str, str] = {}
        for file in service["env_file"]:
            env |= dotenv_values((tmp_path if file.startswith("secrets/") else COMPOSE) / file)
        assert set(env) <= SETTINGS.keys() and SECRET_SETTINGS & set(env) <= {
            k for f in service["env_file"] if f.startswith("secrets/") for k in dotenv_values(tmp_path / f)}, name
        settings = settings_from(env, monkeypatch)
        assert settings.env == "production" and unsafe_settings(settings) == [], name
        if settings.role == "node":
            assert PayloadCipher.from_setting(settings.payload_keys).current, name
        db = "mpx_" + settings.node_id.removeprefix("mpx-")
        password = postgres[f"DB_PASSWORD_{db.removeprefix('mpx_').upper()}"]
        assert settings.database_url == f"postgresql+asyncpg://{db}:{password}@postgres:5432/{db}", name


# --- what Kubernetes does with the node ----------------------------------------------------------------------------


def test_probes_ask_the_nodes_own_health_routes():
    routes = {route.path for route in health.router.routes}
    for deployment in workloads():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        port = container["readinessProbe"]["httpGet"]["port"]
        assert port in {p["name"] for p in container["ports"]}
        assert container["ports"][0]["containerPort"] == int(config_map("mpx-common")["MPX_PORT"])


def test_every_container_has_requests_and_limits_and_runs_unprivileged():
    for deployment in workloads():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert set(container["resources"]) == {"requests", "limits"}, container["name"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container["name"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_database_is_migrated_before_a_node_starts():
    commands = {c.name or c.callback.__name__ for c in cli.registered_commands}
    for deployment in workloads():
        pod = deployment["spec"]["template"]["spec"]
        assert [c["args"] for c in pod["initContainers"]] == [["migrate"]]
        assert pod["containers"][0]["args"] == ["node"]
    assert {"migrate", "node"} <= commands


def test_a_drain_leaves_a_county_node_serving_and_services_find_their_pods():
    budgets = {d["metadata"]["name"]: d["spec"] for d in manifests() if d["kind"] == "PodDisruptionBudget"}
    services = {d["metadata"]["name"]: d["spec"] for d in manifests() if d["kind"] == "Service"}
    counties = [d for d in workloads() if d["metadata"]["name"].startswith("mpx-node-")]
    assert len(counties) == 2 and len(services) == 3
    for deployment in workloads():
        name, labels = deployment["metadata"]["name"], deployment["spec"]["template"]["metadata"]["labels"]
        assert services[name]["selector"].items() <= labels.items()
        if deployment in counties:
            assert budgets[name]["selector"]["matchLabels"].items() <= labels.items()
            assert deployment["spec"]["replicas"] > budgets[name]["minAvailable"] >= 1


def test_the_kustomization_lists_every_manifest():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


# --- validators -----------------------------------------------------------------------------------------------------


def test_kubeconform_finds_the_manifests_valid_against_the_kubernetes_schemas():
    result = validate("k8s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Valid: (\d+), Invalid: 0, Errors: 0, Skipped: 1", result.stdout), result.stdout
    assert int(re.search(r"Valid: (\d+)", result.stdout)[1]) == len(manifests())


@pytest.mark.parametrize(("fault", "replace", "refusal"), [
    ("a misspelt probe", ("readinessProbe:", "readinessprobe:"), "additional properties 'readinessprobe'"),
    ("a budget of the wrong type", ("minAvailable: 1", "minAvailable: [1]"), "/spec/minAvailable"),
    ("a secret reference without its key", ("key: payload-keys}", "optional: false}"), "missing property 'key'"),
])
def test_kubeconform_refuses_a_broken_manifest(fault, replace, refusal, tmp_path):
    assert refusal in validate_broken("k8s", K8S / "node-621227.yaml", replace, tmp_path), fault


def test_the_compose_file_follows_the_compose_specification():
    result = validate("compose")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("fault", "replace", "refusal"), [
    ("a misspelt top-level key", ("\nservices:", "\nservice:"), "'service'"),
    ("an unknown dependency condition", ("service_completed_successfully", "service_done"), "service_done"),
])
def test_the_compose_schema_refuses_a_broken_file(fault, replace, refusal, tmp_path):
    assert refusal in validate_broken("compose", COMPOSE / "compose.yaml", replace, tmp_path), fault


# --- what compose starts ----------------------------------------------------------------------------------------


def test_compose_runs_a_three_broker_cluster_that_keeps_two_copies_of_each_write():
    services = compose()["services"]
    brokers = {name: svc["environment"] for name, svc in services.items() if name.startswith("kafka-")}
    assert len(brokers) == 3 and len({env["KAFKA_NODE_ID"] for env in brokers.values()}) == 3
    for env in brokers.values():
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3 and env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3
    common = dotenv_values(COMPOSE / "env" / "common.env")
    assert sorted(common["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == [f"{b}:9092" for b in sorted(brokers)]
    assert int(common["MPX_TOPIC_REPLICATION"]) == 3


def test_compose_starts_two_county_nodes_and_a_monitor_after_their_migrations():
    services = compose()["services"]
    nodes = node_services()
    roles = {name: dotenv_values(COMPOSE / svc["env_file"][1]).get("MPX_ROLE", "node") for name, svc in nodes.items()}
    running = {name for name, svc in nodes.items() if svc.get("command") != ["migrate"]}
    assert sorted(roles[n] for n in running) == ["monitor", "node", "node"]
    for name in running:
        service = nodes[name]
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        migration = next(dep for dep in service["depends_on"] if dep.startswith("migrate-"))
        assert service["depends_on"][migration]["condition"] == "service_completed_successfully"
        assert nodes[migration]["env_file"] == service["env_file"]
        assert set(service["depends_on"]) <= set(services)
        for file in service["env_file"]:
            assert file.startswith("secrets/") or (COMPOSE / file).is_file()
    build = nodes["node-621227"]["build"]
    assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Containerfile"


# --- the image ------------------------------------------------------------------------------------------------------


def test_the_containerfile_builds_the_node_from_the_repo_and_runs_it_unprivileged():
    commands = dockerfile.parse_file(str(DEPLOY / "Containerfile"))
    assert {c.cmd for c in commands} <= {"FROM", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
    for copy in (c for c in commands if c.cmd == "COPY" and not c.flags):
        assert all((ROOT / source).exists() for source in copy.value[:-1]), copy.original
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {source for c in commands if c.cmd == "COPY" for source in c.value[:-1]}
    assert {p.rstrip("*") for p in packages} | {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    python = re.match(r"python:(\d+\.\d+)", next(c for c in commands if c.cmd == "FROM").value[0])[1]
    assert tuple(map(int, python.split("."))) >= (3, 11) and pyproject["project"]["requires-python"] == ">=3.11"
    assert [c.value for c in commands if c.cmd == "ENTRYPOINT"] == [("mpx",)]
    assert "mpx" in pyproject["project"]["scripts"]
    assert [c.value for c in commands if c.cmd == "CMD"] == [("node",)]
    assert commands[-1].cmd == "CMD" and [c.value[0] for c in commands if c.cmd == "USER"][-1] not in {"0", "root"}
    env = dict(zip(*[iter(v for c in commands if c.cmd == "ENV" for v in c.value)] * 2, strict=True))
    assert [c.value for c in commands if c.cmd == "EXPOSE"] == [(env["MPX_PORT"],)]
