"""What a pane runs first: it reads the agent's launch file (its program's argv and its whole
environment), deletes it, and `exec`s the program with exactly that environment.

So nothing of the service's own environment reaches the agent, whatever the tmux server
holds, and the agent's token never appears in any process's argv (the file path does).
tmux's own TERM, TMUX and TMUX_PANE are kept: they describe the pane.

Standard library only, started with `python -I -S`. A launch that cannot happen says why
in the pane and exits 127, so the pane shows it and the sweep reports the crash.
"""

import json
import os
import sys

FROM_TMUX = ("TERM", "COLORTERM", "TMUX", "TMUX_PANE")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: launch.py LAUNCH_FILE", file=sys.stderr)
        return 127
    try:
        with open(sys.argv[1], encoding="utf-8") as handle:
            launch = json.load(handle)
        argv, environment = list(launch["argv"]), dict(launch["env"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"tmux-orc: cannot start the agent: its launch file {sys.argv[1]}: {error}", file=sys.stderr)
        return 127
    finally:
        try:
            os.unlink(sys.argv[1])
        except OSError:
            pass
    environment.update({name: os.environ[name] for name in FROM_TMUX if name in os.environ})
    try:
        os.execvpe(argv[0], argv, environment)
    except OSError as error:
        print(f"tmux-orc: cannot start {argv[0]}: {error.strerror}", file=sys.stderr)
    return 127


if __name__ == "__main__":
    sys.exit(main())
