"""A task's checks run once per request however many copies of their job arrive; a run
whose worker stopped is taken over after its time limit, and one whose job went missing
is started again."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from conftest import wait_for
from tasks.models import Task
from tasks.services import task_checks_resume, task_create, task_run_checks, task_set_status


def asked_for_done(path, command: str, **fields) -> Task:
    """An in-progress task whose checks were asked for (their job not run yet)."""
    path.mkdir(exist_ok=True)
    task = task_create(title="Ship it", checks=[command], project_path=str(path))
    Task.objects.filter(pk=task.pk).update(**{"status": "in_progress", "checks_requested_at": timezone.now(), **fields})
    task.refresh_from_db()
    return task


def run_job(task: Task) -> None:
    """What the worker does with one copy of the job."""
    task_run_checks(task_id=task.pk, from_status="in_progress")


def run_job_in_a_thread(task: Task) -> threading.Thread:
    def run():
        try:
            run_job(task)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_second_copy_of_the_check_job_does_nothing_while_the_first_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "check_timeout", 20.0)  # bounds the check if a copy ran it too
    runs, go = tmp_path / "runs.txt", tmp_path / "go"
    task = asked_for_done(tmp_path / "project", f"echo ran >> {runs}; while [ ! -e {go} ]; do sleep 0.05; done")
    first = run_job_in_a_thread(task)
    wait_for(runs.exists, message="the first copy's check to start")

    run_job(task)  # redelivered, or enqueued twice, while the first copy runs
    go.touch()
    first.join(timeout=30)
    run_job(task)  # and once more after it finished

    assert runs.read_text() == "ran\n"
    task.refresh_from_db()
    assert task.status == "done" and not task.checks_running
    assert task.checks_claimed_by == "" and task.checks_claimed_until is None
    assert [r["passed"] for r in task.check_results] == [True]


@pytest.mark.django_db
def test_a_run_whose_worker_stopped_is_taken_over_once_its_time_limit_is_over(tmp_path):
    runs = tmp_path / "runs.txt"
    task = asked_for_done(tmp_path / "project", f"echo ran >> {runs}", checks_claimed_by="gone:4242:abc123",
                          checks_claimed_until=timezone.now() + timedelta(minutes=5))

    run_job(task)
    assert not runs.exists()  # within its time limit the run may still be going: left alone
    Task.objects.filter(pk=task.pk).update(checks_claimed_until=timezone.now() - timedelta(seconds=1))
    run_job(task)

    assert runs.read_text() == "ran\n"
    task.refresh_from_db()
    assert task.status == "done"
    assert any("taken over from gone:4242:abc123" in event.note for event in task.events.all())


@pytest.mark.django_db
def test_checks_whose_job_went_missing_are_run_again_and_others_are_left_alone(tmp_path, eager_jobs,
                                                                               django_capture_on_commit_callbacks):
    long_ago, later = timezone.now() - timedelta(minutes=5), timezone.now() + timedelta(minutes=5)
    never_started = asked_for_done(tmp_path / "a", "true", checks_requested_at=long_ago)
    abandoned = asked_for_done(tmp_path / "b", "true", checks_requested_at=long_ago,
                               checks_claimed_by="gone:1:x", checks_claimed_until=long_ago)
    just_asked = asked_for_done(tmp_path / "c", "true")  # its job may still be on its way
    running = asked_for_done(tmp_path / "d", "true", checks_requested_at=long_ago,
                             checks_claimed_by="alive:1:y", checks_claimed_until=later)

    with django_capture_on_commit_callbacks(execute=True):  # jobs are queued once the transaction commits
        assert task_checks_resume() == 2

    status = dict(Task.objects.values_list("pk", "status"))
    assert status[never_started.pk] == status[abandoned.pk] == "done"
    assert status[just_asked.pk] == status[running.pk] == "in_progress"
    assert Task.objects.get(pk=running.pk).checks_claimed_by == "alive:1:y"


@pytest.mark.django_db(transaction=True)
def test_a_run_overtaken_by_a_newer_request_leaves_its_results_to_the_newer_run(tmp_path, monkeypatch):
    monkeypatch.setattr(settings.TMUX_ORC, "check_timeout", 20.0)
    runs, go = tmp_path / "runs.txt", tmp_path / "go"
    task = asked_for_done(tmp_path / "project", f"echo ran >> {runs}; while [ ! -e {go} ]; do sleep 0.05; done")
    first = run_job_in_a_thread(task)
    wait_for(runs.exists, message="the first run's check to start")

    task_set_status(task=task, status="done", by="person", note="again")  # a new request meanwhile
    task.refresh_from_db()
    assert task.checks_claimed_by == ""  # the new request is free to run
    go.touch()
    first.join(timeout=30)
    task.refresh_from_db()
    assert task.checks_running and task.status == "in_progress"  # the old run's pass did not count

    run_job(task)  # the new request's job

    assert runs.read_text() == "ran\nran\n"
    task.refresh_from_db()
    assert task.status == "done" and not task.checks_running
