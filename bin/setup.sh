# Sourced by bin/run and bin/test: check the machine, then make .venv with the pinned
# dependencies. Installs only when a requirements file changed since the last time.
# Usage: setup_venv REQUIREMENTS_FILE

require_tmux() {
  if ! command -v tmux >/dev/null 2>&1; then
    printf '%s\n' "tmux is not installed, and agents run in tmux. Install it, then run this again:" \
      "  Debian/Ubuntu:  sudo apt-get install tmux" \
      "  Fedora:         sudo dnf install tmux" \
      "  macOS:          brew install tmux" >&2
    exit 1
  fi
}

# The tests drive agents that use git (worktrees) and curl (the API from inside a pane).
require_test_tools() {
  local missing=()
  for tool in git curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  if ((${#missing[@]})); then
    echo "The tests need ${missing[*]}; install it (Debian/Ubuntu: sudo apt-get install ${missing[*]})." >&2
    exit 1
  fi
}

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11 to choose one)." >&2
  exit 1
}

# The real agent programs the tests run (tests/claude: Claude Code from npm).
setup_test_agents() {
  # The agent programs the tests run for real, at the versions in tests/claude/package-lock.json
  # (Claude Code, Codex, Gemini CLI, opencode) and tests/aider/requirements.txt (Aider, in a
  # virtual environment of its own). One that cannot be installed is skipped by its tests.
  local dir=tests/claude aider=tests/aider
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the tests against the real Claude Code, Codex, Gemini CLI and opencode will be skipped." >&2
  elif [ ! -e "$dir/node_modules/.installed" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.installed" ]; then
    echo "Installing the agent programs for the tests (npm, $dir) ..." >&2
    # `npm install`, not `npm ci`: the lock cannot list opencode's builds for other platforms
    # (the registry here has only this one's), and `npm ci` refuses a lock that lacks them.
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) && touch "$dir/node_modules/.installed"
  fi
  if [ ! -e "$aider/venv/.installed" ] || [ "$aider/requirements.txt" -nt "$aider/venv/.installed" ]; then
    echo "Installing Aider for the tests (pip, $aider/venv) ..." >&2
    { [ -x "$aider/venv/bin/python" ] || "$(find_python)" -m venv "$aider/venv"; } &&
      "$aider/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$aider/requirements.txt" &&
      touch "$aider/venv/.installed" ||
      echo "Aider could not be installed: its tests will be skipped." >&2
  fi
}

setup_venv() {
  local requirements=$1 venv=${TMUX_ORC_VENV:-.venv}
  if [ ! -x "$venv/bin/python" ]; then
    echo "Creating the virtual environment in $venv ..." >&2
    "$(find_python)" -m venv "$venv"
  fi
  local stamp="$venv/.installed-$(cat "$requirements" requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -e "$stamp" ]; then
    echo "Installing pinned dependencies from $requirements ..." >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    touch "$stamp"
  fi
  export PATH="$PWD/$venv/bin:$PATH"
}
