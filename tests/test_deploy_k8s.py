"""deploy/k8s/: every manifest is valid against the Kubernetes schemas (kubernetes-validate,
which bundles them, so this runs offline), and what no schema can see holds too: the names,
keys, labels, ports, commands and settings that must agree with each other and with the
project."""

from __future__ import annotations

import base64
import functools
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dj_database_url
import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands, load_command_class

from monitoring.selectors import CHECKS
from orchestrator import config

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
# The oldest and the newest Kubernetes the manifests are checked against (the validator
# bundles 1.25 to 1.37).
KUBERNETES_VERSIONS = ("1.30", "1.37")
PLACEHOLDER = "REPLACE-ME"
IMAGE = "tmux-orchestrator"  # the project's image (the Dockerfile's), as kustomization.yaml names it
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
NODE = "ip-10-0-1-23.eu-west-1.compute.internal"  # what spec.nodeName gives on a typical cloud


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@functools.cache
def manifests() -> list[tuple[str, dict]]:
    """(file, resource) for every resource of every file kustomization.yaml applies (read once:
    tests must not change them)."""
    found = []
    for name in kustomization()["resources"]:
        found += [(name, doc) for doc in yaml.safe_load_all((K8S / name).read_text()) if doc is not None]
    return found


def resources(kind: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def resource(kind: str, name: str) -> dict:
    matches = [doc for doc in resources(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} in deploy/k8s/"
    return matches[0]


def workloads() -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] in WORKLOADS]


def workload(component: str) -> dict:
    (found,) = [w for w in workloads() if w["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return found


def pod_spec(work: dict) -> dict:
    return work["spec"]["template"]["spec"]


def containers(work: dict) -> list[dict]:
    spec = pod_spec(work)
    return spec.get("initContainers", []) + spec["containers"]


def main_container(component: str) -> dict:
    return pod_spec(workload(component))["containers"][0]


def project_containers() -> list[tuple[dict, dict]]:
    """(workload, container) for every container running the project's image."""
    return [(work, c) for work in workloads() for c in containers(work) if c["image"] == IMAGE]


def values(kind: str, name: str) -> dict[str, str]:
    """A Secret's or ConfigMap's keys and values."""
    doc = resource(kind, name)
    data = doc.get("data", {})
    if kind == "Secret":
        data = {key: base64.b64decode(value).decode() for key, value in data.items()}
    return {**data, **doc.get("stringData", {})}


def container_env(container: dict) -> dict[str, str]:
    """The environment Kubernetes gives the container, on node NODE."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        env.update(values(kind, (source.get("configMapRef") or source["secretRef"])["name"]))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]
        if "fieldRef" in ref:
            assert ref["fieldRef"]["fieldPath"] == "spec.nodeName", var
            env[var["name"]] = NODE
        elif "secretKeyRef" in ref:
            env[var["name"]] = values("Secret", ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
        else:
            env[var["name"]] = values("ConfigMap", ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
    return env


def replaced(env: dict[str, str]) -> dict[str, str]:
    """`env` with each placeholder replaced as a user would: the same value for the same one."""
    def value(placeholder: re.Match) -> str:
        return f"s3cret-{len(placeholder[0])}"

    return {name: re.sub(rf"{PLACEHOLDER}[a-z-]*", value, text) for name, text in env.items()}


def command_parser(name: str):
    """The parser of `tmux-orc NAME` (any of the project's management commands)."""
    return load_command_class(get_commands()[name], name).create_parser("tmux-orc", name)


def mount_of(work: dict, container: dict, *, secret: str = "", config_map: str = "") -> str:
    """Where `container` mounts the Secret or ConfigMap."""
    volumes = [v["name"] for v in pod_spec(work).get("volumes", [])
               if (secret and v.get("secret", {}).get("secretName") == secret)
               or (config_map and v.get("configMap", {}).get("name") == config_map)]
    mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in volumes]
    assert len(mounts) == 1, f"{container['name']} mounts {secret or config_map} {len(mounts)} times"
    return mounts[0]


# --- The schemas ------------------------------------------------------------------------

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version):
    failures = []
    for file, doc in manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path)
            failures.append(f"{file}: {doc['kind']}/{doc['metadata']['name']} at {where}: {error.message}")
    assert not failures, "\n".join(failures)


