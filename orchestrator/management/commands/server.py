"""tmux-orc server start: the web server, the Celery worker and the watcher for this host, and Celery beat."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.utils import timezone

from agents.models import Host
from monitoring.services import schedule_ensure, supervisor_restarted, supervisor_started
from orchestrator.celery import host_queue
from orchestrator.db import connections_close_all
from orchestrator.management.base import OrchestratorCommand
from dashboard.login import login_link
from orchestrator import client
from orchestrator.models import ApiToken, token_digest
from orchestrator.services import token_create
from orchestrator.supervisor import GaveUp, Supervisor, exit_status

TMUX_MISSING = """tmux is not installed, and agents run in tmux. Install it, then start again:
  Debian/Ubuntu:  sudo apt-get install tmux
  Fedora:         sudo dnf install tmux
  macOS:          brew install tmux"""
PROCESSES = ("web", "worker", "watcher", "beat")
log = logging.getLogger("orchestrator.supervisor")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _record(what: str, write, **fields) -> None:
    """Counted for /monitor/health and /metrics; a database that is down stops nothing."""
    try:
        write(**fields)
    except DatabaseError as error:
        log.error("could not record %s in the database: %s", what, error)
    finally:
        connections_close_all()  # the supervisor only writes now and then: it holds none meanwhile


def startup_token() -> str:
    """The token printed at start: made on first start, kept (mode 600) in the data directory."""
    path = settings.DATA_DIR / "api_token"
    if path.exists():
        raw = path.read_text().strip()
        if ApiToken.objects.filter(digest=token_digest(raw), revoked_at=None).exists():
            return raw
    name = "local" if not ApiToken.objects.filter(name="local").exists() else f"local-{int(time.time())}"
    _, raw = token_create(name=name)
    path.touch(mode=0o600)
    path.write_text(raw + "\n")
    return raw


class Command(OrchestratorCommand):
    help = "Run the service: web server, Celery worker, watcher and Celery beat, until Ctrl-C."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        start = actions.add_parser("start", help="start the service in the foreground")
        orc = settings.TMUX_ORC
        start.add_argument("--host", default=orc.host, help=f"address to listen on (default {orc.host})")
        start.add_argument("--port", type=int, default=orc.port, help=f"port (default {orc.port})")
        start.add_argument("--workers", type=int, default=orc.workers, help="web server processes")
        start.add_argument("--reload", action="store_true", help="restart the web server when code changes")
        start.add_argument("--debug", action="store_true", help="debug mode and logging")
        start.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")
        start.add_argument(
            "--only", choices=PROCESSES, action="append",
            help="run only this part (repeatable); e.g. --only worker on a host that just runs agents "
                 "(the worker brings its host's watcher)",
        )

    def handle(self, *args, **options):
        if shutil.which("tmux") is None:
            raise CommandError(TMUX_MISSING)
        if not 1 <= options["port"] <= 65535 or not 1 <= options["workers"] <= 64:
            raise CommandError("--port must be 1-65535 and --workers 1-64")
        env = dict(os.environ)
        if options["debug"]:
            env["TMUX_ORC_DEBUG"] = "true"
            env["TMUX_ORC_LOG_LEVEL"] = "DEBUG"
        if options["log_level"]:
            env["TMUX_ORC_LOG_LEVEL"] = options["log_level"]
        parts = [part for part in PROCESSES if part in (options["only"] or PROCESSES)]
        if "worker" in parts and "watcher" not in parts:
            parts.insert(parts.index("worker") + 1, "watcher")  # a host's agents are watched where they run
        env["PROMETHEUS_MULTIPROC_DIR"] = self._fresh_metrics_dir()
        # The address chosen here is the one agents are told (TMUX_ORC_URL, their MCP config).
        env["TMUX_ORC_HOST"], env["TMUX_ORC_PORT"] = options["host"], str(options["port"])
        token = link = ""
        if "web" in parts:  # one process migrates, so hosts that only run a worker never race it
            call_command("migrate", interactive=False, verbosity=0)
            token = startup_token()
            url = settings.TMUX_ORC.public_url or client.local_url(options["host"], options["port"])
            client.write_config(url.rstrip("/"), token)  # so this user's `tmux-orc agent list` just works
            link = login_link(url) or ""
        if "beat" in parts:
            schedule_ensure()
        host = settings.TMUX_ORC.agent_host
        supervisor = Supervisor({name: self._command(name, options) for name in parts}, env=env, on_restart=(
            lambda name, code, n: _record(f"the restart of {name}", supervisor_restarted, host=host, process=name,
                                          exit_status=exit_status(code), restarts=n)))
        _record("the start", supervisor_started, host=host, processes=parts)
        # Children run in their own sessions (orchestrator/supervisor.py), so a closed terminal's
        # SIGHUP reaches only this process: it stops them as Ctrl-C does.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _interrupt)
        try:
            supervisor.start()
            if "web" in parts:
                self._wait_for_web(options, supervisor.process("web"))
            if "worker" in parts:
                self._wait_for_worker(host)
            self._banner(options, token, link, parts)
            supervisor.run()
        except GaveUp as error:
            raise CommandError(str(error)) from None
        except KeyboardInterrupt:
            self.stdout.write("stopping...")
        finally:
            # A second Ctrl-C or SIGTERM must not cut the stopping short and leave children behind.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            supervisor.stop()

    @staticmethod
    def _fresh_metrics_dir() -> str:
        """Where the web server processes keep request metrics, so /metrics adds them up."""
        path = settings.DATA_DIR / "prometheus"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return str(path)

    def _command(self, name: str, options) -> list[str]:
        orc = settings.TMUX_ORC
        level = (options["log_level"] or ("DEBUG" if options["debug"] else orc.log_level)).lower()
        if name == "web":
            command = [
                sys.executable, "-m", "gunicorn", "orchestrator.asgi:application",
                "--worker-class", "uvicorn_worker.UvicornWorker",
                "--bind", f"{options['host']}:{options['port']}", "--workers", str(options["workers"]),
                "--timeout", str(int(orc.default_timeout) + 30), "--log-level", level, "--access-logfile", "-",
                "--no-control-socket",
            ]
            return command + (["--reload"] if options["reload"] else [])
        if name == "worker":
            return [
                sys.executable, "-m", "celery", "-A", "orchestrator", "worker",
                "--queues", f"orchestrator,{host_queue(orc.agent_host)}", "--hostname", f"orc@{orc.agent_host}",
                "--concurrency", str(orc.worker_concurrency), "--loglevel", level,
            ]
        if name == "watcher":
            return [sys.executable, "-m", "orchestrator.cli", "watcher"]
        return [
            sys.executable, "-m", "celery", "-A", "orchestrator", "beat",
            "--loglevel", level,
        ]

    def _wait_for_web(self, options, web: subprocess.Popen) -> None:
        host = "127.0.0.1" if options["host"] in ("0.0.0.0", "::") else options["host"]
        url = f"http://{host}:{options['port']}/monitor/health"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise CommandError(f"the web server exited (status {web.returncode}); is port {options['port']} free?")
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answered, even if a check is failing
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"the web server did not answer at {url} within 60 s")

    def _wait_for_worker(self, host: str, timeout: float = 60) -> None:
        """Until this host's worker says it is alive, spawns to it are refused: the banner
        waits for it (the supervisor restarts a worker that fails meanwhile)."""
        started, deadline = timezone.now(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if Host.objects.filter(name=host, worker_seen_at__gte=started).exists():
                    return
            except DatabaseError:
                pass  # not migrated yet on a worker-only host: the web host's start migrates
            finally:
                connections_close_all()
            time.sleep(0.2)
        self.stderr.write(f"warning: the worker of host {host} has not said it is alive within {timeout:.0f} s; "
                          "agents cannot be spawned on it until it does (see its log above)")

    def _banner(self, options, token: str, link: str, parts: list[str]) -> None:
        orc = settings.TMUX_ORC
        base = f"http://{options['host']}:{options['port']}"
        lines = ["", "TMUX Orchestrator is running (" + ", ".join(parts) + ")."]
        if "web" in parts:
            lines += [
                f"  Dashboard: {link or base + '/'}" + ("   (logs you in, once)" if link else ""),
                f"  API:       {base}/   (send: Authorization: Bearer <token>)",
                f"  Docs:      {base}/docs",
                f"  Admin:     {base}/admin/",
                f"  Token:     {token}",
            ]
        if "worker" in parts:
            lines.append(f"  Agents:    tmux -L {orc.tmux_socket} attach   (host {orc.agent_host})")
        lines += ["Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
