"""A small stand-in for the OpenAI Responses API, on loopback, for running the real Codex
CLI offline. It records every request Codex sends: that record is the ground truth of what
an agent was really given.

Turns of the conversation (requests that offer tools) are answered from a script:
`reply_text("...")`, `reply_text("...", delay=5)` to stay busy for a while, or
`reply_tool("exec_command", {"cmd": "...", "sandbox_permissions": "require_escalated"})` to
make Codex ask for permission. With an empty script a turn gets a short text. Side requests (the title Codex asks for on a
thread's first message) get a short text at once.

Each answer is a stream of server-sent events as the API sends them (less the
content_part events, which Codex ignores). What Codex 0.171.0 needs of it: the message in
`response.output_item.done` (deltas alone leave the turn without a text) and
`response.completed` with the response's id (without it the turn ends in "stream
disconnected before completion").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.model_stub import ModelStub, Reply, read_json, send_events


@dataclass
class OpenAIStub(ModelStub):
    # -- what Codex sent ------------------------------------------------------------------
    def submitted(self) -> list[str]:
        """What the user submitted, in order: the text of the user message that opened each
        turn (a turn that goes on after a tool's result is not a new one)."""
        texts = []
        for request in self.turns():
            items = request.get("input") if isinstance(request.get("input"), list) else []
            items = [item for item in items if isinstance(item, dict)]
            if not items or items[-1].get("role") != "user":
                continue
            content = items[-1].get("content", [])
            if isinstance(content, str):
                content = [{"type": "input_text", "text": content}]
            texts += [part["text"] for part in content if part.get("type") == "input_text" and part.get("text")]
        return texts

    def conversation(self, index: int = -1) -> list[str]:
        """The user texts a turn carried, earlier turns included: what Codex remembers."""
        items = self.turns()[index].get("input") or []
        return [part.get("text", "") for item in items if isinstance(item, dict) and item.get("role") == "user"
                for part in (item.get("content") or []) if isinstance(part, dict) and part.get("type") == "input_text"]

    # -- serving --------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free loopback port; the base URL a provider is given (…/v1)."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                request = read_json(self)
                turn = bool(request.get("tools"))  # a side request (the thread's title) offers none
                reply = stub.take(request, Reply("Done." if turn else "Stub title"))
                time.sleep(reply.delay)  # the model "thinking": what keeps the agent busy
                send_events(self, _events(request.get("model", "stub-model"), reply))
                if turn:
                    stub.turn_answered()

        return f"http://127.0.0.1:{self.serve(Handler)}/v1"


def _sse(data: dict) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _events(model: str, reply: Reply) -> bytes:
    stamp = time.time_ns()
    response_id, item_id = f"resp_{stamp}", f"msg_{stamp}"
    response = {"id": response_id, "object": "response", "created_at": stamp // 10**9, "model": model,
                "status": "in_progress", "output": []}
    if reply.tool:
        name, arguments = reply.tool
        started = {"id": f"fc_{stamp}", "type": "function_call", "status": "in_progress", "call_id": f"call_{stamp}",
                   "name": name, "arguments": ""}
        finished = {**started, "status": "completed", "arguments": json.dumps(arguments)}
        delta = _sse({"type": "response.function_call_arguments.delta", "item_id": started["id"], "output_index": 0,
                      "delta": finished["arguments"]})
    else:
        started = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
        finished = {**started, "status": "completed",
                    "content": [{"type": "output_text", "text": reply.text, "annotations": []}]}
        delta = _sse({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0,
                      "delta": reply.text})
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
    return b"".join([
        _sse({"type": "response.created", "response": response}),
        _sse({"type": "response.output_item.added", "output_index": 0, "item": started}),
        delta,
        _sse({"type": "response.output_item.done", "output_index": 0, "item": finished}),
        _sse({"type": "response.completed",
              "response": {**response, "status": "completed", "output": [finished], "usage": usage}}),
    ])
