"""Git worktrees for agents that work on a branch of their own: made when the agent
starts, removed when it is killed. The branch stays, and so does unfinished work (stashed)."""

from __future__ import annotations

import os
import subprocess

from orchestrator.errors import InvalidInput

GIT_TIMEOUT = 60


def _git(*args: str, cwd: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise InvalidInput("git is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"git {args[0]} took more than {GIT_TIMEOUT} s in {cwd}") from None


def check_repository(path: str, field: str = "project_path") -> str:
    """`path` as the top of a git work tree, or a clear error."""
    result = _git("rev-parse", "--show-toplevel", cwd=path)
    if result.returncode != 0:
        raise InvalidInput(f"{field}: {path!r} is not a git repository, so it cannot be split into worktrees")
    return result.stdout.strip()


def worktree_path(repository: str, session_name: str, window: str) -> str:
    """Beside the repository, not inside it, so its own status stays clean."""
    repository = os.path.normpath(repository)
    return os.path.join(f"{repository}-worktrees", session_name, window)


def worktree_ensure(*, repository: str, path: str, branch: str) -> None:
    """The worktree at `path` on `branch` (made from the current HEAD if new)."""
    if os.path.isdir(path):
        return
    exists = _git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=repository).returncode == 0
    args = ["worktree", "add", path, branch] if exists else ["worktree", "add", "-b", branch, path]
    result = _git(*args, cwd=repository)
    if result.returncode != 0:
        raise InvalidInput(f"git worktree add failed: {result.stderr.strip()}")


def worktree_remove(*, repository: str, path: str) -> str:
    """Remove the worktree; uncommitted work is stashed first. Returns what was done."""
    if not os.path.isdir(path):
        return ""
    note = ""
    if _git("status", "--porcelain", cwd=path).stdout.strip():
        _git("stash", "push", "--include-untracked", "-m", f"tmux-orc: left in {path}", cwd=path)
        note = "uncommitted work stashed; "
    result = _git("worktree", "remove", "--force", path, cwd=repository)
    if result.returncode != 0:
        return f"{note}worktree not removed: {result.stderr.strip()}"
    return f"{note}worktree removed"
