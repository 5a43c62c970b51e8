"""The image and docker-compose.yml describe a deployment that works.

Docker is not needed: the two files are read, and what they name is looked up in the
project. The commands parse with `tmux-orc`'s own parsers and the processes they start
import; the ports, variables and volumes are the ones the code listens on, reads and uses;
the healthchecks run against the service's own health answer; the build arguments choose
the agent programs at the versions the tests run, and the image installs what the worker
needs.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

from agents.environment import ALLOWED as PANE_ENVIRONMENT
from agents.profiles import BUILTIN_PROFILES
from conftest import ROOT
from orchestrator import config
from orchestrator.management.commands.server import PROCESSES
from orchestrator.supervisor import Supervisor

# What .env gives in the README's set-up; the test's own values, to find where they end up.
DOTENV = {"POSTGRES_PASSWORD": "password-from-env-file", "TMUX_ORC_SECRET_KEY": "key-from-env-file"}
REQUIRED_SECRETS = ("TMUX_ORC_SECRET_KEY", "POSTGRES_PASSWORD")


# --- reading the Dockerfile ------------------------------------------------------------------

@dataclass
class Image:
    base: str = ""
    args: dict[str, str] = field(default_factory=dict)  # build arguments and their defaults
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    volumes: list[str] = field(default_factory=list)
    exposed: list[int] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    order: list[str] = field(default_factory=list)  # the instructions, in order


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) as Docker reads them: comment lines dropped (inside a
    continued line too), a line ending in a backslash joined to the next."""
    found, pending = [], ""
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continued line"
    return found


def exec_form(arguments: str, what: str) -> list[str]:
    assert arguments.startswith("["), f"{what} is in shell form: signals would go to a shell, not the service"
    return json.loads(arguments)


def expand(text: str, image: Image) -> str:
    """`$NAME` and `${NAME}` as Docker replaces them in ENV, WORKDIR, USER, VOLUME and EXPOSE:
    from the build arguments and the ENV set so far."""
    values = {**image.args, **image.env}
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), ""), text)


def read_image(path: Path) -> Image:
    image = Image()
    for keyword, arguments in instructions(path.read_text()):
        image.order.append(keyword)
        if keyword in ("ENV", "WORKDIR", "USER", "VOLUME", "EXPOSE"):
            arguments = expand(arguments, image)
        if keyword == "FROM":
            assert not image.base, "one stage only: this test reads a single-stage Dockerfile"
            image.base = arguments
        elif keyword == "ARG":
            name, _, default = shlex.split(arguments)[0].partition("=")
            image.args[name] = default
        elif keyword == "ENV":
            for pair in shlex.split(arguments):
                name, equals, value = pair.partition("=")
                assert equals, f"ENV {arguments}: write NAME=value"
                image.env[name] = value
        elif keyword == "WORKDIR":
            image.workdir = arguments
        elif keyword == "USER":
            image.user = arguments
        elif keyword == "VOLUME":
            image.volumes += json.loads(arguments) if arguments.startswith("[") else arguments.split()
        elif keyword == "EXPOSE":
            image.exposed += [int(port.split("/")[0]) for port in arguments.split()]
        elif keyword == "ENTRYPOINT":
            image.entrypoint = exec_form(arguments, "ENTRYPOINT")
        elif keyword == "CMD":
            image.cmd = exec_form(arguments, "CMD")
        elif keyword == "RUN":
            image.runs.append(arguments)
        elif keyword in ("COPY", "ADD"):
            words = json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)
            words = [word for word in words if not word.startswith("--")]
            image.copies.append((words[:-1], words[-1]))
    return image


IMAGE = read_image(ROOT / "Dockerfile")


def apt_packages(image: Image) -> set[str]:
    """What the image's `apt-get install` lines install (as words: options left out)."""
    found = set()
    for run in image.runs:
        for command in re.split(r"&&|;|\|\|", run):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                found |= {word for word in words[2:] if not word.startswith("-")}
    return found


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    home: str


