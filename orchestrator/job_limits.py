"""How long the longest job may run, in one place, because the broker depends on it.

Redis gives a job that a worker took but has not acknowledged to another worker after
the visibility timeout; jobs acknowledge when they end (acks_late), so a job still running
then would run a second time. The longest job is a run of a task's checks: each check may
take all of TMUX_ORC_CHECK_TIMEOUT. Every other job stops within minutes (see their
`time_limit`s; orchestrator/tests/test_job_limits.py holds them all to this).
"""

MAX_CHECKS = 50  # a task has at most this many checks
CHECK_RUN_OVERHEAD = 60  # seconds for the rest of a run: loading the task, writing results
SOFT_TO_HARD = 30  # seconds between a job being told to stop and being killed
VISIBILITY_MARGIN = 300  # seconds past the longest time limit before Redis hands a job out again


def check_run_limits(check_timeout: float, checks: int = MAX_CHECKS) -> tuple[int, int]:
    """(soft, hard) time limits, in seconds, of a run of `checks` checks."""
    soft = round(check_timeout * max(1, checks)) + CHECK_RUN_OVERHEAD
    return soft, soft + SOFT_TO_HARD


def visibility_timeout(check_timeout: float) -> int:
    """Seconds Redis waits for a taken job's acknowledgement: longer than any job may run."""
    return check_run_limits(check_timeout)[1] + VISIBILITY_MARGIN
