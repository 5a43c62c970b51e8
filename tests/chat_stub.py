"""A small stand-in for the OpenAI chat completions API (`POST /v1/chat/completions`), on
loopback, for running the real Aider and opencode offline. It records every request: that
record is the ground truth of what an agent was really given.

Turns of the conversation are answered from a script: `reply_text("...")`,
`reply_text("...", delay=5)` to stay busy, or `reply_tool("bash", {...})` to make a
program that offers tools (opencode) ask for permission. Aider offers no tools: every
streamed request of it is a turn, and a shell block in an answer makes it ask. Side
requests (opencode's title) get a short text at once.

Answers are streams of `chat.completion.chunk` events ending in `data: [DONE]`; a request
that does not ask to stream gets one `chat.completion`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.model_stub import ModelStub, Reply, read_json, send_events

TITLE_ASKED = ("title generator", "generate a title", "short title")


@dataclass
class ChatStub(ModelStub):
    def is_turn(self, request: dict) -> bool:
        if not request.get("stream"):
            return False
        system = " ".join(_text(m.get("content")) for m in request.get("messages", []) if m.get("role") == "system")
        return not any(words in system.lower() for words in TITLE_ASKED)

    # -- what the program sent ------------------------------------------------------------
    def submitted(self) -> list[str]:
        """What the user submitted, in order: the last user message of each turn that opened
        with a user message (a turn that goes on after a tool's result is not a new one)."""
        texts = []
        for request in self.turns():
            messages = [m for m in request.get("messages", []) if m.get("role") != "system"]
            if messages and messages[-1].get("role") == "user":
                texts.append(_text(messages[-1].get("content")))
        return texts

    def conversation(self, index: int = -1) -> list[str]:
        """The user texts a turn carried, earlier turns included: what the program remembers."""
        request = self.turns()[index]
        return [_text(m.get("content")) for m in request.get("messages", []) if m.get("role") == "user"]

    # -- serving --------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free loopback port; the base URL a provider is given (…/v1)."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # a models list, for programs that ask
                payload = json.dumps({"object": "list", "data": [{"id": "stub-model", "object": "model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                request = read_json(self)
                turn = stub.is_turn(request)
                reply = stub.take(request, Reply("Done." if turn else "Stub title"))
                time.sleep(reply.delay)  # the model "thinking": what keeps the agent busy
                model = request.get("model", "stub-model")
                if request.get("stream"):
                    send_events(self, _events(model, reply))
                else:
                    payload = json.dumps(_completion(model, reply)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                if turn:
                    stub.turn_answered()

        return f"http://127.0.0.1:{self.serve(Handler)}/v1"


def _text(content) -> str:
    """A message's text, whether the content is a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def _tool_calls(reply: Reply) -> list[dict]:
    name, arguments = reply.tool
    return [{"index": 0, "id": f"call_{time.time_ns()}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(arguments)}}]


def _completion(model: str, reply: Reply) -> dict:
    message = {"role": "assistant", "content": None if reply.tool else reply.text}
    if reply.tool:
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in _tool_calls(reply)]
    return {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "usage": USAGE, "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool else "stop"}]}


def _events(model: str, reply: Reply) -> bytes:
    head = {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
        data = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data)}\n\n".encode()

    if reply.tool:
        body = chunk({"role": "assistant", "content": None, "tool_calls": _tool_calls(reply)})
        finish = "tool_calls"
    else:
        body = chunk({"role": "assistant", "content": reply.text})
        finish = "stop"
    return body + chunk({}, finish) + chunk({}, None, usage=USAGE) + b"data: [DONE]\n\n"