def test_the_validator_refuses_a_misspelt_field_and_a_missing_one():
    web = workload("web")
    misspelt = {**web, "spec": {**web["spec"], "replica": 2}}
    nameless = json.loads(json.dumps(web))
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    for broken in (misspelt, nameless):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_in_the_folder():
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization()["resources"]) == files
    names = [(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()]
    assert len(names) == len(set(names)), "a kind/name twice"
    assert kustomization()["namespace"] == resource("Namespace", kustomization()["namespace"])["metadata"]["name"]


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def image_user() -> tuple[str, str]:
    """The user the image runs as, and its home directory."""
    text = dockerfile()
    uid = re.search(r"^USER\s+\$\{?USER_UID\}?\s*$", text, re.MULTILINE)  # by number: runAsNonRoot can tell
    assert uid, "the image runs as USER ${USER_UID}, the user useradd makes"
    useradd = re.search(r'useradd\b([^\n]*?)\s(\w+)\s*(?:\\|&&|$)', text, re.MULTILINE)
    assert '--uid "$USER_UID"' in useradd[1]
    return useradd[2], re.search(r"--home-dir\s+(\S+)", useradd[1])[1]


def test_the_image_is_the_projects_at_its_version():
    (image,) = kustomization()["images"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image["name"] == IMAGE and image["newTag"] == version
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["web"]["image"] == IMAGE  # what docker compose builds and names
    running = {work["metadata"]["name"] for work, _ in project_containers()}
    assert {"tmux-orc-web", "tmux-orc-worker", "tmux-orc-beat"} <= running
    # The containers' args are the command: the image's ENTRYPOINT, if any, must run them
    # (as tini -- does). Probes and checks run its python.
    entrypoint = re.search(r"^ENTRYPOINT\s+(.+)$", dockerfile(), re.MULTILINE)
    assert entrypoint is None or json.loads(entrypoint[1])[-1] == "--"
    assert re.search(r"^FROM python:3", dockerfile(), re.MULTILINE)


# --- What refers to what ----------------------------------------------------------------

def test_env_and_volumes_name_secrets_config_maps_and_keys_that_exist():
    for work in workloads():
        spec, name = pod_spec(work), work["metadata"]["name"]
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                resource("Secret", volume["secret"]["secretName"])
            if "configMap" in volume:
                resource("ConfigMap", volume["configMap"]["name"])
        volumes = {v["name"] for v in spec.get("volumes", [])}
        volumes |= {t["metadata"]["name"] for t in work["spec"].get("volumeClaimTemplates", [])}
        for container in containers(work):
            env = container_env(container)  # fails on a Secret, ConfigMap or key that is not there
            assert all(v for v in env.values()), f"{name}: an empty variable"
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}/{container['name']} mounts no volume {mount['name']}"


def test_the_project_containers_set_only_settings_the_project_reads():
    known = {setting.env for setting in config.SETTINGS.values()} | {"TMUX_ORC_CONFIG"}
    for work, container in project_containers():
        unknown = set(container_env(container)) - known
        assert not unknown, f"{work['metadata']['name']}/{container['name']}: {sorted(unknown)}"


def test_the_settings_given_are_accepted_by_the_projects_config(tmp_path):
    toml = tmp_path / "orchestrator.toml"
    toml.write_text(values("Secret", "tmux-orc-config")["orchestrator.toml"])
    for work, container in project_containers():
        env = replaced(container_env(container))
        loaded = config.load({**env, "TMUX_ORC_CONFIG": str(toml)})  # raises ConfigError naming a bad one
        if container not in pod_spec(work)["containers"]:
            continue  # an init container's settings are its own few
        config_mount = mount_of(work, container, secret="tmux-orc-config")
        assert env["TMUX_ORC_CONFIG"] == f"{config_mount}/orchestrator.toml"
        assert env["TMUX_ORC_DATA_DIR"] in {m["mountPath"] for m in container["volumeMounts"]}
        assert loaded.database_url and loaded.redis_url and loaded.secret_key and loaded.public_url


def test_urls_point_at_the_services_and_the_database_the_manifests_run():
    env = container_env(main_container("web"))
    postgres, redis, web = (resource("Service", f"tmux-orc-{n}") for n in ("postgres", "redis", "web"))
    database = dj_database_url.parse(env["DATABASE_URL"])
    postgres_env = container_env(main_container("postgres"))
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"]) == (postgres["metadata"]["name"], postgres["spec"]["ports"][0]["port"])
    assert (database["USER"], database["NAME"], database["PASSWORD"]) == (
        postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_DB"], postgres_env["POSTGRES_PASSWORD"])
    for url, service in ((env["REDIS_URL"], redis), (env["TMUX_ORC_URL"], web)):
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])


def test_services_select_the_pods_of_one_workload_on_ports_they_listen_on():
    for service in resources("Service"):
        selector = service["spec"]["selector"].items()
        (work,) = [w for w in workloads() if selector <= w["spec"]["template"]["metadata"]["labels"].items()]
        ports = [p for c in pod_spec(work)["containers"] for p in c.get("ports", [])]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(target in (p.get("name"), p["containerPort"]) for p in ports), service["metadata"]["name"]
    for work in workloads() + resources("PodDisruptionBudget"):
        selected = work["spec"]["selector"]["matchLabels"].items()
        assert any(selected <= w["spec"]["template"]["metadata"]["labels"].items() for w in workloads())
    for work in workloads():  # the API server refuses a workload whose selector misses its own pods
        labels = work["spec"]["template"]["metadata"]["labels"].items()
        assert work["spec"]["selector"]["matchLabels"].items() <= labels