def user_made(image: Image) -> User:
    """The user the image's `useradd` makes."""
    for run in image.runs:
        for command in re.split(r"&&|;", run):
            if command.split()[:1] == ["useradd"]:
                words = shlex.split(expand(command, image))
                option = dict(zip(words[1:-1], words[2:]))
                return User(words[-1], option.get("--uid", ""), option.get("--home-dir", f"/home/{words[-1]}"))
    raise AssertionError("the Dockerfile makes no user (useradd)")


# --- reading docker-compose.yml ---------------------------------------------------------------

class MissingVariable(Exception):
    pass


VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value, environ: dict[str, str]):
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` throughout the document."""
    if isinstance(value, dict):
        return {key: interpolate(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    if not isinstance(value, str):
        return value

    def one(match):
        if match.group(0) == "$$":
            return "$"
        name, operator, argument, bare = match.groups()
        name = name or bare
        given = environ.get(name)
        if given is not None and (given or not (operator or "").startswith(":")):
            return given
        if operator and operator.endswith("?"):
            raise MissingVariable(f"{name}: {argument}")
        return argument if operator else ""

    return VARIABLE.sub(one, value)


RAW_COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE = interpolate(RAW_COMPOSE, DOTENV)
SERVICES = COMPOSE["services"]


def built_here(service: dict) -> bool:
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    return context is not None and (ROOT / context).resolve() == ROOT


ORCHESTRATOR = {name: service for name, service in SERVICES.items() if built_here(service)}


def environment_of(service: dict) -> dict[str, str]:
    """What the service's processes see: the image's ENV under the compose file's."""
    given = service.get("environment") or {}
    if isinstance(given, list):
        given = dict(item.partition("=")[::2] for item in given)
    return {**IMAGE.env, **{key: str(value) for key, value in given.items()}}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def bind(self) -> bool:
        return self.source.startswith((".", "/"))


def mounts_of(service: dict) -> list[Mount]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append(Mount(volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            found.append(Mount(source, target, "ro" in mode[0].split(",") if mode else False))
    return found


def duration(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", str(text))
    assert parts and "".join(a + b for a, b in parts) == str(text), f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# --- the project's own answers -----------------------------------------------------------------

def container_config(service_env: dict[str, str]) -> config.Config:
    """The settings the service's processes start with (a bad value fails here as at start)."""
    return config.load(service_env)


def tmux_orc_parse(arguments: list[str], environ: dict[str, str], monkeypatch) -> tuple[object, dict]:
    """`tmux-orc ARGUMENTS` read by the real command's parser, with the defaults the
    container computes from its own environment: the command and its options."""
    assert arguments and not arguments[0].startswith("-"), f"`tmux-orc {shlex.join(arguments)}`: no command"
    name, *rest = arguments
    commands = get_commands()
    assert name in commands, f"`tmux-orc {name}`: there is no such command"
    monkeypatch.setattr(settings, "TMUX_ORC", container_config(environ))
    command = load_command_class(commands[name], name)
    parser = command.create_parser("tmux-orc", name)
    try:
        return command, vars(parser.parse_args(rest))
    except (CommandError, SystemExit) as error:
        pytest.fail(f"`tmux-orc {shlex.join(arguments)}` is refused by its parser: {error}")


def roles(options: dict) -> list[str]:
    """The processes `tmux-orc server start` runs for these options (as its handle does:
    the worker brings its host's watcher)."""
    parts = [part for part in PROCESSES if part in (options["only"] or PROCESSES)]
    if "worker" in parts and "watcher" not in parts:
        parts.append("watcher")
    return parts


@dataclass
class Started:
    command: object
    options: dict
    roles: list[str]
    config: config.Config
    port: int | None  # where it listens, if it runs the web server


def started(argv: list[str], environ: dict[str, str], monkeypatch) -> Started:
    assert argv[:3] == ["tmux-orc", "server", "start"], f"{argv}: each role runs `tmux-orc server start`"
    command, options = tmux_orc_parse(argv[1:], environ, monkeypatch)
    parts = roles(options)
    return Started(command, options, parts, container_config(environ), options["port"] if "web" in parts else None)


def service_started(name: str, monkeypatch) -> Started:
    return started(ORCHESTRATOR[name]["command"], environment_of(ORCHESTRATOR[name]), monkeypatch)


def console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def variables_the_project_reads() -> set[str]:
    """Every environment variable orchestrator/config.py and orchestrator/settings.py read:
    the settings table's, and those named in `environ.get(...)`, `environ[...]`,
    `os.getenv(...)` and `... in environ`."""
    import orchestrator.settings as settings_module

    names = {setting.env for setting in config.SETTINGS.values()}
    for module in (config, settings_module):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            names |= _environment_names(node)
    return names


def _is_environ(node) -> bool:
    return (isinstance(node, ast.Name) and node.id == "environ") or (
        isinstance(node, ast.Attribute) and node.attr == "environ")


def _constant(node) -> set[str]:
    return {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set()


def _environment_names(node) -> set[str]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        reads = node.func.attr in ("get", "setdefault", "pop") and _is_environ(node.func.value)
        if reads or node.func.attr == "getenv":
            return _constant(node.args[0])
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return _constant(node.slice)
    if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) and any(
            _is_environ(each) for each in node.comparators):
        return _constant(node.left)
    return set()


def agent_packages(image: Image = IMAGE) -> dict[str, str]:
    """AGENT_PACKAGES: agent program name -> what is installed for it."""
    return dict(entry.split("=", 1) for entry in image.args["AGENT_PACKAGES"].split())


def health_operation():
    from orchestrator.operations import get_operation

    return get_operation("monitor_health")


# --- commands --------------------------------------------------------------------------------

def test_each_service_runs_a_tmux_orc_server_start_its_parser_accepts(monkeypatch):
    assert ORCHESTRATOR, "no service is built from this directory"
    scripts = console_scripts()
    assert "tmux-orc" in scripts
    module, _, function = scripts["tmux-orc"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    for name, service in ORCHESTRATOR.items():
        assert isinstance(service.get("command"), list), f"{name}: give the command as a list (exec form)"
        assert started(service["command"], environment_of(service), monkeypatch).roles, name
    # The image alone (docker run) starts every role.
    assert IMAGE.cmd[0] in scripts
    assert started(IMAGE.cmd, dict(IMAGE.env), monkeypatch).roles == [*PROCESSES]


def test_web_worker_and_beat_each_run_in_exactly_one_service(monkeypatch):
    where: dict[str, list[str]] = {}
    for name in ORCHESTRATOR:
        for role in service_started(name, monkeypatch).roles:
            where.setdefault(role, []).append(name)
    assert sorted(where) == sorted(PROCESSES)
    assert all(len(services) == 1 for services in where.values()), where
    for name, service in ORCHESTRATOR.items():
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        assert replicas == 1 or "beat" not in service_started(name, monkeypatch).roles, "beat runs exactly once"


def test_the_processes_each_role_starts_are_programs_and_apps_that_import(monkeypatch):
    from celery.app.utils import find_app
    from celery.bin.celery import celery as celery_cli

    for name in ORCHESTRATOR:
        run = service_started(name, monkeypatch)
        for role in run.roles:
            argv = run.command._command(role, run.options)
            assert argv[0] == sys.executable and argv[1] == "-m", argv
            module = argv[2]
            assert importlib.util.find_spec(module) is not None, f"{name} {role}: no module {module}"
            if module == "gunicorn":
                app_module, _, attribute = argv[3].partition(":")
                assert getattr(importlib.import_module(app_module), attribute), argv[3]
                worker_module, _, worker_class = argv[argv.index("--worker-class") + 1].rpartition(".")
                assert getattr(importlib.import_module(worker_module), worker_class)
                assert argv[argv.index("--bind") + 1] == f"{run.options['host']}:{run.port}"
            elif module == "celery":
                app = find_app(argv[argv.index("-A") + 1])
                assert app.main == "orchestrator"
                subcommand = argv[argv.index("-A") + 2]
                assert subcommand in celery_cli.commands, f"{name} {role}: celery has no {subcommand!r}"
                if subcommand == "worker":
                    queues = argv[argv.index("--queues") + 1].split(",")
                    assert f"host.{run.config.agent_host}" in queues
            else:
                assert module == "orchestrator.cli" and argv[3] in get_commands(), argv


def test_what_the_healthchecks_and_entrypoint_run_is_in_the_image():
    # tini is PID 1 and hands SIGTERM on to the service.
    assert IMAGE.entrypoint[-1] == "--" and Path(IMAGE.entrypoint[0]).name in apt_packages(IMAGE)
    assert IMAGE.base.startswith("python:"), "the healthchecks run the image's python"
    for name, service in ORCHESTRATOR.items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["python", "-c"], f"{name}: {test}"
        compile(test[3], f"{name} healthcheck", "exec")
    for argv in [service["command"] for service in ORCHESTRATOR.values()] + [IMAGE.cmd]:
        if argv[0].startswith(("bin/", "./", "/")):
            assert os.access(ROOT / argv[0].removeprefix("./"), os.X_OK), f"{argv[0]} is not in the project"


def compose_exec_lines(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line.startswith(("docker compose exec ", "docker compose run ")):
            words = shlex.split(line.split("#")[0])[3:]
            while words[0].startswith("-"):  # docker compose's own options (-T, -u USER) come first
                words = words[2:] if words[0] in ("-u", "--user", "-w", "--workdir", "-e", "--env") else words[1:]
            found.append((words[0], words[1:]))
    return found


def docker_section(readme: str) -> str:
    match = re.search(r"^## Docker\n(.*?)(?=^## )", readme, re.S | re.M)
    return match.group(1) if match else ""


def test_the_commands_the_compose_file_and_readme_tell_you_to_exec_are_real(monkeypatch):
    lines = compose_exec_lines((ROOT / "docker-compose.yml").read_text())
    lines += compose_exec_lines(docker_section((ROOT / "README.md").read_text()))
    assert lines
    programs = {BUILTIN_PROFILES[agent].program for agent in agent_packages()}
    for service, argv in lines:
        assert service in SERVICES, f"docker compose exec {service}: no such service"
        environ = environment_of(SERVICES[service])
        if argv[0] == "tmux-orc":
            tmux_orc_parse(argv[1:], environ, monkeypatch)
        elif argv[0] == "tmux":
            assert "worker" in service_started(service, monkeypatch).roles, f"{service} runs no tmux server"
            assert argv[argv.index("-L") + 1] == container_config(environ).tmux_socket
        else:
            assert argv[0] in programs, f"docker compose exec {service} {argv[0]}: not in the image"


# --- ports -----------------------------------------------------------------------------------

def test_every_port_is_one_the_web_server_listens_on(monkeypatch):
    for name, service in ORCHESTRATOR.items():
        run = service_started(name, monkeypatch)
        published = [str(port).rpartition(":")[2].split("/")[0] for port in service.get("ports", [])]
        if run.port is None:
            assert not published and not service.get("expose"), f"{name} listens on no port"
            continue
        assert run.options["host"] in ("0.0.0.0", "::"), f"{name} must listen beyond its own container"
        assert published and all(int(port) == run.port for port in published), f"{name}: {published} != {run.port}"
    image = started(IMAGE.cmd, dict(IMAGE.env), monkeypatch)
    assert IMAGE.exposed == [image.port] and image.options["host"] == "0.0.0.0"


def web_service(monkeypatch) -> tuple[str, int]:
    for name in ORCHESTRATOR:
        run = service_started(name, monkeypatch)
        if run.port is not None:
            return name, run.port
    raise AssertionError("no service runs the web server")


def test_agents_reach_the_api_at_the_web_services_name_and_port(monkeypatch):
    web, port = web_service(monkeypatch)
    for name in ORCHESTRATOR:
        run = service_started(name, monkeypatch)
        if "worker" in run.roles:
            url = urlsplit(run.config.public_url)
            assert (url.scheme, url.hostname, url.port) == ("http", web, port), run.config.public_url


def test_the_healthchecks_ask_the_services_own_health_answer(monkeypatch):
    from monitoring.selectors import CHECKS

    operation = health_operation()
    assert operation.public, "healthchecks send no token"
    web, port = web_service(monkeypatch)
    for name, service in ORCHESTRATOR.items():
        url, *checks = service["healthcheck"]["test"][4:]
        parts = urlsplit(url)
        assert parts.path == operation.path
        own_port = service_started(name, monkeypatch).port
        assert (parts.hostname, parts.port) == (("127.0.0.1", own_port) if own_port else (web, port)), url
        assert checks and set(checks) <= set(CHECKS), f"{name}: {checks} are not all checks of {operation.path}"


# --- environment, secrets, the database and the broker -----------------------------------------

def test_every_variable_is_one_the_project_reads():
    known = variables_the_project_reads()
    assert {"TMUX_ORC_CONFIG", "DATABASE_URL", "TMUX_ORC_DATA_DIR"} <= known  # the scan finds what it should
    for name, service in ORCHESTRATOR.items():
        environ = environment_of(service)
        unknown = set(environ) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which the project never reads"
        container_config(environ)  # and each value is one the service starts with


def test_the_image_holds_no_secret_and_the_compose_file_requires_them():
    secret_variables = {config.SETTINGS[name].env for name in config.SECRET_SETTINGS}
    assert not secret_variables & set(IMAGE.env), "the image must not carry a secret"
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in REQUIRED_SECRETS:
        references = re.findall(r"\$\{?" + variable + r"\b[^}]*\}?", text)
        assert references and all(re.fullmatch(r"\$\{\w+:\?[^}]+\}", ref) for ref in references), references
        with pytest.raises(MissingVariable, match=variable):
            interpolate(RAW_COMPOSE, {key: value for key, value in DOTENV.items() if key != variable})
    for name, service in ORCHESTRATOR.items():
        assert environment_of(service)["TMUX_ORC_SECRET_KEY"] == DOTENV["TMUX_ORC_SECRET_KEY"], name


def test_the_services_use_the_compose_files_postgres_and_redis():
    postgres = next(name for name, service in SERVICES.items() if service.get("image", "").startswith("postgres:"))
    redis = next(name for name, service in SERVICES.items() if service.get("image", "").startswith("redis:"))
    for service in ORCHESTRATOR.values():
        environ = environment_of(service)
        database = dj_database_url.parse(environ["DATABASE_URL"])
        server = SERVICES[postgres]["environment"]
        assert database["ENGINE"] == "django.db.backends.postgresql"
        assert (database["HOST"], database["PORT"]) == (postgres, 5432)
        assert (database["USER"], database["PASSWORD"], database["NAME"]) == (
            server["POSTGRES_USER"], DOTENV["POSTGRES_PASSWORD"], server["POSTGRES_DB"])
        broker = urlsplit(environ["REDIS_URL"])
        assert (broker.scheme, broker.hostname, broker.port or 6379) == ("redis", redis, 6379)


def test_services_start_after_what_they_need_is_healthy(monkeypatch):
    web, _ = web_service(monkeypatch)
    for name, service in ORCHESTRATOR.items():
        needs = service.get("depends_on", {})
        assert isinstance(needs, dict), f"{name}: depends_on with conditions"
        for needed, condition in needs.items():
            assert condition == {"condition": "service_healthy"} and "healthcheck" in SERVICES[needed], (name, needed)
        # The web server migrates the database as it starts: the others wait for it.
        assert set(needs) == ({"postgres", "redis"} if name == web else {web}), (name, needs)


def test_docker_stop_waits_for_the_service_to_stop_its_processes():
    gives = inspect.signature(Supervisor.stop).parameters["timeout"].default
    for name, service in ORCHESTRATOR.items():
        assert duration(service.get("stop_grace_period", "10s")) > gives, name


# --- volumes ---------------------------------------------------------------------------------

def test_every_volume_is_a_directory_the_project_uses(monkeypatch):
    home = user_made(IMAGE).home
    assert "HOME" in PANE_ENVIRONMENT  # agents' programs keep their sign-ins in it
    # Installed in place (editable) from WORKDIR, so BASE_DIR is WORKDIR and the config file
    # is read from WORKDIR/config.
    assert Path(config.load({}).config_path) == config.BASE_DIR / "config" / "orchestrator.toml"
    assert config.BASE_DIR == ROOT and (["."], ".") in IMAGE.copies
    assert any(re.search(r"pip install .*-e \.$", run) for run in IMAGE.runs)
    config_dir = f"{IMAGE.workdir.rstrip('/')}/config"
    data_dirs = {}
    for name, service in ORCHESTRATOR.items():
        environ = environment_of(service)
        data_dir = container_config(environ).data_dir
        projects = [path for path in IMAGE.volumes if path != data_dir]
        run = service_started(name, monkeypatch)
        for mount in mounts_of(service):
            allowed = {data_dir, config_dir, *projects} | ({home} if "worker" in run.roles else set())
            assert mount.target in allowed, f"{name} mounts {mount.target}, which the project does not use"
            if mount.target == config_dir:
                assert mount.read_only and mount.bind and (ROOT / mount.source).is_dir(), mount
        data = [mount for mount in mounts_of(service) if mount.target == data_dir]
        assert len(data) == 1 and not data[0].bind, f"{name}: its data dir {data_dir} is a volume"
        data_dirs[name] = data[0].source
    # Every `server start` empties its metrics directory in the data dir, and metric files are
    # named by pid, which every container numbers from 1: no two services share one.
    assert len(set(data_dirs.values())) == len(data_dirs), data_dirs
    assert set(data_dirs.values()) <= set(COMPOSE.get("volumes", {}))


def test_a_project_path_the_web_server_accepts_is_where_the_worker_runs_the_agent(monkeypatch):
    # agents.validation.check_project_path runs in the web server; the agent runs in the worker.
    [projects] = [path for path in IMAGE.volumes if path != IMAGE.env["TMUX_ORC_DATA_DIR"]]
    seen = {}
    for name in ORCHESTRATOR:
        run = service_started(name, monkeypatch)
        if {"web", "worker"} & set(run.roles):
            [mount] = [m for m in mounts_of(ORCHESTRATOR[name]) if m.target == projects]
            seen[name] = mount
            assert not mount.read_only or "worker" not in run.roles, f"{name}: agents write their projects"
    assert len(seen) == 2 and len({mount.source for mount in seen.values()}) == 1, seen


def test_the_image_runs_as_its_own_user_who_owns_the_volumes():
    user = user_made(IMAGE)
    # By number, so that a runtime can tell it is not root (Kubernetes' runAsNonRoot).
    assert IMAGE.user.isdigit() and int(IMAGE.user) != 0 and IMAGE.user == user.uid, (IMAGE.user, user)
    assert IMAGE.order.index("USER") > max(i for i, keyword in enumerate(IMAGE.order) if keyword == "RUN")
    chown = [run for run in IMAGE.runs if "chown" in run]
    assert chown and all(path in chown[0].split() for path in IMAGE.volumes), chown
    assert f"{user.name}:{user.name}" in chown[0].split()
    assert IMAGE.env["TMUX_ORC_DATA_DIR"] in IMAGE.volumes


# --- what goes into the image ----------------------------------------------------------------

def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern(pattern: str) -> re.Pattern:
    pattern = pattern.strip("/").removeprefix("./")
    regex = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` (relative to the context) out: the last pattern that
    matches it or a directory above it decides, `!` bringing it back."""
    parts = path.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern[1:] if negate else pattern)
        if any(regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            result = not negate
    return result


def test_every_file_copied_is_in_the_build_context():
    patterns = dockerignore()
    for sources, _ in IMAGE.copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the project"
            assert source == "." or not ignored(source, patterns), f"COPY {source}: .dockerignore leaves it out"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = [name.rstrip("*") for name in packages] + ["templates", "manage.py", "pyproject.toml", "requirements.txt",
                                                        "agents/launch.py", "agents/hook_report.py"]
    for path in needed:
        assert (ROOT / path).exists() and not ignored(path, patterns), f"{path} must go into the image"
    for path in [".env", "config/orchestrator.toml", "var", ".venv", ".git", "workspace",
                 "tests/claude/node_modules", "tests/aider/venv", "agents/__pycache__"]:
        assert ignored(path, patterns), f"{path} must stay out of the image"


def test_the_matcher_reads_dockerignore_as_docker_does():
    assert ignored("a/b/__pycache__/x.pyc", ["**/__pycache__"]) and ignored("__pycache__", ["**/__pycache__"])
    assert ignored("x.egg-info/PKG-INFO", ["*.egg-info"]) and not ignored("a/x.egg-info", ["*.egg-info"])
    assert not ignored("var/keep", ["var", "!var/keep"]) and not ignored("variable", ["var"])


# --- the agent programs ----------------------------------------------------------------------

def test_the_agent_programs_to_choose_are_the_profiles_at_the_versions_the_tests_run():
    npm = json.loads((ROOT / "tests" / "claude" / "package.json").read_text())["dependencies"]
    lock = json.loads((ROOT / "tests" / "claude" / "package-lock.json").read_text())["packages"]
    aider_pins = [line.strip() for line in (ROOT / "tests" / "aider" / "requirements.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    packages = agent_packages()
    assert set(packages) == {name for name, profile in BUILTIN_PROFILES.items() if profile.version}
    for name, spec in packages.items():
        profile = BUILTIN_PROFILES[name]
        if spec.startswith("aider-chat=="):
            assert spec in aider_pins, f"{spec}: tests/aider/requirements.txt pins {aider_pins}"
            assert spec.partition("==")[2] == profile.version
            assert f"/opt/aider/bin/{profile.program} /usr/local/bin/{profile.program}" in " ".join(IMAGE.runs)
            continue
        package, _, version = spec.rpartition("@")
        assert npm.get(package) == version, f"{spec}: tests/claude/package.json has {package} {npm.get(package)}"
        assert version == profile.version, f"{spec}: profile {name} was read from {profile.version}"
        assert profile.program in lock[f"node_modules/{package}"]["bin"], f"{package} installs no {profile.program}"
    chosen = {IMAGE.args["AGENTS"], interpolate(RAW_COMPOSE, DOTENV)["x-orchestrator"]["build"]["args"]["AGENTS"]}
    for agents in chosen:
        assert agents.split() and set(agents.split()) <= set(packages), agents
    for service in ORCHESTRATOR.values():
        assert set(service["build"].get("args", {})) <= set(IMAGE.args), "build arguments the Dockerfile takes"


def test_the_image_installs_tmux_and_git_and_node_only_for_npm_programs():
    assert {"tmux", "git"} <= apt_packages(IMAGE)
    always = Image(runs=[run for run in IMAGE.runs if "$AGENTS" not in run])
    assert not {"nodejs", "npm"} & apt_packages(always), "Node.js is installed only with an npm program"


STUB = """#!/bin/sh
echo "{name} $*" >> "{log}"
"""
PYTHON_STUB = STUB + """if [ "$1 $2" = "-m venv" ]; then
  /bin/mkdir -p "$3/bin" && printf '#!/bin/sh\\necho "pip $*" >> "{log}"\\n' > "$3/bin/pip"
  /bin/chmod +x "$3/bin/pip"
