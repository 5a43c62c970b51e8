"""The embedded broker against another that needs no server: latency and CPU.

Run: .venv/bin/python bench/broker.py [--messages 300] [--interval 0.02] [--idle 10]

For each transport, a consumer process polls one queue as a Celery worker does (every
0.1 s when it is empty) while this process publishes messages stamped with the time they
were sent; the consumer notes when each arrived. Printed: round-trip latency (median and
p99), the consumer's CPU per message under that load, and its CPU while the queue is
idle. Candidates: `orchestrator.broker` (kombu's filesystem transport with atomic renames)
and kombu's SQLAlchemy transport on SQLite (if SQLAlchemy is installed; it is in
requirements-dev.txt). Everything lives in a temporary directory, removed at the end.
It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POLL = 0.1  # what the service sets (CELERY_BROKER_TRANSPORT_OPTIONS polling_interval)


def connection(kind: str, workdir: Path):
    from kombu import Connection

    if kind == "filesystem":
        from orchestrator.broker import folders

        options = {**folders(workdir / "broker"), "polling_interval": POLL}
        return Connection("filesystem://", transport="orchestrator.broker:Transport", transport_options=options)
    conn = Connection(f"sqla+sqlite:///{workdir / 'broker.sqlite3'}")
    conn.transport.polling_interval = POLL  # its options go to SQLAlchemy's create_engine
    return conn


def consume(kind: str, workdir: str, count: int, idle: float, results) -> None:
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    with connection(kind, Path(workdir)) as conn:
        queue = conn.SimpleQueue("bench")
        start_idle = cpu()
        deadline = time.monotonic() + idle
        while time.monotonic() < deadline:  # nothing is sent yet: what an idle worker costs
            try:
                queue.get(block=True, timeout=deadline - time.monotonic()).ack()
            except queue.Empty:
                pass
        idle_cpu = cpu() - start_idle
        results.put("ready")
        latencies, start_busy = [], cpu()
        while len(latencies) < count:
            message = queue.get(block=True, timeout=30)
            latencies.append(time.monotonic() - message.payload["sent"])
            message.ack()
        results.put(json.dumps({"latencies": latencies, "busy_cpu": cpu() - start_busy, "idle_cpu": idle_cpu}))


def measure(kind: str, messages: int, interval: float, idle: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"tmux-orc-broker-{kind}-"))
    try:
        with connection(kind, workdir) as conn:
            conn.SimpleQueue("bench").qsize()  # declares the queue (and makes SQLite's tables)
        results = multiprocessing.get_context("spawn").Queue()
        consumer = multiprocessing.get_context("spawn").Process(
            target=consume, args=(kind, str(workdir), messages, idle, results))
        consumer.start()
        assert results.get(timeout=idle + 60) == "ready"
        with connection(kind, workdir) as conn:
            queue = conn.SimpleQueue("bench")
            for _ in range(messages):
                queue.put({"sent": time.monotonic()})
                time.sleep(interval)  # the load's pace, not a wait for anything
        figures = json.loads(results.get(timeout=120))
        consumer.join(timeout=30)
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between messages")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle polling measured")
    args = parser.parse_args()
    kinds = ["filesystem"]
    try:
        import sqlalchemy  # noqa: F401

        kinds.append("sqlalchemy-sqlite")
    except ImportError:
        print("SQLAlchemy is not installed: only the filesystem broker is measured")
    print(f"{args.messages} messages, one every {args.interval * 1000:.0f} ms; consumer polls every {POLL} s")
    for kind in kinds:
        figures = measure(kind, args.messages, args.interval, args.idle)
        latencies = sorted(figures["latencies"])
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"{kind:18} latency median {statistics.median(latencies) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
              f"  CPU {figures['busy_cpu'] / args.messages * 1000:5.2f} ms/message"
              f"  idle {figures['idle_cpu'] / args.idle * 100:4.1f} % of a core")


if __name__ == "__main__":
    main()
