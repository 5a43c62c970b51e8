"""A small stand-in for the Anthropic Messages API, on loopback, for running the real
Claude Code offline. It records every request Claude Code sends: that record is the
ground truth of what an agent was really given.

Turns of the conversation (requests that offer tools) are answered from a script:
`reply_text("...")`, `reply_text("...", delay=5)` to stay busy for a while, or
`reply_tool("Bash", {"command": "ls"})` to make Claude Code ask for permission. With an
empty script a turn gets a short text. Side requests (titles, summaries) get a short text.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.model_stub import ModelStub, Reply, read_json, send_events


@dataclass
class AnthropicStub(ModelStub):
    # -- what Claude Code sent ------------------------------------------------------------
    def submitted(self) -> list[str]:
        """What the user submitted, in order: the new user text that opened each turn.
        A message submitted twice opens two turns, so it is here twice."""
        texts = []
        for request in self.turns():
            messages = [m for m in request.get("messages", []) if m.get("role") == "user"]
            content = messages[-1].get("content", []) if messages else []
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            for block in content:
                text = block.get("text", "") if block.get("type") == "text" else ""
                if text and not text.startswith(("<system-reminder>", "[Request interrupted")):
                    texts.append(text)
        return texts

    def conversation(self, index: int = -1) -> list[str]:
        """The user texts a turn carried, earlier turns included: what Claude Code remembers."""
        texts = []
        for message in self.turns()[index].get("messages", []):
            content = message.get("content", [])
            if message.get("role") == "user":
                texts += [content] if isinstance(content, str) else [
                    block.get("text", "") for block in content if block.get("type") == "text"]
        return texts

    # -- serving --------------------------------------------------------------------------
    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self._json({})

            def do_GET(self):
                self._json({})

            def do_POST(self):
                request = read_json(self)
                if "count_tokens" in self.path:
                    return self._json({"input_tokens": 10})
                reply = stub.take(request, Reply(text="Done."))
                time.sleep(reply.delay)  # the model "thinking": what keeps the agent busy
                blocks = _blocks(reply)
                if request.get("stream"):
                    send_events(self, _events(request.get("model", "claude"), blocks, reply))
                    if request.get("tools"):
                        stub.turn_answered()
                else:
                    self._json({"id": "msg_stub", "type": "message", "role": "assistant",
                                "model": request.get("model", "claude"), "content": blocks,
                                "stop_reason": "tool_use" if reply.tool else "end_turn", "stop_sequence": None,
                                "usage": {"input_tokens": 10, "output_tokens": 5}})

            def _json(self, data):
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return f"http://127.0.0.1:{self.serve(Handler)}"


def _blocks(reply: Reply) -> list[dict]:
    if reply.tool:
        name, arguments = reply.tool
        return [{"type": "tool_use", "id": f"toolu_{int(time.time() * 1000)}", "name": name, "input": arguments}]
    return [{"type": "text", "text": reply.text}]


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _events(model: str, blocks: list[dict], reply: Reply) -> bytes:
    usage = {"input_tokens": 10, "output_tokens": 1}
    parts = [_sse("message_start", {"type": "message_start", "message": {
        "id": "msg_stub", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}})]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        parts += [
            _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
            _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            _sse("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    stop_reason = "tool_use" if reply.tool else "end_turn"
    parts += [
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": {"output_tokens": 5}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(parts)
