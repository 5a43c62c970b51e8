"""tmux-orc team, task and orchestrator commands, on real tmux."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from agents.models import Agent, AgentState, Message, MessageStatus
from tasks.models import Task
from teams.models import Team

pytestmark = [pytest.mark.usefixtures("cli_api"), pytest.mark.django_db(transaction=True)]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_team_deploy_shows_progress_and_teardown_removes_the_team(eager_jobs, gateway, project_dir):
    out = run("team", "deploy", "frontend", "3", "--project-name", "my-app", "--project-path", project_dir,
              "--profile", "shell")

    assert out.splitlines() == [
        "Deploying team my-app (frontend, 3 members) ...",
        "[1/3] my-app:Shell-pm (pm): started",
        "[2/3] my-app:Shell-developer (developer): started",
        "[3/3] my-app:Shell-qa (qa): started",
        "Team my-app is up: 3 agents in tmux session my-app. `tmux-orc team status my-app` to follow it.",
    ]
    assert sorted(p.window_name for p in gateway.list_panes()) == ["Shell-developer", "Shell-pm", "Shell-qa"]
    status = run("team", "status", "my-app")
    assert "my-app:Shell-qa" in status and "hub_and_spoke" in status
    assert json.loads(run("team", "list", "--json"))[0]["name"] == "my-app"
    broadcast = run("team", "broadcast", "my-app", "echo standup at ten", "--types", "developer,qa")
    assert broadcast == "queued for 2 agent(s): my-app:Shell-developer, my-app:Shell-qa\n"

    out = run("team", "teardown", "my-app")

    assert "[3/3]" in out and "kill of my-app:Shell-qa done" in out
    assert gateway.list_panes() == []
    assert run("team", "list") == "no teams\n"
    assert Team.objects.get().torn_down_at is not None


def test_team_deploy_of_an_unknown_template_is_a_clear_error(project_dir):
    with pytest.raises(CommandError, match="template: unknown team type 'mobile'; known: backend, frontend"):
        run("team", "deploy", "mobile", "2", "--project-name", "x", "--project-path", project_dir)
    assert not Team.objects.exists()


def test_team_recover_restarts_the_crashed_member(eager_jobs, gateway, project_dir, monkeypatch):
    from django.conf import settings

    from monitoring.services import host_sweep
    from monitoring.tests.test_recovery import crash

    monkeypatch.setattr(settings.TMUX_ORC, "recovery_enabled", False)
    run("team", "deploy", "backend", "1", "--project-name", "api", "--project-path", project_dir, "--profile", "shell")
    agent = Agent.objects.get()
    crash(gateway, agent)
    host_sweep(host=settings.TMUX_ORC.agent_host)
    assert Agent.objects.get().state == AgentState.CRASHED

    out = run("team", "recover", "api")

    assert out == "restart of api:Shell-pm done\n"
    assert Agent.objects.get().restart_count == 1


def test_task_commands_create_list_show_assign_and_update(eager_jobs, gateway, project_dir):
    run("agent", "spawn", "work", "developer", project_dir, "--profile", "shell")

    out = run("task", "create", "Add a login form", "--priority", "high", "--criterion", "form posts",
              "--tag", "ui", "--hours", "2")
    task = Task.objects.get()
    assert out.startswith(f"created task #{task.pk}\n")
    assert "Done when:\n  - form posts" in out
    listed = run("task", "list", "--tag", "ui").splitlines()
    assert listed[1].split()[:5] == [str(task.pk), "pending", "high", "Add", "a"]
    assert run("task", "list", "--status", "done") == "no tasks\n"

    out = run("task", "assign", str(task.pk), "work:Shell-developer")
    assert "assigned to work:Shell-developer" in out
    assert Message.objects.filter(body__startswith=f"Task #{task.pk} (high priority): Add a login form").exists()

    out = run("task", "update", str(task.pk), "--status", "in_progress", "--note", "on it")
    assert out.startswith(f"task #{task.pk} is in_progress")
    assert re.search(r"assigned -> in_progress by token:cli-\w+: on it", run("task", "show", str(task.pk)))
    with pytest.raises(CommandError, match=f"task #{task.pk} is in_progress; it can move to"):
        run("task", "update", str(task.pk), "--status", "pending")


def test_task_checks_must_pass_before_done(eager_jobs, gateway, project_dir):
    run("agent", "spawn", "work", "developer", project_dir, "--profile", "shell")
    (open(f"{project_dir}/ok.txt", "w")).close()
    run("task", "create", "Ship it", "--assign", "work:Shell-developer", "--check", "test -f ok.txt",
        "--check", "test -f missing.txt")
    task = Task.objects.get()
    run("task", "update", str(task.pk), "--status", "in_progress")

    run("task", "update", str(task.pk), "--status", "done")

    task.refresh_from_db()
    assert task.status == "in_progress"
    assert [(r["check"], r["passed"]) for r in task.check_results] == [("test -f ok.txt", True),
                                                                      ("test -f missing.txt", False)]
    assert "FAILED: test -f missing.txt" in run("task", "show", str(task.pk))
    run("task", "update", str(task.pk), "--check", "test -f ok.txt")
    run("task", "update", str(task.pk), "--status", "done")
    assert Task.objects.get().status == "done"


def test_orchestrator_schedule_lists_and_cancels(eager_jobs, gateway, project_dir):
    run("agent", "spawn", "work", "developer", project_dir, "--profile", "shell")

    out = run("orchestrator", "schedule", "15", "check the build", "work:Shell-developer")

    message = Message.objects.get(body="check the build")
    assert message.status == MessageStatus.SCHEDULED and out.startswith(f"message {message.pk} for work:Shell-developer at ")
    assert "check the build" in run("orchestrator", "scheduled")
    assert run("orchestrator", "cancel", str(message.pk)) == f"message {message.pk} cancelled\n"
    assert run("orchestrator", "scheduled") == "nothing scheduled\n"
    with pytest.raises(CommandError, match="no orchestrator agent is running"):
        run("orchestrator", "schedule", "5", "hello")


def test_team_standup_prints_the_replies_and_who_did_not_answer(eager_jobs, gateway, project_dir, monkeypatch):
    from django.conf import settings

    from agents.services import report_status

    monkeypatch.setattr(settings.TMUX_ORC, "standup_message", "true")  # a shell answers nothing on screen
    run("team", "deploy", "testing", "2", "--project-name", "qa-team", "--project-path", project_dir,
        "--profile", "shell")
    pm = Agent.objects.get(name="Shell-pm")

    from teams import services

    def start_then_report(**kwargs):
        standup = real_start(**kwargs)
        report_status(agent=pm, text="Planning the regression run.")
        return standup

    real_start = services.standup_start
    monkeypatch.setattr(services, "standup_start", start_then_report)

    out = run("team", "standup", "qa-team", "--timeout", "1")

    assert "asked 2 agent(s)" in out
    assert "qa-team:Shell-pm (pm, report):\n    Planning the regression run." in out
    assert out.rstrip().endswith("No answer from: qa-team:Shell-qa")


def test_a_template_from_the_config_is_deployed(eager_jobs, gateway, project_dir, monkeypatch):
    from django.conf import settings

    templates = {"mobile": {"description": "A PM and mobile engineers", "members": [
        {"role": "pm", "briefing": "Plan the release."}, {"role": "developer", "skills": ["Swift"]}]}}
    monkeypatch.setattr(settings.TMUX_ORC, "team_templates", templates)

    run("team", "deploy", "mobile", "3", "--project-name", "ios", "--project-path", project_dir, "--profile", "shell")

    members = list(Team.objects.get(name="ios").agents.order_by("created_at").values_list("name", "skills"))
    assert members == [("Shell-pm", []), ("Shell-developer", ["Swift"]), ("Shell-developer-2", ["Swift"])]