fi
"""


def run_agent_install(tmp_path: Path, agents: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The Dockerfile's RUN that installs the agent programs, run by sh with AGENTS given,
    against stand-ins for apt-get, npm, python, ln and rm that write down how they were
    called (nothing else is on PATH), its absolute paths moved under `tmp_path`."""
    [script] = [run for run in IMAGE.runs if "$AGENTS" in run]
    for path in ("/opt/", "/usr/local/"):
        script = script.replace(path, f"{tmp_path}{path}")
    stubs, log = tmp_path / "stubs", tmp_path / "calls.log"
    stubs.mkdir(parents=True)
    for name in ("apt-get", "npm", "ln", "rm", "python"):
        (stubs / name).write_text((PYTHON_STUB if name == "python" else STUB).format(name=name, log=log))
        (stubs / name).chmod(0o755)
    environ = {"PATH": str(stubs), "AGENTS": agents, "AGENT_PACKAGES": IMAGE.args["AGENT_PACKAGES"]}
    done = subprocess.run(["/bin/sh", "-c", script], env=environ, capture_output=True, text=True, timeout=10)
    calls = log.read_text().splitlines() if log.exists() else []
    return done, [call.replace(str(tmp_path), "") for call in calls]


def test_the_build_argument_installs_the_programs_chosen_and_nothing_else(tmp_path):
    packages = agent_packages()
    done, calls = run_agent_install(tmp_path / "claude", "claude")
    assert done.returncode == 0, done.stderr
    assert any(call.startswith("apt-get install") and " nodejs npm" in call for call in calls), calls
    assert next(call for call in calls if call.startswith("npm install")).split()[-1] == packages["claude"]
    assert not any(call.startswith(("python", "pip")) for call in calls)

    done, calls = run_agent_install(tmp_path / "aider", "aider")
    assert done.returncode == 0, done.stderr
    assert not any(call.startswith(("apt-get", "npm")) for call in calls), "no Node.js without an npm program"
    assert "python -m venv /opt/aider" in calls and f"pip install --no-cache-dir --disable-pip-version-check " \
                                                      f"{packages['aider']}" in calls
    assert "ln -s /opt/aider/bin/aider /usr/local/bin/aider" in calls

    done, calls = run_agent_install(tmp_path / "all", " ".join(packages))
    assert done.returncode == 0, done.stderr
    [npm] = [call for call in calls if call.startswith("npm install")]
    assert set(npm.split()) >= {spec for spec in packages.values() if not spec.startswith("aider-chat")}

    done, calls = run_agent_install(tmp_path / "none", "")
    assert (done.returncode, calls) == (0, [])

    done, calls = run_agent_install(tmp_path / "typo", "claude clade")
    assert done.returncode != 0 and "clade" in done.stderr and calls == []


