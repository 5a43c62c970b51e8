"""What the model API stubs share: a script of replies, a record of every request, the times
turns were answered, and a loopback server. tests/anthropic_stub.py and tests/openai_stub.py
speak the wire formats."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str = ""
    tool: tuple[str, dict] | None = None
    delay: float = 0.0


@dataclass
class ModelStub:
    requests: list[dict] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)  # time.time() each turn's answer was sent
    script: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def reply_text(self, text: str, delay: float = 0.0) -> None:
        with self.lock:
            self.script.append(Reply(text=text, delay=delay))

    def reply_tool(self, name: str, arguments: dict, delay: float = 0.0) -> None:
        """The next turn asks to run the tool `name` (the program then asks for permission)."""
        with self.lock:
            self.script.append(Reply(tool=(name, arguments), delay=delay))

    def is_turn(self, request: dict) -> bool:
        """A turn of the conversation offers tools; side requests (titles, summaries) do not."""
        return bool(request.get("tools"))

    def turns(self) -> list[dict]:
        """The requests that were turns of the conversation."""
        with self.lock:
            return [r for r in self.requests if self.is_turn(r)]

    def take(self, request: dict, default: Reply) -> Reply:
        """Record `request`; a turn gets the next scripted reply, anything else `default`."""
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.is_turn(request) and self.script else default

    def turn_answered(self) -> None:
        with self.lock:
            self.answered.append(time.time())

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> int:
        """Serve `handler` on a free loopback port, in a thread; the port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.server_address[1]

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def read_json(handler: BaseHTTPRequestHandler) -> dict:
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def send_events(handler: BaseHTTPRequestHandler, events: bytes) -> None:
    """Answer with a whole stream of server-sent events, then close the connection."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(events)
    handler.wfile.flush()
    handler.close_connection = True
