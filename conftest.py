"""Shared fixtures. Anything tmux-shaped runs on a private tmux server per test, never
on the user's default server, and that server is killed when the test ends."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from django.conf import settings

from agents.gateway import Gateway

ROOT = Path(__file__).resolve().parent
RECORDER = ROOT / "tests" / "programs" / "recorder.py"
TEST_CONFIG = ROOT / "tests" / "orchestrator-test.toml"
NPM_BIN = ROOT / "tests" / "claude" / "node_modules" / ".bin"  # bin/setup.sh: setup_test_agents
CLAUDE = NPM_BIN / "claude"
CLAUDE_API_KEY = "sk-ant-api03-test-only-" + "0123456789abcdefghij"
CODEX = NPM_BIN / "codex"
GEMINI = NPM_BIN / "gemini"
OPENCODE = NPM_BIN / "opencode"
AIDER = ROOT / "tests" / "aider" / "venv" / "bin" / "aider"
# A provider of its own (no sign-in), the project trusted (no trust dialog), no update check,
# no retries. An unknown model name: a known one opens a "Try new model" dialog that takes
# the first message.
CODEX_CONFIG = """\
model = "stub-model"
model_provider = "stub"
approval_policy = "on-request"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.stub]
name = "stub"
base_url = {url}
env_key = "OPENAI_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[projects.{project}]
trust_level = "trusted"