def test_no_service_gives_pods_a_variable_that_is_a_setting():
    """Kubernetes gives pods <SERVICE>_PORT and friends: a Service named tmux-orc would set
    TMUX_ORC_PORT to tcp://..., which the service refuses. The project's pods take none anyway."""
    settings_env = {setting.env for setting in config.SETTINGS.values()}
    for service in resources("Service"):
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        given = {f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT", f"{prefix}_PORT"}
        assert not given & settings_env, service["metadata"]["name"]
    assert all(pod_spec(w).get("enableServiceLinks") is False for w, _ in project_containers())


# --- The processes ------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["web", "worker", "beat"])
def test_each_process_starts_as_tmux_orc_server_start_only_that_part(component):
    args = main_container(component)["args"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert args[0] in scripts and args[1] == "server"
    options = command_parser("server").parse_args(args[2:])  # raises CommandError on an option it lacks
    assert options.action == "start" and options.only == [component]


def test_workers_and_beat_wait_for_a_migrated_database():
    assert command_parser("migrate").parse_args(["--check"]).check_unapplied
    for component in ("worker", "beat"):
        (wait,) = [c for c in containers(workload(component)) if c["name"] == "wait-for-migrations"]
        assert wait["command"][:2] == ["sh", "-c"] and "until tmux-orc migrate --check " in wait["command"][2]


def test_web_runs_two_or_more_replicas():
    web = workload("web")
    assert web["kind"] == "Deployment" and web["spec"]["replicas"] >= 2


def test_beat_runs_exactly_once_even_during_a_rollout():
    beat = workload("beat")
    assert beat["kind"] == "Deployment" and beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_each_agent_node_runs_one_worker_named_after_its_node():
    worker = workload("worker")
    assert worker["kind"] == "DaemonSet"
    (host,) = [v for v in main_container("worker")["env"] if v["name"] == "TMUX_ORC_AGENT_HOST"]
    assert host["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert config.load({"TMUX_ORC_AGENT_HOST": NODE}).agent_host == NODE
    # What outlives a pod stays on its node, owned by the image's user: projects, agents'
    # files, the programs' home.
    user, home = image_user()
    kept = {v["name"] for v in pod_spec(worker)["volumes"] if "hostPath" in v}
    mounted = {m["mountPath"] for m in main_container("worker")["volumeMounts"] if m["name"] in kept}
    assert mounted == {"/workspace", container_env(main_container("worker"))["TMUX_ORC_DATA_DIR"], home}
    (own,) = [c for c in pod_spec(worker)["initContainers"] if c["command"][0] == "chown"]
    assert own["command"][:2] == ["chown", f"{user}:"] and set(own["command"][2:]) == mounted
    assert {m["mountPath"] for m in own["volumeMounts"]} == mounted
    assert pod_spec(worker)["automountServiceAccountToken"] is False  # agents run in it


def test_postgres_keeps_its_data_on_a_claim():
    postgres = workload("postgres")
    assert postgres["kind"] == "StatefulSet"
    assert resource("Service", postgres["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    (mount,) = [m for m in main_container("postgres")["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert container_env(main_container("postgres"))["PGDATA"].startswith(mount["mountPath"] + "/")


# --- Secrets and probes ---------------------------------------------------------------------

def run_python(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test_secrets_ship_placeholders_and_the_web_server_refuses_to_start_on_them():
    for name in ("tmux-orc", "tmux-orc-postgres"):
        assert all(PLACEHOLDER in value for value in values("Secret", name).values()), name
    (guard,) = pod_spec(workload("web"))["initContainers"]
    assert guard["command"][:2] == ["python", "-c"]
    env = container_env(guard)
    refused = run_python(guard["command"][2], env=env)
    assert refused.returncode == 1
    assert "TMUX_ORC_SECRET_KEY and DATABASE_URL in Secret tmux-orc" in refused.stderr
    assert run_python(guard["command"][2], env=replaced(env)).returncode == 0


def probes() -> dict[str, dict]:
    web = main_container("web")
    return {kind: web[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}


def test_web_probes_ask_monitor_health_for_the_web_servers_own_checks_on_its_port():
    web = main_container("web")
    (port,) = web["ports"]
    assert web["args"][web["args"].index("--port") + 1] == str(port["containerPort"])
    for kind, probe in probes().items():
        get = probe["httpGet"]
        assert get["port"] == port["name"], kind
        path = urlsplit(get["path"])
        checks = parse_qs(path.query)["checks"][0].split(",")
        assert path.path == "/monitor/health" and set(checks) <= set(CHECKS), kind
        assert not {"workers", "beat"} & set(checks), f"{kind}: a web pod would fail for another process"


@pytest.mark.django_db
def test_the_probes_pass_on_a_fresh_deploy_that_no_worker_or_beat_has_reported_to(client):
    assert client.get("/monitor/health").status_code == 503  # no worker, no beat yet
    for kind in ("startupProbe", "livenessProbe"):
        answer = client.get(probes()[kind]["httpGet"]["path"])
        assert answer.status_code == 200, (kind, answer.json())
