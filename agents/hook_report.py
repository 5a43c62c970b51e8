"""What an agent program's hook runs: it sends the hook's JSON (on stdin, or as its last
argument) to the orchestrator with the agent's own token, and gets out of the way.

Standard library only, started with `python -I -S`, so it costs the program a few tens of
milliseconds. It prints nothing (Claude Code would add a UserPromptSubmit hook's output to
the prompt) and always exits 0: the agent must never wait on, or fail for, the orchestrator.
"""

import os
import sys
import urllib.request

TIMEOUT = 3.0


def main() -> int:
    url, token = os.environ.get("TMUX_ORC_URL", ""), os.environ.get("TMUX_ORC_TOKEN", "")
    if not url or not token:
        return 0
    try:
        # Claude Code writes the event on stdin; Codex passes it as the last argument.
        body = sys.argv[-1].encode() if len(sys.argv) > 1 else sys.stdin.buffer.read(1_000_000)
        request = urllib.request.Request(
            f"{url.rstrip('/')}/agents/hook", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=TIMEOUT).close()
    except Exception:  # noqa: BLE001 - whatever went wrong, the agent goes on
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
