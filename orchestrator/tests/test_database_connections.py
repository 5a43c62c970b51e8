"""The web server on PostgreSQL: many requests waiting at once share a bounded number of
connections, and every one of them is answered (those beyond the waits allowed, at once)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from conftest import ROOT, TEST_CONFIG, wait_for
from orchestrator.config import load
from tests.support import SERVICE_ENV, Output, database_url_of_tests, free_port, stop

pytestmark = pytest.mark.smoke
REQUESTS, WAIT = 100, 5
MAX_WAITS = 30  # per web process
# `tmux-orc server start` itself keeps the pool it migrated with: a connection or two.
SUPERVISOR_CONNECTIONS = 2


def database_url(name: str) -> str:
    return database_url_of_tests().rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def fresh_database():
    """A database of this test's own on the tests' PostgreSQL server, dropped at the end."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        if os.environ.get("CI"):
            pytest.fail("DATABASE_URL must name PostgreSQL in CI")
        pytest.skip("set DATABASE_URL to a PostgreSQL database to count the web server's connections")
    name = f"tmux_orc_connections_{secrets.token_hex(4)}"
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name, admin
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def call(url: str, token: str, payload: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=WAIT + 60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_hundred_waiting_requests_are_answered_on_a_bounded_number_of_connections(fresh_database, tmp_path):
    name, admin = fresh_database
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV and not k.startswith("TMUX_ORC_")}
    env.update(DATABASE_URL=database_url(name), TMUX_TMPDIR=str(tmp_path), TMUX_ORC_DATA_DIR=str(tmp_path / "data"),
               TMUX_ORC_PORT=str(port), TMUX_ORC_TMUX_SOCKET=f"conn-{secrets.token_hex(4)}",
               TMUX_ORC_CONFIG=str(TEST_CONFIG), TMUX_ORC_WORKERS="2", TMUX_ORC_DB_POOL_SIZE="5",
               TMUX_ORC_AGENT_HOST=f"absent-{secrets.token_hex(4)}",  # no worker: the message stays queued
               TMUX_ORC_DEFAULT_TIMEOUT="1",  # so the spawn answers without one
               TMUX_ORC_MAX_WAITS=str(MAX_WAITS))
    served = load(env)
    bound = served.db_pool_size * served.workers + SUPERVISOR_CONNECTIONS
    process = subprocess.Popen([str(Path(sys.executable).with_name("tmux-orc")), "server", "start", "--only", "web"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output = Output(process)
    try:
        wait_for(lambda: "Token:" in output.text or process.poll() is not None, timeout=120, message="the banner")
        assert process.poll() is None, output.text
        token, base = re.search(r"Token:\s+(\S+)", output.text).group(1), f"http://127.0.0.1:{port}"
        # The host's worker said it was alive, then took nothing: the message stays queued.
        with psycopg.connect(database_url(name), autocommit=True) as db:
            db.execute("INSERT INTO agents_host (name, worker_seen_at, load) VALUES (%s, now(), '{}')",
                       [env["TMUX_ORC_AGENT_HOST"]])
        status, spawned = call(f"{base}/agents/spawn", token, {"session_name": "conn", "agent_type": "developer",
                                                               "project_path": str(tmp_path), "profile": "shell"})
        assert status == 202, spawned
        status, sent = call(f"{base}/messages/send", token, {"target": spawned["data"]["target"], "message": "hi"})
        assert status == 201, sent
        url = f"{base}/messages/{sent['data']['id']}?wait={WAIT}"
        count = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        peak = 0

        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            answers = [pool.submit(call, url, token) for _ in range(REQUESTS)]

            def all_answered() -> bool:
                nonlocal peak
                peak = max(peak, admin.execute(count, [name]).fetchone()[0])
                return all(answer.done() for answer in answers)

            wait_for(all_answered, timeout=WAIT + 90, interval=0.02, message="answers to every request")

        results = [answer.result() for answer in answers]
        statuses = Counter(status for status, _ in results)
        # Each web process lets MAX_WAITS wait; the rest are told 429 at once, not left hanging.
        assert set(statuses) <= {200, 429} and MAX_WAITS <= statuses[200] <= MAX_WAITS * served.workers, (
            statuses, output.text[-3000:])
        assert {body["data"]["status"] for status, body in results if status == 200} == {"queued"}
        assert all("already waiting" in body["error_message"] for status, body in results if status == 429)
        assert peak <= bound, f"{peak} connections at the peak; at most {bound} expected"
    finally:
        stop(process)