[analytics]
enabled = false
"""


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05, message: str = "condition", describe=None):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds,
    saying what `describe()` returns, if given, about how things stood."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            seen = f"; {describe()}" if describe else ""
            pytest.fail(f"timed out after {timeout} s waiting for {message}{seen}")
        time.sleep(interval)


@pytest.fixture(autouse=True, scope="session")
def private_queues():
    """Jobs the tests enqueue go to a host name of their own, so a real worker on this
    machine never takes them; without Redis they stay in memory, not in the data dir."""
    from orchestrator.celery import app

    real = settings.TMUX_ORC.agent_host, app.conf.broker_url, app.conf.broker_transport
    settings.TMUX_ORC.agent_host = f"test-{secrets.token_hex(4)}"
    if not settings.TMUX_ORC.redis_url:
        app.conf.broker_url, app.conf.broker_transport = "memory://", None
    yield
    settings.TMUX_ORC.agent_host, app.conf.broker_url, app.conf.broker_transport = real


@pytest.fixture(autouse=True)
def live_test_host(request):
    """The tests' agent host is live, as if its worker had just said so, so spawns go to it
    in tests that run no worker. Tests of a host that is down make it stale."""
    for name in ("transactional_db", "db"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
            break
    else:
        if not request.node.get_closest_marker("django_db"):
            return
        request.getfixturevalue("_django_db_helper")
    from agents.hosts import host_seen

    host_seen(settings.TMUX_ORC.agent_host)


@pytest.fixture(autouse=True)
def no_agent_mcp(monkeypatch):
    """Agents get no MCP config unless a test asks: there is no web server to connect to."""
    monkeypatch.setattr(settings.TMUX_ORC, "agent_mcp", False)


@pytest.fixture(autouse=True)
def quick_shell_profile(monkeypatch):
    """The shell profile as tests/orchestrator-test.toml sets it for test processes."""
    from orchestrator.config import load

    monkeypatch.setattr(settings.TMUX_ORC, "profiles", load({"TMUX_ORC_CONFIG": str(TEST_CONFIG)}).profiles)


@pytest.fixture
def tmux_socket(tmp_path_factory, monkeypatch):
    """A private tmux server for this test: its own TMUX_TMPDIR and socket name.

    The orchestrator's settings point at it, so services and workers started by the
    test use it too. It is killed when the test ends.
    """
    tmpdir = tmp_path_factory.mktemp("tmux")
    name = f"orc-test-{secrets.token_hex(4)}"
    monkeypatch.setenv("TMUX_TMPDIR", str(tmpdir))
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.setattr(settings.TMUX_ORC, "tmux_socket", name)
    yield name
    Gateway(socket_name=name).kill_server()


@pytest.fixture
def gateway(tmux_socket) -> Gateway:
    return Gateway(socket_name=tmux_socket)


@pytest.fixture
def recorder_profile(monkeypatch):
    """A profile whose program records every byte it receives, in raw mode, to a file
    named by the RECORD_TO environment variable (default: ./received.bin)."""
    profiles = dict(settings.TMUX_ORC.profiles)
    profiles["recorder"] = {"command": f"{sys.executable} {RECORDER}", "display_name": "Recorder"}
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", profiles)
    return "recorder"


@pytest.fixture
def eager_jobs(settings):
    """Celery jobs run inline in the test process (the worker's code, without a worker)."""
    from orchestrator.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def api_token(db) -> str:
    from orchestrator.services import token_create

    _, raw = token_create(name=f"test-{secrets.token_hex(3)}")
    return raw


@pytest.fixture
def api(api_token):
    """A DRF test client that sends the bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
    return client


class ServiceInProcess(httpx.BaseTransport):
    """An httpx transport that answers the CLI's requests with this process's own Django
    (through DRF's test client), as a person's token would on a live server."""

    def __init__(self):
        self.token = ""

    def handle_request(self, request):
        from rest_framework.test import APIClient

        from orchestrator.models import ApiToken, token_digest
        from orchestrator.services import token_create

        if not self.token or not ApiToken.objects.filter(digest=token_digest(self.token)).exists():
            _, self.token = token_create(name=f"cli-{secrets.token_hex(3)}")
        client = APIClient()
        auth = request.headers.get("Authorization", "")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}" if auth == "Bearer person" else auth)
        url = request.url.raw_path.decode()
        response = client.generic(request.method, url, request.content or "", content_type="application/json")
        return httpx.Response(response.status_code, headers=dict(response.items()), content=response.content)


class Served(str):
    """The server's base URL; `.mcp_bodies` holds the body of every request to /mcp."""

    mcp_bodies: list[bytes]


@pytest.fixture
def http_server():
    """The web server's ASGI app (Django plus /mcp), served by uvicorn in a thread."""
    import threading

    import uvicorn

    from orchestrator.asgi import build_application
    from tests.support import free_port

    app, bodies = build_application(), []

    async def recording(scope, receive, send):
        async def receive_and_keep():
            message = await receive()
            if scope.get("path") == "/mcp" and message.get("body"):
                bodies.append(message["body"])
            return message
        await app(scope, receive_and_keep, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recording, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, message="uvicorn to start")
    url = Served(f"http://127.0.0.1:{port}")
    url.mcp_bodies = bodies
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def cli_api(monkeypatch):
    """`tmux-orc` commands run here call the API in this process, with a person's token."""
    from orchestrator import client

    monkeypatch.setattr(client, "TRANSPORT", ServiceInProcess())
    monkeypatch.setenv("TMUX_ORC_URL", "http://testserver")
    monkeypatch.setenv("TMUX_ORC_TOKEN", "person")
    for name in ("TMUX_ORC_AGENT_ID", "TMUX_ORC_AGENT_TARGET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project_dir(tmp_path) -> str:
    path = tmp_path / "project"
    path.mkdir()
    return str(path)


@pytest.fixture
def worker(tmux_socket, tmp_path, monkeypatch):
    """A real Celery worker on Redis for this test's own host queue, with the profiles
    this test has set (list this fixture after any that change them)."""
    from tests.support import Worker, toml_profiles

    if not settings.TMUX_ORC.redis_url:
        if os.environ.get("CI"):
            pytest.fail("REDIS_URL must be set in CI: the end-to-end tests need real Redis")
        pytest.skip("set REDIS_URL to run the end-to-end tests through a real worker")
    host = f"e2e-{secrets.token_hex(4)}"  # its own queue: no other worker can take the jobs
    monkeypatch.setattr(settings.TMUX_ORC, "agent_host", host)
    config = tmp_path / "worker.toml"
    config.write_text(toml_profiles(settings.TMUX_ORC.profiles))
    process = Worker(host, tmux_socket, str(config), str(ROOT))
    process.start(wait_for)
    yield process
    process.stop()


def require_installed(program: Path, name: str) -> None:
    """A test of a real agent program skips where bin/test could not install it (no npm, or
    a registry out of reach); in CI, fails."""
    if not program.exists():
        source = "pip (tests/aider)" if program == AIDER else "npm (tests/claude)"
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (bin/test installs it with {source})")
        pytest.skip(f"{name} is not installed: run bin/test, which installs it with {source}")


@pytest.fixture
def stub():
    """The local Anthropic Messages API stub; see tests/anthropic_stub.py."""
    from tests.anthropic_stub import AnthropicStub

    server = AnthropicStub()
    server.url = server.start()
    yield server
    server.stop()


@pytest.fixture
def claude_profile(stub, tmp_path, project_dir, monkeypatch):
    """The claude profile, pointed at the installed Claude Code, the stub, and a home
    directory where onboarding is done and the project is trusted."""
    require_installed(CLAUDE, "Claude Code")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [CLAUDE_API_KEY[-20:]], "rejected": []},
        "projects": {project_dir: {"hasTrustDialogAccepted": True}},
    }))
    env = {"HOME": str(home), "ANTHROPIC_API_KEY": CLAUDE_API_KEY, "ANTHROPIC_BASE_URL": stub.url,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
    profiles = {**settings.TMUX_ORC.profiles, "claude": {"command": str(CLAUDE), "env": env}}
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", profiles)
    return "claude"


@pytest.fixture
def openai_stub():
    """The local OpenAI Responses API stub; see tests/openai_stub.py."""
    from tests.openai_stub import OpenAIStub

    server = OpenAIStub()
    server.url = server.start()
    yield server
    server.stop()


@pytest.fixture
def codex_profile(openai_stub, tmp_path, project_dir, monkeypatch):
    """The codex profile, pointed at the installed Codex CLI, the stub, and a home directory
    whose config.toml (CODEX_CONFIG) trusts the project."""
    require_installed(CODEX, "the Codex CLI")
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    config = CODEX_CONFIG.format(url=json.dumps(openai_stub.url), project=json.dumps(project_dir))
    (home / ".codex" / "config.toml").write_text(config)
    env = {"HOME": str(home), "CODEX_HOME": str(home / ".codex"), "OPENAI_API_KEY": "dummy"}
    # --no-daemon: otherwise Codex leaves an app-server daemon running after it quits.
    codex = {"command": f"{CODEX} --no-daemon", "env": env, "hooks": "codex"}
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", {**settings.TMUX_ORC.profiles, "codex": codex})
    return "codex"


@pytest.fixture
def chat_stub():
    """The local OpenAI chat completions stub (Aider, opencode); see tests/chat_stub.py."""
    from tests.chat_stub import ChatStub

    server = ChatStub()
    server.url = server.start()
    yield server
    server.stop()


@pytest.fixture
def gemini_stub():
    """The local Gemini API stub; see tests/gemini_stub.py."""
    from tests.gemini_stub import GeminiStub

    server = GeminiStub()
    server.url = server.start()
    yield server
    server.stop()


def use_profile(monkeypatch, name: str, **spec) -> str:
    """Configure the profile `name` for this test, as `[agents.profiles.NAME]` would."""
    monkeypatch.setattr(settings.TMUX_ORC, "profiles", {**settings.TMUX_ORC.profiles, name: spec})
    return name


# Aider's model: with a metadata file of its own it fetches no price list from the internet.
AIDER_MODEL = {"openai/stub-model": {"max_tokens": 8192, "max_input_tokens": 200000, "max_output_tokens": 8192,
                                     "input_cost_per_token": 0, "output_cost_per_token": 0,
                                     "litellm_provider": "openai", "mode": "chat"}}


@pytest.fixture
def aider_profile(chat_stub, tmp_path, monkeypatch):
    """The aider profile, pointed at the installed Aider and the chat completions stub."""
    require_installed(AIDER, "Aider")
    home = tmp_path / "home"
    home.mkdir()
    (home / "model.json").write_text(json.dumps(AIDER_MODEL))
    command = (f"{AIDER} --model openai/stub-model --openai-api-base {chat_stub.url} --no-check-update "
               "--no-show-release-notes --no-show-model-warnings --analytics-disable --no-git --map-tokens 0 "
               f"--no-detect-urls --edit-format diff --model-metadata-file {home / 'model.json'}")
    env = {"HOME": str(home), "OPENAI_API_KEY": "dummy", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return use_profile(monkeypatch, "aider", command=command, env=env)


# No sign-in, trust or update dialogs, no telemetry; the model is Gemini's own name.
GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
    "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False}, "ide": {"enabled": False},
    "model": {"name": "gemini-2.5-flash"},
}


@pytest.fixture
def gemini_profile(gemini_stub, tmp_path, monkeypatch):
    """The gemini profile, pointed at the installed Gemini CLI and the Gemini API stub."""
    require_installed(GEMINI, "Gemini CLI")
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS))
    env = {"HOME": str(home), "GEMINI_API_KEY": "dummy", "GOOGLE_GEMINI_BASE_URL": gemini_stub.url}
    return use_profile(monkeypatch, "gemini", command=str(GEMINI), env=env)


