"""A small stand-in for the Gemini API, on loopback, for running the real Gemini CLI offline
(GOOGLE_GEMINI_BASE_URL points at it). It records every request: that record is the ground
truth of what an agent was really given.

Turns of the conversation (`:streamGenerateContent` requests that offer tools) are answered
from a script: `reply_text("...")`, `reply_text("...", delay=5)`, or
`reply_tool("run_shell_command", {"command": "..."})` to make Gemini CLI ask for
permission. Anything else (`:generateContent` helpers, `:countTokens`) is answered at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.model_stub import ModelStub, Reply, read_json, send_events

CONTEXT = "<session_context>"  # what Gemini CLI puts in front of a session's first message


@dataclass
class GeminiStub(ModelStub):
    def is_turn(self, request: dict) -> bool:
        return request.get("_path", "").endswith(":streamGenerateContent") and bool(request.get("tools"))

    # -- what Gemini CLI sent -------------------------------------------------------------
    def submitted(self) -> list[str]:
        """What the user submitted, in order: the text of each turn that opened with the
        user's words (a turn that carries a tool's result is not a new one)."""
        texts = []
        for request in self.turns():
            contents = request.get("contents", [])
            if not contents or contents[-1].get("role") != "user":
                continue
            parts = [p["text"] for p in contents[-1].get("parts", []) if isinstance(p.get("text"), str)]
            parts = [p for p in parts if not p.startswith(CONTEXT)]
            if parts:
                texts.append("".join(parts))
        return texts

    def conversation(self, index: int = -1) -> list[str]:
        """The user texts a turn carried, earlier turns included."""
        request = self.turns()[index]
        return ["".join(p.get("text", "") for p in c.get("parts", []) if isinstance(p.get("text"), str))
                for c in request.get("contents", []) if c.get("role") == "user"]

    # -- serving --------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free loopback port; the base URL (GOOGLE_GEMINI_BASE_URL)."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._json({})

            def do_POST(self):
                request = read_json(self)
                path = self.path.split("?", 1)[0]
                request["_path"] = path
                if path.endswith(":countTokens"):
                    stub.take(request, Reply())
                    return self._json({"totalTokens": 10})
                turn = stub.is_turn(request)
                reply = stub.take(request, Reply("Done." if turn else '{"next_speaker": "user"}'))
                time.sleep(reply.delay)  # the model "thinking": what keeps the agent busy
                model = path.rsplit("/", 1)[-1].split(":", 1)[0]
                answer = _answer(model, reply)
                if path.endswith(":streamGenerateContent"):
                    send_events(self, f"data: {json.dumps(answer)}\n\n".encode())
                else:
                    self._json(answer)
                if turn:
                    stub.turn_answered()

            def _json(self, data):
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return f"http://127.0.0.1:{self.serve(Handler)}"


def _answer(model: str, reply: Reply) -> dict:
    if reply.tool:
        name, arguments = reply.tool
        part = {"functionCall": {"name": name, "args": arguments}}
    else:
        part = {"text": reply.text}
    return {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": model}
