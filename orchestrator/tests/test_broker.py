"""The embedded broker (orchestrator/broker.py), on real files and real processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path

from kombu import Connection

from orchestrator.broker import folders

BIG = "x" * 200_000  # large enough that writing it is not one instant


def connect(root: Path) -> Connection:
    options = {**folders(root), "polling_interval": 0.01}
    return Connection("filesystem://", transport="orchestrator.broker:Transport", transport_options=options)


def publish(root: str, start: int, count: int) -> None:
    with connect(Path(root)) as conn:
        queue = conn.SimpleQueue("jobs")
        for n in range(start, start + count):
            queue.put({"n": n, "body": BIG})


def consume(root: str, expected: int, taken, out) -> None:
    """Take messages until all `expected` were taken (by any consumer); report what came."""
    seen, errors = [], []
    deadline = time.monotonic() + 120
    with connect(Path(root)) as conn:
        queue = conn.SimpleQueue("jobs")
        while taken.value < expected and time.monotonic() < deadline:
            try:
                message = queue.get(block=True, timeout=0.2)
            except queue.Empty:
                continue
            except Exception as error:  # what kombu's own transport raises on a half-written file
                errors.append(repr(error))
                continue
            if message.payload.get("body") != BIG:
                errors.append(f"message {message.payload.get('n')} arrived cut short")
            seen.append(message.payload["n"])
            message.ack()
            with taken.get_lock():
                taken.value += 1
    out.put((seen, errors))


def test_messages_published_while_others_consume_arrive_whole_and_once(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    out, taken = spawn.Queue(), spawn.Value("i", 0)
    consumers = [spawn.Process(target=consume, args=(str(tmp_path), 300, taken, out)) for _ in range(3)]
    publishers = [spawn.Process(target=publish, args=(str(tmp_path), start, 150)) for start in (0, 1000)]
    for process in consumers + publishers:
        process.start()
    results = [out.get(timeout=180) for _ in consumers]
    for process in consumers + publishers:
        process.join(timeout=30)

    received = sorted(n for seen, _ in results for n in seen)
    errors = [error for _, found in results for error in found]
    assert errors == []
    assert received == list(range(150)) + list(range(1000, 1150))
    assert os.listdir(tmp_path / "queue") == [] and os.listdir(tmp_path / "incoming") == []


def test_an_unreadable_message_file_is_moved_aside_and_the_next_one_arrives(tmp_path, caplog):
    with connect(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        (tmp_path / "queue" / "000000000000001_bad.jobs.msg").write_bytes(b"")
        (tmp_path / "queue" / "000000000000002_bad.jobs.msg").write_bytes(b"{not json")
        (tmp_path / "queue" / "000000000000003_bad.jobs.msg").write_bytes(b'{"json": "but no message"}')
        queue.put({"n": 1})
        with caplog.at_level(logging.ERROR, logger="orchestrator.broker"):
            message = queue.get(block=True, timeout=5)
            message.ack()

    assert message.payload == {"n": 1}
    assert sorted(os.listdir(tmp_path / "unreadable")) == [f"00000000000000{n}_bad.jobs.msg" for n in (1, 2, 3)]
    assert os.listdir(tmp_path / "queue") == []
    assert "unreadable message file 000000000000001_bad.jobs.msg" in caplog.text