def opencode_config(url: str) -> dict:
    """opencode's config: one provider, the stub, asking before every command and edit."""
    provider = {"npm": "@ai-sdk/openai-compatible", "name": "Local stub",
                "options": {"baseURL": url, "apiKey": "dummy"}, "models": {"stub-model": {"name": "Stub Model"}}}
    return {"provider": {"stub": provider}, "model": "stub/stub-model", "small_model": "stub/stub-model",
            "enabled_providers": ["stub"], "permission": {"bash": "ask", "edit": "ask"}, "autoupdate": False,
            "share": "disabled"}


@pytest.fixture
def opencode_profile(chat_stub, tmp_path, monkeypatch):
    """The opencode profile, pointed at the installed opencode and the chat completions stub."""
    require_installed(OPENCODE, "opencode")
    home = tmp_path / "home"
    (home / ".config" / "opencode").mkdir(parents=True)
    (home / ".config" / "opencode" / "opencode.json").write_text(json.dumps(opencode_config(chat_stub.url)))
    quiet = ("MODELS_FETCH", "AUTOUPDATE", "LSP_DOWNLOAD", "DEFAULT_PLUGINS", "CLAUDE_CODE", "SHARE")
    env = {"HOME": str(home), **{f"OPENCODE_DISABLE_{name}": "1" for name in quiet}}
    return use_profile(monkeypatch, "opencode", command=str(OPENCODE), env=env)


