"""The embedded broker (orchestrator/broker.py), on real files and real processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
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


def consume(root: str, until_empty_for: float, out) -> None:
    """Take messages until none has come for `until_empty_for` seconds; report what came."""
    seen, errors = [], []
    with connect(Path(root)) as conn:
        queue = conn.SimpleQueue("jobs")
        while True:
            try:
                message = queue.get(block=True, timeout=until_empty_for)
            except queue.Empty:
                break
            except Exception as error:  # what kombu's own transport raises on a half-written file
                errors.append(repr(error))
                continue
            if message.payload.get("body") != BIG:
                errors.append(f"message {message.payload.get('n')} arrived cut short")
            seen.append(message.payload["n"])
            message.ack()
    out.put((seen, errors))


def test_messages_published_while_others_consume_arrive_whole_and_once(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    consumers = [spawn.Process(target=consume, args=(str(tmp_path), 5.0, out)) for _ in range(3)]
    publishers = [spawn.Process(target=publish, args=(str(tmp_path), start, 150)) for start in (0, 1000)]
    for process in consumers + publishers:
        process.start()
    results = [out.get(timeout=120) for _ in consumers]
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
        queue.put({"n": 1})
        with caplog.at_level(logging.ERROR, logger="orchestrator.broker"):
            message = queue.get(block=True, timeout=5)
            message.ack()

    assert message.payload == {"n": 1}
    assert sorted(os.listdir(tmp_path / "unreadable")) == ["000000000000001_bad.jobs.msg",
                                                          "000000000000002_bad.jobs.msg"]
    assert os.listdir(tmp_path / "queue") == []
    assert "unreadable message file 000000000000001_bad.jobs.msg" in caplog.text

