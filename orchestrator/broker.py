"""The embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's own transport creates a message file and then writes into it, so a consumer in
another process can take the file in between and read nothing, which stops a Celery
worker for good (kombu issue #1551). Here a message is written under a temporary name
in a folder beside the queue, on the same filesystem, and renamed into the queue: a
rename is atomic, so a consumer sees a complete file or none. A consumer takes a file by
renaming it into the claim folder; only one rename of a file succeeds, so exactly one
consumer gets each message. A file
that cannot be read anyway (a disk fault, a hand edit) is logged and moved aside.

Why this over the other transport that needs no server, kombu's SQLAlchemy one on
SQLite: `bench/broker.py` (200 messages 20 ms apart, consumers polling every 0.1 s as
the worker does) measured a median round trip of 51 ms (p99 101 ms) here against 73 ms
(p99 235 ms), 0.35 ms of CPU per message against 4.7 ms, and 0.3 % of a core for an idle
consumer against 2.9 %. It would also add a dependency and a second SQLite writer.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from queue import Empty

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

log = logging.getLogger(__name__)


def folders(root: Path) -> dict[str, str]:
    """The transport options for a broker kept in `root` (created if missing)."""
    names = {"data_folder_in": "queue", "data_folder_out": "queue", "processed_folder": "claimed",
             "control_folder": "control", "incoming_folder": "incoming", "unreadable_folder": "unreadable"}
    options = {option: str(root / name) for option, name in names.items()}
    for path in set(options.values()):
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)
    return options


class Channel(filesystem.Channel):
    @cached_property
    def incoming_folder(self) -> str:
        return self.transport_options["incoming_folder"]

    @cached_property
    def unreadable_folder(self) -> str:
        return self.transport_options["unreadable_folder"]

    def _put(self, queue, payload, **kwargs):
        """Write the whole message beside the queue, then rename it in."""
        name = f"{filesystem.monotonic() * 1000:015.0f}_{uuid.uuid4()}.{queue}.msg"
        staged = os.path.join(self.incoming_folder, name)
        try:
            with open(staged, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.rename(staged, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add message {name!r} to the queue folder") from exc

    def _get(self, queue):
        """The oldest message of `queue` that this consumer could claim and read."""
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer took it first
            payload = self._read(claimed)
            if payload is not None:
                return payload
        raise Empty()

    def _read(self, path: str) -> dict | None:
        """The message in `path`, which is then removed; None (and the file moved aside)
        if it cannot be read."""
        try:
            with open(path, "rb") as file:
                payload = loads(bytes_to_str(file.read()))
            if not (isinstance(payload, dict) and {"body", "properties"} <= payload.keys()):
                raise ValueError("not a message: a JSON object with its body and properties")
        except (OSError, ValueError) as error:
            aside = os.path.join(self.unreadable_folder, os.path.basename(path))
            log.error("broker: unreadable message file %s (%s); moved to %s", os.path.basename(path), error, aside)
            try:
                os.replace(path, aside)
            except OSError:
                pass
            return None
        os.remove(path)
        return payload


class Transport(filesystem.Transport):
    Channel = Channel