@pytest.fixture
def shell(project_dir, gateway, eager_jobs):
    """A running shell agent, idle at its prompt, its briefing delivered (jobs run inline)."""
    from agents import services
    from agents.models import Agent, MessageKind, MessageStatus
    from monitoring.services import host_sweep

    operation = services.agent_spawn(session_name="dlv", agent_type="developer", project_path=project_dir,
                                     profile="shell", briefing="# hello from the briefing")
    agent = Agent.objects.get(pk=operation.agent_id)
    wait_for(lambda: prompt_shown(gateway, agent), message="the shell prompt")
    host_sweep(host=settings.TMUX_ORC.agent_host)  # seen idle: the briefing goes in
    wait_for(lambda: agent.messages.get(kind=MessageKind.BRIEFING).status == MessageStatus.DELIVERED,
             message="the briefing")
    wait_for(lambda: prompt_shown(gateway, agent), message="the prompt after the briefing")
    host_sweep(host=settings.TMUX_ORC.agent_host)  # seen idle again, after the briefing's command
    agent.refresh_from_db()
    return agent


def prompt_shown(gateway, agent) -> bool:
    return gateway.capture_panes([agent.tmux_pane_id])[agent.tmux_pane_id].rstrip().endswith(("$", "#"))


@pytest.fixture
def watcher(tmux_socket):
    """The host's watcher, following this test's tmux server from a thread of this process
    (jobs it wakes run where the test says: inline with `eager_jobs`)."""
    import threading

    from django.db import connection

    from monitoring.watcher import Watcher

    watching = Watcher(host=settings.TMUX_ORC.agent_host, gateway=Gateway(socket_name=tmux_socket))

    def run():
        try:
            watching.run()
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="watcher", daemon=True)
    thread.start()
    yield watching
    watching.stop()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the watcher did not stop"


# --- the dashboard in a real browser ---------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "var" / "screenshots"  # not committed (var/ is ignored)


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright. Its sync API keeps an event loop
    in the test's thread, so the test's own database calls between browser steps are
    allowed there."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt)")
        pytest.skip("the browser tests need Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # As root, Chromium runs only without its sandbox; these pages are the test's own.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    _screenshots.append(SCREENSHOTS / f"{name}.png")


_screenshots: list[Path] = []


def pytest_terminal_summary(terminalreporter):
    if _screenshots:
        terminalreporter.write_line(f"browser screenshots ({len(_screenshots)}) in {SCREENSHOTS}")
