"""Every job has a time limit, and the broker never hands out again a job still running."""

from django.conf import settings

from orchestrator.celery import app
from orchestrator.job_limits import MAX_CHECKS, check_run_limits, visibility_timeout


def registered_jobs() -> dict:
    app.loader.import_default_modules()  # every app's jobs module, as a worker loads them
    return {name: job for name, job in app.tasks.items() if not name.startswith("celery.")}


def test_the_visibility_timeout_outlasts_every_job():
    jobs = registered_jobs()
    timeout = visibility_timeout(settings.TMUX_ORC.check_timeout)

    assert {"tasks.run_checks", "agents.deliver_messages", "monitoring.sweep_host"} <= set(jobs)
    without_limit = sorted(name for name, job in jobs.items() if not job.time_limit)
    assert without_limit == []
    assert {name: job.time_limit for name, job in jobs.items() if job.time_limit >= timeout} == {}
    if settings.TMUX_ORC.redis_url:
        assert app.conf.broker_transport_options["visibility_timeout"] == timeout


def test_a_run_of_checks_may_take_each_checks_whole_timeout():
    soft, hard = check_run_limits(600.0, checks=3)
    assert 3 * 600 < soft < hard

    assert registered_jobs()["tasks.run_checks"].time_limit == check_run_limits(settings.TMUX_ORC.check_timeout)[1]
    assert visibility_timeout(3600.0) > check_run_limits(3600.0)[1] > MAX_CHECKS * 3600
