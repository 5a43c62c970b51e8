# One image for the web server, the worker (which owns tmux and runs the agents) and beat;
# docker-compose.yml runs it once per role. On its own it runs all of them, on SQLite and the
# embedded broker in /data:
#   docker build --build-arg AGENTS="claude codex" -t tmux-orchestrator .
#   docker run -d -p 8000:8000 -v orc-data:/data -v "$PWD/workspace:/workspace" tmux-orchestrator
#
# AGENTS: the agent programs the worker can run, any of claude codex gemini opencode aider, or ""
# for none (the shell profile needs nothing). Each is installed at its version in AGENT_PACKAGES:
# the one the test suite runs (tests/claude/package.json, tests/aider/requirements.txt) and its
# profile's screen markers were read from. tests/test_docker.py keeps them the same.
# USER_UID: the uid the service and its agents run as; give yours (`id -u`) so that the projects
# you mount from the host are theirs too.
FROM python:3.11-slim-trixie

ARG AGENTS="claude"
ARG AGENT_PACKAGES="claude=@anthropic-ai/claude-code@2.1.197 codex=@openai/codex@0.171.0 gemini=@google/gemini-cli@0.61.0 opencode=opencode-ai@1.18.33 aider=aider-chat==0.86.2"
ARG USER_UID=1000

# tmux: agents run in it. git: worktrees, and the agents' own work. tini: PID 1, so that what
# the agents leave behind is reaped and SIGTERM reaches the service. (Debian's versions: its
# security updates replace them, so they are not pinned.)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tmux git ca-certificates openssh-client tini \
    && rm -rf /var/lib/apt/lists/*

# The chosen agent programs: the npm ones with Node.js (Debian's, 20: Gemini CLI needs 20 or
# newer), Aider in a virtual environment of its own (its dependencies are not the service's).
# The versions are in AGENT_PACKAGES; the package lists are split into words on purpose.
# hadolint ignore=DL3008,DL3016,SC2086
RUN set -eu; npm_packages=""; aider_package=""; \
    for agent in $AGENTS; do \
        spec=""; \
        for entry in $AGENT_PACKAGES; do \
            if [ "${entry%%=*}" = "$agent" ]; then spec="${entry#*=}"; fi; \
        done; \
        case "$spec" in \
            "") echo "AGENTS: no agent program '$agent'; choose from: claude codex gemini opencode aider" >&2; exit 1 ;; \
            aider-chat==*) aider_package="$spec" ;; \
            *) npm_packages="$npm_packages $spec" ;; \
        esac; \
    done; \
    if [ -n "$npm_packages" ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends nodejs npm; \
        rm -rf /var/lib/apt/lists/*; \
        npm install --global --prefix /usr/local --no-audit --no-fund --loglevel=error $npm_packages; \
        npm cache clean --force; \
    fi; \
    if [ -n "$aider_package" ]; then \
        python -m venv /opt/aider; \
        /opt/aider/bin/pip install --no-cache-dir --disable-pip-version-check "$aider_package"; \
        ln -s /opt/aider/bin/aider /usr/local/bin/aider; \
    fi

# The service's user; agents run as it too, with its home (their programs' sign-ins live there).
# USER names it by number, so that a runtime can tell it is not root (Kubernetes' runAsNonRoot).
RUN useradd --create-home --home-dir /home/orchestrator --uid "$USER_UID" --shell /bin/bash orchestrator \
    && mkdir /data /workspace \
    && chown orchestrator:orchestrator /data /workspace

# Installed from the source tree (editable), so the templates and config/ are found beside it.
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps -e .

ENV TMUX_ORC_DATA_DIR=/data TMUX_ORC_HOST=0.0.0.0
USER ${USER_UID}
VOLUME ["/data", "/workspace"]
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tmux-orc", "server", "start"]