# --- the healthcheck itself ------------------------------------------------------------------

class _Health(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (200, b"{}")

    def do_GET(self):
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_each_healthcheck_passes_when_its_checks_pass_and_fails_when_one_fails(client, health_server):
    """The compose file's healthcheck script, run against /monitor/health's real answers."""
    from django.utils import timezone

    from monitoring.models import Heartbeat

    def answer() -> tuple[int, dict]:
        response = client.get(health_operation().path)
        return response.status_code, response.content

    unhealthy = answer()  # nothing has reported: no beat, no worker
    Heartbeat.objects.create(name="beat", seen_at=timezone.now())
    Heartbeat.objects.create(name="worker:worker-1", seen_at=timezone.now(), details={"tmux_running": True})
    healthy = answer()
    assert (unhealthy[0], healthy[0]) == (503, 200), (unhealthy, healthy)
    failing_before = {name for name, result in json.loads(unhealthy[1])["data"]["checks"].items() if result != "ok"}
    assert failing_before >= {"beat", "workers"}
    url = f"http://127.0.0.1:{health_server.server_port}{health_operation().path}"
    for name, service in ORCHESTRATOR.items():
        script, checks = service["healthcheck"]["test"][3], service["healthcheck"]["test"][5:]
        for (status, body) in (unhealthy, healthy):
            _Health.answer = (status, body)
            done = subprocess.run([sys.executable, "-c", script, url, *checks], capture_output=True, text=True,
                                  timeout=10)
            expected = 1 if status != 200 and set(checks) & failing_before else 0
            assert done.returncode == expected, (name, status, checks, done.stdout, done.stderr)
